//! Compressed cloud images that PVE cannot import as published (FreeBSD and Fedora CoreOS ship
//! `.qcow2.xz`): unpacked from the verified cache file, streamed so memory stays bounded by the
//! xz dictionary whatever the image size, and hashed on the way out so PVE can verify the
//! upload. The result sits beside the cache, named by the compressed file's hash.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "proxctl cannot unpack '{0}'-compressed images (it unpacks xz); add an uncompressed mirror to your catalog"
    )]
    Unsupported(String),
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid xz file ({message}); `proxctl image prune` and fetch it again")]
    Corrupt { path: PathBuf, message: String },
}

/// An unpacked image: where it is and the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// How often progress is reported, in bytes written.
pub const PROGRESS_STEP: u64 = 512 << 20;

/// Counts and hashes what passes through to the file, and reports every `step` bytes.
struct HashingWriter<'a, W> {
    inner: W,
    hash: sha2::Sha256,
    size: u64,
    step: u64,
    on_progress: &'a (dyn Fn(u64) + Send + Sync),
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        let before = self.size / self.step;
        self.size += n as u64;
        if self.size / self.step > before {
            (self.on_progress)(self.size);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Unpack `src` (compressed with `compression`) to `dest`, unless an earlier run already did:
/// the hash is kept in `dest` + `.sha256`, written only after the file is complete.
/// `on_progress` gets the bytes written so far, every [`PROGRESS_STEP`].
pub fn unpack(
    src: &Path,
    compression: &str,
    dest: &Path,
    on_progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Unpacked, UnpackError> {
    if compression != "xz" {
        return Err(UnpackError::Unsupported(compression.to_string()));
    }
    let sidecar = PathBuf::from(format!("{}.sha256", dest.display()));
    if let (Ok(meta), Ok(hash)) = (std::fs::metadata(dest), std::fs::read_to_string(&sidecar)) {
        let hash = hash.trim().to_string();
        if hash.len() == 64 {
            return Ok(Unpacked { path: dest.to_path_buf(), sha256: hash, size: meta.len() });
        }
    }
    let read = |source| UnpackError::Read { path: src.to_path_buf(), source };
    let write = |source| UnpackError::Write { path: dest.to_path_buf(), source };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    let input = std::fs::File::open(src).map_err(read)?;
    let output = std::fs::File::create(&partial).map_err(write)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, output),
        hash: sha2::Sha256::new(),
        size: 0,
        step: PROGRESS_STEP,
        on_progress,
    };
    let mut input = BufReader::with_capacity(1 << 20, input);
    if let Err(e) = lzma_rs::xz_decompress(&mut input, &mut out) {
        let _ = std::fs::remove_file(&partial);
        return Err(match e {
            lzma_rs::error::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                UnpackError::Corrupt { path: src.to_path_buf(), message: "it ends early".into() }
            }
            lzma_rs::error::Error::IoError(source) => UnpackError::Write { path: partial, source },
            other => UnpackError::Corrupt { path: src.to_path_buf(), message: other.to_string() },
        });
    }
    out.flush().map_err(write)?;
    let sha256 = hex::encode(out.hash.finalize());
    std::fs::rename(&partial, dest).map_err(write)?;
    std::fs::write(&sidecar, format!("{sha256}\n")).map_err(write)?;
    Ok(Unpacked { path: dest.to_path_buf(), sha256, size: out.size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut std::io::Cursor::new(data), &mut out).unwrap();
        out
    }

    #[test]
    fn an_xz_image_unpacks_to_its_content_with_its_hash_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let src = dir.path().join("img.qcow2.xz");
        std::fs::write(&src, xz(&data)).unwrap();
        let dest = dir.path().join("unpacked/img.qcow2");
        let u = unpack(&src, "xz", &dest, &|_| {}).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(u.sha256, hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(u.size, data.len() as u64);
        std::fs::remove_file(&src).unwrap();
        assert_eq!(unpack(&src, "xz", &dest, &|_| {}).unwrap(), u, "done once, reused");
    }

    #[test]
    fn progress_is_reported_each_time_a_step_is_crossed() {
        let seen = std::sync::Mutex::new(Vec::new());
        let report = |n: u64| seen.lock().unwrap().push(n);
        let mut w = HashingWriter {
            inner: Vec::new(),
            hash: sha2::Sha256::new(),
            size: 0,
            step: 10,
            on_progress: &report,
        };
        for chunk in [&[0u8; 4][..], &[0; 7], &[0; 25], &[0; 3]] {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), [11, 36]);
        assert_eq!(w.size, 39);
    }

    #[test]
    fn a_corrupt_or_unsupported_archive_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bad.xz");
        let good = xz(b"some image bytes, long enough to matter");
        let dest = dir.path().join("out.qcow2");
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 0xff;
        for bytes in [bad_magic, good[..good.len() / 2].to_vec()] {
            std::fs::write(&src, bytes).unwrap();
            let err = unpack(&src, "xz", &dest, &|_| {}).unwrap_err();
            assert!(matches!(err, UnpackError::Corrupt { .. }), "{err:?}");
            assert!(!dest.exists() && !dir.path().join("out.qcow2.partial").exists());
        }
        assert!(matches!(unpack(&src, "tar.xz", &dest, &|_| {}), Err(UnpackError::Unsupported(_))));
    }
}
