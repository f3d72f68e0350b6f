//! TLS trust modes against the simulator's self-signed certificate, authentication (tokens,
//! tickets, CSRF, auditors), and proof that secrets never reach logs or `Debug` output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxctl_client::{ApiErrorKind, Client, ClientError, ClientSettings, Credentials, TlsMode};
use proxctl_types::secret::Secret;
use support::*;

fn creds(sim: &proxctl_sim::SimHandle) -> Credentials {
    Credentials::from_full_token(sim.token.expose()).unwrap()
}

#[tokio::test]
async fn self_signed_server_is_refused_by_default_with_its_fingerprint_shown() {
    let h = harness().await;
    let mut s = settings(&h.sim, creds(&h.sim));
    s.tls = TlsMode::Verify;
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    let ClientError::Tls { fingerprint, .. } = &e else { panic!("expected a TLS error, got {e}") };
    assert_eq!(fingerprint.as_deref(), Some(h.sim.fingerprint.as_str()));
    let msg = e.to_string();
    assert!(msg.contains(&format!("--fingerprint {}", h.sim.fingerprint)), "{msg}");
}

#[tokio::test]
async fn the_right_fingerprint_is_accepted() {
    let h = harness().await;
    let c = Client::new(settings(&h.sim, creds(&h.sim))).unwrap();
    assert_eq!(c.version().await.unwrap().version, "9.1.3");
    assert!(c.warnings().is_empty());
}

#[tokio::test]
async fn a_wrong_fingerprint_is_refused() {
    let h = harness().await;
    let mut s = settings(&h.sim, creds(&h.sim));
    s.tls = TlsMode::Pin("AB".repeat(32).parse().unwrap());
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    let ClientError::Tls { fingerprint, pinned, .. } = &e else {
        panic!("expected a TLS error, got {e}")
    };
    assert_eq!(fingerprint.as_deref(), Some(h.sim.fingerprint.as_str()));
    assert!(pinned.is_some());
    assert!(e.to_string().contains("does not match the pinned fingerprint"));
}

#[tokio::test]
async fn insecure_accepts_any_certificate_but_warns() {
    let h = harness().await;
    let mut s = settings(&h.sim, creds(&h.sim));
    s.tls = TlsMode::Insecure;
    let c = Client::new(s).unwrap();
    c.version().await.unwrap();
    assert_eq!(c.warnings().len(), 1);
    assert!(c.warnings()[0].contains("TLS verification is disabled"), "{:?}", c.warnings());
}

#[tokio::test]
async fn the_cluster_ca_file_is_trusted_with_ca_file() {
    let h = harness().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("pve-root-ca.pem");
    std::fs::write(&ca, &h.sim.ca_pem).unwrap();
    let mut s = settings(&h.sim, creds(&h.sim));
    s.tls = TlsMode::VerifyWithCa(ca);
    Client::new(s).unwrap().version().await.unwrap();
}

#[tokio::test]
async fn password_login_gets_a_ticket_and_writes_carry_csrf() {
    let h = harness().await;
    let s = settings(
        &h.sim,
        Credentials::password("root@pam", Secret::new("sim-root-pw"), None).unwrap(),
    );
    let c = Client::new(s).unwrap();
    c.version().await.unwrap();
    // A write: the simulator refuses it without a valid CSRF token.
    let t = c
        .qemu_power(&node(&h), id(100), &proxctl_client::PowerAction::Start { timeout: None })
        .await
        .unwrap_err();
    assert_eq!(
        t.api().unwrap().kind,
        ApiErrorKind::DoesNotExist,
        "authenticated and past CSRF: {t}"
    );
    assert_eq!(c.metrics().logins.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_expired_ticket_is_replaced_by_logging_in_again() {
    let h = harness().await;
    let c = Client::new(settings(
        &h.sim,
        Credentials::password("root@pam", Secret::new("sim-root-pw"), None).unwrap(),
    ))
    .unwrap();
    c.version().await.unwrap();
    h.sim.advance(7201 * 1000);
    c.version().await.unwrap();
    assert_eq!(c.metrics().logins.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn tickets_are_renewed_before_expiry_by_posting_the_ticket() {
    let h = harness().await;
    let mut s = settings(
        &h.sim,
        Credentials::password("root@pam", Secret::new("sim-root-pw"), None).unwrap(),
    );
    s.ticket_renew_after = Duration::ZERO;
    let c = Client::new(s).unwrap();
    for _ in 0..3 {
        c.version().await.unwrap();
    }
    assert_eq!(c.metrics().logins.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(h.sim.counters()["POST /access/ticket"], 3);
}

#[tokio::test]
async fn a_totp_user_logs_in_in_two_steps_and_without_a_code_is_told_what_to_set() {
    const KEY: &str = "12345678901234567890";
    let mut cfg = support::config(1);
    cfg.totp_key = Some(Secret::new(KEY));
    let h = support::harness_with(cfg).await;
    let client = |otp: Option<String>| {
        let creds =
            Credentials::password("root@pam", Secret::new("sim-root-pw"), otp.map(Secret::new));
        Client::new(settings(&h.sim, creds.unwrap())).unwrap()
    };
    let e = client(None).version().await.unwrap_err();
    assert!(matches!(e, ClientError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("PROXCTL_OTP"), "{e}");

    let now = h.sim.with_world(|w| w.now_secs());
    // An hour away from any step the simulator accepts now.
    let stale = proxctl_sim::totp(KEY.as_bytes(), now + 3600);
    let e = client(Some(stale)).version().await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::Unauthorized, "{e}");

    let c = client(Some(proxctl_sim::totp(KEY.as_bytes(), now)));
    c.version().await.unwrap();
    let t = c
        .qemu_power(&node(&h), id(100), &proxctl_client::PowerAction::Start { timeout: None })
        .await
        .unwrap_err();
    assert_eq!(t.api().unwrap().kind, ApiErrorKind::DoesNotExist, "a full ticket, past CSRF: {t}");
    assert_eq!(c.metrics().logins.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_wrong_password_is_a_401_authentication_failure() {
    let h = harness().await;
    let s = settings(&h.sim, Credentials::password("root@pam", Secret::new("nope"), None).unwrap());
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.kind, ApiErrorKind::Unauthorized);
    assert_eq!(api.message, "authentication failure");
}

#[tokio::test]
async fn no_credentials_is_a_401_no_ticket_and_a_bad_token_is_authentication_failed() {
    let h = harness().await;
    let mut s = settings(&h.sim, creds(&h.sim));
    s.credentials = None;
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "No ticket");
    let s = settings(&h.sim, Credentials::from_full_token("root@pam!ci=wrong").unwrap());
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "Authentication failed!");
}

#[tokio::test]
async fn an_auditor_token_reads_but_gets_403_on_writes() {
    let h = harness().await;
    let s = settings(&h.sim, Credentials::from_full_token(h.sim.auditor_token.expose()).unwrap());
    let c = Client::new(s).unwrap();
    c.nodes().await.unwrap();
    let e = c
        .qemu_power(&node(&h), id(100), &proxctl_client::PowerAction::Start { timeout: None })
        .await
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.kind, ApiErrorKind::Forbidden);
    assert_eq!(api.message, "Permission check failed (/vms/100, VM.PowerMgmt)");
}

#[tokio::test]
async fn a_post_with_a_ticket_but_no_csrf_header_is_refused() {
    let h = harness().await;
    let status_line = post_without_csrf(&h).await;
    assert_eq!(status_line, "HTTP/1.1 401 Permission denied - invalid csrf token");
}

/// POST without CSRF over a raw TLS connection (the project's client always sends it).
async fn post_without_csrf(h: &Harness) -> String {
    let login = format!("username=root%40pam&password={}", "sim-root-pw");
    let resp = raw_https(h, &format!(
        "POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}",
        login.len()
    ))
    .await;
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let ticket = v["data"]["ticket"].as_str().unwrap().to_string();
    let resp = raw_https(h, &format!(
        "POST /api2/json/nodes/pve/qemu/100/status/start HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={ticket}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await;
    resp.lines().next().unwrap().to_string()
}

#[tokio::test]
async fn chunked_request_bodies_get_pves_501() {
    let h = harness().await;
    let resp = raw_https(
        &h,
        "POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 501 chunked transfer encoding not supported"), "{resp}");
}

#[tokio::test]
async fn an_unknown_route_is_501_with_pves_message() {
    let h = harness().await;
    let tok = h.sim.token.expose().to_string();
    let resp = raw_https(
        &h,
        &format!("GET /api2/json/nodes/pve/foo HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken={tok}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 501 Method 'GET /nodes/pve/foo' not implemented"), "{resp}");
    assert!(resp.contains("\"data\":null"));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_from_the_environment_never_appear_in_trace_logs_or_debug_output() {
    let h = harness().await;
    let cap = Captured::default();
    let writer = cap.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let token = h.sim.token.expose().to_string();
    let token_secret = token.rsplit_once('=').unwrap().1.to_string();
    let url = h.sim.url.clone();
    let fp = h.sim.fingerprint.clone();
    let env = move |k: &str| -> Option<String> {
        match k {
            "PROXCTL_URL" => Some(url.clone()),
            "PROXCTL_TOKEN" => Some(token.clone()),
            "PROXCTL_FINGERPRINT" => Some(fp.clone()),
            _ => None,
        }
    };
    let s = ClientSettings::from_env(&env).unwrap().unwrap();
    let c = Client::new(s.clone()).unwrap();
    c.version().await.unwrap();
    let _ = c
        .qemu_power(&node(&h), id(100), &proxctl_client::PowerAction::Start { timeout: None })
        .await;

    let mut ps = settings(
        &h.sim,
        Credentials::password("root@pam", Secret::new("sim-root-pw"), None).unwrap(),
    );
    ps.ticket_renew_after = Duration::ZERO;
    let pc = Client::new(ps.clone()).unwrap();
    pc.version().await.unwrap();
    pc.version().await.unwrap();

    let logs = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "trace logging was captured: {logs}");
    for (what, text) in [
        ("logs", logs.as_str()),
        ("settings", &format!("{s:?}")),
        ("client", &format!("{c:?}")),
        ("password settings", &format!("{ps:?}")),
        ("password client", &format!("{pc:?}")),
    ] {
        assert!(!text.contains(&token_secret), "token secret leaked into {what}");
        assert!(!text.contains("sim-root-pw"), "password leaked into {what}");
        assert!(!text.contains("PVE:root@pam:"), "ticket leaked into {what}");
    }
}

#[tokio::test]
async fn connection_refused_and_timeouts_are_distinct_errors() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mut s = ClientSettings::new(&format!("https://127.0.0.1:{port}")).unwrap();
    s.tls = TlsMode::Insecure;
    s.retry = proxctl_client::RetryPolicy::none();
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");

    // A server that accepts but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let mut s = ClientSettings::new(&format!("https://127.0.0.1:{port}")).unwrap();
    s.tls = TlsMode::Insecure;
    s.retry = proxctl_client::RetryPolicy::none();
    s.connect_timeout = Duration::from_millis(200);
    s.request_timeout = Duration::from_millis(300);
    let e = Client::new(s).unwrap().version().await.unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
}

#[tokio::test]
async fn an_expired_ticket_fault_refuses_old_tickets_and_the_client_logs_in_again() {
    let h = harness().await;
    let c = Client::new(settings(
        &h.sim,
        Credentials::password("root@pam", Secret::new("sim-root-pw"), None).unwrap(),
    ))
    .unwrap();
    c.cluster_status().await.unwrap();
    let (_, login) =
        anonymous_form(&h, "POST", "/access/ticket", "username=root%40pam&password=sim-root-pw")
            .await;
    let old = login["data"]["ticket"].as_str().unwrap().to_string();

    // Every ticket issued so far is now expired.
    h.sim.set_faults(proxctl_sim::faults::Faults {
        ticket_lifetime_s: Some(0),
        ..Default::default()
    });
    h.sim.advance(1_000);
    let resp = raw_https(
        &h,
        &format!("GET /api2/json/version HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={old}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    let renew = format!(
        "username=root%40pam&password={}",
        old.replace(':', "%3A").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
    );
    assert_eq!(
        anonymous_form(&h, "POST", "/access/ticket", &renew).await.0,
        401,
        "an expired ticket does not renew"
    );

    h.sim.clear_counters();
    c.cluster_status().await.expect("the client logs in again after the 401");
    assert_eq!(
        h.sim.counters().get("POST /access/ticket").copied(),
        Some(1),
        "{:?}",
        h.sim.counters()
    );
}
