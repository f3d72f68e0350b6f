//! Guest changes for faces that address a guest by remote and VMID rather than through a
//! `vm` or `ct` command (the REST API, the MCP server): clone, set, resize and snapshot
//! rollback, each taking the VM or the container path by the guest's kind. The rules stay in
//! [`crate::vm`] and [`crate::ct`]; this only dispatches.

use proxctl_client::Client;
use proxctl_client::Started;
use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::messages::GuestKind;
use proxctl_types::prop::{DriveSlot, Memory};
use proxctl_types::wire::ResizeTo;
use proxctl_types::{NodeName, SnapshotName, Upid, VmId};

use crate::{GuestRef, OpsError};

/// Config keys every guest has, changed together under the digest read just before.
#[derive(Debug, Clone, Default)]
pub struct CommonChanges {
    pub cores: Option<u32>,
    pub memory_mib: Option<u64>,
    pub description: Option<String>,
    pub onboot: Option<bool>,
    /// Keys to remove.
    pub delete: Vec<String>,
}

impl CommonChanges {
    pub fn is_empty(&self) -> bool {
        self.cores.is_none()
            && self.memory_mib.is_none()
            && self.description.is_none()
            && self.onboot.is_none()
            && self.delete.is_empty()
    }
}

/// Change `g`'s config.
pub async fn set(client: &Client, g: &GuestRef, c: CommonChanges) -> Result<(), OpsError> {
    if c.is_empty() {
        return Err(OpsError::Invalid(
            "nothing to change: give cores, memory, description, onboot or delete".into(),
        ));
    }
    match g.kind {
        GuestKind::Qemu => {
            let set = QemuConfig {
                cores: c.cores,
                memory: c.memory_mib.map(Memory::mib),
                description: c.description,
                onboot: c.onboot,
                ..QemuConfig::default()
            };
            crate::vm::set(client, g, set, c.delete).await
        }
        GuestKind::Lxc => {
            let set = LxcConfig {
                cores: c.cores,
                memory: c.memory_mib,
                description: c.description,
                onboot: c.onboot,
                ..LxcConfig::default()
            };
            crate::ct::set(client, g, set, c.delete).await
        }
    }
}

/// Clone `src` as `name`; `None` as the task when an earlier identical clone already exists.
/// `target` (another node) applies to VMs only.
pub async fn clone(
    client: &Client,
    state: Option<&crate::state::StateHandle>,
    src: &GuestRef,
    name: &str,
    newid: Option<VmId>,
    full: Option<bool>,
    target: Option<NodeName>,
) -> Result<(VmId, Option<Upid>), OpsError> {
    match src.kind {
        GuestKind::Qemu => {
            let (id, started) =
                crate::vm::clone(client, state, src, name, newid, full, target).await?;
            Ok((
                id,
                match started {
                    Started::Task(u) => Some(u),
                    Started::AlreadyDone => None,
                },
            ))
        }
        GuestKind::Lxc if target.is_some() => Err(OpsError::Invalid(
            "a container is cloned on its own node; migrate the copy afterwards".into(),
        )),
        GuestKind::Lxc => {
            let (id, u) = crate::ct::clone(client, state, src, name, newid, full).await?;
            Ok((id, Some(u)))
        }
    }
}

/// Grow a disk (`scsi0`, ... for VMs; `rootfs`, `mpN` for containers).
pub async fn resize(
    client: &Client,
    g: &GuestRef,
    disk: &str,
    size: ResizeTo,
) -> Result<Option<Upid>, OpsError> {
    match g.kind {
        GuestKind::Qemu => {
            let slot: DriveSlot = disk.parse().map_err(|_| {
                OpsError::Invalid(format!("'{disk}' is not a disk slot such as scsi0 or virtio1"))
            })?;
            crate::vm::resize(client, g, slot, size).await
        }
        GuestKind::Lxc => Ok(Some(crate::ct::resize(client, g, disk, size).await?)),
    }
}

/// Roll `g` back to snapshot `name`; `start` starts it afterwards (PVE's `start` flag).
pub async fn rollback(
    client: &Client,
    g: &GuestRef,
    name: &SnapshotName,
    start: bool,
) -> Result<Upid, OpsError> {
    let known = crate::snapshot::list(client, g).await?;
    if !known.iter().any(|s| s.name == name.as_str()) {
        return Err(OpsError::Invalid(format!(
            "{} has no snapshot '{name}'; list them first",
            g.label()
        )));
    }
    Ok(client.snapshot_rollback(g.kind, &g.node, g.vmid, name, start).await?)
}
