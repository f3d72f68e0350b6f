//! Getting a template's image into an `import` storage of the node, by one of three ways:
//! PVE's download-url when the node can reach the URL, a streamed upload from the local cache
//! (xz images unpacked there first), or a streamed upload of a local file (`--image-file`),
//! hashed as it is sent unless its hash was given. Content-addressed file names let a second
//! build of the same image reuse what is there.

use std::path::Path;

use proxctl_client::Client;
use proxctl_client::endpoints::storage::{
    Checksum, ChecksumAlgorithm, DownloadUrlRequest, TransferContent, UploadRequest,
};
use proxctl_images::cache::{Cache, Progress};
use proxctl_images::checksum::Algorithm;
use proxctl_types::VolumeId;

use crate::OpsError;
use crate::template::{BuildSpec, Via, pve_alg, wait};

/// An image in place on the node, and what the template records of it.
#[derive(Debug)]
pub struct Staged {
    pub volid: VolumeId,
    pub alg: Algorithm,
    pub hash: String,
    /// Where it came from: the URL, or `file://` and the local path.
    pub source: String,
    /// `download-url`, `upload` or `reused`.
    pub via: String,
}

fn volid_of(spec: &BuildSpec, filename: &str) -> Result<VolumeId, OpsError> {
    VolumeId::new(format!("{}:import/{filename}", spec.import_storage))
        .map_err(|e| OpsError::Invalid(e.to_string()))
}

async fn present(client: &Client, spec: &BuildSpec, volid: &VolumeId) -> Result<bool, OpsError> {
    Ok(client
        .storage_content(&spec.node, &spec.import_storage, Some("import"), None)
        .await?
        .iter()
        .any(|c| c.volid == volid.as_str()))
}

fn upload_progress(progress: &(dyn Fn(&str) + Send + Sync)) -> impl Fn(u64, u64) + use<'_> {
    let step = std::sync::atomic::AtomicU64::new(0);
    move |sent: u64, size: u64| {
        // A line per tenth, not per chunk.
        let tenth = sent.saturating_mul(10).checked_div(size).unwrap_or(10);
        if step.fetch_max(tenth, std::sync::atomic::Ordering::Relaxed) < tenth {
            progress(&format!("uploaded {} of {} MiB", sent >> 20, size >> 20));
        }
    }
}

fn uploading(spec: &BuildSpec, path: &Path, len: u64, how: &str) -> String {
    format!(
        "uploading {} ({} MiB) to {} on {}{how}",
        path.display(),
        len >> 20,
        spec.import_storage,
        spec.node
    )
}

/// Run `work`, reporting the upload progress it sends as it arrives.
async fn reporting<T>(
    work: impl Future<Output = T>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(u64, u64)>,
    report: &impl Fn(u64, u64),
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            Some((n, size)) = rx.recv() => report(n, size),
        }
    }
}

/// A local image file: uploaded as it is (qcow2 or raw), with PVE checking the hash when it is
/// given, else hashed in the same pass as the upload.
pub async fn stage_local(
    client: &Client,
    spec: &BuildSpec,
    path: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Staged, OpsError> {
    let e = &spec.entry;
    let meta = std::fs::metadata(path).map_err(|err| {
        OpsError::Invalid(format!("cannot read --image-file {}: {err}", path.display()))
    })?;
    if !meta.is_file() {
        return Err(OpsError::Invalid(format!("--image-file {} is not a file", path.display())));
    }
    let source = format!(
        "file://{}",
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display()
    );
    let ext = if e.format == "raw" { "raw" } else { "qcow2" };
    let report = upload_progress(progress);
    // The progress callback must be 'static: it reports through a channel drained here.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    let sent: proxctl_client::endpoints::storage::UploadProgress =
        std::sync::Arc::new(move |n, size| {
            let _ = tx.send((n, size));
        });
    if let Some((alg, hash)) = &spec.expected {
        let hash = hash.to_ascii_lowercase();
        let filename = format!("{}-{}.{ext}", spec.name, &hash[..12.min(hash.len())]);
        let volid = volid_of(spec, &filename)?;
        if present(client, spec, &volid).await? {
            return Ok(Staged { volid, alg: *alg, hash, source, via: "reused".into() });
        }
        progress(&uploading(spec, path, meta.len(), ""));
        let up = UploadRequest {
            content: TransferContent::Import,
            filename,
            // PVE checks it once the file is there, and refuses a file that does not match.
            checksum: Some(Checksum { algorithm: pve_alg(*alg), hex: hash.clone() }),
            path: path.to_path_buf(),
        };
        let upload = client.storage_upload(&spec.node, &spec.import_storage, &up, Some(sent));
        let upid = reporting(upload, &mut rx, &report).await?;
        wait(client, upid).await?;
        return Ok(Staged { volid, alg: *alg, hash, source, via: "upload".into() });
    }
    // No hash given: the name cannot carry it before the upload, so it carries the time, and
    // the hash computed while sending is what the template records.
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
    let filename = format!("{}-local-{stamp}.{ext}", spec.name);
    let volid = volid_of(spec, &filename)?;
    progress(&uploading(spec, path, meta.len(), ", hashing it on the way"));
    let up = UploadRequest {
        content: TransferContent::Import,
        filename,
        checksum: None,
        path: path.to_path_buf(),
    };
    let upload = client.storage_upload_hashed(&spec.node, &spec.import_storage, &up, Some(sent));
    let (upid, hash) = reporting(upload, &mut rx, &report).await?;
    wait(client, upid).await?;
    progress(&format!("sha256 {hash}"));
    Ok(Staged { volid, alg: Algorithm::Sha256, hash, source, via: "upload".into() })
}

/// The entry's URL: download-url by the node, else through the local cache.
pub async fn stage_remote(
    client: &Client,
    spec: &BuildSpec,
    unpack: bool,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Staged, OpsError> {
    let e = &spec.entry;
    progress(&format!("resolving {}", e.id));
    let http = proxctl_client::web::web_client(std::time::Duration::from_secs(30))?;
    let download = proxctl_images::resolve::resolve(&http, e).await?;
    let (alg, hash) = match &spec.expected {
        Some((a, h)) => (*a, h.to_ascii_lowercase()),
        None => {
            (download.algorithm(), proxctl_images::resolve::expected_hash(&http, &download).await?)
        }
    };
    let ext = if e.format == "raw" { "raw" } else { "qcow2" };
    let filename = format!("{}-{}.{ext}", spec.name, &hash[..12.min(hash.len())]);
    let volid = VolumeId::new(format!("{}:import/{filename}", spec.import_storage))
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let present = client
        .storage_content(&spec.node, &spec.import_storage, Some("import"), None)
        .await?
        .iter()
        .any(|c| c.volid == volid.as_str());
    let checksum = Some(Checksum { algorithm: pve_alg(alg), hex: hash.clone() });
    let via = if present {
        "reused".to_string()
    } else {
        let mut how = None;
        if spec.via != Via::Upload && !unpack {
            progress(&format!("node {} downloads {}", spec.node, download.url));
            let req = DownloadUrlRequest {
                url: download.url.clone(),
                content: TransferContent::Import,
                filename: filename.clone(),
                checksum: checksum.clone(),
                compression: None,
                verify_certificates: None,
            };
            let r = match client.storage_download_url(&spec.node, &spec.import_storage, &req).await
            {
                Ok(u) => wait(client, u).await,
                Err(e) => Err(e.into()),
            };
            match r {
                Ok(()) => how = Some("download-url"),
                Err(err) if spec.via == Via::Auto => progress(&format!(
                    "download-url failed ({err}); uploading from the local cache"
                )),
                Err(err) => return Err(err),
            }
        }
        if how.is_none() {
            progress(&format!("fetching {} into the local cache", download.url));
            let cache = Cache::new(&spec.cache_root);
            let cached = cache.fetch(&http, &download.url, alg, &hash, &|_: Progress| {}).await?;
            let (path, checksum) = if unpack {
                progress(&format!("unpacking {} (xz)", download.file_name));
                let dest = spec.cache_root.join("unpacked").join(&filename);
                let src = cached.path.clone();
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                let job = tokio::task::spawn_blocking(move || {
                    // A send fails only once nobody listens any more.
                    let report = move |n: u64| {
                        let _ = tx.send(n);
                    };
                    proxctl_images::unpack::unpack(&src, "xz", &dest, &report)
                });
                // Progress comes from the blocking unpacker; show it as it arrives.
                while let Some(n) = rx.recv().await {
                    progress(&format!("unpacked {} MiB", n >> 20));
                }
                let u = job
                    .await
                    .map_err(|e| OpsError::Invalid(format!("unpacking stopped: {e}")))??;
                (u.path, Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: u.sha256 }))
            } else {
                (cached.path.clone(), checksum.clone())
            };
            progress(&format!("uploading to {} on {}", spec.import_storage, spec.node));
            let up = UploadRequest {
                content: TransferContent::Import,
                filename: filename.clone(),
                checksum,
                path,
            };
            wait(client, client.storage_upload(&spec.node, &spec.import_storage, &up, None).await?)
                .await?;
            how = Some("upload");
        }
        how.unwrap_or("upload").to_string()
    };
    Ok(Staged { volid, alg, hash, source: download.url, via })
}
