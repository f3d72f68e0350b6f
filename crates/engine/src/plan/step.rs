//! The steps a plan is made of: each call the executor makes, with every value decided.

use super::*;

/// A call the executor makes, with every value decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Record an address for the resource in the state store (fails if someone took it).
    AllocateIp {
        pool: String,
        ip: IpAddr,
    },
    Clone {
        source: u32,
        source_node: String,
        vmid: u32,
        node: String,
        name: String,
        full: bool,
        storage: Option<String>,
        pool: Option<String>,
        /// Carries the identity marker from the first moment the guest exists.
        description: String,
    },
    /// Build a versioned template from a catalog image (see `proxctl template build`).
    BuildTemplate {
        name: String,
        vmid: u32,
        node: String,
        entry: Box<proxctl_images::catalog::Entry>,
        storage: String,
        vm_storage: String,
        disk_size: Option<String>,
        keep: usize,
    },
    /// Build a NoCloud seed ISO from these files and upload it as `iso` content.
    SeedIso {
        node: String,
        storage: String,
        filename: String,
        files: BTreeMap<String, String>,
    },
    /// Put a guest under HA in `state` (`exists`: it already is, so only the state changes).
    HaSet {
        sid: String,
        state: String,
        exists: bool,
    },
    /// Delete a volume (an outdated seed ISO). Nothing to do if it is already gone.
    DeleteVolume {
        node: String,
        volid: String,
    },
    /// Create a VM with every parameter decided (a VM from an image: `scsi0` imports it).
    CreateVm {
        node: String,
        vmid: u32,
        params: BTreeMap<String, String>,
    },
    /// Create a container from an OS template, with every parameter decided.
    CreateCt {
        node: String,
        vmid: u32,
        params: BTreeMap<String, String>,
    },
    /// PUT config: values to set and keys to delete.
    Configure {
        node: String,
        vmid: u32,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Resize {
        node: String,
        vmid: u32,
        disk: String,
        size: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Migrate {
        node: String,
        vmid: u32,
        to: String,
        online: bool,
    },
    Start {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Shutdown {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Destroy {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    /// Remember the resource (spec hash, VMID, node) in the state store.
    Record {
        vmid: Option<u32>,
        node: Option<String>,
        spec_hash: String,
        /// The manifest says `start: true`: monitoring expects the guest running.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        expect_running: bool,
        /// The declared resource as applied (its manifest body), kept so faces can show a
        /// managed guest's desired-versus-actual difference without the manifest file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spec: Option<serde_json::Value>,
    },
    /// Forget the resource and release its addresses.
    Forget,
    /// Store a job (made or changed by a `Job` manifest) where `proxctl serve` runs it.
    SaveJob {
        name: String,
        spec: crate::manifest::JobSpec,
    },
    /// Delete a job from the store (its history stays).
    DeleteJob {
        name: String,
    },
}

impl Step {
    /// Whether the step changes PVE (and so is journalled).
    pub fn mutates_pve(&self) -> bool {
        !matches!(
            self,
            Step::AllocateIp { .. }
                | Step::Record { .. }
                | Step::Forget
                | Step::SaveJob { .. }
                | Step::DeleteJob { .. }
        )
    }
}

/// Start or shut down a guest whose running state differs from `start`.
pub(super) fn power_state(
    start: Option<bool>,
    g: &ObservedGuest,
    node: &str,
    lxc: bool,
    diffs: &mut Vec<FieldDiff>,
    steps: &mut Vec<Step>,
) {
    let (from, to, step) = match start {
        Some(true) if !g.running => {
            ("stopped", "running", Step::Start { node: node.into(), vmid: g.vmid, lxc })
        }
        Some(false) if g.running => {
            ("running", "stopped", Step::Shutdown { node: node.into(), vmid: g.vmid, lxc })
        }
        _ => return,
    };
    diffs.push(FieldDiff {
        field: "state".into(),
        from: Some(from.into()),
        to: Some(to.into()),
        reboot: false,
    });
    steps.push(step);
}
