//! Datacenter backup jobs (`GET /cluster/backup`) and the guests none covers
//! (`GET /cluster/backup-info/not-backed-up`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::wire::opt_pve_bool;

/// One vzdump job: which guests it selects and when it runs. Settings proxctl does not read
/// are left out; the simulator writes its own JSON for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    pub id: String,
    /// 1 unless switched off; PVE leaves the key out when it is the default.
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// A VMID list, `100,101`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Only guests on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The numbers in a VMID list, skipping what is not one (PVE has validated it).
fn numbers(list: Option<&str>) -> BTreeSet<u32> {
    list.unwrap_or_default().split([',', ' ', ';']).filter_map(|t| t.trim().parse().ok()).collect()
}

impl BackupJob {
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// Whether the job selects the guest `vmid` on `node`. Pool membership is not known
    /// here, so a pool job selects nothing.
    pub fn selects(&self, vmid: u32, node: &str) -> bool {
        if self.all.unwrap_or(false) {
            self.node.as_deref().is_none_or(|n| n == node)
                && !numbers(self.exclude.as_deref()).contains(&vmid)
        } else {
            numbers(self.vmid.as_deref()).contains(&vmid)
        }
    }
}

/// An item of `GET /cluster/backup-info/not-backed-up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotBackedUp {
    pub vmid: u32,
    /// `qemu` or `lxc`.
    #[serde(rename = "type")]
    pub guest_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_all_job_selects_every_guest_on_its_node_but_the_excluded() {
        let job = BackupJob {
            all: Some(true),
            node: Some("pve1".into()),
            exclude: Some("101,102".into()),
            ..BackupJob::default()
        };
        assert!(job.selects(100, "pve1"));
        assert!(!job.selects(101, "pve1"));
        assert!(!job.selects(100, "pve2"));
    }

    #[test]
    fn a_list_job_selects_what_it_lists_and_parses_as_pve_sends_it() {
        let job: BackupJob = serde_json::from_str(
            r#"{"id":"backup-1","vmid":"100,105","enabled":0,"type":"vzdump"}"#,
        )
        .unwrap_or_default();
        assert!(job.selects(105, "any"));
        assert!(!job.selects(101, "any"));
        assert!(!job.is_enabled());
    }
}
