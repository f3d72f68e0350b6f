//! The server's certificate: the one given with `--tls-cert`/`--tls-key`, or a self-signed one
//! made on first start and kept in the data directory (key readable by its owner only), so
//! clients can pin its fingerprint across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCert { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A loaded certificate and the SHA-256 fingerprint clients pin.
#[derive(Debug)]
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    /// Uppercase, colon-separated, as PVE prints fingerprints.
    pub fingerprint: String,
}

/// Load `cert`/`key`, or the self-signed pair in `data_dir` (made now if absent).
pub fn load(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
) -> Result<Identity, TlsError> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            let (c, k) = (data_dir.join("server.crt"), data_dir.join("server.key"));
            if !c.exists() || !k.exists() {
                self_signed(&c, &k)?;
            }
            (c, k)
        }
    };
    let read =
        |p: &Path| std::fs::read(p).map_err(|source| TlsError::Read { path: p.into(), source });
    let cert_pem = read(&cert_path)?;
    let key_pem = read(&key_path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCert { path: cert_path.clone() })?;
    let first = certs.first().ok_or_else(|| TlsError::NoCert { path: cert_path.clone() })?;
    let fingerprint = Sha256::digest(first.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or(TlsError::NoKey { path: key_path })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity { config: Arc::new(config), fingerprint })
}

fn self_signed(cert: &Path, key: &Path) -> Result<(), TlsError> {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let names = vec![host, "localhost".into(), "127.0.0.1".into(), "::1".into()];
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| TlsError::Write { path: dir.into(), source })?;
    }
    write_private(key, ck.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, ck.cert.pem())
        .map_err(|source| TlsError::Write { path: cert.into(), source })
}

/// Write a file only its owner can read, created so from the start (never briefly open).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write { path: path.into(), source };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_self_signed_pair_is_made_once_with_a_private_key_and_kept() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let first = load(None, None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("server.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load(None, None, dir.path()).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint, "the same certificate after a restart");
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
    }
}
