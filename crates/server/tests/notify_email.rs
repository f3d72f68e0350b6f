//! Email notifications against a local SMTP sink that speaks STARTTLS with a certificate from
//! a private CA: mail is delivered only over TLS, with the password from the target's secret
//! reference, retried on a temporary refusal; a certificate that does not verify, or a server
//! that offers no STARTTLS, ends in a dead letter and no mail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use jiff::Timestamp;
use proxctl_ops::notify::{self, Event, EventGuest, Severity, Target, TargetType, deliver};
use serde_json::json;
use support::Api;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// One mail as the sink took it.
#[derive(Debug, Clone, Default)]
struct Mail {
    tls: bool,
    auth: Option<String>,
    to: Vec<String>,
    data: String,
}

#[derive(Debug, Default)]
struct Sink {
    mails: Vec<Mail>,
    /// `MAIL FROM` commands answered (refused ones too).
    tries: usize,
}

/// How the sink behaves.
#[derive(Clone, Copy)]
struct Mode {
    offer_starttls: bool,
    /// Answer the first N `MAIL FROM`s with a temporary error.
    refuse_first: usize,
}

/// A CA and a `localhost` certificate it signed; the CA's PEM is what targets trust.
fn certificates() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca.pem(), tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serve one SMTP session on `s`; `Ok(Some(s))` when the client asked for STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    tls: bool,
    mode: Mode,
    sink: &Mutex<Sink>,
) -> std::io::Result<Option<S>> {
    let mut r = BufReader::new(s);
    if !tls {
        r.get_mut().write_all(b"220 sink ESMTP\r\n").await?;
    }
    let mut mail = Mail { tls, ..Mail::default() };
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let ext = if !tls && mode.offer_starttls { "STARTTLS" } else { "AUTH PLAIN" };
            format!("250-sink\r\n250-{ext}\r\n250 8BITMIME\r\n")
        } else if upper == "STARTTLS" && mode.offer_starttls && !tls {
            r.get_mut().write_all(b"220 go ahead\r\n").await?;
            return Ok(Some(r.into_inner()));
        } else if let Some(b64) = cmd.strip_prefix("AUTH PLAIN ") {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            mail.auth = Some(String::from_utf8(raw).unwrap());
            "235 ok\r\n".into()
        } else if upper.starts_with("MAIL FROM") {
            let mut s = sink.lock().unwrap();
            s.tries += 1;
            if s.tries <= mode.refuse_first {
                "451 try again later\r\n".into()
            } else {
                "250 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].trim().trim_matches(|c| c == '<' || c == '>').to_string());
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            r.get_mut().write_all(b"354 go\r\n").await?;
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 || l == ".\r\n" {
                    break;
                }
                mail.data.push_str(&l);
            }
            sink.lock().unwrap().mails.push(std::mem::take(&mut mail));
            mail.tls = tls;
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            r.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(None);
        } else {
            "250 ok\r\n".into()
        };
        r.get_mut().write_all(reply.as_bytes()).await?;
    }
}

/// A sink on a port of its own; returns the port, the CA's PEM and what it received.
async fn sink(mode: Mode) -> (u16, String, Arc<Mutex<Sink>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ca, acceptor) = certificates();
    let seen = Arc::new(Mutex::new(Sink::default()));
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
            tokio::spawn(async move {
                if let Ok(Some(tcp)) = session(tcp, false, mode, &state).await
                    && let Ok(tls) = acceptor.accept(tcp).await
                {
                    let _ = session(tls, true, mode, &state).await;
                }
            });
        }
    });
    (port, ca, seen)
}

fn target(port: u16, ca_file: Option<String>, secret: &str) -> Target {
    Target {
        name: "mail".into(),
        kind: TargetType::Smtp,
        url: format!("smtp://alerts%40example.com@localhost:{port}"),
        secret: Some(secret.into()),
        mail_to: vec!["ops@example.com".into(), "oncall@example.com".into()],
        mail_from: Some("proxctl@example.com".into()),
        ca_file,
        created_at: Timestamp::now(),
    }
}

fn secret_file(dir: &std::path::Path) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join("smtp-password");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p)
        .unwrap();
    std::io::Write::write_all(&mut f, b"mail-pa55").unwrap();
    format!("file:{}", p.display())
}

fn ca_file(dir: &std::path::Path, pem: &str) -> String {
    let p = dir.join("ca.pem");
    std::fs::write(&p, pem).unwrap();
    p.display().to_string()
}

fn event() -> Event {
    Event::new(
        "job-failed",
        Severity::Error,
        "job nightly failed",
        "backup on 2 guest(s), 2 failed",
        json!({"job": "nightly"}),
    )
    .about(vec![EventGuest { vmid: 100, name: "web-1".into(), ..Default::default() }])
}

const FAST: deliver::Retry = deliver::Retry { attempts: 3, first_delay: Duration::from_millis(10) };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_with_the_password_from_its_secret_and_is_retried() {
    let api = Api::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let (port, ca, seen) = sink(Mode { offer_starttls: true, refuse_first: 1 }).await;
    let t = target(port, Some(ca_file(dir.path(), &ca)), &secret_file(dir.path()));
    notify::add_target(&api.state, &t).await.unwrap();

    let tries = deliver::send(&api.state, &t, &event(), FAST).await.unwrap();
    assert_eq!(tries, 2, "the first try was refused for now (451)");
    let mails = seen.lock().unwrap().mails.clone();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(m.tls, "sent only after STARTTLS");
    assert_eq!(m.auth.as_deref(), Some("\0alerts@example.com\0mail-pa55"));
    assert_eq!(m.to, ["ops@example.com", "oncall@example.com"]);
    assert!(m.data.contains("Subject: [proxctl] job nightly failed"), "{}", m.data);
    assert!(m.data.contains("backup on 2 guest(s), 2 failed"), "{}", m.data);
    assert!(deliver::dead_letters(&api.state, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_is_never_sent_to_an_unverified_server_or_without_tls() {
    let api = Api::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());

    // The server's certificate chains to a CA the target does not trust.
    let (port, _, seen) = sink(Mode { offer_starttls: true, refuse_first: 0 }).await;
    let err = deliver::send(&api.state, &target(port, None, &secret), &event(), FAST)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("dead letter"), "{err}");
    assert!(seen.lock().unwrap().mails.is_empty());

    // A server that offers no STARTTLS gets nothing, not even the password.
    let (port, ca, seen) = sink(Mode { offer_starttls: false, refuse_first: 0 }).await;
    let t = target(port, Some(ca_file(dir.path(), &ca)), &secret);
    assert!(deliver::send(&api.state, &t, &event(), FAST).await.is_err());
    let (mails, tries) = {
        let s = seen.lock().unwrap();
        (s.mails.len(), s.tries)
    };
    assert_eq!((mails, tries), (0, 0), "no mail started in the clear");

    let dead = deliver::dead_letters(&api.state, 10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(!serde_json::to_string(&dead).unwrap().contains("mail-pa55"), "no secret in records");
    let checked = notify::add_target(
        &api.state,
        &Target { mail_to: vec!["not an address".into()], name: "bad".into(), ..t },
    )
    .await
    .unwrap_err();
    assert!(checked.to_string().contains("not an email address"), "{checked}");
}
