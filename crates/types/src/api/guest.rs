//! Guest views shared by QEMU and LXC: list items, current status, snapshots, pending changes,
//! consoles, the guest agent and migration preconditions (§5, §6, §10).

use serde::{Deserialize, Serialize};

use crate::VmId;
use crate::wire::opt_pve_bool;

/// An item of `GET /nodes/{n}/qemu` or `/nodes/{n}/lxc`, and the base of `status/current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestStatus {
    pub vmid: VmId,
    /// `running` or `stopped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub guest_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdisk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub template: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// QMP status (`running`, `paused`, `stopped`, ...); only in `status/current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qmpstatus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<serde_json::Value>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub agent: Option<bool>,
    #[serde(rename = "running-qemu", default, skip_serializing_if = "Option::is_none")]
    pub running_qemu: Option<String>,
    #[serde(rename = "running-machine", default, skip_serializing_if = "Option::is_none")]
    pub running_machine: Option<String>,
}

impl GuestStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
    pub fn is_template(&self) -> bool {
        self.template == Some(true)
    }
}

/// An item of `GET .../snapshot`, including the trailing `current` pseudo-entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotItem {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snaptime: Option<u64>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub vmstate: Option<bool>,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapstate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// An item of `GET .../pending`: `delete` is 1 for a pending delete and 2 for a forced one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingItem {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<u8>,
}

/// `POST .../vncproxy`. The ticket and password are secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct VncProxy {
    pub user: String,
    pub ticket: String,
    pub port: crate::wire::IntOrStringSer,
    pub upid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for VncProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VncProxy")
            .field("user", &self.user)
            .field("ticket", &"<redacted>")
            .field("port", &self.port)
            .field("upid", &self.upid)
            .finish_non_exhaustive()
    }
}

/// `POST .../termproxy`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TermProxy {
    pub user: String,
    pub ticket: String,
    pub port: crate::wire::IntOrStringSer,
    pub upid: String,
}

impl std::fmt::Debug for TermProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermProxy")
            .field("user", &self.user)
            .field("ticket", &"<redacted>")
            .field("port", &self.port)
            .field("upid", &self.upid)
            .finish()
    }
}

/// `POST .../agent/exec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentExec {
    pub pid: u64,
}

/// `GET .../agent/exec-status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentExecStatus {
    #[serde(with = "crate::wire::pve_bool")]
    pub exited: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitcode: Option<i64>,
    #[serde(rename = "out-data", default, skip_serializing_if = "Option::is_none")]
    pub out_data: Option<String>,
    #[serde(rename = "err-data", default, skip_serializing_if = "Option::is_none")]
    pub err_data: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub signal: Option<bool>,
}

/// An interface of `agent/network-get-interfaces` (inside `result`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInterface {
    pub name: String,
    #[serde(rename = "hardware-address", default, skip_serializing_if = "Option::is_none")]
    pub hardware_address: Option<String>,
    #[serde(rename = "ip-addresses", default)]
    pub ip_addresses: Vec<AgentIpAddress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentIpAddress {
    #[serde(rename = "ip-address")]
    pub ip_address: String,
    #[serde(rename = "ip-address-type")]
    pub ip_address_type: String,
    pub prefix: u8,
}

/// `GET .../migrate` (preconditions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigratePreconditions {
    #[serde(with = "crate::wire::pve_bool")]
    pub running: bool,
    #[serde(default)]
    pub allowed_nodes: Vec<String>,
    #[serde(default)]
    pub not_allowed_nodes: serde_json::Value,
    #[serde(default)]
    pub local_disks: Vec<serde_json::Value>,
    #[serde(default)]
    pub local_resources: Vec<serde_json::Value>,
}
