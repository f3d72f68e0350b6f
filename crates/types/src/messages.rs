//! PVE's error texts, byte for byte (../shared/pve-semantics.md), and the classifier that maps a
//! status and message back to what went wrong. The simulator produces these texts; the client
//! recognises them.

use crate::VmId;

/// The kind of guest a message is about; PVE words some messages differently for containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }
    /// `VM` or `CT`, as PVE prefixes its messages.
    pub fn label(self) -> &'static str {
        match self {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "CT",
        }
    }
    fn conf_dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
        }
    }
}

pub const PARAM_VERIFICATION_FAILED: &str = "Parameter verification failed.";
pub const DIGEST_MISMATCH: &str = "checksum mismatch (file change by other user?)";
pub const NO_QUORUM: &str = "cluster not ready - no quorum?";
pub const NO_OPTIONS: &str = "no options specified";
pub const UNKNOWN_PARAM: &str =
    "property is not defined in schema and the schema does not allow additional properties";
pub const MISSING_PARAM: &str = "property is missing and it is not optional";
pub const AUTH_FAILURE: &str = "authentication failure";
pub const INVALID_CSRF: &str = "Permission denied - invalid csrf token";
pub const SHRINK_UNSUPPORTED: &str = "shrinking disks is not supported";

/// `Configuration file 'nodes/pve/qemu-server/999.conf' does not exist`.
pub fn config_missing(node: &str, kind: GuestKind, vmid: VmId) -> String {
    format!("Configuration file 'nodes/{node}/{}/{vmid}.conf' does not exist", kind.conf_dir())
}

/// The path of a guest's config flock.
pub fn config_lock_path(kind: GuestKind, vmid: VmId) -> String {
    match kind {
        GuestKind::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
        GuestKind::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
    }
}

/// `can't lock file '<path>' - got timeout`.
pub fn lock_timeout(path: &str) -> String {
    format!("can't lock file '{path}' - got timeout")
}

/// The per-storage allocation lock of a local storage.
pub fn storage_lock_path(storage: &str) -> String {
    format!("/var/lock/pve-manager/pve-storage-{storage}")
}

/// The pmxcfs lock timeout of a shared storage.
pub fn cfs_lock_timeout(storage: &str) -> String {
    format!("cfs-lock 'storage-{storage}' error: got lock request timeout")
}

/// `VM is locked (clone)` / `CT is locked (backup)`.
pub fn guest_locked(kind: GuestKind, lock: &str) -> String {
    format!("{} is locked ({lock})", kind.label())
}

pub fn already_running(kind: GuestKind, vmid: VmId) -> String {
    format!("{} {vmid} already running", kind.label())
}

pub fn not_running(kind: GuestKind, vmid: VmId) -> String {
    format!("{} {vmid} not running", kind.label())
}

/// The create-time "already exists" error.
pub fn create_exists(kind: GuestKind, vmid: VmId, node: &str) -> String {
    let l = kind.label();
    format!("unable to create {l} {vmid} - {l} {vmid} already exists on node '{node}'")
}

/// The clone-time "already exists" error.
pub fn clone_exists(vmid: VmId) -> String {
    format!("unable to create VM {vmid}: config file already exists")
}

/// `nextid?vmid=N` for an id in use (in the `errors` map under `vmid`).
pub fn nextid_taken(vmid: VmId) -> String {
    format!("VM {vmid} already exists")
}

/// What a PVE error message means, as far as a caller needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// A config file (guest or otherwise) does not exist: PVE's "not found" (a 500, never 404).
    DoesNotExist,
    /// A flock or cfs-lock wait ran out. Transient: retry with backoff.
    LockTimeout {
        path: String,
    },
    /// The guest's `lock` property blocks the operation.
    Locked {
        lock: String,
    },
    /// The `digest` sent no longer matches the config.
    DigestMismatch,
    /// The guest is in the wrong power state for the request.
    WrongState,
    /// The VMID is already used.
    AlreadyExists,
    /// The cluster has lost quorum.
    NoQuorum,
    /// The API daemon could not start a worker. Transient.
    NoWorkerUpid,
    Other,
}

/// Classify a PVE error message.
pub fn classify(message: &str) -> MessageKind {
    let m = message.trim_end();
    if let Some(rest) = m.split("can't lock file '").nth(1)
        && let Some((path, tail)) = rest.split_once('\'')
        && tail.contains("got timeout")
    {
        return MessageKind::LockTimeout { path: path.to_string() };
    }
    if let Some(rest) = m.split("cfs-lock '").nth(1)
        && let Some((id, tail)) = rest.split_once('\'')
    {
        if tail.contains("no quorum") {
            return MessageKind::NoQuorum;
        }
        if tail.contains("timeout") {
            return MessageKind::LockTimeout { path: id.to_string() };
        }
    }
    for prefix in ["VM is locked (", "CT is locked ("] {
        if let Some(rest) = m.split(prefix).nth(1)
            && let Some((lock, _)) = rest.split_once(')')
        {
            return MessageKind::Locked { lock: lock.to_string() };
        }
    }
    if m.contains(DIGEST_MISMATCH) || m.contains("checksum mismatch (file change") {
        return MessageKind::DigestMismatch;
    }
    if m.contains("no quorum") {
        return MessageKind::NoQuorum;
    }
    if m.contains("got no worker upid") {
        return MessageKind::NoWorkerUpid;
    }
    if m.contains("already exists") {
        return MessageKind::AlreadyExists;
    }
    if m.starts_with("Configuration file '") && m.contains("does not exist")
        || m.ends_with("does not exist")
    {
        return MessageKind::DoesNotExist;
    }
    let wrong_state = [
        "already running",
        " not running",
        "is running - destroy failed",
        "container is running",
        "VM is paused - cannot shutdown",
        "can't start a vm if it's a template",
        "can't start a CT if it's a template",
        "can't migrate running VM without --online",
        "if VM is running",
        "you can't convert a template to a template",
    ];
    if wrong_state.iter().any(|w| m.contains(w)) {
        return MessageKind::WrongState;
    }
    MessageKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> VmId {
        VmId::new(n).unwrap()
    }

    #[test]
    fn texts_match_the_semantics_file_byte_for_byte() {
        assert_eq!(
            config_missing("pve", GuestKind::Qemu, id(999)),
            "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist"
        );
        assert_eq!(
            lock_timeout(&config_lock_path(GuestKind::Qemu, id(100))),
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
        );
        assert_eq!(
            lock_timeout(&storage_lock_path("local-lvm")),
            "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout"
        );
        assert_eq!(guest_locked(GuestKind::Lxc, "backup"), "CT is locked (backup)");
        assert_eq!(
            create_exists(GuestKind::Qemu, id(100), "pve"),
            "unable to create VM 100 - VM 100 already exists on node 'pve'"
        );
        assert_eq!(clone_exists(id(101)), "unable to create VM 101: config file already exists");
    }

    #[test]
    fn classifies_every_documented_failure() {
        let cases = [
            (
                "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist\n",
                MessageKind::DoesNotExist,
            ),
            (
                "clone failed: can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout\n",
                MessageKind::LockTimeout { path: "/var/lock/qemu-server/lock-9000.conf".into() },
            ),
            (
                "cfs-lock 'storage-shared' error: got lock request timeout",
                MessageKind::LockTimeout { path: "storage-shared".into() },
            ),
            ("VM is locked (clone)\n", MessageKind::Locked { lock: "clone".into() }),
            ("CT is locked (backup)", MessageKind::Locked { lock: "backup".into() }),
            ("checksum mismatch (file change by other user?)\n", MessageKind::DigestMismatch),
            ("VM 100 already running", MessageKind::WrongState),
            ("VM 100 not running\n", MessageKind::WrongState),
            ("VM 100 is running - destroy failed", MessageKind::WrongState),
            (
                "unable to create VM 100 - VM 100 already exists on node 'pve'",
                MessageKind::AlreadyExists,
            ),
            ("cluster not ready - no quorum?", MessageKind::NoQuorum),
            ("cfs-lock 'storage-x' error: no quorum!", MessageKind::NoQuorum),
            ("got no worker upid - start worker failed", MessageKind::NoWorkerUpid),
            ("something else entirely", MessageKind::Other),
        ];
        for (msg, want) in cases {
            assert_eq!(classify(msg), want, "{msg}");
        }
    }
}
