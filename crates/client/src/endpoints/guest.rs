//! Parameters shared by QEMU and LXC endpoints: power actions, snapshots and deletion.

use proxctl_types::SnapshotName;
use proxctl_types::wire::FormParams;

/// A power action, with the options PVE accepts for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerAction {
    Start {
        timeout: Option<u32>,
    },
    Stop {
        timeout: Option<u32>,
    },
    Shutdown {
        timeout: Option<u32>,
        force_stop: bool,
    },
    Reboot {
        timeout: Option<u32>,
    },
    /// QEMU only.
    Reset,
    /// QEMU: `todisk` hibernates. LXC ignores it.
    Suspend {
        todisk: bool,
    },
    Resume,
}

impl PowerAction {
    pub fn verb(&self) -> &'static str {
        match self {
            PowerAction::Start { .. } => "start",
            PowerAction::Stop { .. } => "stop",
            PowerAction::Shutdown { .. } => "shutdown",
            PowerAction::Reboot { .. } => "reboot",
            PowerAction::Reset => "reset",
            PowerAction::Suspend { .. } => "suspend",
            PowerAction::Resume => "resume",
        }
    }

    pub(crate) fn params(&self, lxc: bool) -> FormParams {
        let mut p = FormParams::new();
        match self {
            PowerAction::Start { timeout } | PowerAction::Reboot { timeout } => {
                if !lxc {
                    p.push_opt("timeout", *timeout);
                }
            }
            PowerAction::Stop { timeout } => {
                if !lxc {
                    p.push_opt("timeout", *timeout);
                }
            }
            PowerAction::Shutdown { timeout, force_stop } => {
                p.push_opt("timeout", *timeout);
                if *force_stop {
                    p.push_bool("forceStop", true);
                }
            }
            PowerAction::Suspend { todisk } => {
                if *todisk && !lxc {
                    p.push_bool("todisk", true);
                }
            }
            PowerAction::Reset | PowerAction::Resume => {}
        }
        p
    }
}

/// `POST .../snapshot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    pub name: SnapshotName,
    pub description: Option<String>,
    /// QEMU only: save RAM.
    pub vmstate: bool,
}

/// Options for deleting a guest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub purge: bool,
    pub destroy_unreferenced_disks: bool,
    /// LXC: stop first. QEMU has no such option (stop it first).
    pub force: bool,
}

impl DeleteOptions {
    pub(crate) fn params(&self, lxc: bool) -> FormParams {
        let mut p = FormParams::new();
        if self.purge {
            p.push_bool("purge", true);
        }
        if self.destroy_unreferenced_disks {
            p.push_bool("destroy-unreferenced-disks", true);
        }
        if lxc && self.force {
            p.push_bool("force", true);
        }
        p
    }
}
