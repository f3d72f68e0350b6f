//! Sending one event to one target: the request each target type expects, retries with
//! backoff, and a dead letter in the state store when the last try fails too.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use proxctl_state::document::Document;
use proxctl_types::secret::Secret;
use sha2::Sha256;

use super::{Event, Severity, Target, TargetType, kind};
use crate::OpsError;
use crate::state::StateHandle;

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    /// Doubled after each failed try.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5, first_delay: Duration::from_secs(2) }
    }
}

/// The header a webhook's signature is in: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Proxctl-Signature";

/// `sha256=<hex>` of `body` under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A target's secret from its reference: `env:NAME`, or `file:PATH` (owner-only).
pub fn load_secret(reference: &str) -> Result<Secret, OpsError> {
    if let Some(name) = reference.strip_prefix("env:") {
        return std::env::var(name).ok().filter(|v| !v.is_empty()).map(Secret::new).ok_or_else(
            || OpsError::Invalid(format!("the environment has no {name} (the target's secret)")),
        );
    }
    if let Some(path) = reference.strip_prefix("file:") {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| OpsError::Invalid(format!("cannot read the secret file {path}: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(OpsError::Invalid(format!(
                "the secret file {path} is readable by others; chmod 600 it"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| OpsError::Invalid(format!("cannot read the secret file {path}: {e}")))?;
        return Ok(Secret::new(text.trim().to_string()));
    }
    Err(OpsError::Invalid(format!("'{reference}' is not env:NAME or file:PATH")))
}

fn text(e: &Event) -> String {
    if e.message.is_empty() { e.title.clone() } else { format!("{}\n{}", e.title, e.message) }
}

/// The request for `e` to `t`.
fn request(
    http: &reqwest::Client,
    t: &Target,
    e: &Event,
    secret: Option<&Secret>,
) -> Result<reqwest::RequestBuilder, OpsError> {
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    Ok(match t.kind {
        TargetType::Webhook => {
            let body = serde_json::to_vec(e).map_err(|err| OpsError::Invalid(err.to_string()))?;
            let mut r = http
                .post(&t.url)
                .header("Content-Type", "application/json")
                .header("X-Proxctl-Event", e.kind.as_str());
            if let Some(s) = secret {
                r = r.header(SIGNATURE_HEADER, signature(s.expose().as_bytes(), &body));
            }
            r.body(body)
        }
        TargetType::Slack => http
            .post(&t.url)
            .header("Content-Type", "application/json")
            .body(json(serde_json::json!({ "text": text(e) }))),
        TargetType::Discord => http
            .post(&t.url)
            .header("Content-Type", "application/json")
            .body(json(serde_json::json!({ "content": text(e) }))),
        TargetType::Ntfy => {
            let priority = match e.severity {
                Severity::Info => "3",
                Severity::Warning => "4",
                Severity::Error => "5",
            };
            let mut r = http
                .post(&t.url)
                .header("Title", e.title.as_str())
                .header("Priority", priority)
                .header("Tags", e.kind.as_str());
            if let Some(s) = secret {
                r = r.header("Authorization", format!("Bearer {}", s.expose()));
            }
            r.body(if e.message.is_empty() { e.title.clone() } else { e.message.clone() })
        }
        TargetType::Smtp => {
            return Err(OpsError::Invalid("email is sent over SMTP, not HTTP".into()));
        }
        TargetType::Gotify => {
            let priority = match e.severity {
                Severity::Info => 2,
                Severity::Warning => 5,
                Severity::Error => 8,
            };
            let mut r = http.post(&t.url).header("Content-Type", "application/json");
            if let Some(s) = secret {
                r = r.header("X-Gotify-Key", s.expose());
            }
            r.body(json(
                serde_json::json!({ "title": e.title, "message": e.message, "priority": priority }),
            ))
        }
    })
}

/// One try at sending `e` to `t`; the error says what failed, without secrets.
async fn once(
    http: &reqwest::Client,
    t: &Target,
    e: &Event,
    secret: Option<&Secret>,
) -> Result<(), String> {
    if t.kind == TargetType::Smtp {
        return super::smtp::send(t, e, secret).await;
    }
    let r = request(http, t, e, secret)
        .map_err(|err| err.to_string())?
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match r {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status())),
        // The URL may carry a token (Slack, Discord): say what failed without it.
        Err(err) => Err(format!("cannot reach the target: {}", err.without_url())),
    }
}

/// Send `e` to `t`, retrying; a dead letter records the last failure. Returns how many tries
/// it took (`Err` after the last failed one).
pub async fn send(
    state: &StateHandle,
    t: &Target,
    e: &Event,
    opts: Retry,
) -> Result<u32, OpsError> {
    let secret = match t.secret.as_deref().map(load_secret).transpose() {
        Ok(s) => s,
        Err(err) => return dead_letter(state, t, e, 0, &err.to_string()).await,
    };
    let http = proxctl_client::web::web_client(Duration::from_secs(10))?;
    let mut delay = opts.first_delay;
    let mut last = String::new();
    for attempt in 1..=opts.attempts.max(1) {
        match once(&http, t, e, secret.as_ref()).await {
            Ok(()) => return Ok(attempt),
            Err(err) => last = err,
        }
        tracing::warn!(target = %t.name, attempt, error = %last, "a notification was not delivered");
        if attempt < opts.attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    dead_letter(state, t, e, opts.attempts, &last).await
}

async fn dead_letter(
    state: &StateHandle,
    t: &Target,
    e: &Event,
    attempts: u32,
    error: &str,
) -> Result<u32, OpsError> {
    let now = Timestamp::now();
    let body =
        serde_json::json!({ "target": t.name, "event": e, "attempts": attempts, "error": error });
    let d = Document {
        kind: kind::DEAD_LETTER.into(),
        id: format!("{}@{}@{}", t.name, now, e.kind),
        body: body.to_string(),
        created_at: now,
        updated_at: now,
    };
    let store = state.get().await?;
    store.put_document(&d).await?;
    store.prune_documents(kind::DEAD_LETTER, 1000).await?;
    Err(OpsError::Invalid(format!(
        "notification to {} failed after {attempts} tries ({error}); kept as a dead letter",
        t.name
    )))
}

/// The dead letters, newest first.
pub async fn dead_letters(
    state: &StateHandle,
    limit: usize,
) -> Result<Vec<serde_json::Value>, OpsError> {
    Ok(state
        .get()
        .await?
        .documents(kind::DEAD_LETTER, limit)
        .await?
        .iter()
        .filter_map(|d| serde_json::from_str(&d.body).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
