//! The image catalog: the built-in `data/catalog.yaml`, plus any entries from a user's file,
//! which add to it or replace built-in entries with the same id.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checksum::ChecksumFormat;

const BUILT_IN: &str = include_str!("../data/catalog.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Bios,
    Uefi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskBus {
    Scsi,
    Virtio,
    Sata,
}

/// Where to find the current file when the distro has no stable path: a page (or JSON) that
/// lists versions, and a regex for the image's URL or name on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latest {
    pub index: String,
    pub pattern: String,
    /// The checksum file's name on the same index, when it is versioned too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What users type: `debian-12`, `rocky-9-arm64`.
    pub id: String,
    pub distro: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    pub arch: String,
    /// A stable URL; or see `latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Latest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_url: Option<String>,
    /// For versioned single-hash files: the checksum URL is the image URL plus this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_suffix: Option<String>,
    pub checksum_format: ChecksumFormat,
    /// `qcow2` or `raw`.
    pub format: String,
    /// `xz` or `tar.xz` when the download is compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    pub default_user: String,
    /// PVE's `ostype`.
    pub os_type: String,
    pub firmware: Firmware,
    pub disk_bus: DiskBus,
    /// Recommended disk size.
    pub disk_size: String,
    pub cloud_init: bool,
    pub guest_agent: bool,
    /// Configured by Ignition (Flatcar, Fedora CoreOS) rather than cloud-init.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignition: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The distro's image index these facts came from.
    pub source: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    images: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog {path}")]
    Read { path: String, source: std::io::Error },
    #[error("the catalog {path} is not valid: {message}")]
    Parse { path: String, message: String },
}

/// The catalog, by id.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: BTreeMap<String, Entry>,
}

fn parse(path: &str, text: &str) -> Result<Vec<Entry>, CatalogError> {
    serde_yaml_ng::from_str::<File>(text)
        .map(|f| f.images)
        .map_err(|e| CatalogError::Parse { path: path.to_string(), message: e.to_string() })
}

impl Catalog {
    /// The built-in catalog.
    pub fn built_in() -> Result<Self, CatalogError> {
        let entries = parse("built-in catalog", BUILT_IN)?;
        Ok(Self { entries: entries.into_iter().map(|e| (e.id.clone(), e)).collect() })
    }

    /// The built-in catalog with `path`'s entries added or replacing those with the same id.
    /// A missing file is no error; a broken one is.
    pub fn with_user_file(path: &Path) -> Result<Self, CatalogError> {
        let mut c = Self::built_in()?;
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(c),
            Err(source) => return Err(CatalogError::Read { path: shown, source }),
        };
        for e in parse(&shown, &text)? {
            if let Some(problem) = e.problems().into_iter().next() {
                return Err(CatalogError::Parse {
                    path: shown,
                    message: format!("{}: {problem}", e.id),
                });
            }
            c.entries.insert(e.id.clone(), e);
        }
        Ok(c)
    }

    /// A catalog of just these entries (tests, embedding).
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Self { entries: entries.into_iter().map(|e| (e.id.clone(), e)).collect() }
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Ids close to `id` (same first word), for "did you mean" hints.
    pub fn similar(&self, id: &str) -> Vec<String> {
        let first = id.split('-').next().unwrap_or(id);
        self.search(first).iter().take(8).map(|e| e.id.clone()).collect()
    }

    /// Entries whose id, distro, version, codename or arch contain every word of `query`.
    pub fn search(&self, query: &str) -> Vec<&Entry> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        self.entries
            .values()
            .filter(|e| {
                let hay = format!(
                    "{} {} {} {} {}",
                    e.id,
                    e.distro,
                    e.version,
                    e.codename.as_deref().unwrap_or(""),
                    e.arch
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .collect()
    }
}

impl Entry {
    /// What is wrong with this entry, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        // https everywhere, except a mirror on this machine (tests, local caches).
        let https = |u: &str| {
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| u.starts_with(p));
            (u.starts_with("https://") || loopback) && !u.contains(char::is_whitespace)
        };
        let id_ok = !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !id_ok {
            p.push(format!("id '{}' must be lowercase letters, digits, '-' and '.'", self.id));
        }
        match (&self.url, &self.latest) {
            (Some(u), None) if !https(u) => p.push(format!("url '{u}' is not an https URL")),
            (Some(_), None) => {}
            (None, Some(l)) => {
                if !https(&l.index) {
                    p.push(format!("latest.index '{}' is not an https URL", l.index));
                }
                for pat in std::iter::once(&l.pattern).chain(l.checksum_pattern.as_ref()) {
                    if let Err(e) = regex::Regex::new(pat) {
                        p.push(format!("pattern '{pat}' is not a regex: {e}"));
                    }
                }
            }
            _ => p.push("give exactly one of url and latest".into()),
        }
        let needs_file = !matches!(self.checksum_format, ChecksumFormat::IndexSha256);
        let has_file = self.checksum_url.is_some()
            || self.checksum_suffix.is_some()
            || self.latest.as_ref().is_some_and(|l| l.checksum_pattern.is_some());
        if needs_file && !has_file {
            p.push(format!("checksum format {:?} needs checksum_url, checksum_suffix or latest.checksum_pattern", self.checksum_format));
        }
        if let Some(u) = &self.checksum_url
            && !https(u)
        {
            p.push(format!("checksum_url '{u}' is not an https URL"));
        }
        if !["qcow2", "raw"].contains(&self.format.as_str()) {
            p.push(format!("format '{}' must be qcow2 or raw", self.format));
        }
        if let Some(c) = &self.compression
            && !["xz", "tar.xz", "bz2", "gz"].contains(&c.as_str())
        {
            p.push(format!("compression '{c}' is not one proxctl can unpack"));
        }
        let size_ok =
            self.disk_size.strip_suffix('G').is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0));
        if !size_ok {
            p.push(format!("disk_size '{}' must be whole GiB such as 10G", self.disk_size));
        }
        if self.ignition == self.cloud_init {
            p.push("an image is configured by exactly one of cloud-init and Ignition".into());
        }
        if !["l26", "other", "win11"].contains(&self.os_type.as_str()) {
            p.push(format!("os_type '{}' is not a PVE ostype proxctl uses", self.os_type));
        }
        if !https(&self.source) && !self.source.contains("https://") {
            p.push("source must name the image index (an https URL)".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalog_has_fifty_valid_entries_across_the_required_distros() {
        let c = Catalog::built_in().unwrap();
        assert!(c.len() >= 50, "{} entries", c.len());
        for e in c.entries() {
            assert!(e.problems().is_empty(), "{}: {:?}", e.id, e.problems());
        }
        for distro in [
            "ubuntu",
            "debian",
            "rocky",
            "almalinux",
            "oracle",
            "centos-stream",
            "fedora",
            "opensuse-leap",
            "opensuse-tumbleweed",
            "arch",
            "alpine",
            "freebsd",
            "kali",
            "amazon-linux",
            "gentoo",
            "flatcar",
            "fedora-coreos",
        ] {
            assert!(c.entries().any(|e| e.distro == distro), "no {distro}");
        }
        for (distro, versions) in [
            ("debian", &["11", "12", "13"][..]),
            ("rocky", &["8", "9", "10"]),
            ("almalinux", &["8", "9", "10"]),
            ("oracle", &["8", "9", "10"]),
            ("centos-stream", &["9", "10"]),
        ] {
            for v in versions {
                assert!(
                    c.entries().any(|e| e.distro == distro && e.version == *v),
                    "no {distro} {v}"
                );
            }
        }
        for e in c.entries().filter(|e| e.distro == "flatcar" || e.distro == "fedora-coreos") {
            assert!(e.ignition && !e.cloud_init, "{} is ignition-based", e.id);
        }
    }

    #[test]
    fn url_and_checksum_patterns_follow_each_format() {
        let c = Catalog::built_in().unwrap();
        for e in c.entries() {
            let url = e.url.as_deref().unwrap_or_default();
            match e.checksum_format {
                ChecksumFormat::GnuSha256 | ChecksumFormat::GnuSha512 => {
                    let cu = e.checksum_url.as_deref().unwrap_or_default();
                    assert!(cu.ends_with("SUMS") || cu.ends_with("/CHECKSUM"), "{}: {cu}", e.id);
                }
                ChecksumFormat::BsdSha256 | ChecksumFormat::BsdSha512 => {
                    let cu = e.checksum_url.as_deref().unwrap_or_default();
                    assert!(cu.contains("CHECKSUM") || cu.ends_with("SHA256SUM"), "{}: {cu}", e.id);
                }
                ChecksumFormat::FedoraChecksum => {
                    assert!(
                        e.latest
                            .as_ref()
                            .and_then(|l| l.checksum_pattern.as_deref())
                            .is_some_and(|p| p.ends_with("CHECKSUM")),
                        "{}",
                        e.id
                    );
                }
                ChecksumFormat::SingleSha256 | ChecksumFormat::SingleSha512 => {
                    let ok = e
                        .checksum_url
                        .as_deref()
                        .is_some_and(|cu| cu.starts_with(url) && !url.is_empty())
                        || e.checksum_suffix.is_some();
                    assert!(ok, "{}: a single-hash file sits beside its image", e.id);
                }
                ChecksumFormat::IndexSha256 => assert!(e.latest.is_some(), "{}", e.id),
            }
            if let Some(l) = &e.latest {
                assert!(regex::Regex::new(&l.pattern).is_ok(), "{}", e.id);
            }
        }
    }

    #[test]
    fn a_user_file_adds_and_overrides_entries_and_bad_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("proxctl-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("catalog.yaml");
        let builtin = Catalog::built_in().unwrap();
        let mut mine = builtin.get("debian-12").unwrap().clone();
        mine.url = Some("https://mirror.example/debian-12.qcow2".into());
        let mut extra = mine.clone();
        extra.id = "corp-debian-12".into();
        std::fs::write(&p, serde_yaml_ng::to_string(&File { images: vec![mine, extra] }).unwrap())
            .unwrap();
        let c = Catalog::with_user_file(&p).unwrap();
        assert_eq!(c.len(), builtin.len() + 1);
        assert_eq!(
            c.get("debian-12").unwrap().url.as_deref(),
            Some("https://mirror.example/debian-12.qcow2")
        );
        std::fs::write(&p, "images:\n  - id: Bad\n").unwrap();
        assert!(Catalog::with_user_file(&p).is_err());
        assert_eq!(
            Catalog::with_user_file(&dir.join("missing.yaml")).unwrap().len(),
            builtin.len()
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn search_matches_every_word() {
        let c = Catalog::built_in().unwrap();
        let hits: Vec<&str> = c.search("debian arm64").iter().map(|e| e.id.as_str()).collect();
        assert_eq!(hits, vec!["debian-11-arm64", "debian-12-arm64", "debian-13-arm64"]);
        assert_eq!(c.search("bookworm").len(), 2);
        assert!(c.search("plan9").is_empty());
    }
}
