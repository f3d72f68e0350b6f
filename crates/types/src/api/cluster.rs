//! Cluster and node views: `/nodes`, `/nodes/{n}/status`, `/nodes/{n}/network`,
//! `/cluster/status`, `/cluster/resources`, HA status, SDN.

use serde::{Deserialize, Serialize};

use crate::wire::{opt_pve_bool, pve_bool};
use crate::{NodeName, VmId};

/// `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeListItem {
    pub node: NodeName,
    pub id: String,
    #[serde(rename = "type")]
    pub item_type: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    #[serde(default)]
    pub level: String,
    /// SHA-256, uppercase, colon-separated: what users pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxcpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdisk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryInfo {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuInfo {
    pub cpus: u32,
    pub cores: u32,
    pub sockets: u32,
    pub model: String,
    pub mhz: String,
    #[serde(default)]
    pub hvm: String,
    #[serde(default)]
    pub flags: String,
    #[serde(default)]
    pub user_hz: u32,
}

/// `GET /nodes/{node}/status`. `loadavg` entries are strings on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub uptime: u64,
    pub cpu: f64,
    #[serde(default)]
    pub idle: f64,
    #[serde(default)]
    pub wait: f64,
    pub loadavg: Vec<String>,
    pub kversion: String,
    pub pveversion: String,
    pub cpuinfo: CpuInfo,
    pub memory: MemoryInfo,
    pub swap: MemoryInfo,
    pub rootfs: serde_json::Value,
    #[serde(rename = "boot-info", default, skip_serializing_if = "Option::is_none")]
    pub boot_info: Option<serde_json::Value>,
    #[serde(rename = "current-kernel", default, skip_serializing_if = "Option::is_none")]
    pub current_kernel: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm: Option<serde_json::Value>,
}

/// `GET /nodes/{node}/time`: the node's clock and the time zone it reckons local time in
/// (what PVE's prune buckets, among others, are computed in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTime {
    /// e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// `time` plus the zone's current offset.
    pub localtime: i64,
}

/// An item of `GET /nodes/{node}/network`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub iface: String,
    #[serde(rename = "type")]
    pub iface_type: String,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub autostart: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_ports: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_vlan_aware: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
}

/// An item of `GET /cluster/status`: one `cluster` entry and one entry per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatusItem {
    #[serde(rename = "type")]
    pub item_type: String,
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub quorate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodeid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// An item of `GET /cluster/resources`. Which keys appear depends on `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterResource {
    pub id: String,
    #[serde(rename = "type")]
    pub res_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<VmId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub template: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxcpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdisk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hastate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugintype: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdn: Option<String>,
    /// Bytes received and sent over the network since the guest started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netout: Option<u64>,
    /// Bytes read from and written to the guest's disks since it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskread: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskwrite: Option<u64>,
}

/// An item of `GET /cluster/ha/status/current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaStatusItem {
    pub id: String,
    #[serde(rename = "type")]
    pub item_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub quorate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

/// An item of `GET /cluster/sdn/zones`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdnZone {
    pub zone: String,
    #[serde(rename = "type")]
    pub zone_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// An item of `GET /cluster/sdn/vnets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdnVnet {
    pub vnet: String,
    pub zone: String,
    #[serde(rename = "type", default)]
    pub vnet_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Ensures the 0/1 helpers are exercised by a shape that has non-optional booleans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quorum {
    #[serde(with = "pve_bool")]
    pub quorate: bool,
}

/// An item of `GET /cluster/ha/resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaResourceItem {
    pub sid: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}
