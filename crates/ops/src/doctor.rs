//! `doctor`: is this cluster, and this token, ready for proxctl? Each check says pass, warn or
//! fail, and how to fix it.

use proxctl_client::{ApiErrorKind, Client, ClientError};
use serde::Serialize;

use crate::output::Tabular;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(check: &str, verdict: Verdict, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self { check: check.into(), verdict, detail: detail.into(), fix }
    }
}

impl Tabular for Check {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["CHECK", "RESULT", "DETAIL", "FIX"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        let v = match self.verdict {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        vec![
            self.check.clone(),
            v.into(),
            self.detail.clone(),
            self.fix.clone().unwrap_or_default(),
        ]
    }
}

/// What each proxctl feature needs, on a given PVE major version. PVE 9 replaced
/// `VM.Monitor` with the `VM.GuestAgent.*` privileges.
pub fn required_privileges(major: u32) -> Vec<(&'static str, Vec<&'static str>)> {
    let agent = if major >= 9 { "VM.GuestAgent.Audit" } else { "VM.Monitor" };
    vec![
        ("inventory (get, describe)", vec!["VM.Audit", "Sys.Audit", "Datastore.Audit"]),
        ("power (start, stop, ...)", vec!["VM.PowerMgmt"]),
        (
            "create and clone",
            vec![
                "VM.Allocate",
                "VM.Clone",
                "VM.Config.Disk",
                "VM.Config.CPU",
                "VM.Config.Memory",
                "VM.Config.Network",
                "VM.Config.Options",
                "VM.Config.Cloudinit",
                "Datastore.AllocateSpace",
            ],
        ),
        ("images and templates", vec!["Datastore.AllocateTemplate", "Sys.Modify"]),
        ("snapshots", vec!["VM.Snapshot", "VM.Snapshot.Rollback"]),
        ("backups", vec!["VM.Backup", "Datastore.AllocateSpace"]),
        ("guest agent", vec![agent]),
        ("migration", vec!["VM.Migrate"]),
    ]
}

fn fix_for(e: &ClientError) -> String {
    match e {
        ClientError::Tls { fingerprint: Some(fp), .. } => format!("pin the certificate: --fingerprint {fp} (or PROXCTL_FINGERPRINT)"),
        ClientError::Tls { .. } => "check --ca-file / --fingerprint and that the URL is https".into(),
        ClientError::Connect { .. } | ClientError::Timeout { .. } => "check PROXCTL_URL and that port 8006 is reachable".into(),
        ClientError::Api(a) if a.kind == ApiErrorKind::Unauthorized => {
            "check the token (pveum user token list) or password; `proxctl config show` shows which is used".into()
        }
        _ => "see the error above".into(),
    }
}

pub async fn run(client: &Client) -> Vec<Check> {
    let mut out = Vec::new();
    let version = match client.version().await {
        Ok(v) => {
            out.push(Check::new(
                "connection",
                Verdict::Pass,
                format!("TLS and authentication OK; PVE {}", v.version),
                None,
            ));
            v
        }
        Err(e) => {
            let fix = fix_for(&e);
            out.push(Check::new(
                "connection",
                Verdict::Fail,
                e.to_string().lines().next().unwrap_or_default(),
                Some(fix),
            ));
            return out;
        }
    };
    let (major, minor) = version.major_minor().unwrap_or((0, 0));
    out.push(match (major, minor) {
        (m, _) if m < 8 => Check::new(
            "version",
            Verdict::Fail,
            format!("PVE {} is too old", version.version),
            Some("upgrade to PVE 8.4 or later".into()),
        ),
        (8, n) if n < 4 => Check::new(
            "version",
            Verdict::Warn,
            format!("PVE {} has no 'import' content type", version.version),
            Some("upgrade to PVE 8.4+ for template builds through the API".into()),
        ),
        _ => Check::new("version", Verdict::Pass, format!("PVE {}", version.version), None),
    });

    match client.permissions(Some("/")).await {
        Ok(perms) => {
            let have: std::collections::BTreeSet<&str> =
                perms.values().flat_map(|m| m.keys().map(String::as_str)).collect();
            for (feature, needs) in required_privileges(major) {
                let missing: Vec<&str> =
                    needs.iter().copied().filter(|p| !have.contains(p)).collect();
                out.push(if missing.is_empty() {
                    Check::new(&format!("privileges: {feature}"), Verdict::Pass, "granted", None)
                } else {
                    Check::new(
                        &format!("privileges: {feature}"),
                        Verdict::Fail,
                        format!("missing {}", missing.join(", ")),
                        Some(format!("grant a role with {} on / to the token (pveum acl modify / --tokens ... --roles ...)", missing.join(", "))),
                    )
                });
            }
        }
        Err(e) => out.push(Check::new(
            "privileges",
            Verdict::Warn,
            format!("cannot read permissions: {e}"),
            None,
        )),
    }

    match client
        .cluster_resources(Some(proxctl_client::endpoints::cluster::ResourceType::Storage))
        .await
    {
        Ok(stores) => {
            for content in ["import", "iso", "snippets", "backup"] {
                let mut names: Vec<String> = stores
                    .iter()
                    .filter(|s| {
                        s.content.as_deref().is_some_and(|c| c.split(',').any(|x| x == content))
                    })
                    .filter_map(|s| s.storage.clone())
                    .collect();
                names.sort();
                names.dedup();
                out.push(if names.is_empty() {
                    Check::new(
                        &format!("storage: {content}"),
                        Verdict::Warn,
                        format!("no storage holds '{content}' content"),
                        Some(format!("enable it on a dir storage, e.g. pvesm set local --content <current>,{content}")),
                    )
                } else {
                    Check::new(&format!("storage: {content}"), Verdict::Pass, names.join(", "), None)
                });
            }
        }
        Err(e) => out.push(Check::new("storage", Verdict::Fail, e.to_string(), Some(fix_for(&e)))),
    }

    let nodes = client.nodes().await;
    let status = client.cluster_status().await;
    match (nodes, status) {
        (Ok(nodes), Ok(status)) => {
            let offline: Vec<String> =
                nodes.iter().filter(|n| n.status != "online").map(|n| n.node.to_string()).collect();
            let quorate = status
                .iter()
                .find(|s| s.item_type == "cluster")
                .is_none_or(|c| c.quorate == Some(true));
            out.push(match (offline.is_empty(), quorate) {
                (true, true) => Check::new(
                    "nodes",
                    Verdict::Pass,
                    format!("{} online, quorate", nodes.len()),
                    None,
                ),
                (_, false) => Check::new(
                    "nodes",
                    Verdict::Fail,
                    "the cluster has no quorum",
                    Some("bring nodes back or fix corosync before changing anything".into()),
                ),
                (false, _) => Check::new(
                    "nodes",
                    Verdict::Fail,
                    format!("offline: {}", offline.join(", ")),
                    Some("bring the nodes back online".into()),
                ),
            });
        }
        (Err(e), _) | (_, Err(e)) => {
            out.push(Check::new("nodes", Verdict::Fail, e.to_string(), Some(fix_for(&e))))
        }
    }
    out
}
