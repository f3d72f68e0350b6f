//! LXC endpoints: list, create, config (PUT only), status and power, delete, snapshots, console.

use proxctl_types::api::{GuestConfig, GuestStatus, TermProxy};
use proxctl_types::config::LxcConfig;
use proxctl_types::secret::Secret;
use proxctl_types::wire::{Digest, FormParams};
use proxctl_types::{NodeName, StorageId, Upid, VmId, VolumeId};

use super::guest::{DeleteOptions, PowerAction};
use crate::{ApiRequest, Client, ClientError, Endpoint};

fn args<'a>(node: &'a NodeName, vmid: &'a str) -> [&'a str; 2] {
    [node.as_str(), vmid]
}

/// `POST /nodes/{node}/lxc`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LxcCreate {
    /// e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub ostemplate: String,
    pub config: LxcConfig,
    pub password: Option<Secret>,
    /// Plain text, not URL-encoded (unlike QEMU's `sshkeys`).
    pub ssh_public_keys: Option<String>,
    pub storage: Option<StorageId>,
    pub start: bool,
    pub pool: Option<String>,
}

pub fn list(node: &NodeName) -> ApiRequest {
    ApiRequest::new(Endpoint::LxcList, &[node.as_str()], FormParams::new())
}

/// `POST /nodes/{node}/lxc` with `restore=1`: a vzdump archive as a new container, with new
/// MAC addresses (`unique`).
pub fn restore(
    node: &NodeName,
    vmid: VmId,
    archive: &VolumeId,
    storage: Option<&StorageId>,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("vmid", vmid.to_string())
        .push("ostemplate", archive.as_str())
        .push_bool("restore", true)
        .push_bool("unique", true)
        .push_opt("storage", storage);
    ApiRequest::new(Endpoint::LxcCreate, &[node.as_str()], p)
}

pub fn create(node: &NodeName, vmid: VmId, c: &LxcCreate) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("vmid", vmid.to_string()).push("ostemplate", c.ostemplate.clone());
    c.config.to_params(&mut p);
    p.push_opt("password", c.password.as_ref().map(|s| s.expose().to_string()))
        .push_opt("ssh-public-keys", c.ssh_public_keys.as_ref())
        .push_opt("storage", c.storage.as_ref())
        .push_opt("pool", c.pool.as_ref());
    if c.start {
        p.push_bool("start", true);
    }
    ApiRequest::new(Endpoint::LxcCreate, &[node.as_str()], p)
}

pub fn config(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::LxcConfigGet, &args(node, &vmid.to_string()), FormParams::new())
}

pub fn update_config(
    node: &NodeName,
    vmid: VmId,
    set: &LxcConfig,
    delete: &[String],
    digest: Option<&Digest>,
) -> ApiRequest {
    let mut p = FormParams::new();
    set.to_params(&mut p);
    p.push_delete(delete).push_opt("digest", digest);
    ApiRequest::new(Endpoint::LxcConfigPut, &args(node, &vmid.to_string()), p)
}

pub fn status(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::LxcStatusCurrent, &args(node, &vmid.to_string()), FormParams::new())
}

/// LXC has no reset; asking for one is a caller error caught here, not a 501 from PVE.
pub fn power(node: &NodeName, vmid: VmId, action: &PowerAction) -> Result<ApiRequest, ClientError> {
    let ep = match action {
        PowerAction::Start { .. } => Endpoint::LxcStart,
        PowerAction::Stop { .. } => Endpoint::LxcStop,
        PowerAction::Shutdown { .. } => Endpoint::LxcShutdown,
        PowerAction::Reboot { .. } => Endpoint::LxcReboot,
        PowerAction::Suspend { .. } => Endpoint::LxcSuspend,
        PowerAction::Resume => Endpoint::LxcResume,
        PowerAction::Reset => {
            return Err(ClientError::Config(
                "containers have no reset; use reboot or stop + start".into(),
            ));
        }
    };
    Ok(ApiRequest::new(ep, &args(node, &vmid.to_string()), action.params(true)))
}

pub fn delete(node: &NodeName, vmid: VmId, opts: &DeleteOptions) -> ApiRequest {
    ApiRequest::new(Endpoint::LxcDelete, &args(node, &vmid.to_string()), opts.params(true))
}

/// `POST .../lxc/{vmid}/clone`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LxcCloneRequest {
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub pool: Option<String>,
    pub snapname: Option<proxctl_types::SnapshotName>,
    /// Full clones only.
    pub storage: Option<StorageId>,
    /// `None` lets PVE choose: linked for templates, full otherwise.
    pub full: Option<bool>,
    pub target: Option<NodeName>,
}

pub fn clone(node: &NodeName, vmid: VmId, newid: VmId, c: &LxcCloneRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("newid", newid.to_string())
        .push_opt("hostname", c.hostname.as_ref())
        .push_opt("description", c.description.as_ref())
        .push_opt("pool", c.pool.as_ref())
        .push_opt("snapname", c.snapname.as_ref())
        .push_opt("storage", c.storage.as_ref())
        .push_opt_bool("full", c.full)
        .push_opt("target", c.target.as_ref());
    ApiRequest::new(Endpoint::LxcClone, &args(node, &vmid.to_string()), p)
}

/// `disk` is `rootfs` or `mpN`; `+` sizes go as `%2B` through the form encoder.
pub fn resize(
    node: &NodeName,
    vmid: VmId,
    disk: &str,
    size: proxctl_types::wire::ResizeTo,
    digest: Option<&Digest>,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("disk", disk).push("size", size.to_string()).push_opt("digest", digest);
    ApiRequest::new(Endpoint::LxcResize, &args(node, &vmid.to_string()), p)
}

/// Move a container to `target`. A running one can only move in restart mode (shut down,
/// moved, started there), waiting up to `timeout` seconds for the shutdown.
pub fn migrate(
    node: &NodeName,
    vmid: VmId,
    target: &NodeName,
    restart: bool,
    timeout: Option<u32>,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("target", target.as_str());
    if restart {
        p.push_bool("restart", true);
    }
    p.push_opt("timeout", timeout.as_ref());
    ApiRequest::new(Endpoint::LxcMigrate, &args(node, &vmid.to_string()), p)
}

pub fn termproxy(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::LxcTermproxy, &args(node, &vmid.to_string()), FormParams::new())
}

impl Client {
    pub async fn lxc_list(&self, node: &NodeName) -> Result<Vec<GuestStatus>, ClientError> {
        self.send_as(&list(node)).await
    }

    pub async fn lxc_create(
        &self,
        node: &NodeName,
        vmid: VmId,
        c: &LxcCreate,
    ) -> Result<Upid, ClientError> {
        self.send_task(&create(node, vmid, c)).await
    }

    /// Restore a container backup to a new CTID (`vzrestore`). Not retried.
    pub async fn lxc_restore(
        &self,
        node: &NodeName,
        vmid: VmId,
        archive: &VolumeId,
        storage: Option<&StorageId>,
    ) -> Result<Upid, ClientError> {
        self.send_task(&restore(node, vmid, archive, storage)).await
    }

    pub async fn lxc_config(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<GuestConfig, ClientError> {
        self.send_as(&config(node, vmid)).await
    }

    /// LXC config changes are synchronous (PUT only).
    pub async fn lxc_update_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        set: &LxcConfig,
        delete: &[String],
        digest: Option<&Digest>,
    ) -> Result<(), ClientError> {
        self.send(&update_config(node, vmid, set, delete, digest)).await.map(drop)
    }

    pub async fn lxc_status(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<GuestStatus, ClientError> {
        self.send_as(&status(node, vmid)).await
    }

    pub async fn lxc_power(
        &self,
        node: &NodeName,
        vmid: VmId,
        action: &PowerAction,
    ) -> Result<Upid, ClientError> {
        self.send_task(&power(node, vmid, action)?).await
    }

    pub async fn lxc_delete(
        &self,
        node: &NodeName,
        vmid: VmId,
        opts: &DeleteOptions,
    ) -> Result<Upid, ClientError> {
        self.send_task(&delete(node, vmid, opts)).await
    }

    pub async fn lxc_clone(
        &self,
        node: &NodeName,
        vmid: VmId,
        newid: VmId,
        c: &LxcCloneRequest,
    ) -> Result<Upid, ClientError> {
        self.send_task(&clone(node, vmid, newid, c)).await
    }

    pub async fn lxc_resize(
        &self,
        node: &NodeName,
        vmid: VmId,
        disk: &str,
        size: proxctl_types::wire::ResizeTo,
        digest: Option<&Digest>,
    ) -> Result<Upid, ClientError> {
        self.send_task(&resize(node, vmid, disk, size, digest)).await
    }

    pub async fn lxc_migrate(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: &NodeName,
        restart: bool,
        timeout: Option<u32>,
    ) -> Result<Upid, ClientError> {
        self.send_task(&migrate(node, vmid, target, restart, timeout)).await
    }

    pub async fn lxc_termproxy(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<TermProxy, ClientError> {
        self.send_as(&termproxy(node, vmid)).await
    }
}
