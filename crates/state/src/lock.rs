//! Resource locks: which apply (or reconcile, release, scheduled run) is working on which
//! resource right now. A holder takes all its locks at once or none, renews them while it
//! works, and releases them when done; a lock whose holder stopped renewing expires, and a
//! holder that is provably dead can have its locks broken early. This is what lets a second
//! apply tell a *live* apply's journal from a crashed one's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One held lock, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// What is locked: a resource key such as `VirtualMachine/web-1`, or `live:<holder>`.
    pub name: String,
    /// Who holds it: an opaque id, unique per apply (see the engine's `locks` module).
    pub holder: String,
    /// What the holder is doing, for people: `apply by alice@pve`.
    pub purpose: String,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
}

impl LockInfo {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }
}

/// The lock every holder takes beside its resources, so that a holder with no resources
/// (an apply of an empty plan) still shows as alive.
pub fn liveness_lock(holder: &str) -> String {
    format!("live:{holder}")
}

/// The detail an orphaned apply's history row ends with.
pub const ORPHANED_APPLY: &str = "the process running it stopped before it could record an end; \
     the next apply settled its work";
