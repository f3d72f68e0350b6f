//! Storage endpoints: list, status, content (list, notes/protection, delete), streamed upload,
//! download-url, and vzdump.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use proxctl_types::api::{ContentItem, StorageStatus};
use proxctl_types::wire::FormParams;
use proxctl_types::{NodeName, StorageId, Upid, VmId, VolumeId};
use serde_json::Value;
use sha2::Digest;
use tokio::io::AsyncReadExt;

use super::{opt_upid_of, upid_of};
use crate::{ApiRequest, Client, ClientError, Endpoint};

/// Content types that upload and download-url accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferContent {
    Iso,
    Vztmpl,
    Import,
}

impl TransferContent {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferContent::Iso => "iso",
            TransferContent::Vztmpl => "vztmpl",
            TransferContent::Import => "import",
        }
    }
}

/// Checksum algorithms PVE verifies after a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Md5 => "md5",
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha224 => "sha224",
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha384 => "sha384",
            ChecksumAlgorithm::Sha512 => "sha512",
        }
    }
}

/// An expected checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub hex: String,
}

pub fn list(node: &NodeName, content: Option<&str>, enabled_only: bool) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("content", content);
    if enabled_only {
        p.push_bool("enabled", true);
    }
    ApiRequest::new(Endpoint::StorageList, &[node.as_str()], p)
}

pub fn status(node: &NodeName, storage: &StorageId) -> ApiRequest {
    ApiRequest::new(Endpoint::StorageStatus, &[node.as_str(), storage.as_str()], FormParams::new())
}

pub fn content(
    node: &NodeName,
    storage: &StorageId,
    content: Option<&str>,
    vmid: Option<VmId>,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("content", content).push_opt("vmid", vmid);
    ApiRequest::new(Endpoint::StorageContent, &[node.as_str(), storage.as_str()], p)
}

pub fn update_content(
    node: &NodeName,
    volume: &VolumeId,
    notes: Option<&str>,
    protected: Option<bool>,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("notes", notes).push_opt_bool("protected", protected);
    ApiRequest::new(
        Endpoint::StorageContentUpdate,
        &[node.as_str(), volume.storage().as_str(), volume.as_str()],
        p,
    )
}

pub fn delete_content(node: &NodeName, volume: &VolumeId, delay: Option<u8>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("delay", delay);
    ApiRequest::new(
        Endpoint::StorageContentDelete,
        &[node.as_str(), volume.storage().as_str(), volume.as_str()],
        p,
    )
}

/// A file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub content: TransferContent,
    /// Target file name; PVE strips paths and maps characters outside `[a-zA-Z0-9_.-]` to `_`.
    pub filename: String,
    pub checksum: Option<Checksum>,
    pub path: PathBuf,
}

/// The upload's text fields, in the order PVE needs them (all before the file part).
pub fn upload(node: &NodeName, storage: &StorageId, u: &UploadRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("content", u.content.as_str());
    if let Some(c) = &u.checksum {
        p.push("checksum-algorithm", c.algorithm.as_str()).push("checksum", c.hex.clone());
    }
    p.push("filename", u.filename.clone());
    ApiRequest::new(Endpoint::StorageUpload, &[node.as_str(), storage.as_str()], p)
}

/// `POST .../download-url`: the node fetches the URL itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadUrlRequest {
    pub url: String,
    pub content: TransferContent,
    pub filename: String,
    pub checksum: Option<Checksum>,
    /// ISO only: gz, lzo, zst or bz2, decompressed after download.
    pub compression: Option<String>,
    pub verify_certificates: Option<bool>,
}

pub fn download_url(node: &NodeName, storage: &StorageId, d: &DownloadUrlRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("url", d.url.clone())
        .push("content", d.content.as_str())
        .push("filename", d.filename.clone());
    if let Some(c) = &d.checksum {
        p.push("checksum-algorithm", c.algorithm.as_str()).push("checksum", c.hex.clone());
    }
    p.push_opt("compression", d.compression.as_ref())
        .push_opt_bool("verify-certificates", d.verify_certificates);
    ApiRequest::new(Endpoint::StorageDownloadUrl, &[node.as_str(), storage.as_str()], p)
}

/// `POST /nodes/{node}/vzdump`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VzdumpRequest {
    pub vmids: Vec<VmId>,
    pub all: bool,
    pub storage: Option<StorageId>,
    /// snapshot, suspend or stop.
    pub mode: Option<String>,
    /// 0, 1, gzip, lzo or zstd.
    pub compress: Option<String>,
    pub notes_template: Option<String>,
    pub protected: bool,
    pub remove: Option<bool>,
    pub prune_backups: Option<String>,
}

/// What vzdump did: started a task, or nothing because no selected guest is on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VzdumpStarted {
    Task(Upid),
    NothingToDo,
}

pub fn vzdump(node: &NodeName, v: &VzdumpRequest) -> ApiRequest {
    let mut p = FormParams::new();
    if !v.vmids.is_empty() {
        p.push("vmid", v.vmids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    }
    if v.all {
        p.push_bool("all", true);
    }
    p.push_opt("storage", v.storage.as_ref())
        .push_opt("mode", v.mode.as_ref())
        .push_opt("compress", v.compress.as_ref())
        .push_opt("notes-template", v.notes_template.as_ref())
        .push_opt_bool("remove", v.remove)
        .push_opt("prune-backups", v.prune_backups.as_ref());
    if v.protected {
        p.push_bool("protected", true);
    }
    ApiRequest::new(Endpoint::Vzdump, &[node.as_str()], p)
}

/// Upload progress: bytes sent so far, and the total.
pub type UploadProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl Client {
    pub async fn storage_list(
        &self,
        node: &NodeName,
        content: Option<&str>,
    ) -> Result<Vec<StorageStatus>, ClientError> {
        self.send_as(&list(node, content, false)).await
    }

    pub async fn storage_status(
        &self,
        node: &NodeName,
        storage: &StorageId,
    ) -> Result<serde_json::Map<String, Value>, ClientError> {
        self.send_as(&status(node, storage)).await
    }

    pub async fn storage_content(
        &self,
        node: &NodeName,
        storage: &StorageId,
        content_type: Option<&str>,
        vmid: Option<VmId>,
    ) -> Result<Vec<ContentItem>, ClientError> {
        self.send_as(&content(node, storage, content_type, vmid)).await
    }

    /// Set a volume's notes and/or protection (backups).
    pub async fn storage_update_content(
        &self,
        node: &NodeName,
        volume: &VolumeId,
        notes: Option<&str>,
        protected: Option<bool>,
    ) -> Result<(), ClientError> {
        self.send(&update_content(node, volume, notes, protected)).await.map(drop)
    }

    pub async fn storage_delete_content(
        &self,
        node: &NodeName,
        volume: &VolumeId,
        delay: Option<u8>,
    ) -> Result<Option<Upid>, ClientError> {
        let req = delete_content(node, volume, delay);
        let v = self.send(&req).await?;
        opt_upid_of(&req, v)
    }

    pub async fn storage_download_url(
        &self,
        node: &NodeName,
        storage: &StorageId,
        d: &DownloadUrlRequest,
    ) -> Result<Upid, ClientError> {
        self.send_task(&download_url(node, storage, d)).await
    }

    pub async fn vzdump(
        &self,
        node: &NodeName,
        v: &VzdumpRequest,
    ) -> Result<VzdumpStarted, ClientError> {
        let req = vzdump(node, v);
        match self.send(&req).await? {
            Value::String(s) if s == "OK" => Ok(VzdumpStarted::NothingToDo),
            other => upid_of(&req, other).map(VzdumpStarted::Task),
        }
    }

    /// Stream a file to `POST .../upload` as multipart with a Content-Length (PVE refuses
    /// chunked bodies). Text fields go before the file part, as PVE's stream parser needs.
    /// Memory use is one buffer, whatever the file size. Not retried: the stream is consumed.
    pub async fn storage_upload(
        &self,
        node: &NodeName,
        storage: &StorageId,
        u: &UploadRequest,
        progress: Option<UploadProgress>,
    ) -> Result<Upid, ClientError> {
        self.upload_hooked(node, storage, u, progress, None).await
    }

    /// [`Self::storage_upload`], hashing the file (SHA-256) in the same pass as it is sent:
    /// for a local image whose hash nobody gave, so it is read once.
    pub async fn storage_upload_hashed(
        &self,
        node: &NodeName,
        storage: &StorageId,
        u: &UploadRequest,
        progress: Option<UploadProgress>,
    ) -> Result<(Upid, String), ClientError> {
        let hasher = Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
        let upid =
            self.upload_hooked(node, storage, u, progress, Some(Arc::clone(&hasher))).await?;
        let digest = hasher.lock().unwrap_or_else(|p| p.into_inner()).clone().finalize();
        Ok((upid, hex::encode(digest)))
    }

    /// The upload with the client's hook (audit, safe mode) around it.
    async fn upload_hooked(
        &self,
        node: &NodeName,
        storage: &StorageId,
        u: &UploadRequest,
        progress: Option<UploadProgress>,
        hasher: Option<Arc<std::sync::Mutex<sha2::Sha256>>>,
    ) -> Result<Upid, ClientError> {
        let req = upload(node, storage, u);
        if self.settings().dry_run {
            return Err(ClientError::DryRun {
                request: format!("{req} (+ file {})", u.path.display()),
            });
        }
        let hook = self.hook_for(&req);
        if let Some(h) = &hook {
            h.before(self, &req).await?;
        }
        let result = self.upload_stream(&req, u, progress, hasher).await;
        if let Some(h) = &hook {
            h.after(&req, crate::transport::mutation_result(&result)).await;
        }
        let (v, _) = crate::transport::envelope(&req, &result?)?;
        upid_of(&req, v)
    }

    async fn upload_stream(
        &self,
        req: &ApiRequest,
        u: &UploadRequest,
        progress: Option<UploadProgress>,
        hasher: Option<Arc<std::sync::Mutex<sha2::Sha256>>>,
    ) -> Result<Bytes, ClientError> {
        let io_err =
            |source| ClientError::SecretFile { path: u.path.display().to_string(), source };
        let file = tokio::fs::File::open(&u.path).await.map_err(io_err)?;
        let size = file.metadata().await.map_err(io_err)?.len();
        let boundary = format!("proxctl-{:016x}", rand::random::<u64>());
        let mut head = String::new();
        for (k, v) in req.params.iter().filter(|(k, _)| *k != "filename") {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        let fname = u.filename.replace(['"', '\r', '\n'], "_");
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"{fname}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        let total_len = head.len() as u64 + size + tail.len() as u64;

        let chunks = futures_util::stream::unfold((file, 0u64), move |(mut f, sent)| {
            let (progress, hasher) = (progress.clone(), hasher.clone());
            async move {
                let mut buf = vec![0u8; 256 * 1024];
                match f.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        if let Some(h) = &hasher {
                            h.lock().unwrap_or_else(|p| p.into_inner()).update(&buf);
                        }
                        let sent = sent + n as u64;
                        if let Some(p) = &progress {
                            p(sent, size);
                        }
                        Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), (f, sent)))
                    }
                    Err(e) => Some((Err(e), (f, sent))),
                }
            }
        });
        let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) })
            .chain(chunks)
            .chain(futures_util::stream::once(async move { Ok(Bytes::from(tail)) }));

        let url = format!("{}/api2/json{}", self.settings().url, req.path);
        let mut rb = self
            .http()
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            // An explicit length makes hyper send a fixed-length body instead of chunks.
            .header(reqwest::header::CONTENT_LENGTH, total_len)
            .body(reqwest::Body::wrap_stream(body));
        for (k, v) in self.auth_for_upload(req).await? {
            rb = rb.header(k, v.expose());
        }
        let resp = rb.send().await.map_err(|e| self.map_transport(req, e))?;
        self.read_response(req, resp).await
    }
}
