//! The simulator as a server facing hostile clients: it authenticates before it reads a body
//! (a stranger's 200 MB upload is never taken in), drops connections that stall in the TLS
//! handshake or in their headers, wants the CSRF token for cookie writes to `/_sim/`, and
//! refuses fault rules and durations that cannot mean anything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::*;

/// A guard against a hang, never a timing assertion: the server is expected to answer or
/// close long before.
const GUARD: Duration = Duration::from_secs(60);

async fn quick_sim() -> Harness {
    let mut cfg = config(1);
    cfg.io_timeout = Duration::from_millis(300);
    harness_with(cfg).await
}

#[tokio::test]
async fn an_unauthenticated_upload_is_refused_before_its_body_is_read() {
    let h = harness().await;
    let mut tls = tls_stream(&h).await;
    // Announce 200 MB, send 1 KiB, and wait: the 401 must come without the rest.
    let head = "POST /api2/json/nodes/pve/storage/local/upload HTTP/1.1\r\nHost: x\r\n\
                Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 209715200\r\n\r\n";
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&[b'x'; 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(GUARD, tls.read(&mut buf)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_handshake_is_dropped() {
    let h = quick_sim().await;
    let mut tcp = tokio::net::TcpStream::connect(h.sim.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(GUARD, tcp.read(&mut buf)).await.expect("closed by the server");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
}

#[tokio::test]
async fn a_request_whose_headers_never_end_is_dropped() {
    let h = quick_sim().await;
    let mut tls = tls_stream(&h).await;
    tls.write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(GUARD, tls.read_to_end(&mut out)).await.expect("closed");
    assert!(r.is_err() || !String::from_utf8_lossy(&out).contains("200 OK"), "{out:?}");
}

async fn root_ticket(h: &Harness) -> (String, String) {
    let login = "username=root%40pam&password=sim-root-pw";
    let resp = raw_https(h, &format!(
        "POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}",
        login.len()
    ))
    .await;
    let v: serde_json::Value =
        serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let d = &v["data"];
    (d["ticket"].as_str().unwrap().into(), d["CSRFPreventionToken"].as_str().unwrap().into())
}

#[tokio::test]
async fn control_writes_with_a_root_cookie_need_the_csrf_token() {
    let h = harness().await;
    let (ticket, csrf) = root_ticket(&h).await;
    let send = |extra: String| {
        let h = &h;
        let ticket = ticket.clone();
        async move {
            raw_https(h, &format!(
                "POST /_sim/advance?ms=1000 HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={ticket}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            ))
            .await
        }
    };
    assert!(send(String::new()).await.starts_with("HTTP/1.1 401"), "a cookie alone is not enough");
    let ok = send(format!("CSRFPreventionToken: {csrf}\r\n")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

async fn control(h: &Harness, method: &str, path: &str, body: &str) -> (u16, String) {
    let tok = h.sim.token.expose().to_string();
    let resp = raw_https(h, &format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken={tok}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    (status, resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

#[tokio::test]
async fn meaningless_fault_rules_and_durations_are_refused() {
    let h = harness().await;
    for (rules, says) in [
        (
            r#"{"rules":[{"pattern":"/","error_rate":5}]}"#,
            "rules[0].error_rate must be a probability",
        ),
        (r#"{"rules":[{"pattern":"/","error_rate":0.5,"status":99}]}"#, "HTTP error status"),
        (r#"{"task_failure_rate":-1}"#, "task_failure_rate must be a probability"),
    ] {
        let (status, body) = control(&h, "PUT", "/_sim/faults", rules).await;
        assert_eq!(status, 400, "{rules}: {body}");
        assert!(body.contains(says), "{rules}: {body}");
    }
    let (_, before) = control(&h, "GET", "/_sim/state", "").await;
    let (status, body) = control(&h, "POST", "/_sim/advance?ms=18446744073709551615", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most"), "{body}");
    let (_, after) = control(&h, "GET", "/_sim/state", "").await;
    assert_eq!(before, after, "time did not move");
    let big = "x".repeat(600 * 1024);
    let (status, _) = control(&h, "PUT", "/_sim/faults", &big).await;
    assert_eq!(status, 501, "control bodies are capped too");
}
