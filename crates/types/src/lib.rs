//! Shared PVE vocabulary for proxctl: identifiers, wire quirks, property strings, response types
//! and PVE's error texts. No IO lives here, so the client and the simulator agree by construction.

pub mod api;
pub mod config;
pub mod ids;
pub mod limits;
pub mod managed;
pub mod messages;
pub mod prop;
pub mod retention;
pub mod secret;
pub mod selector;
pub mod wire;

pub use ids::{IdError, NodeName, SnapshotName, StorageId, Upid, UserId, VmId, VolumeId};
