//! Email targets: an event as a plain-text mail over SMTP, with STARTTLS required on
//! `smtp://`, TLS from the first byte on `smtps://`, and no TLS only for a relay on the
//! loopback (`smtp+plain://`). The server's certificate is always verified (against the
//! system roots, plus a private CA from `ca_file`); the password comes from the target's
//! secret reference.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use proxctl_types::secret::Secret;

use super::{Event, Target};
use crate::OpsError;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    StartTls,
    Implicit,
    Plain,
}

/// A target's address, read from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    security: Security,
    host: String,
    port: u16,
    user: Option<String>,
}

fn invalid(m: impl Into<String>) -> OpsError {
    OpsError::Invalid(m.into())
}

fn server(url: &str) -> Result<Server, OpsError> {
    let u = reqwest::Url::parse(url)
        // Not echoed: a mistyped URL may hold a password.
        .map_err(|e| invalid(format!("the smtp endpoint is not a URL: {e}")))?;
    let (security, default_port) = match u.scheme() {
        "smtp" => (Security::StartTls, 587),
        "smtps" => (Security::Implicit, 465),
        "smtp+plain" => (Security::Plain, 25),
        other => {
            return Err(invalid(format!(
                "an smtp target's endpoint starts with smtp:// (STARTTLS), smtps:// or \
                 smtp+plain:// (loopback only), not {other}://"
            )));
        }
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the smtp endpoint names no host"))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    if u.password().is_some() {
        return Err(invalid(
            "put the SMTP password in --secret-from (env:VAR or file:PATH), not in the URL",
        ));
    }
    if security == Security::Plain && !is_loopback(&host) {
        return Err(invalid(format!(
            "smtp+plain:// sends mail and password unencrypted, so only to a relay on this host \
             (localhost, 127.0.0.1, ::1), not '{host}'; use smtp:// (STARTTLS) or smtps://"
        )));
    }
    let user = Some(u.username()).filter(|s| !s.is_empty()).map(percent_decode);
    Ok(Server { security, host, port: u.port().unwrap_or(default_port), user })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `%40` and friends in a user name (`user%40example.com@mail.example.com`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mailbox(what: &str, s: &str) -> Result<Mailbox, OpsError> {
    s.parse().map_err(|e| invalid(format!("{what} '{s}' is not an email address: {e}")))
}

/// What `add_target` checks for an email target: a usable URL, recipients and sender.
pub fn check(t: &Target) -> Result<(), OpsError> {
    server(&t.url)?;
    if t.mail_to.is_empty() {
        return Err(invalid("an smtp target needs at least one --mail-to address"));
    }
    for to in &t.mail_to {
        mailbox("--mail-to", to)?;
    }
    if let Some(from) = &t.mail_from {
        mailbox("--mail-from", from)?;
    }
    if let Some(ca) = &t.ca_file {
        std::fs::metadata(ca).map_err(|e| invalid(format!("cannot read --ca-file {ca}: {e}")))?;
    }
    Ok(())
}

fn sender(t: &Target) -> Result<Mailbox, OpsError> {
    match &t.mail_from {
        Some(f) => mailbox("--mail-from", f),
        None => {
            let host = std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".into());
            mailbox("sender", &format!("proxctl <proxctl@{host}>"))
        }
    }
}

/// The mail for `e`.
fn message(t: &Target, e: &Event) -> Result<Message, OpsError> {
    let mut m = Message::builder()
        .from(sender(t)?)
        .subject(format!("[proxctl] {}", e.title))
        .header(ContentType::TEXT_PLAIN);
    for to in &t.mail_to {
        m = m.to(mailbox("--mail-to", to)?);
    }
    let mut body = format!(
        "{}\n\nkind: {}\nseverity: {:?}\ntime: {}\n",
        if e.message.is_empty() { &e.title } else { &e.message },
        e.kind,
        e.severity,
        e.time
    );
    if !e.fields.is_null() {
        body.push('\n');
        body.push_str(&serde_json::to_string_pretty(&e.fields).unwrap_or_default());
        body.push('\n');
    }
    m.body(body).map_err(|err| invalid(format!("cannot build the mail: {err}")))
}

fn tls(t: &Target, host: &str) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(path) = &t.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read the CA file {path}: {e}"))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("the CA file {path} holds no PEM certificate: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| format!("TLS set-up: {e}"))
}

/// Send `e` to the email target `t` once. The error says what failed, without the password.
pub async fn send(t: &Target, e: &Event, secret: Option<&Secret>) -> Result<(), String> {
    let s = server(&t.url).map_err(|e| e.to_string())?;
    let mail = message(t, e).map_err(|e| e.to_string())?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
        .port(s.port)
        .timeout(Some(Duration::from_secs(30)));
    b = match s.security {
        Security::StartTls => b.tls(Tls::Required(tls(t, &s.host)?)),
        Security::Implicit => b.tls(Tls::Wrapper(tls(t, &s.host)?)),
        Security::Plain => b.tls(Tls::None),
    };
    if let (Some(user), Some(pw)) = (&s.user, secret) {
        b = b.credentials(Credentials::new(user.clone(), pw.expose().to_string()));
    }
    b.build::<Tokio1Executor>()
        .send(mail)
        .await
        .map(drop)
        .map_err(|err| format!("SMTP {}:{}: {err}", s.host, s.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_say_how_the_connection_is_protected() {
        let s = server("smtp://alerts%40example.com@mail.example.com").unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(s.security, Security::StartTls);
        assert_eq!((s.host.as_str(), s.port), ("mail.example.com", 587));
        assert_eq!(s.user.as_deref(), Some("alerts@example.com"));
        let s = server("smtps://mail.example.com:2465").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.security, s.port), (Security::Implicit, 2465));
        assert!(server("smtp+plain://127.0.0.1:25").is_ok());
        assert!(server("smtp+plain://[::1]").is_ok());
    }

    #[test]
    fn unsafe_or_unclear_endpoints_are_refused_with_the_way_out() {
        let plain = server("smtp+plain://mail.example.com").unwrap_err().to_string();
        assert!(plain.contains("use smtp://"), "{plain}");
        let pw = server("smtp://u:hunter2@mail.example.com").unwrap_err().to_string();
        assert!(pw.contains("--secret-from") && !pw.contains("hunter2"), "{pw}");
        assert!(server("http://mail.example.com").is_err());
        assert!(server("smtp://").is_err());
    }
}
