//! Remotes of `proxctl serve`: the Proxmox clusters one server manages besides the one its own
//! settings name. Kept in the state store so every instance sharing it manages the same ones.
//! A remote's token secret is never stored: only a reference to it (`env:NAME` or `file:PATH`,
//! a file readable by its owner only), resolved by each instance where it runs.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDef {
    pub name: String,
    /// The API URL of one of its nodes, e.g. `https://pve1.example.com:8006`.
    pub url: String,
    /// The node certificate's SHA-256 fingerprint to pin; `None` verifies against system CAs.
    pub fingerprint: Option<String>,
    /// The PVE API token id, `user@realm!name`.
    pub token_id: String,
    /// Where the token's secret is: `env:NAME` or `file:PATH`.
    pub secret_ref: String,
    pub created_at: Timestamp,
}
