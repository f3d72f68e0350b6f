//! The local image cache (`~/.cache/proxctl/images`), content-addressed by hash:
//! `sha256/<hex>` (or `sha512/<hex>`) beside a `<hex>.json` record of where it came from.
//! Downloads stream through the hash in one pass with constant memory, resume from their
//! `partial/` file over HTTP Range after an interruption, and only enter the cache once the hash
//! matches.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checksum::Algorithm;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot download {url}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("cache I/O on {path}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "{url} does not match its checksum: expected {expected}, got {actual}; the partial file \
         was removed, so the next pull starts over"
    )]
    Mismatch { url: String, expected: String, actual: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.display().to_string(), source }
}

/// Progress of one download: bytes so far (including a resumed prefix) and the total if known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    /// Seconds left at the current rate, when it can be told.
    pub eta_secs: Option<u64>,
}

/// What the cache records beside each image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub url: String,
    pub algorithm: Algorithm,
    pub hash: String,
    pub size: u64,
    pub fetched_at: String,
}

/// An image in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cached {
    pub path: PathBuf,
    pub record: Record,
    /// Whether this call downloaded it (false: it was already cached).
    pub downloaded: bool,
    /// Bytes resumed from an earlier, interrupted download.
    pub resumed_from: u64,
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

fn alg_dir(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sha256 => "sha256",
        Algorithm::Sha512 => "sha512",
    }
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    fn hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$XDG_CACHE_HOME/proxctl/images`, else `~/.cache/proxctl/images`.
    pub fn default_root(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        env("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
            })
            .map(|b| b.join("proxctl").join("images"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, a: Algorithm, hash: &str) -> PathBuf {
        self.root.join(alg_dir(a)).join(hash)
    }

    fn partial_of(&self, url: &str) -> PathBuf {
        let key = hex::encode(sha2::Sha256::digest(url.as_bytes()));
        self.root.join("partial").join(format!("{key}.part"))
    }

    /// The cached image with this hash, if present.
    pub fn lookup(&self, a: Algorithm, hash: &str) -> Option<Cached> {
        let path = self.path_of(a, hash);
        let meta = std::fs::read_to_string(path.with_extension("json")).ok()?;
        let record: Record = serde_json::from_str(&meta).ok()?;
        path.is_file().then_some(Cached { path, record, downloaded: false, resumed_from: 0 })
    }

    /// Download `url` into the cache, verifying it against `expected` (lowercase hex of `a`).
    /// An interrupted earlier download of the same URL is resumed with a Range request.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        url: &str,
        a: Algorithm,
        expected: &str,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Cached, FetchError> {
        let expected = expected.to_ascii_lowercase();
        if let Some(hit) = self.lookup(a, &expected) {
            return Ok(hit);
        }
        let partial = self.partial_of(url);
        if let Some(dir) = partial.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        }
        // Hash what an earlier attempt already wrote, then continue from there.
        let mut hasher = Hasher::new(a);
        let mut have = 0u64;
        if let Ok(mut f) = tokio::fs::File::open(&partial).await {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).await.map_err(io(&partial))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                have += n as u64;
            }
        }
        let http_err = |source| FetchError::Http { url: url.to_string(), source };
        let mut req = http.get(url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = req.send().await.map_err(http_err)?;
        let status = resp.status().as_u16();
        let resumed_from = match status {
            206 => have,
            200 => {
                // The server ignored the range: start over.
                hasher = Hasher::new(a);
                have = 0;
                0
            }
            416 if have > 0 => have, // nothing left to send: the partial file is complete
            s => return Err(FetchError::Status { url: url.to_string(), status: s }),
        };
        let total = resp.content_length().map(|l| l + have).filter(|_| status != 416);
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .append(resumed_from > 0)
            .write(true)
            .truncate(resumed_from == 0)
            .open(&partial)
            .await
            .map_err(io(&partial))?;
        let started = Instant::now();
        let mut done = have;
        if status != 416 {
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(http_err)?;
                hasher.update(&chunk);
                out.write_all(&chunk).await.map_err(io(&partial))?;
                done += chunk.len() as u64;
                let rate = (done - have) as f64 / started.elapsed().as_secs_f64().max(0.001);
                let eta_secs = total
                    .filter(|_| rate > 0.0)
                    .map(|t| (t.saturating_sub(done) as f64 / rate) as u64);
                progress(Progress { done, total, eta_secs });
            }
        }
        out.flush().await.map_err(io(&partial))?;
        drop(out);
        let actual = hasher.hex();
        if actual != expected {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(FetchError::Mismatch { url: url.to_string(), expected, actual });
        }
        let dest = self.path_of(a, &expected);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        }
        tokio::fs::rename(&partial, &dest).await.map_err(io(&dest))?;
        let record = Record {
            url: url.to_string(),
            algorithm: a,
            hash: expected,
            size: done,
            fetched_at: jiff_now(),
        };
        let meta = serde_json::to_vec_pretty(&record).unwrap_or_default();
        let meta_path = dest.with_extension("json");
        tokio::fs::write(&meta_path, meta).await.map_err(io(&meta_path))?;
        Ok(Cached { path: dest, record, downloaded: true, resumed_from })
    }

    /// Every cached image, and whether its content still matches its name.
    pub async fn verify(&self) -> Result<Vec<(Record, bool)>, FetchError> {
        let mut out = Vec::new();
        for a in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join(alg_dir(a));
            let Ok(mut rd) = tokio::fs::read_dir(&dir).await else { continue };
            while let Some(e) = rd.next_entry().await.map_err(io(&dir))? {
                let p = e.path();
                if p.extension().is_some() {
                    continue;
                }
                let Some(c) =
                    p.file_name().and_then(|n| n.to_str()).and_then(|h| self.lookup(a, h))
                else {
                    continue;
                };
                let mut f = tokio::fs::File::open(&p).await.map_err(io(&p))?;
                let mut h = Hasher::new(a);
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf).await.map_err(io(&p))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                let ok = h.hex() == c.record.hash;
                out.push((c.record, ok));
            }
        }
        Ok(out)
    }

    /// Remove partial downloads and every cached image not in `keep` (hashes). Returns the
    /// bytes freed.
    pub async fn prune(&self, keep: &[String]) -> Result<u64, FetchError> {
        let mut freed = 0;
        for sub in ["partial", "sha256", "sha512"] {
            let dir = self.root.join(sub);
            let Ok(mut rd) = tokio::fs::read_dir(&dir).await else { continue };
            while let Some(e) = rd.next_entry().await.map_err(io(&dir))? {
                let p = e.path();
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                if sub != "partial" && keep.contains(&stem) {
                    continue;
                }
                freed += e.metadata().await.map(|m| m.len()).unwrap_or(0);
                tokio::fs::remove_file(&p).await.map_err(io(&p))?;
            }
        }
        Ok(freed)
    }
}

fn jiff_now() -> String {
    jiff::Timestamp::now().to_string()
}
