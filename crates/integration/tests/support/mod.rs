//! Shared test support: an in-process simulator on port 0 and a client pinned to it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use proxctl_client::{Client, ClientSettings, Credentials, RetryPolicy, TlsMode, WaitOptions};
use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use proxctl_types::secret::Secret;
use proxctl_types::{NodeName, Upid, VmId};

pub fn addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Tests run with `--schema` on whenever the shared schema is available: every request the
/// client sends is validated as a real PVE would, and `Harness::drop` asserts no violation.
pub fn schema() -> Option<Arc<proxctl_schema::ApiSchema>> {
    proxctl_schema::load_shared_schema_for_tests().map(Arc::new)
}

pub fn config(nodes: usize) -> SimConfig {
    SimConfig {
        nodes,
        seed: 42,
        clock: ClockMode::Manual,
        root_password: Some(Secret::new("sim-root-pw")),
        token: Some(Secret::new("root@pam!ci=0a1b2c3d-0000-4000-8000-000000000001")),
        auditor_token: Some(Secret::new("auditor@pve!ro=0a1b2c3d-0000-4000-8000-000000000002")),
        schema: schema(),
        auth_failure_delay_ms: 0,
        ..SimConfig::default()
    }
}

#[derive(Debug)]
pub struct Harness {
    pub sim: SimHandle,
    pub client: Client,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let v = self.sim.schema_violations();
        if !std::thread::panicking() {
            assert!(v.is_empty(), "requests violated the PVE schema: {v:#?}");
        }
    }
}

pub fn settings(sim: &SimHandle, creds: Credentials) -> ClientSettings {
    let mut s = ClientSettings::new(&sim.url).unwrap();
    s.tls = TlsMode::Pin(sim.fingerprint.parse().unwrap());
    s.credentials = Some(creds);
    // Tests see failures at once; retry behaviour has its own tests.
    s.retry = RetryPolicy::none();
    s
}

pub fn token_client(sim: &SimHandle) -> Client {
    Client::new(settings(sim, Credentials::from_full_token(sim.token.expose()).unwrap())).unwrap()
}

pub async fn harness_with(cfg: SimConfig) -> Harness {
    let sim = proxctl_sim::start(cfg, addr()).await.unwrap();
    let client = token_client(&sim);
    Harness { sim, client }
}

pub async fn harness() -> Harness {
    harness_with(config(1)).await
}

pub fn node(h: &Harness) -> NodeName {
    NodeName::new(h.sim.nodes[0].as_str()).unwrap()
}

pub fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

impl Harness {
    /// Run every pending task to its end, then read the outcome through the client.
    pub async fn finish(
        &self,
        upid: &Upid,
    ) -> Result<proxctl_client::TaskDone, proxctl_client::ClientError> {
        self.sim.settle();
        self.client.wait_task(upid, &WaitOptions::default()).await
    }
}

/// A TLS connection to the simulator (trusting its CA), for requests the project's client
/// would never send.
pub async fn tls_stream(h: &Harness) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pemfile::certs(&mut h.sim.ca_pem.as_bytes()).next().unwrap().unwrap().to_vec();
    roots.add(rustls::pki_types::CertificateDer::from(der)).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(h.sim.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    conn.connect(name, tcp).await.unwrap()
}

/// Send one raw HTTP/1.1 request over TLS and return the whole answer.
pub async fn raw_https(h: &Harness, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tls_stream(h).await;
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// One request with the simulator's token, sent raw (a third-party client's form, or a
/// control call); the status and the JSON answer (null when there is none).
pub async fn raw_json(
    h: &Harness,
    method: &str,
    path_query: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    raw_json_as(h, h.sim.token.expose(), method, path_query, content_type, body).await
}

/// [`raw_json`] with another API token (`user@realm!id=secret`).
pub async fn raw_json_as(
    h: &Harness,
    tok: &str,
    method: &str,
    path_query: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let ct = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    let resp = raw_https(
        h,
        &format!(
            "{method} {path_query} HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken={tok}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    status_and_json(&resp)
}

/// A form-encoded request with no credentials at all (a login, or a caller who has none).
#[allow(dead_code)]
pub async fn anonymous_form(
    h: &Harness,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let resp = raw_https(
        h,
        &format!(
            "{method} /api2/json{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    status_and_json(&resp)
}

/// The status and the JSON body (null when there is none) of a raw HTTP answer.
fn status_and_json(resp: &str) -> (u16, serde_json::Value) {
    let status = resp.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = resp
        .split("\r\n\r\n")
        .nth(1)
        .map(|b| serde_json::from_str(b).unwrap_or_default())
        .unwrap_or_default();
    (status, json)
}

fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes()).next().unwrap().unwrap().to_vec()
}

/// A realtime (1000x) simulator seeded from a scenario, for tests that wait on many tasks.
pub async fn realtime(scenario: &str, nodes: usize) -> Harness {
    let mut cfg = config(nodes);
    cfg.scenario = Some(proxctl_sim::scenario::Scenario::from_yaml(scenario).unwrap());
    cfg.clock = ClockMode::Realtime;
    cfg.time_scale = 1000.0;
    harness_with(cfg).await
}

#[allow(unused_imports)] // each test binary uses a different part of the support module
pub use proxctl_integration::{Files, file_server};

/// A real qcow2 image made with qemu-img, or `None` (the test skips) when qemu-img is missing
/// and `PROXCTL_REQUIRE_ALL` is not set.
pub fn qcow2(dir: &std::path::Path, name: &str, size: &str) -> Option<Vec<u8>> {
    let path = dir.join(name);
    match std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&path)
        .arg(size)
        .status()
    {
        Ok(s) if s.success() => Some(std::fs::read(&path).unwrap()),
        other if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() == Ok("1") => {
            panic!("qemu-img is required (PROXCTL_REQUIRE_ALL=1) but failed: {other:?}")
        }
        other => {
            eprintln!("SKIPPED: qemu-img unavailable ({other:?})");
            None
        }
    }
}

/// The PostgreSQL server tests use (`PROXCTL_TEST_POSTGRES`).
#[allow(dead_code)]
pub fn postgres_url() -> String {
    std::env::var("PROXCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store in its own `schema` of the test server; `None` (the test skips) when there is no
/// server, unless `PROXCTL_REQUIRE_ALL=1`, where that fails the test.
#[allow(dead_code)]
pub async fn postgres(schema: &str) -> Option<proxctl_state_postgres::PostgresStore> {
    match proxctl_state_postgres::PostgresStore::connect_in_schema(&postgres_url(), Some(schema))
        .await
    {
        Ok(s) => Some(s),
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!(
                "SKIPPED: no PostgreSQL at {} ({e}); set PROXCTL_REQUIRE_ALL=1 to fail",
                postgres_url()
            );
            None
        }
        Err(e) => panic!("PostgreSQL is required (PROXCTL_REQUIRE_ALL=1): {e:?}"),
    }
}

/// A form-encoded request under `/api2/json`, as third-party clients send them.
#[allow(dead_code)] // not every test binary uses it
pub async fn form(h: &Harness, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let path = format!("/api2/json{path}");
    raw_json(h, method, &path, Some("application/x-www-form-urlencoded"), body).await
}

/// The `message` of a PVE error answer.
#[allow(dead_code)]
pub fn message(body: &serde_json::Value) -> String {
    body["message"].as_str().unwrap_or_default().to_string()
}
