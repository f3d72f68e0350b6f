//! TLS trust: system roots (default), an extra CA file, SHA-256 fingerprint pinning in PVE's
//! format, or no verification (`--insecure`). A rejected certificate's fingerprint is recorded
//! so the error can tell the user exactly what to pin.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::ClientError;

/// A SHA-256 certificate fingerprint, uppercase and colon-separated, as `/nodes` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        let h = Sha256::digest(der);
        Fingerprint(h.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = ClientError;
    /// Accepts PVE's form and also lowercase or colon-less hex.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Config(format!(
                "fingerprint '{s}' is not a SHA-256 fingerprint (64 hex digits, e.g. AB:CD:...); get it from `pvenode cert info` or the error proxctl prints"
            )));
        }
        let up = hex.to_ascii_uppercase();
        let pairs: Vec<&str> = (0..32).filter_map(|i| up.get(i * 2..i * 2 + 2)).collect();
        Ok(Fingerprint(pairs.join(":")))
    }
}

/// How the server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// System roots, plus an optional extra CA bundle.
    #[default]
    Verify,
    VerifyWithCa(PathBuf),
    /// Accept exactly the certificate with this fingerprint (the normal way for self-signed PVE).
    Pin(Fingerprint),
    /// No verification at all. Every run warns.
    Insecure,
}

/// What the verifier saw on the last rejected handshake.
#[derive(Debug, Default)]
pub(crate) struct TlsObservation {
    pub(crate) rejected: Option<Fingerprint>,
}

#[derive(Debug)]
struct Verifier {
    mode: TlsMode,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<TlsObservation>>,
}

impl Verifier {
    fn reject(
        &self,
        fp: Fingerprint,
        e: rustls::Error,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.rejected = Some(fp);
        }
        Err(e)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of_der(end_entity.as_ref());
        match &self.mode {
            TlsMode::Insecure => Ok(ServerCertVerified::assertion()),
            TlsMode::Pin(want) if *want == fp => Ok(ServerCertVerified::assertion()),
            TlsMode::Pin(_) => self.reject(
                fp,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ),
            ),
            TlsMode::Verify | TlsMode::VerifyWithCa(_) => match &self.webpki {
                Some(v) => {
                    match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                        Ok(ok) => Ok(ok),
                        Err(e) => self.reject(fp, e),
                    }
                }
                None => self.reject(
                    fp,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                ),
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Build the rustls config for `mode`, and the observation slot the verifier writes to.
pub(crate) fn client_config(
    mode: &TlsMode,
) -> Result<(rustls::ClientConfig, Arc<Mutex<TlsObservation>>), ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if matches!(mode, TlsMode::Verify | TlsMode::VerifyWithCa(_)) {
        // Unreadable system certificates are not fatal: pinning or --ca-file still work.
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
    }
    if let TlsMode::VerifyWithCa(path) = mode {
        let data = std::fs::read(path).map_err(|e| {
            ClientError::Config(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        let mut n = 0;
        for c in rustls_pemfile::certs(&mut data.as_slice()) {
            let c = c.map_err(|e| {
                ClientError::Config(format!("CA file {} is not PEM: {e}", path.display()))
            })?;
            roots.add(c).map_err(|e| {
                ClientError::Config(format!(
                    "CA file {} holds an unusable certificate: {e}",
                    path.display()
                ))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(ClientError::Config(format!(
                "CA file {} contains no PEM certificates",
                path.display()
            )));
        }
    }
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ClientError::Config(format!("cannot build TLS verifier: {e}")))?,
        )
    };
    let seen = Arc::new(Mutex::new(TlsObservation::default()));
    let verifier =
        Verifier { mode: mode.clone(), webpki, provider: provider.clone(), seen: seen.clone() };
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ClientError::Config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((cfg, seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise_to_pve_format() {
        let lower = "ab".repeat(32);
        let fp: Fingerprint = lower.parse().unwrap();
        assert_eq!(fp.as_str().len(), 32 * 3 - 1);
        assert!(fp.as_str().starts_with("AB:AB:"));
        let again: Fingerprint = fp.as_str().parse().unwrap();
        assert_eq!(fp, again);
        assert!("AB:CD".parse::<Fingerprint>().is_err());
    }
}
