//! What monitoring reads per node and per cluster beside the resources: the subscription
//! (`GET /nodes/{n}/subscription`), storage replication jobs with their state
//! (`GET /nodes/{n}/replication`) and the QDevice (`GET /cluster/config/qdevice`).

use serde::{Deserialize, Serialize};

/// A node's subscription. Without one PVE says `status: notfound` and no level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `new`, `notfound`, `active`, `invalid`, `expired` or `suspended`.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextduedate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One replication job as the node lists it, with its state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationJob {
    /// `GUEST-JOBNUM`, e.g. `100-0`.
    pub id: String,
    #[serde(rename = "type", default)]
    pub job_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub guest: u32,
    /// `qemu` or `lxc`.
    #[serde(default)]
    pub vmtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_try: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The job's configuration (`/cluster/replication`): a calendar event, default `*/15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::wire::opt_pve_bool")]
    pub disable: Option<bool>,
    /// MB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// The QDevice as corosync reports it (`Model`, `State`, `QNetd host`, ...); empty when
/// there is none.
pub type QDevice = std::collections::BTreeMap<String, serde_json::Value>;
