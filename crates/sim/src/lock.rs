//! The lock model of §4: per-guest config flocks (shared or exclusive) and per-storage
//! allocation locks. Holders are tasks, or the control API (fault injection).

use std::collections::BTreeMap;

use proxctl_types::VmId;
use proxctl_types::messages::{self, GuestKind};

#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LockKey {
    /// A guest's config flock.
    Config(VmId),
    /// A storage's allocation lock (`pve-storage-<id>` or the cfs-lock of a shared storage).
    Storage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// Who holds a lock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Owner {
    Task(u64),
    /// Held through `/_sim/locks` until the given simulated time.
    Control,
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Held {
    exclusive: Option<Owner>,
    shared: Vec<Owner>,
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Locks {
    held: BTreeMap<LockKey, Held>,
}

impl Locks {
    /// Take the lock if possible. A holder may take its own lock again (flock is per process).
    pub fn try_acquire(&mut self, key: &LockKey, mode: LockMode, owner: Owner) -> bool {
        let h = self.held.entry(key.clone()).or_default();
        let others_shared = h.shared.iter().any(|o| *o != owner);
        match (mode, h.exclusive) {
            (_, Some(o)) if o == owner => true,
            (_, Some(_)) => false,
            (LockMode::Shared, None) => {
                if !h.shared.contains(&owner) {
                    h.shared.push(owner);
                }
                true
            }
            (LockMode::Exclusive, None) if !others_shared => {
                h.shared.retain(|o| *o != owner);
                h.exclusive = Some(owner);
                true
            }
            (LockMode::Exclusive, None) => false,
        }
    }

    /// Whether `mode` could be taken now by someone who holds nothing.
    pub fn is_free_for(&self, key: &LockKey, mode: LockMode) -> bool {
        match self.held.get(key) {
            None => true,
            Some(h) => h.exclusive.is_none() && (mode == LockMode::Shared || h.shared.is_empty()),
        }
    }

    pub fn release(&mut self, key: &LockKey, owner: Owner) {
        if let Some(h) = self.held.get_mut(key) {
            if h.exclusive == Some(owner) {
                h.exclusive = None;
            }
            h.shared.retain(|o| *o != owner);
            if h.exclusive.is_none() && h.shared.is_empty() {
                self.held.remove(key);
            }
        }
    }

    pub fn release_all(&mut self, owner: Owner) {
        let keys: Vec<LockKey> = self.held.keys().cloned().collect();
        for k in keys {
            self.release(&k, owner);
        }
    }
}

/// The timeout error text for a lock, as PVE words it.
pub fn timeout_message(key: &LockKey, kind: GuestKind, shared_storage: bool) -> String {
    match key {
        LockKey::Config(vmid) => messages::lock_timeout(&messages::config_lock_path(kind, *vmid)),
        LockKey::Storage(s) if shared_storage => messages::cfs_lock_timeout(s),
        LockKey::Storage(s) => messages::lock_timeout(&messages::storage_lock_path(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_coexist_and_block_exclusive() {
        let mut l = Locks::default();
        let k = LockKey::Config(VmId::new(9000).unwrap());
        assert!(l.try_acquire(&k, LockMode::Shared, Owner::Task(1)));
        assert!(l.try_acquire(&k, LockMode::Shared, Owner::Task(2)));
        assert!(!l.try_acquire(&k, LockMode::Exclusive, Owner::Task(3)));
        l.release(&k, Owner::Task(1));
        l.release(&k, Owner::Task(2));
        assert!(l.try_acquire(&k, LockMode::Exclusive, Owner::Task(3)));
        assert!(!l.try_acquire(&k, LockMode::Shared, Owner::Task(4)));
        assert!(
            l.try_acquire(&k, LockMode::Exclusive, Owner::Task(3)),
            "re-entrant for the holder"
        );
    }

    #[test]
    fn timeout_texts_match_pve() {
        assert_eq!(
            timeout_message(&LockKey::Config(VmId::new(100).unwrap()), GuestKind::Qemu, false),
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
        );
        assert_eq!(
            timeout_message(&LockKey::Storage("shared".into()), GuestKind::Qemu, true),
            "cfs-lock 'storage-shared' error: got lock request timeout"
        );
    }
}
