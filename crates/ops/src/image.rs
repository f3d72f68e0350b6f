//! `image pull`: have a node download an ISO, container template or disk image by URL
//! (`download-url`), with the content type read from the file name and the checksum checked
//! by PVE.

use proxctl_client::Client;
use proxctl_client::endpoints::storage::{
    Checksum, ChecksumAlgorithm, DownloadUrlRequest, TransferContent,
};
use proxctl_types::{NodeName, StorageId, Upid};

use crate::OpsError;

/// What PVE files a download under, from its name: `.iso` (optionally compressed) → iso,
/// `.tar.{gz,xz,zst}` → vztmpl, `.qcow2`/`.raw`/`.img`/`.vmdk` → import.
pub fn content_for(filename: &str) -> Option<TransferContent> {
    let f = filename.to_ascii_lowercase();
    if f.ends_with(".iso") || f.ends_with(".iso.gz") || f.ends_with(".iso.zst") {
        Some(TransferContent::Iso)
    } else if [".tar.gz", ".tar.xz", ".tar.zst"].iter().any(|e| f.ends_with(e)) {
        Some(TransferContent::Vztmpl)
    } else if [".qcow2", ".raw", ".img", ".vmdk"].iter().any(|e| f.ends_with(e)) {
        Some(TransferContent::Import)
    } else {
        None
    }
}

/// The last path segment of `url`, without query or fragment.
pub fn filename_of(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    path.rsplit('/').next().filter(|s| !s.is_empty() && !path.ends_with("//"))
}

/// Start the download on `node` (default: the first online node); the caller follows the task.
pub async fn pull(
    client: &Client,
    node: Option<&NodeName>,
    storage: &StorageId,
    url: &str,
    filename: Option<&str>,
    sha256: Option<&str>,
) -> Result<Upid, OpsError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(OpsError::Invalid(format!("'{url}' is not an http(s) URL")));
    }
    let filename = filename.or_else(|| filename_of(url)).ok_or_else(|| {
        OpsError::Invalid(format!("cannot tell a file name from '{url}'; pass --filename"))
    })?;
    let content = content_for(filename).ok_or_else(|| {
        OpsError::Invalid(format!(
            "'{filename}' is not an ISO (.iso), container template (.tar.gz/.tar.xz/.tar.zst) \
             or disk image (.qcow2/.raw/.img/.vmdk); pass --filename with the right extension"
        ))
    })?;
    let checksum = match sha256 {
        Some(h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: h.to_ascii_lowercase() })
        }
        Some(h) => {
            return Err(OpsError::Invalid(format!(
                "'{h}' is not a SHA-256 checksum (64 hex digits)"
            )));
        }
        None => None,
    };
    let req = DownloadUrlRequest {
        url: url.to_string(),
        content,
        filename: filename.to_string(),
        checksum,
        compression: None,
        verify_certificates: None,
    };
    let node = match node {
        Some(n) => n.clone(),
        None => client
            .nodes()
            .await?
            .into_iter()
            .find(|n| n.status == "online")
            .map(|n| n.node)
            .ok_or_else(|| OpsError::Invalid("no online node to download on".into()))?,
    };
    Ok(client.storage_download_url(&node, storage, &req).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_and_file_name_come_from_the_url() {
        assert_eq!(
            content_for("debian-12-standard_12.7-1_amd64.tar.zst"),
            Some(TransferContent::Vztmpl)
        );
        assert_eq!(content_for("noble.ISO"), Some(TransferContent::Iso));
        assert_eq!(content_for("noble-server-cloudimg-amd64.img"), Some(TransferContent::Import));
        assert_eq!(content_for("readme.txt"), None);
        assert_eq!(filename_of("https://x.org/a/b/c.tar.zst?x=1#f"), Some("c.tar.zst"));
        assert_eq!(filename_of("https://x.org/a/"), None);
    }
}

/// One catalog entry as a table row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CatalogRow(pub proxctl_images::catalog::Entry);

impl crate::output::Tabular for CatalogRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["ID", "DISTRO", "VERSION", "ARCH", "USER", "FIRMWARE", "CONFIG"];
        if wide {
            h.extend(["CHECKSUM", "SOURCE"]);
        }
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let e = &self.0;
        let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        let mut c = vec![
            e.id.clone(),
            e.distro.clone(),
            e.version.clone(),
            e.arch.clone(),
            e.default_user.clone(),
            lower(&e.firmware),
            if e.ignition { "ignition".into() } else { "cloud-init".into() },
        ];
        if wide {
            c.extend([lower(&e.checksum_format), e.source.clone()]);
        }
        c
    }
}

/// The catalog with the user's file, if any: `$PROXCTL_CATALOG`, else
/// `$XDG_CONFIG_HOME/proxctl/catalog.yaml`, else `~/.config/proxctl/catalog.yaml`.
pub fn catalog(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<proxctl_images::catalog::Catalog, OpsError> {
    let path = env("PROXCTL_CATALOG")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
                .or_else(|| env("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
                .map(|b| b.join("proxctl").join("catalog.yaml"))
        });
    let c = match path {
        Some(p) => proxctl_images::catalog::Catalog::with_user_file(&p),
        None => proxctl_images::catalog::Catalog::built_in(),
    };
    c.map_err(|e| OpsError::Invalid(e.to_string()))
}

/// Download a catalog image (by id) or a URL into the local cache, verified. A URL outside the
/// catalog needs its hash; a catalog entry's comes from its checksum file unless given.
pub async fn fetch(
    catalog: &proxctl_images::catalog::Catalog,
    cache: &proxctl_images::cache::Cache,
    source: &str,
    sha256: Option<&str>,
    progress: &(dyn Fn(proxctl_images::cache::Progress) + Send + Sync),
) -> Result<proxctl_images::cache::Cached, OpsError> {
    use proxctl_images::checksum::{Algorithm, ChecksumFormat};
    let http = proxctl_client::web::web_client(std::time::Duration::from_secs(30))?;
    let (download, expected) = match catalog.get(source) {
        Some(entry) => {
            let d = proxctl_images::resolve::resolve(&http, entry).await?;
            let hash = match sha256 {
                Some(h) => h.to_ascii_lowercase(),
                None => proxctl_images::resolve::expected_hash(&http, &d).await?,
            };
            (d, hash)
        }
        None if source.starts_with("https://") || source.starts_with("http://") => {
            let hash = sha256.ok_or_else(|| {
                OpsError::Invalid(format!(
                    "{source} is not in the catalog, so proxctl cannot know its checksum; give --sha256 HEX"
                ))
            })?;
            let d = proxctl_images::resolve::Download {
                url: source.to_string(),
                file_name: source.rsplit('/').next().unwrap_or(source).to_string(),
                checksum_url: None,
                format: ChecksumFormat::SingleSha256,
                index_hash: None,
            };
            (d, hash.to_ascii_lowercase())
        }
        None => {
            let near = catalog.similar(source);
            return Err(OpsError::Invalid(format!(
                "'{source}' is neither a catalog id nor an http(s) URL; similar ids: {}",
                if near.is_empty() {
                    "none (see `proxctl image list`)".into()
                } else {
                    near.join(", ")
                }
            )));
        }
    };
    let alg = if sha256.is_some() { Algorithm::Sha256 } else { download.algorithm() };
    let hex_ok = expected.len() == alg.hex_len() && expected.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_ok {
        return Err(OpsError::Invalid(format!("'{expected}' is not a {alg:?} hash in hex")));
    }
    Ok(cache.fetch(&http, &download.url, alg, &expected, progress).await?)
}
