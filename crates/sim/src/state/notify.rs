//! PVE's notification system (proxmox-notify): endpoints (sendmail, SMTP, Gotify, webhooks),
//! matchers that route a notification to targets by severity, fields and calendar, and the
//! notifications the simulated cluster sent (so tests can ask whether a matcher fired).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An endpoint or a matcher, as its section in `notifications.cfg` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyEntry {
    pub name: String,
    /// `sendmail`, `smtp`, `gotify`, `webhook` or `matcher`.
    pub kind: String,
    /// Public properties, as the API returns them.
    pub props: BTreeMap<String, Value>,
    /// Secrets (tokens, passwords, webhook secret values): written, never read back.
    #[serde(default)]
    pub secrets: BTreeMap<String, Value>,
    /// `builtin`, `modified-builtin` or `user-created`.
    pub origin: String,
}

/// A notification the cluster sent to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub target: String,
    pub severity: String,
    pub title: String,
    pub fields: BTreeMap<String, String>,
    pub time: u64,
}

/// The notification configuration and what was sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notifications {
    pub endpoints: Vec<NotifyEntry>,
    pub matchers: Vec<NotifyEntry>,
    #[serde(default)]
    pub sent: Vec<Sent>,
}

impl Default for Notifications {
    /// What a fresh PVE has: `mail-to-root` and a `default-matcher` sending everything to it.
    fn default() -> Self {
        let builtin = |name: &str, kind: &str, props: Value| NotifyEntry {
            name: name.into(),
            kind: kind.into(),
            props: serde_json::from_value(props).unwrap_or_default(),
            secrets: BTreeMap::new(),
            origin: "builtin".into(),
        };
        Self {
            endpoints: vec![builtin(
                "mail-to-root",
                "sendmail",
                serde_json::json!({"mailto-user": ["root@pam"], "comment": "Send mails to root@pam's email address"}),
            )],
            matchers: vec![builtin(
                "default-matcher",
                "matcher",
                serde_json::json!({"mode": "all", "target": ["mail-to-root"], "comment": "Route all notifications to mail-to-root"}),
            )],
            sent: Vec::new(),
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v == &Value::from(1) || v == &Value::Bool(true))
}

/// Whether one `match-field` entry (`exact:type=vzdump,replication` or `regex:hostname=^pve`)
/// holds for the fields. A regex is matched as a plain prefix/substring pattern: `^x` is a
/// prefix, `x$` a suffix, anything else a substring (enough for the usual matchers).
fn field_matches(spec: &str, fields: &BTreeMap<String, String>) -> bool {
    let (how, rest) = spec.split_once(':').unwrap_or(("exact", spec));
    let Some((field, want)) = rest.split_once('=') else { return false };
    let Some(have) = fields.get(field) else { return false };
    match how {
        "regex" => {
            let (pre, body) = want.strip_prefix('^').map_or((false, want), |b| (true, b));
            let (suf, body) = body.strip_suffix('$').map_or((false, body), |b| (true, b));
            match (pre, suf) {
                (true, true) => have == body,
                (true, false) => have.starts_with(body),
                (false, true) => have.ends_with(body),
                (false, false) => have.contains(body),
            }
        }
        _ => want.split(',').any(|w| w == have),
    }
}

impl NotifyEntry {
    /// Whether this matcher routes a notification of `severity` with `fields`.
    pub fn matches(&self, severity: &str, fields: &BTreeMap<String, String>) -> bool {
        if truthy(self.props.get("disable")) {
            return false;
        }
        let mut checks: Vec<bool> = Vec::new();
        let sev = strings(self.props.get("match-severity"));
        if !sev.is_empty() {
            checks.push(sev.iter().flat_map(|s| s.split(',')).any(|s| s.trim() == severity));
        }
        for f in strings(self.props.get("match-field")) {
            checks.push(field_matches(&f, fields));
        }
        let any = self.props.get("mode").and_then(Value::as_str) == Some("any");
        let hit = if checks.is_empty() {
            true
        } else if any {
            checks.iter().any(|c| *c)
        } else {
            checks.iter().all(|c| *c)
        };
        hit != truthy(self.props.get("invert-match"))
    }

    pub fn targets(&self) -> Vec<String> {
        strings(self.props.get("target"))
    }
}

impl Notifications {
    /// The notification a vzdump run sends when it ends (PVE: `vzdump backup status`).
    pub fn backup_status(&mut self, node: &str, ok: bool, now: u64) {
        let (severity, outcome) = if ok { ("info", "successful") } else { ("error", "failed") };
        let fields = BTreeMap::from([
            ("type".to_string(), "vzdump".to_string()),
            ("hostname".to_string(), node.to_string()),
        ]);
        self.send(
            severity,
            &format!("vzdump backup status ({node}): backup {outcome}"),
            fields,
            now,
        );
    }

    /// Route a notification through the matchers and record one `Sent` per enabled target.
    pub fn send(
        &mut self,
        severity: &str,
        title: &str,
        fields: BTreeMap<String, String>,
        time: u64,
    ) {
        let mut targets: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| m.matches(severity, &fields))
            .flat_map(NotifyEntry::targets)
            .collect();
        targets.sort();
        targets.dedup();
        for target in targets {
            let enabled =
                self.endpoints.iter().any(|e| e.name == target && !truthy(e.props.get("disable")));
            if enabled {
                self.sent.push(Sent {
                    target,
                    severity: severity.into(),
                    title: title.into(),
                    fields: fields.clone(),
                    time,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matcher(props: Value) -> NotifyEntry {
        NotifyEntry {
            name: "m".into(),
            kind: "matcher".into(),
            props: serde_json::from_value(props).unwrap_or_default(),
            secrets: BTreeMap::new(),
            origin: "user-created".into(),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_matcher_needs_all_its_conditions_unless_its_mode_is_any() {
        let f = fields(&[("type", "vzdump"), ("hostname", "pve1")]);
        let all =
            matcher(json!({"match-severity": ["error"], "match-field": ["exact:type=vzdump"]}));
        assert!(all.matches("error", &f));
        assert!(!all.matches("info", &f));
        let any = matcher(
            json!({"mode": "any", "match-severity": ["error"], "match-field": ["exact:type=vzdump"]}),
        );
        assert!(any.matches("info", &f));
        let inverted = matcher(json!({"match-field": ["regex:hostname=^pve"], "invert-match": 1}));
        assert!(!inverted.matches("info", &f));
    }

    #[test]
    fn sending_records_one_notification_per_enabled_target() {
        let mut n = Notifications::default();
        n.send("info", "backup ok", fields(&[("type", "vzdump")]), 5);
        assert_eq!(n.sent.len(), 1);
        assert_eq!(n.sent[0].target, "mail-to-root");
        n.endpoints[0].props.insert("disable".into(), json!(1));
        n.send("info", "again", BTreeMap::new(), 6);
        assert_eq!(n.sent.len(), 1, "a disabled endpoint gets nothing");
    }
}
