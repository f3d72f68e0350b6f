//! The upkeep actions of jobs: `backup-check` reports guests whose newest backup is older than
//! the policy allows (or that have none), and `template-rebuild` builds a new version of each
//! template whose catalog image changed upstream.

use proxctl_client::Client;
use proxctl_types::selector::Selector;

use crate::OpsError;
use crate::bulk::{ItemReport, Outcome};
use crate::output::human_duration;
use crate::template_source::{Defaults, Source};

/// One line per selected guest: `found` when its newest backup is older than `max_age`
/// seconds at `now`, or when it has none (the same view as `proxctl get backup-coverage`).
pub async fn backup_check(
    client: &Client,
    sel: &Selector,
    max_age: i64,
    now: i64,
) -> Result<Vec<ItemReport>, OpsError> {
    use crate::coverage::Coverage;
    let limit = human_duration(u64::try_from(max_age).unwrap_or(0));
    let rows = crate::coverage::coverage(client, &[], sel, max_age, now).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (outcome, detail) = match (r.status, r.age_seconds, r.volid) {
                (Coverage::None, _, _) | (_, None, _) | (_, _, None) => {
                    (Outcome::Found, "no backup at all".to_string())
                }
                (status, Some(age), Some(volid)) => {
                    let text = format!("newest backup {} old ({volid})", human_duration(age));
                    if status == Coverage::TooOld {
                        (Outcome::Found, format!("{text}; the policy is {limit}"))
                    } else {
                        (Outcome::Ok, text)
                    }
                }
            };
            ItemReport { vmid: r.vmid, name: r.name, node: r.node, outcome, detail, tags: r.tags }
        })
        .collect())
}

/// Where template rebuilds put their versions; unset fields take the build defaults.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub node: Option<String>,
    pub storage: Option<String>,
    pub vm_storage: Option<String>,
    pub keep: Option<usize>,
}

/// Rebuild each catalog id's template when its image changed upstream; a line per template.
/// `env` finds the user's catalog and the image cache, as for `proxctl template build`.
pub async fn template_rebuild(
    client: &Client,
    catalog: &[String],
    at: &Placement,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ItemReport>, OpsError> {
    let invalid = |e: String| OpsError::Invalid(e);
    let source_for = |id: &str| -> Result<Source, OpsError> {
        let mut s = Source::catalog(id);
        s.node = at
            .node
            .as_deref()
            .map(proxctl_types::NodeName::new)
            .transpose()
            .map_err(|e| invalid(format!("node: {e}")))?;
        s.storage = at
            .storage
            .as_deref()
            .map(proxctl_types::StorageId::new)
            .transpose()
            .map_err(|e| invalid(format!("storage: {e}")))?;
        s.vm_storage = at
            .vm_storage
            .as_deref()
            .map(proxctl_types::StorageId::new)
            .transpose()
            .map_err(|e| invalid(format!("vm_storage: {e}")))?;
        if let Some(k) = at.keep {
            s.keep = k;
        }
        Ok(s)
    };
    // No node given: the first online one, as the API's builds do.
    let node = match &at.node {
        Some(_) => None,
        None => crate::views::nodes(client)
            .await?
            .into_iter()
            .find(|n| n.status == "online")
            .and_then(|n| proxctl_types::NodeName::new(n.node.as_str()).ok()),
    };
    let defaults = Defaults { node, bridge: None };
    let mut items = Vec::new();
    for id in catalog {
        let line = |outcome, vmid, node: String, detail: String| ItemReport {
            vmid,
            name: id.clone(),
            node,
            outcome,
            detail,
            tags: Vec::new(),
        };
        let spec = match source_for(id).and_then(|s| s.into_spec(&defaults, env)) {
            Ok(s) => s,
            Err(e) => {
                items.push(line(Outcome::Failed, 0, String::new(), e.to_string()));
                continue;
            }
        };
        let node = spec.node.to_string();
        match crate::template::rebuild(client, &spec, &|_| {}).await {
            Ok(b) => match b.version {
                Some(v) => items.push(line(
                    Outcome::Ok,
                    v.vmid,
                    node,
                    format!("built {}@{} (VMID {}) from a new image", v.name, v.version, v.vmid),
                )),
                None => items.push(line(Outcome::Ok, 0, node, "image unchanged upstream".into())),
            },
            Err(e) => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default().to_string();
                items.push(line(Outcome::Failed, 0, node, first));
            }
        }
    }
    Ok(items)
}
