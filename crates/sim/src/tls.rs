//! The simulator's certificates, shaped like PVE's: a cluster CA
//! (`CN=Proxmox Virtual Environment, OU=<uuid>, O=PVE Cluster Manager CA`) and a node certificate
//! (`OU=PVE Cluster Node, O=Proxmox Virtual Environment, CN=<node>`) with PVE's SAN set. Keys are
//! ECDSA P-256 rather than RSA, because the ring backend cannot generate RSA keys.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType,
};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed")]
    Generate(#[from] rcgen::Error),
    #[error("TLS server configuration failed")]
    Rustls(#[from] rustls::Error),
}

/// The material a server needs, plus what clients pin.
#[derive(Debug, Clone)]
pub struct SimCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    /// SHA-256 of the node certificate, uppercase and colon-separated.
    pub fingerprint: String,
}

pub fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The cluster CA, kept to sign a certificate for each node.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A fresh cluster CA for the cluster `cluster_uuid`.
    pub fn new(cluster_uuid: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut ca = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Proxmox Virtual Environment");
        dn.push(DnType::OrganizationalUnitName, cluster_uuid);
        dn.push(DnType::OrganizationName, "PVE Cluster Manager CA");
        ca.distinguished_name = dn;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = ca.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// A node's certificate, for its name, `localhost`, the loopback addresses and `ip`.
    pub fn node_cert(&self, node: &str, ip: std::net::IpAddr) -> Result<SimCerts, TlsError> {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationalUnitName, "PVE Cluster Node");
        dn.push(DnType::OrganizationName, "Proxmox Virtual Environment");
        dn.push(DnType::CommonName, node);
        p.distinguished_name = dn;
        let mut ips: Vec<std::net::IpAddr> =
            vec![std::net::Ipv4Addr::LOCALHOST.into(), std::net::Ipv6Addr::LOCALHOST.into()];
        if !ips.contains(&ip) {
            ips.push(ip);
        }
        p.subject_alt_names = ips.into_iter().map(SanType::IpAddress).collect();
        p.subject_alt_names.push(SanType::DnsName("localhost".try_into()?));
        p.subject_alt_names.push(SanType::DnsName(node.try_into()?));
        let cert = p.signed_by(&key, &self.cert, &self.key)?;
        let der = cert.der().to_vec();
        Ok(SimCerts {
            ca_pem: self.cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: fingerprint_of(&der),
            cert_der: der,
        })
    }
}

/// A cluster CA and the certificate of `node` on the loopback address.
pub fn generate(node: &str, cluster_uuid: &str) -> Result<SimCerts, TlsError> {
    Ca::new(cluster_uuid)?.node_cert(node, std::net::Ipv4Addr::LOCALHOST.into())
}

pub fn server_config(
    certs: &SimCerts,
    ca_der: Option<Vec<u8>>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut chain = vec![rustls::pki_types::CertificateDer::from(certs.cert_der.clone())];
    if let Some(ca) = ca_der {
        chain.push(rustls::pki_types::CertificateDer::from(ca));
    }
    let key = rustls::pki_types::PrivateKeyDer::try_from(
        rustls_pemfile_key(&certs.key_pem)
            .ok_or(rustls::Error::General("no private key".into()))?,
    )
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(cfg))
}

/// The DER bytes inside a PKCS#8 PEM block.
fn rustls_pemfile_key(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The CA certificate's DER, from its PEM.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    rustls_pemfile_key(pem)
}
