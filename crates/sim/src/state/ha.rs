//! The HA stack's configuration and the CRM's view of each service: resources with their
//! requested state, rules and groups, and whether HA is armed. `crate::ha` runs the CRM.

use serde::{Deserialize, Serialize};

/// An HA resource (`/cluster/ha/resources`): what was asked of it and what the CRM made of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HaResource {
    pub sid: String,
    /// The requested state: `started`, `stopped`, `disabled` or `ignored` (`enabled` is
    /// stored as `started`, as PVE does).
    pub state: String,
    /// The CRM's service state (`crm_state` in the status): `started`, `stopped`,
    /// `request_stop`, `migrate`, `relocate`, `fence`, `recovery`, `error`, `freeze`,
    /// `ignored`; empty while the CRM has not seen the resource yet (`queued`).
    #[serde(default)]
    pub crm: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub max_restart: Option<u64>,
    #[serde(default)]
    pub max_relocate: Option<u64>,
    #[serde(default)]
    pub failback: Option<bool>,
    /// The node a `migrate` or `relocate` request moves the service to.
    #[serde(default)]
    pub target: Option<String>,
    /// Whether the move is a relocation (stop, move, start) rather than a migration.
    #[serde(default)]
    pub relocate: bool,
    /// Whether the LRM is running a task for this service (start, stop, move).
    #[serde(default)]
    pub busy: bool,
    /// Failed start attempts since the last success; past `max_restart` the service errors.
    #[serde(default)]
    pub failed_starts: u64,
}

impl HaResource {
    pub fn new(sid: String, state: String) -> Self {
        Self {
            sid,
            state,
            crm: String::new(),
            comment: None,
            group: None,
            max_restart: None,
            max_relocate: None,
            failback: None,
            target: None,
            relocate: false,
            busy: false,
            failed_starts: 0,
        }
    }

    /// The guest's VMID, from `vm:100`, `ct:100` or `100`.
    pub fn vmid(&self) -> Option<u32> {
        self.sid.rsplit(':').next().and_then(|id| id.parse().ok())
    }

    /// `vm` or `ct`.
    pub fn kind(&self) -> &str {
        self.sid.split_once(':').map_or("vm", |(k, _)| k)
    }
}

/// An HA rule (`/cluster/ha/rules`, PVE 9): node affinity (where services prefer to run) or
/// resource affinity (services kept together or apart).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HaRule {
    pub rule: String,
    pub rule_type: String,
    /// Service IDs, comma-separated as PVE stores them.
    pub resources: String,
    /// `node[:priority]` entries, comma-separated (node affinity only).
    #[serde(default)]
    pub nodes: Option<String>,
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub affinity: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub disable: bool,
}

impl HaRule {
    pub fn new(rule: String, rule_type: String) -> Self {
        Self {
            rule,
            rule_type,
            resources: String::new(),
            nodes: None,
            strict: false,
            affinity: None,
            comment: None,
            disable: false,
        }
    }
}

/// An HA group (`/cluster/ha/groups`, kept for clients written before PVE 9's rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HaGroup {
    pub group: String,
    pub nodes: String,
    #[serde(default)]
    pub restricted: bool,
    #[serde(default)]
    pub nofailback: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

impl HaGroup {
    pub fn new(group: String) -> Self {
        Self { group, nodes: String::new(), restricted: false, nofailback: false, comment: None }
    }
}

/// The HA stack's configuration beside the resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HaConfig {
    pub rules: Vec<HaRule>,
    pub groups: Vec<HaGroup>,
    /// `None` while armed; `Some("freeze" | "ignore")` after `disarm-ha`.
    pub disarmed: Option<String>,
}

/// `node[:prio]` entries of a rule or group, highest priority first (missing priority is 0).
pub fn node_priorities(nodes: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = nodes
        .split([',', ';', ' '])
        .filter(|s| !s.is_empty())
        .map(|e| match e.split_once(':') {
            Some((n, p)) => (n.to_string(), p.parse().unwrap_or(0)),
            None => (e.to_string(), 0),
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_priorities_put_the_highest_first_and_default_to_zero() {
        assert_eq!(
            node_priorities("pve1:1,pve2:5,pve3"),
            vec![("pve2".into(), 5), ("pve1".into(), 1), ("pve3".into(), 0)]
        );
    }

    #[test]
    fn a_resource_knows_its_vmid_and_kind() {
        let r = HaResource::new("ct:105".into(), "started".into());
        assert_eq!((r.vmid(), r.kind()), (Some(105), "ct"));
        assert_eq!(HaResource::new("vm:7".into(), "stopped".into()).vmid(), Some(7));
    }
}
