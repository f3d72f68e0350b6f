//! Storage views: `/nodes/{n}/storage` and `.../content` (§7).

use serde::{Deserialize, Serialize};

use crate::VmId;
use crate::wire::{opt_pve_bool, pve_bool};

/// An item of `GET /nodes/{node}/storage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageStatus {
    pub storage: String,
    #[serde(rename = "type")]
    pub storage_type: String,
    /// Comma list in unspecified order: compare as a set.
    pub content: String,
    #[serde(with = "pve_bool")]
    pub shared: bool,
    #[serde(with = "pve_bool")]
    pub enabled: bool,
    #[serde(with = "pve_bool")]
    pub active: bool,
    pub total: u64,
    pub used: u64,
    pub avail: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_fraction: Option<f64>,
}

impl StorageStatus {
    pub fn supports(&self, content: &str) -> bool {
        self.content.split(',').any(|c| c.trim() == content)
    }
}

/// An item of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentItem {
    pub volid: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<VmId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, with = "opt_pve_bool", skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<serde_json::Value>,
}
