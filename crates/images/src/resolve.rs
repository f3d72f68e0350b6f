//! From a catalog entry to a concrete download: the image URL (following `latest` patterns on
//! the distro's index when it has no stable path) and the expected hash from its checksum file.

use crate::catalog::Entry;
use crate::checksum::{self, Algorithm, ChecksumFormat};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot read {url}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "nothing on {index} matches {pattern}; the distro may have renamed its files — override the entry in your catalog"
    )]
    NoMatch { index: String, pattern: String },
    #[error("bad pattern {pattern}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("{id}: {0}", id = .1)]
    Checksum(checksum::ChecksumError, String),
}

/// A download ready to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub url: String,
    pub file_name: String,
    pub checksum_url: Option<String>,
    pub format: ChecksumFormat,
    /// For `index-sha256`: the hash the index page gives beside the link.
    pub index_hash: Option<String>,
}

impl Download {
    pub fn algorithm(&self) -> Algorithm {
        self.format.algorithm()
    }
}

async fn get_text(http: &reqwest::Client, url: &str) -> Result<String, ResolveError> {
    let err = |source| ResolveError::Http { url: url.to_string(), source };
    let resp = http.get(url).send().await.map_err(err)?;
    if !resp.status().is_success() {
        return Err(ResolveError::Status { url: url.to_string(), status: resp.status().as_u16() });
    }
    resp.text().await.map_err(err)
}

/// Compare digit runs as numbers, so `1.10` sorts after `1.9`.
fn natural_key(s: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut digits = String::new();
    let mut text = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !text.is_empty() {
                out.push((0, std::mem::take(&mut text)));
            }
            digits.push(c);
        } else {
            if !digits.is_empty() {
                out.push((digits.parse().unwrap_or(u64::MAX), String::new()));
                digits.clear();
            }
            text.push(c);
        }
    }
    if !digits.is_empty() {
        out.push((digits.parse().unwrap_or(u64::MAX), String::new()));
    }
    if !text.is_empty() {
        out.push((0, text));
    }
    out
}

/// The newest match of `pattern` in `text` (by natural order), made absolute against `index`.
pub fn newest(index: &str, text: &str, pattern: &str) -> Result<String, ResolveError> {
    let re = regex::Regex::new(pattern)
        .map_err(|e| ResolveError::Pattern { pattern: pattern.into(), message: e.to_string() })?;
    let best = re
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .max_by_key(|m| natural_key(m))
        .ok_or_else(|| ResolveError::NoMatch { index: index.into(), pattern: pattern.into() })?;
    Ok(if best.starts_with("https://") || best.starts_with("http://") {
        best
    } else {
        format!("{}/{best}", index.trim_end_matches('/'))
    })
}

fn file_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_string()
}

/// Where to download `e` from, reading the distro's index when the entry says `latest`.
pub async fn resolve(http: &reqwest::Client, e: &Entry) -> Result<Download, ResolveError> {
    let (url, index_text) = match (&e.url, &e.latest) {
        (Some(u), _) => (u.clone(), None),
        (None, Some(l)) => {
            let text = get_text(http, &l.index).await?;
            (newest(&l.index, &text, &l.pattern)?, Some((l, text)))
        }
        (None, None) => {
            return Err(ResolveError::NoMatch { index: "(no url)".into(), pattern: String::new() });
        }
    };
    let checksum_url = match (&e.checksum_url, &e.checksum_suffix, &index_text) {
        (Some(c), _, _) => Some(c.clone()),
        (None, Some(suffix), _) => Some(format!("{url}{suffix}")),
        (None, None, Some((l, text))) => match &l.checksum_pattern {
            Some(p) => Some(newest(&l.index, text, p)?),
            None => None,
        },
        _ => None,
    };
    let name = file_name(&url);
    let index_hash = match (e.checksum_format, &index_text) {
        (ChecksumFormat::IndexSha256, Some((_, text))) => Some(
            checksum::beside(text, &name, Algorithm::Sha256)
                .map_err(|err| ResolveError::Checksum(err, name.clone()))?,
        ),
        _ => None,
    };
    Ok(Download { file_name: name, url, checksum_url, format: e.checksum_format, index_hash })
}

/// The hash `d`'s checksum file gives for its image.
pub async fn expected_hash(http: &reqwest::Client, d: &Download) -> Result<String, ResolveError> {
    if let Some(h) = &d.index_hash {
        return Ok(h.clone());
    }
    let Some(cu) = &d.checksum_url else {
        return Err(ResolveError::Checksum(
            checksum::ChecksumError::NoFile(d.format),
            d.file_name.clone(),
        ));
    };
    let text = get_text(http, cu).await?;
    checksum::find(d.format, &text, &d.file_name)
        .map_err(|e| ResolveError::Checksum(e, d.file_name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_match_wins_by_natural_order_and_is_made_absolute() {
        let index = "https://dl.example/alpine/v3.22/releases/cloud/";
        let html = r#"<a href="nocloud_alpine-3.22.9-x86_64-bios-cloudinit-r0.qcow2">
                      <a href="nocloud_alpine-3.22.10-x86_64-bios-cloudinit-r0.qcow2">
                      <a href="nocloud_alpine-3.22.2-x86_64-bios-cloudinit-r0.qcow2">"#;
        let got = newest(
            index,
            html,
            r"nocloud_alpine-3\.22\.[0-9]+-x86_64-bios-cloudinit-r[0-9]+\.qcow2",
        )
        .unwrap();
        assert_eq!(
            got,
            "https://dl.example/alpine/v3.22/releases/cloud/nocloud_alpine-3.22.10-x86_64-bios-cloudinit-r0.qcow2"
        );
        assert!(matches!(
            newest(index, "nothing here", "x+y").unwrap_err(),
            ResolveError::NoMatch { .. }
        ));
    }
}
