//! Response shapes of the PVE API, as the real server sends them. The simulator serialises these
//! same types, so it cannot invent shapes the client would not accept. Optional keys are left
//! out rather than sent as null, as PVE does (§11.1).

mod access;
mod backup_jobs;
mod cluster;
mod guest;
mod node_health;
mod storage;
mod task;

pub use access::*;
pub use backup_jobs::*;
pub use cluster::*;
pub use guest::*;
pub use node_health::*;
pub use storage::*;
pub use task::*;

/// A guest config as GET `.../config` returns it: key → JSON value, plus `digest`.
pub type GuestConfig = std::collections::BTreeMap<String, serde_json::Value>;
