//! QEMU endpoints: list, create, config, status and power, clone, template, resize, delete,
//! migrate, snapshots, cloud-init dump, guest agent and consoles.

use proxctl_types::api::{
    AgentExec, AgentExecStatus, AgentInterface, GuestConfig, GuestStatus, MigratePreconditions,
    PendingItem, TermProxy, VncProxy,
};
use proxctl_types::config::QemuConfig;
use proxctl_types::prop::DriveSlot;
use proxctl_types::wire::{Digest, FormParams, ResizeTo};
use proxctl_types::{NodeName, SnapshotName, StorageId, Upid, VmId, VolumeId};
use serde_json::Value;

use super::guest::{DeleteOptions, PowerAction};
use super::{opt_upid_of, upid_of};
use crate::{ApiErrorKind, ApiRequest, Client, ClientError, Endpoint};

fn args<'a>(node: &'a NodeName, vmid: &'a str) -> [&'a str; 2] {
    [node.as_str(), vmid]
}

/// Options of `POST /nodes/{node}/qemu` beyond the config keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOptions {
    pub start: bool,
    pub pool: Option<String>,
    /// Default storage for `X:size` disk syntax.
    pub storage: Option<StorageId>,
}

/// The result of a create or clone: a task to wait for, or nothing to do because the guest
/// already exists exactly as asked (an earlier, interrupted attempt made it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Task(Upid),
    AlreadyDone,
}

pub fn list(node: &NodeName) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_bool("full", true);
    ApiRequest::new(Endpoint::QemuList, &[node.as_str()], p)
}

pub fn create(node: &NodeName, vmid: VmId, cfg: &QemuConfig, opts: &CreateOptions) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("vmid", vmid.to_string());
    cfg.to_params(&mut p);
    if opts.start {
        p.push_bool("start", true);
    }
    p.push_opt("pool", opts.pool.as_ref()).push_opt("storage", opts.storage.as_ref());
    ApiRequest::new(Endpoint::QemuCreate, &[node.as_str()], p)
}

/// `POST /nodes/{node}/qemu` with `archive`: restore a vzdump backup as a new VM. `unique`
/// gives it new MAC addresses, so it can run beside the original.
pub fn restore(
    node: &NodeName,
    vmid: VmId,
    archive: &VolumeId,
    storage: Option<&StorageId>,
    unique: bool,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("vmid", vmid.to_string()).push("archive", archive.as_str()).push_opt("storage", storage);
    if unique {
        p.push_bool("unique", true);
    }
    ApiRequest::new(Endpoint::QemuCreate, &[node.as_str()], p)
}

pub fn config(node: &NodeName, vmid: VmId, current: bool) -> ApiRequest {
    let mut p = FormParams::new();
    if current {
        p.push_bool("current", true);
    }
    ApiRequest::new(Endpoint::QemuConfigGet, &args(node, &vmid.to_string()), p)
}

/// A config change: values to set, keys to delete or revert, and the digest it was based on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigUpdate {
    pub set: QemuConfig,
    pub delete: Vec<String>,
    pub revert: Vec<String>,
    pub digest: Option<Digest>,
    /// With `delete`: destroy disk volumes instead of detaching them.
    pub force: bool,
    /// POST only: wait up to this many seconds (1..=30) for the task before returning.
    pub background_delay: Option<u8>,
}

impl ConfigUpdate {
    fn params(&self, async_post: bool) -> FormParams {
        let mut p = FormParams::new();
        self.set.to_params(&mut p);
        p.push_delete(&self.delete);
        if !self.revert.is_empty() {
            p.push("revert", self.revert.join(","));
        }
        p.push_opt("digest", self.digest.as_ref());
        if self.force && !self.delete.is_empty() {
            p.push_bool("force", true);
        }
        if async_post {
            p.push_opt("background_delay", self.background_delay);
        }
        p
    }
}

pub fn update_config_sync(node: &NodeName, vmid: VmId, u: &ConfigUpdate) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuConfigPut, &args(node, &vmid.to_string()), u.params(false))
}

pub fn update_config_async(node: &NodeName, vmid: VmId, u: &ConfigUpdate) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuConfigPost, &args(node, &vmid.to_string()), u.params(true))
}

pub fn pending(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuPending, &args(node, &vmid.to_string()), FormParams::new())
}

pub fn status(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuStatusCurrent, &args(node, &vmid.to_string()), FormParams::new())
}

pub fn power(node: &NodeName, vmid: VmId, action: &PowerAction) -> ApiRequest {
    let ep = match action {
        PowerAction::Start { .. } => Endpoint::QemuStart,
        PowerAction::Stop { .. } => Endpoint::QemuStop,
        PowerAction::Shutdown { .. } => Endpoint::QemuShutdown,
        PowerAction::Reboot { .. } => Endpoint::QemuReboot,
        PowerAction::Reset => Endpoint::QemuReset,
        PowerAction::Suspend { .. } => Endpoint::QemuSuspend,
        PowerAction::Resume => Endpoint::QemuResume,
    };
    ApiRequest::new(ep, &args(node, &vmid.to_string()), action.params(false))
}

/// `POST .../clone`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloneRequest {
    pub newid: Option<VmId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub pool: Option<String>,
    pub snapname: Option<SnapshotName>,
    /// Full clones only.
    pub storage: Option<StorageId>,
    /// Full clones only: raw, qcow2 or vmdk.
    pub format: Option<String>,
    /// `None` lets PVE choose: linked for templates, full otherwise.
    pub full: Option<bool>,
    pub target: Option<NodeName>,
    pub bwlimit: Option<u64>,
}

pub fn clone(node: &NodeName, vmid: VmId, newid: VmId, c: &CloneRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("newid", newid.to_string())
        .push_opt("name", c.name.as_ref())
        .push_opt("description", c.description.as_ref())
        .push_opt("pool", c.pool.as_ref())
        .push_opt("snapname", c.snapname.as_ref())
        .push_opt("storage", c.storage.as_ref())
        .push_opt("format", c.format.as_ref())
        .push_opt_bool("full", c.full)
        .push_opt("target", c.target.as_ref())
        .push_opt("bwlimit", c.bwlimit);
    ApiRequest::new(Endpoint::QemuClone, &args(node, &vmid.to_string()), p)
}

pub fn template(node: &NodeName, vmid: VmId, disk: Option<DriveSlot>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("disk", disk);
    ApiRequest::new(Endpoint::QemuTemplate, &args(node, &vmid.to_string()), p)
}

pub fn resize(
    node: &NodeName,
    vmid: VmId,
    disk: DriveSlot,
    size: ResizeTo,
    digest: Option<&Digest>,
) -> ApiRequest {
    let mut p = FormParams::new();
    // `+10G` becomes `%2B10G` in the form body: a raw `+` would decode to a space.
    p.push("disk", disk.to_string()).push("size", size.to_string()).push_opt("digest", digest);
    ApiRequest::new(Endpoint::QemuResize, &args(node, &vmid.to_string()), p)
}

pub fn delete(node: &NodeName, vmid: VmId, opts: &DeleteOptions) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuDelete, &args(node, &vmid.to_string()), opts.params(false))
}

/// `POST .../migrate`.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateRequest {
    pub target: NodeName,
    pub online: bool,
    pub with_local_disks: bool,
    /// A storage map (`src:dst,...`) or one storage id.
    pub targetstorage: Option<String>,
    pub bwlimit: Option<u64>,
}

pub fn migrate(node: &NodeName, vmid: VmId, m: &MigrateRequest) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("target", m.target.to_string());
    if m.online {
        p.push_bool("online", true);
    }
    if m.with_local_disks {
        p.push_bool("with-local-disks", true);
    }
    p.push_opt("targetstorage", m.targetstorage.as_ref()).push_opt("bwlimit", m.bwlimit);
    ApiRequest::new(Endpoint::QemuMigrate, &args(node, &vmid.to_string()), p)
}

pub fn migrate_preconditions(node: &NodeName, vmid: VmId, target: Option<&NodeName>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("target", target);
    ApiRequest::new(Endpoint::QemuMigratePrecondition, &args(node, &vmid.to_string()), p)
}

/// Which rendered cloud-init document to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudInitSection {
    User,
    Network,
    Meta,
}

impl CloudInitSection {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudInitSection::User => "user",
            CloudInitSection::Network => "network",
            CloudInitSection::Meta => "meta",
        }
    }
}

pub fn cloudinit_dump(node: &NodeName, vmid: VmId, section: CloudInitSection) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("type", section.as_str());
    ApiRequest::new(Endpoint::QemuCloudinitDump, &args(node, &vmid.to_string()), p)
}

pub fn agent_ping(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuAgentPing, &args(node, &vmid.to_string()), FormParams::new())
}

pub fn agent_network(node: &NodeName, vmid: VmId) -> ApiRequest {
    ApiRequest::new(Endpoint::QemuAgentNetwork, &args(node, &vmid.to_string()), FormParams::new())
}

/// `command` is an array: one form field per element.
pub fn agent_exec(
    node: &NodeName,
    vmid: VmId,
    command: &[String],
    input: Option<&str>,
) -> ApiRequest {
    let mut p = FormParams::new();
    for c in command {
        p.push("command", c.clone());
    }
    p.push_opt("input-data", input);
    ApiRequest::new(Endpoint::QemuAgentExec, &args(node, &vmid.to_string()), p)
}

pub fn agent_exec_status(node: &NodeName, vmid: VmId, pid: u64) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("pid", pid.to_string());
    ApiRequest::new(Endpoint::QemuAgentExecStatus, &args(node, &vmid.to_string()), p)
}

pub fn vncproxy(
    node: &NodeName,
    vmid: VmId,
    websocket: bool,
    generate_password: bool,
) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_bool("websocket", websocket);
    if generate_password {
        p.push_bool("generate-password", true);
    }
    ApiRequest::new(Endpoint::QemuVncproxy, &args(node, &vmid.to_string()), p)
}

pub fn termproxy(node: &NodeName, vmid: VmId, serial: Option<u8>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("serial", serial.map(|n| format!("serial{n}")));
    ApiRequest::new(Endpoint::QemuTermproxy, &args(node, &vmid.to_string()), p)
}

pub fn spiceproxy(node: &NodeName, vmid: VmId, proxy: Option<&str>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("proxy", proxy);
    ApiRequest::new(Endpoint::QemuSpiceproxy, &args(node, &vmid.to_string()), p)
}

impl Client {
    pub async fn qemu_list(&self, node: &NodeName) -> Result<Vec<GuestStatus>, ClientError> {
        self.send_as(&list(node)).await
    }

    /// Create a VM. An "already exists" answer is checked against what was asked for: the same
    /// name on an unlocked VM means an earlier attempt already made it.
    /// Restore a backup to a new VMID (`qmrestore`). Not retried: PVE may have started it.
    pub async fn qemu_restore(
        &self,
        node: &NodeName,
        vmid: VmId,
        archive: &VolumeId,
        storage: Option<&StorageId>,
        unique: bool,
    ) -> Result<Upid, ClientError> {
        self.send_task(&restore(node, vmid, archive, storage, unique)).await
    }

    pub async fn qemu_create(
        &self,
        node: &NodeName,
        vmid: VmId,
        cfg: &QemuConfig,
        opts: &CreateOptions,
    ) -> Result<Started, ClientError> {
        let req = create(node, vmid, cfg, opts);
        match self.send(&req).await {
            Ok(v) => upid_of(&req, v).map(Started::Task),
            Err(ClientError::Api(e)) if e.kind == ApiErrorKind::AlreadyExists => {
                self.check_existing(node, vmid, cfg.name.as_deref(), ClientError::Api(e)).await
            }
            Err(e) => Err(e),
        }
    }

    async fn check_existing(
        &self,
        node: &NodeName,
        vmid: VmId,
        want_name: Option<&str>,
        original: ClientError,
    ) -> Result<Started, ClientError> {
        // Without a name there is nothing to recognise our own earlier attempt by.
        let Some(want) = want_name else {
            return Err(original);
        };
        let Ok(existing) = self.qemu_config(node, vmid).await else {
            return Err(original);
        };
        let name = existing.get("name").and_then(Value::as_str);
        let lock = existing.get("lock").and_then(Value::as_str);
        if name == Some(want) && lock.is_none() {
            tracing::info!(%vmid, "VM already exists as requested; treating create as done");
            return Ok(Started::AlreadyDone);
        }
        Err(ClientError::CreateConflict {
            what: format!("VM {vmid}"),
            detail: format!(
                "it is named {}{}, but {want:?} was asked for; pick another VMID (see /cluster/nextid)",
                name.map_or("nothing".to_string(), |n| format!("{n:?}")),
                lock.map_or(String::new(), |l| format!(" and is locked ({l})"))
            ),
        })
    }

    /// GET config with pending values merged in (PVE's default view), plus `digest`.
    pub async fn qemu_config(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<GuestConfig, ClientError> {
        self.send_as(&config(node, vmid, false)).await
    }

    /// GET config parsed into typed keys.
    pub async fn qemu_config_typed(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<QemuConfig, ClientError> {
        let raw = self.qemu_config(node, vmid).await?;
        QemuConfig::from_api(&raw).map_err(|e| ClientError::Decode {
            method: "GET".into(),
            path: format!("/nodes/{node}/qemu/{vmid}/config"),
            detail: e.to_string(),
        })
    }

    pub async fn qemu_update_config(
        &self,
        node: &NodeName,
        vmid: VmId,
        u: &ConfigUpdate,
    ) -> Result<(), ClientError> {
        self.send(&update_config_sync(node, vmid, u)).await.map(drop)
    }

    /// Async config update: a UPID, or `None` when it finished within `background_delay`.
    pub async fn qemu_update_config_async(
        &self,
        node: &NodeName,
        vmid: VmId,
        u: &ConfigUpdate,
    ) -> Result<Option<Upid>, ClientError> {
        let req = update_config_async(node, vmid, u);
        let v = self.send(&req).await?;
        opt_upid_of(&req, v)
    }

    pub async fn qemu_pending(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<PendingItem>, ClientError> {
        self.send_as(&pending(node, vmid)).await
    }

    pub async fn qemu_status(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<GuestStatus, ClientError> {
        self.send_as(&status(node, vmid)).await
    }

    pub async fn qemu_power(
        &self,
        node: &NodeName,
        vmid: VmId,
        action: &PowerAction,
    ) -> Result<Upid, ClientError> {
        self.send_task(&power(node, vmid, action)).await
    }

    pub async fn qemu_clone(
        &self,
        node: &NodeName,
        vmid: VmId,
        newid: VmId,
        c: &CloneRequest,
    ) -> Result<Started, ClientError> {
        let req = clone(node, vmid, newid, c);
        match self.send(&req).await {
            Ok(v) => upid_of(&req, v).map(Started::Task),
            Err(ClientError::Api(e)) if e.kind == ApiErrorKind::AlreadyExists => {
                let target = c.target.as_ref().unwrap_or(node);
                self.check_existing(target, newid, c.name.as_deref(), ClientError::Api(e)).await
            }
            Err(e) => Err(e),
        }
    }

    pub async fn qemu_template(&self, node: &NodeName, vmid: VmId) -> Result<Upid, ClientError> {
        self.send_task(&template(node, vmid, None)).await
    }

    /// Resize a disk. Older PVE answered null instead of a UPID.
    pub async fn qemu_resize(
        &self,
        node: &NodeName,
        vmid: VmId,
        disk: DriveSlot,
        size: ResizeTo,
        digest: Option<&Digest>,
    ) -> Result<Option<Upid>, ClientError> {
        let req = resize(node, vmid, disk, size, digest);
        let v = self.send(&req).await?;
        opt_upid_of(&req, v)
    }

    pub async fn qemu_delete(
        &self,
        node: &NodeName,
        vmid: VmId,
        opts: &DeleteOptions,
    ) -> Result<Upid, ClientError> {
        self.send_task(&delete(node, vmid, opts)).await
    }

    pub async fn qemu_migrate(
        &self,
        node: &NodeName,
        vmid: VmId,
        m: &MigrateRequest,
    ) -> Result<Upid, ClientError> {
        self.send_task(&migrate(node, vmid, m)).await
    }

    pub async fn qemu_migrate_preconditions(
        &self,
        node: &NodeName,
        vmid: VmId,
        target: Option<&NodeName>,
    ) -> Result<MigratePreconditions, ClientError> {
        self.send_as(&migrate_preconditions(node, vmid, target)).await
    }

    pub async fn qemu_cloudinit_dump(
        &self,
        node: &NodeName,
        vmid: VmId,
        section: CloudInitSection,
    ) -> Result<String, ClientError> {
        self.send_as(&cloudinit_dump(node, vmid, section)).await
    }

    pub async fn qemu_agent_ping(&self, node: &NodeName, vmid: VmId) -> Result<(), ClientError> {
        self.send(&agent_ping(node, vmid)).await.map(drop)
    }

    pub async fn qemu_agent_network(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<Vec<AgentInterface>, ClientError> {
        let req = agent_network(node, vmid);
        let v = self.send(&req).await?;
        crate::transport::decode(&req, v.get("result").cloned().unwrap_or(Value::Null))
    }

    pub async fn qemu_agent_exec(
        &self,
        node: &NodeName,
        vmid: VmId,
        command: &[String],
        input: Option<&str>,
    ) -> Result<AgentExec, ClientError> {
        self.send_as(&agent_exec(node, vmid, command, input)).await
    }

    pub async fn qemu_agent_exec_status(
        &self,
        node: &NodeName,
        vmid: VmId,
        pid: u64,
    ) -> Result<AgentExecStatus, ClientError> {
        self.send_as(&agent_exec_status(node, vmid, pid)).await
    }

    pub async fn qemu_vncproxy(
        &self,
        node: &NodeName,
        vmid: VmId,
    ) -> Result<VncProxy, ClientError> {
        self.send_as(&vncproxy(node, vmid, true, false)).await
    }

    pub async fn qemu_termproxy(
        &self,
        node: &NodeName,
        vmid: VmId,
        serial: Option<u8>,
    ) -> Result<TermProxy, ClientError> {
        self.send_as(&termproxy(node, vmid, serial)).await
    }

    /// The remote-viewer settings, as a map (written out as a `.vv` file by the CLI).
    pub async fn qemu_spiceproxy(
        &self,
        node: &NodeName,
        vmid: VmId,
        proxy: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, ClientError> {
        self.send_as(&spiceproxy(node, vmid, proxy)).await
    }
}
