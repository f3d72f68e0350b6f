//! The records a state store keeps: managed resources, apply history, the operation journal,
//! VMID leases, IP allocations and snapshot expiries.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use proxctl_types::{NodeName, SnapshotName, VmId};
use serde::{Deserialize, Serialize};

/// A declared resource's identity: `kind/name`, e.g. `VirtualMachine/web-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceKey {
    kind: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a resource key; write it as kind/name, e.g. VirtualMachine/web-1")]
pub struct BadResourceKey(pub String);

impl ResourceKey {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Result<Self, BadResourceKey> {
        let (kind, name) = (kind.into(), name.into());
        let ok = |s: &str| !s.is_empty() && !s.contains('/') && !s.chars().any(char::is_whitespace);
        if ok(&kind) && ok(&name) {
            Ok(Self { kind, name })
        } else {
            Err(BadResourceKey(format!("{kind}/{name}")))
        }
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl FromStr for ResourceKey {
    type Err = BadResourceKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s.split_once('/').ok_or_else(|| BadResourceKey(s.to_string()))?;
        Self::new(k, n)
    }
}

impl TryFrom<String> for ResourceKey {
    type Error = BadResourceKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ResourceKey> for String {
    fn from(k: ResourceKey) -> String {
        k.to_string()
    }
}

/// What the store knows about one managed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub key: ResourceKey,
    /// Hash of the spec last applied, so an unchanged manifest plans without reading it again.
    pub spec_hash: String,
    pub vmid: Option<VmId>,
    pub node: Option<NodeName>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApplyId(pub i64);

impl fmt::Display for ApplyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JournalId(pub i64);

/// How an apply ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum ApplyOutcome {
    Succeeded,
    Failed(String),
    /// The process running it stopped (killed, crashed, lost its locks) before it could
    /// record an end; set by the next apply that found it orphaned.
    Interrupted(String),
}

impl ApplyOutcome {
    /// The (status, detail) pair both backends store.
    pub fn to_columns(&self) -> (&'static str, Option<&str>) {
        match self {
            ApplyOutcome::Succeeded => ("succeeded", None),
            ApplyOutcome::Failed(m) => ("failed", Some(m)),
            ApplyOutcome::Interrupted(m) => ("interrupted", Some(m)),
        }
    }
    pub fn from_columns(status: Option<&str>, detail: Option<String>) -> Option<Self> {
        match status? {
            "succeeded" => Some(ApplyOutcome::Succeeded),
            "interrupted" => Some(ApplyOutcome::Interrupted(detail.unwrap_or_default())),
            _ => Some(ApplyOutcome::Failed(detail.unwrap_or_default())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRecord {
    pub id: ApplyId,
    pub actor: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub plan: serde_json::Value,
    /// `None` while running, or if the process died before it could record an end.
    pub outcome: Option<ApplyOutcome>,
}

/// One intended mutating call, written before the call is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJournalEntry {
    pub apply: ApplyId,
    pub resource: ResourceKey,
    /// What is about to happen, e.g. `clone`, `create`, `delete`, `upload-iso`.
    pub action: String,
    /// Enough to finish or undo the call after a crash (VMID, node, volume, UPID once known).
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "lowercase")]
pub enum JournalState {
    Intent,
    Done,
    Failed(String),
}

impl JournalState {
    pub fn to_columns(&self) -> (&'static str, Option<&str>) {
        match self {
            JournalState::Intent => ("intent", None),
            JournalState::Done => ("done", None),
            JournalState::Failed(m) => ("failed", Some(m)),
        }
    }
    pub fn from_columns(state: &str, detail: Option<String>) -> Self {
        match state {
            "intent" => JournalState::Intent,
            "done" => JournalState::Done,
            _ => JournalState::Failed(detail.unwrap_or_default()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub id: JournalId,
    pub apply: ApplyId,
    pub resource: ResourceKey,
    pub action: String,
    pub params: serde_json::Value,
    pub started_at: Timestamp,
    pub state: JournalState,
}

/// A VMID reserved for a resource by one apply (the holder) until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmidLease {
    pub vmid: VmId,
    pub holder: String,
    pub owner: ResourceKey,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAllocation {
    pub pool: String,
    pub ip: std::net::IpAddr,
    pub owner: ResourceKey,
    pub allocated_at: Timestamp,
}

/// When a snapshot expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotTtl {
    pub vmid: VmId,
    pub snapshot: SnapshotName,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_keys_round_trip_and_reject_malformed_text() {
        let k: ResourceKey = "VirtualMachine/web-1".parse().unwrap();
        assert_eq!((k.kind(), k.name()), ("VirtualMachine", "web-1"));
        assert_eq!(k.to_string(), "VirtualMachine/web-1");
        for bad in ["web-1", "/x", "VirtualMachine/", "a/b/c", "a b/c"] {
            assert!(bad.parse::<ResourceKey>().is_err(), "{bad}");
        }
    }
}
