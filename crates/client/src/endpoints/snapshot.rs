//! Snapshots of VMs and containers: one set of builders and methods, the guest kind picks the
//! endpoint (the two APIs differ only in path and in `vmstate`, which containers lack).

use proxctl_types::api::SnapshotItem;
use proxctl_types::messages::GuestKind;
use proxctl_types::wire::FormParams;
use proxctl_types::{NodeName, SnapshotName, Upid, VmId};

use super::guest::SnapshotRequest;
use crate::{ApiRequest, Client, ClientError, Endpoint};

fn pick(kind: GuestKind, qemu: Endpoint, lxc: Endpoint) -> Endpoint {
    if kind == GuestKind::Qemu { qemu } else { lxc }
}

pub fn list(kind: GuestKind, node: &NodeName, vmid: VmId) -> ApiRequest {
    let ep = pick(kind, Endpoint::QemuSnapshotList, Endpoint::LxcSnapshotList);
    ApiRequest::new(ep, &[node.as_str(), &vmid.to_string()], FormParams::new())
}

pub fn create(kind: GuestKind, node: &NodeName, vmid: VmId, s: &SnapshotRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("snapname", s.name.to_string()).push_opt("description", s.description.as_ref());
    if s.vmstate && kind == GuestKind::Qemu {
        p.push_bool("vmstate", true);
    }
    let ep = pick(kind, Endpoint::QemuSnapshotCreate, Endpoint::LxcSnapshotCreate);
    ApiRequest::new(ep, &[node.as_str(), &vmid.to_string()], p)
}

pub fn delete(
    kind: GuestKind,
    node: &NodeName,
    vmid: VmId,
    name: &SnapshotName,
    force: bool,
) -> ApiRequest {
    let mut p = FormParams::new();
    if force {
        p.push_bool("force", true);
    }
    let ep = pick(kind, Endpoint::QemuSnapshotDelete, Endpoint::LxcSnapshotDelete);
    ApiRequest::new(ep, &[node.as_str(), &vmid.to_string(), name.as_str()], p)
}

pub fn rollback(
    kind: GuestKind,
    node: &NodeName,
    vmid: VmId,
    name: &SnapshotName,
    start: bool,
) -> ApiRequest {
    let mut p = FormParams::new();
    if start {
        p.push_bool("start", true);
    }
    let ep = pick(kind, Endpoint::QemuSnapshotRollback, Endpoint::LxcSnapshotRollback);
    ApiRequest::new(ep, &[node.as_str(), &vmid.to_string(), name.as_str()], p)
}

impl Client {
    /// Snapshots, followed by the `current` pseudo-entry, as PVE lists them.
    pub async fn snapshots(
        &self,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<SnapshotItem>, ClientError> {
        self.send_as(&list(kind, node, vmid)).await
    }

    pub async fn snapshot_create(
        &self,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
        s: &SnapshotRequest,
    ) -> Result<Upid, ClientError> {
        self.send_task(&create(kind, node, vmid, s)).await
    }

    pub async fn snapshot_delete(
        &self,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
        name: &SnapshotName,
        force: bool,
    ) -> Result<Upid, ClientError> {
        self.send_task(&delete(kind, node, vmid, name, force)).await
    }

    pub async fn snapshot_rollback(
        &self,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
        name: &SnapshotName,
        start: bool,
    ) -> Result<Upid, ClientError> {
        self.send_task(&rollback(kind, node, vmid, name, start)).await
    }
}
