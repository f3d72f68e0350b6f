//! Notifications: events (a job run ended, drift found, a PVE task failed, ...) routed by
//! matchers (kind, severity, selector) to targets (generic webhooks signed with HMAC-SHA256,
//! Slack/Mattermost and Discord webhooks, ntfy, Gotify, email over SMTP), as PVE's
//! notification matchers do. Targets and matchers live in the state store;
//! a target's secret only as a reference (`env:NAME` or `file:PATH`). Delivery retries with
//! backoff and records a dead letter when a target keeps failing; it never blocks the work
//! that raised the event.

pub mod deliver;
pub mod smtp;

use jiff::Timestamp;
use proxctl_state::document::Document;
use serde::{Deserialize, Serialize};

use crate::OpsError;
use crate::state::StateHandle;

/// Document kinds in the state store.
pub mod kind {
    pub const TARGET: &str = "notify-target";
    pub const MATCHER: &str = "notify-matcher";
    pub const DEAD_LETTER: &str = "notify-dead-letter";
}

/// How bad an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl std::str::FromStr for Severity {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(OpsError::Invalid(format!(
                "severity must be info, warning or error, not '{other}'"
            ))),
        }
    }
}

/// Something that happened, as targets receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `job-succeeded`, `job-partial`, `job-failed`, `test`.
    pub kind: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub time: Timestamp,
    /// Structured details (job, slot, per-guest lines).
    #[serde(default)]
    pub fields: serde_json::Value,
    /// The guests it is about, for matchers with a selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<EventGuest>,
}

/// A guest an event is about: what a matcher's selector looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventGuest {
    pub vmid: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub node: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl EventGuest {
    fn subject(&self) -> proxctl_types::selector::Subject<'_> {
        proxctl_types::selector::Subject {
            vmid: self.vmid,
            name: &self.name,
            node: &self.node,
            pool: None,
            tags: &self.tags,
        }
    }
}

impl From<&crate::bulk::ItemReport> for EventGuest {
    fn from(i: &crate::bulk::ItemReport) -> Self {
        EventGuest {
            vmid: i.vmid,
            name: i.name.clone(),
            node: i.node.clone(),
            tags: i.tags.clone(),
        }
    }
}

impl Event {
    pub fn new(
        kind: &str,
        severity: Severity,
        title: impl Into<String>,
        message: impl Into<String>,
        fields: serde_json::Value,
    ) -> Event {
        Event {
            kind: kind.into(),
            severity,
            title: title.into(),
            message: message.into(),
            time: Timestamp::now(),
            fields,
            guests: Vec::new(),
        }
    }

    /// What `notify target test` sends.
    pub fn test(actor: &str) -> Event {
        Event::new(
            "test",
            Severity::Info,
            "proxctl test notification",
            format!("sent by {actor} with `proxctl notify target test`"),
            serde_json::Value::Null,
        )
    }

    /// The same event, about `guests`.
    pub fn about(mut self, guests: Vec<EventGuest>) -> Event {
        self.guests = guests;
        self
    }

    /// The event for a finished job run.
    pub fn job_run(run: &crate::jobs::Run) -> Event {
        use crate::jobs::RunOutcome as O;
        let (kind, severity) = match run.outcome {
            O::Succeeded => ("job-succeeded", Severity::Info),
            O::Partial => ("job-partial", Severity::Warning),
            O::Skipped => ("job-skipped", Severity::Info),
            O::Failed | O::Interrupted | O::Running => ("job-failed", Severity::Error),
        };
        Event {
            kind: kind.into(),
            severity,
            title: format!("job {} {}", run.job, run.outcome.as_str()),
            message: run.detail.clone(),
            time: Timestamp::now(),
            fields: serde_json::json!({
                "job": run.job,
                "scheduled_for": run.scheduled_for.to_string(),
                "outcome": run.outcome.as_str(),
                "items": run.items,
            }),
            guests: run.items.iter().map(EventGuest::from).collect(),
        }
    }
}

/// Where notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// JSON body, signed in `X-Proxctl-Signature: sha256=<hex HMAC of the body>`.
    Webhook,
    /// Slack or Mattermost incoming webhook (`{"text": ...}`).
    Slack,
    /// Discord webhook (`{"content": ...}`).
    Discord,
    /// ntfy topic URL: the message as the body, the title as a header.
    Ntfy,
    /// Gotify `/message` URL; the secret is the application token.
    Gotify,
    /// Email: `smtp://[user@]host[:port]` (STARTTLS, required), `smtps://` (TLS from the
    /// start) or `smtp+plain://` (no TLS; loopback relays only). The secret is the password.
    Smtp,
}

impl std::str::FromStr for TargetType {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        Ok(match s {
            "webhook" => TargetType::Webhook,
            "slack" | "mattermost" => TargetType::Slack,
            "discord" => TargetType::Discord,
            "ntfy" => TargetType::Ntfy,
            "gotify" => TargetType::Gotify,
            "smtp" | "email" => TargetType::Smtp,
            other => {
                return Err(OpsError::Invalid(format!(
                    "--type must be webhook, slack, discord, ntfy, gotify or smtp, not '{other}'"
                )));
            }
        })
    }
}

/// A notification target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TargetType,
    pub url: String,
    /// Where its secret is (`env:NAME` or `file:PATH`): the webhook's signing key, Gotify's
    /// token, a bearer token for ntfy, the SMTP password. Never the secret itself.
    pub secret: Option<String>,
    /// Email: the recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mail_to: Vec<String>,
    /// Email: the sender (`proxctl@<host>` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    /// A PEM file of CA certificates the server's certificate may also chain to (a private
    /// CA). Verification is never turned off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    pub created_at: Timestamp,
}

/// Which events go to which targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    /// Event kinds (`job-failed`, ...; prefixes such as `job-` match many); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The least severity that matches.
    pub min_severity: Severity,
    /// Only events about a guest this `-l` selector picks (events about no guest, such as a
    /// failed apply, do not match a matcher with a selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub targets: Vec<String>,
}

impl Matcher {
    pub fn matches(&self, e: &Event) -> bool {
        e.severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| e.kind.starts_with(k.as_str())))
            && self.selects(e)
    }

    fn selects(&self, e: &Event) -> bool {
        let Some(text) = &self.selector else { return true };
        // Checked when the matcher was stored; a selector that no longer parses matches
        // nothing rather than everything.
        let Ok(sel) = text.parse::<proxctl_types::selector::Selector>() else { return false };
        e.guests.iter().any(|g| sel.matches(&g.subject()))
    }
}

fn name_ok(name: &str) -> Result<(), OpsError> {
    if proxctl_types::ids::is_dns_name(name) {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!("'{name}' is not a valid name: use letters, digits and '-'")))
    }
}

async fn put<T: Serialize>(
    state: &StateHandle,
    kind: &str,
    name: &str,
    v: &T,
) -> Result<(), OpsError> {
    let body = serde_json::to_string(v).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let now = Timestamp::now();
    let d = Document { kind: kind.into(), id: name.into(), body, created_at: now, updated_at: now };
    if !state.get().await?.insert_document(&d).await? {
        return Err(OpsError::Invalid(format!("'{name}' exists already; delete it first")));
    }
    Ok(())
}

async fn all<T: for<'de> Deserialize<'de>>(
    state: &StateHandle,
    kind: &str,
) -> Result<Vec<T>, OpsError> {
    Ok(state
        .get()
        .await?
        .documents(kind, 10_000)
        .await?
        .iter()
        .filter_map(|d| serde_json::from_str(&d.body).ok())
        .collect())
}

/// Store a target; its URL must suit its type and its secret be a reference.
pub async fn add_target(state: &StateHandle, t: &Target) -> Result<(), OpsError> {
    name_ok(&t.name)?;
    if t.kind == TargetType::Smtp {
        smtp::check(t)?;
    } else if !(t.url.starts_with("https://") || t.url.starts_with("http://")) {
        return Err(OpsError::Invalid(format!("the endpoint '{}' is not an http(s) URL", t.url)));
    }
    if let Some(s) = &t.secret
        && !(s.starts_with("env:") || s.starts_with("file:"))
    {
        return Err(OpsError::Invalid(
            "--secret-from takes env:NAME or file:PATH, never the secret itself".into(),
        ));
    }
    put(state, kind::TARGET, &t.name, t).await
}

pub async fn targets(state: &StateHandle) -> Result<Vec<Target>, OpsError> {
    let mut v: Vec<Target> = all(state, kind::TARGET).await?;
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Store a matcher; its targets must exist.
pub async fn add_matcher(state: &StateHandle, m: &Matcher) -> Result<(), OpsError> {
    name_ok(&m.name)?;
    let known = targets(state).await?;
    if let Some(t) = m.targets.iter().find(|t| !known.iter().any(|k| &k.name == *t)) {
        return Err(OpsError::Invalid(format!(
            "no target '{t}'; see `proxctl notify target list`"
        )));
    }
    if m.targets.is_empty() {
        return Err(OpsError::Invalid("a matcher needs at least one --target".into()));
    }
    if let Some(sel) = &m.selector {
        sel.parse::<proxctl_types::selector::Selector>()
            .map_err(|e| OpsError::Invalid(format!("--selector: {e}")))?;
    }
    put(state, kind::MATCHER, &m.name, m).await
}

pub async fn matchers(state: &StateHandle) -> Result<Vec<Matcher>, OpsError> {
    let mut v: Vec<Matcher> = all(state, kind::MATCHER).await?;
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Delete a target or a matcher by name.
pub async fn delete(state: &StateHandle, kind: &str, name: &str) -> Result<(), OpsError> {
    if !state.get().await?.delete_document(kind, name).await? {
        return Err(OpsError::Invalid(format!("no '{name}' to delete")));
    }
    Ok(())
}

/// The targets matchers route `e` to.
async fn routed(state: &StateHandle, e: &Event) -> Option<Vec<Target>> {
    let (Ok(ms), Ok(ts)) = (matchers(state).await, targets(state).await) else {
        tracing::warn!("cannot read the notification settings; event '{}' not sent", e.title);
        return None;
    };
    Some(
        ts.into_iter()
            .filter(|t| ms.iter().any(|m| m.matches(e) && m.targets.contains(&t.name)))
            .collect(),
    )
}

/// Send `e` to every target a matcher routes it to, each in the background: the caller
/// never waits for (or fails with) a target.
pub async fn raise(state: std::sync::Arc<StateHandle>, e: Event, opts: deliver::Retry) {
    for t in routed(&state, &e).await.unwrap_or_default() {
        let (state, e) = (std::sync::Arc::clone(&state), e.clone());
        tokio::spawn(async move { deliver::send(&state, &t, &e, opts).await });
    }
}

/// Send `e` to its targets and wait for the outcome of each: for a process about to exit
/// (the CLI), which cannot leave deliveries running behind it.
pub async fn raise_and_wait(
    state: &StateHandle,
    e: &Event,
    opts: deliver::Retry,
) -> Vec<(String, Result<u32, OpsError>)> {
    let targets = routed(state, e).await.unwrap_or_default();
    let sends = targets
        .iter()
        .map(|t| async move { (t.name.clone(), deliver::send(state, t, e, opts).await) });
    futures_util::future::join_all(sends).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(selector: Option<&str>) -> Matcher {
        Matcher {
            name: "m".into(),
            kinds: vec!["job-".into()],
            min_severity: Severity::Warning,
            selector: selector.map(String::from),
            targets: vec!["t".into()],
        }
    }

    fn about(tags: &[&str]) -> Event {
        Event::new("job-failed", Severity::Error, "t", "", serde_json::Value::Null).about(vec![
            EventGuest {
                vmid: 120,
                name: "db-1".into(),
                node: "pve2".into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
        ])
    }

    #[test]
    fn matchers_route_by_kind_severity_and_the_guests_an_event_is_about() {
        assert!(matcher(None).matches(&about(&[])));
        assert!(matcher(Some("env-prod")).matches(&about(&["env-prod", "db"])));
        assert!(!matcher(Some("env-prod")).matches(&about(&["env-dev"])));
        assert!(matcher(Some("node:pve2 id:100-199")).matches(&about(&[])));
        let no_guest = Event::new("job-failed", Severity::Error, "t", "", serde_json::Value::Null);
        assert!(!matcher(Some("all")).matches(&no_guest), "a selector needs a guest");
        let info = Event { severity: Severity::Info, ..about(&["env-prod"]) };
        assert!(!matcher(Some("env-prod")).matches(&info));
    }

    #[test]
    fn severities_parse_from_their_names_only() {
        assert_eq!("error".parse::<Severity>().ok(), Some(Severity::Error));
        assert!("critical".parse::<Severity>().unwrap_err().to_string().contains("info, warning"));
    }
}
