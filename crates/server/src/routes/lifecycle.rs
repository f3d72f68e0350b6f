//! A guest's life over HTTP: create a VM from a template (through the engine, as `vm create
//! --from-template` does), clone, change its config, grow a disk, migrate it, roll it back to
//! a snapshot. Each is an operation (`202`) run as the token; the guest must be in its scope.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_client::{Client, WaitOptions};
use proxctl_engine::imperative::VmRequest;
use proxctl_engine::manifest::{CloudInitSpec, IpSpec, NicSpec};
use proxctl_types::{NodeName, SnapshotName, Upid, VmId};
use serde::Deserialize;

use super::body::Body;
use super::guests::find;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

pub(super) async fn wait(client: &Client, upid: &Upid) -> Result<(), Problem> {
    client.wait_task(upid, &WaitOptions::default()).await.map_err(Problem::from)?;
    Ok(())
}

fn node(name: &str) -> ApiResult<NodeName> {
    NodeName::new(name).map_err(|e| Problem::bad_request(format!("node '{name}': {e}")))
}

fn vmid(v: u32) -> ApiResult<VmId> {
    VmId::new(v).map_err(|e| Problem::bad_request(format!("vmid: {e}")))
}

/// A NIC of a new VM.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    pub bridge: String,
    #[schema(minimum = 1, maximum = 4094)]
    pub vlan: Option<u16>,
}

/// How cloud-init sets a new VM up.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudInit {
    /// `native` (PVE's cloud-init drive, the default) or `iso` (a NoCloud seed ISO).
    pub mode: Option<String>,
    pub user: Option<String>,
    /// Public keys, one per entry.
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// `dhcp` (the default) or an address with its prefix, e.g. `10.0.0.5/24`, for net0.
    pub address: Option<String>,
    pub gateway: Option<String>,
    pub nameserver: Option<String>,
    pub searchdomain: Option<String>,
}

/// A VM to create from a template proxctl built.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmCreate {
    pub name: String,
    /// A template name (its current version) or `NAME@VERSION`.
    pub template: String,
    /// Default: where the template is, or the best node.
    pub node: Option<String>,
    #[schema(minimum = 1, maximum = 8192)]
    pub cores: Option<u32>,
    /// MiB.
    #[schema(minimum = 16, maximum = 4194304)]
    pub memory: Option<u64>,
    /// Boot disk size, e.g. `32G` (grown from the template's).
    pub disk: Option<String>,
    /// net0, net1, ... in order (default: one NIC on vmbr0).
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub start: bool,
    #[serde(default)]
    pub cloud_init: CloudInit,
}

impl VmCreate {
    /// The engine's request: the same one `vm create --from-template` makes.
    fn request(self) -> ApiResult<VmRequest> {
        super::in_range("cores", self.cores.map(u64::from), 1, super::MAX_CORES)?;
        super::in_range("memory", self.memory, 16, super::MAX_MEMORY_MIB)?;
        if let Some(v) = self.nics.iter().filter_map(|n| n.vlan).find(|v| !(1..=4094).contains(v)) {
            return Err(Problem::bad_request(format!("vlan must be 1 to 4094, not {v}")));
        }
        let nics = if self.nics.is_empty() {
            vec![Nic { bridge: "vmbr0".into(), vlan: None }]
        } else {
            self.nics
        };
        let ci = self.cloud_init;
        let ip = IpSpec {
            address: Some(ci.address.unwrap_or_else(|| "dhcp".into())),
            gateway: ci.gateway,
            ..IpSpec::default()
        };
        Ok(VmRequest {
            name: self.name,
            template: self.template,
            node: self.node,
            cores: self.cores,
            memory: self.memory,
            disk: self.disk,
            nics: nics
                .into_iter()
                .map(|n| NicSpec { bridge: n.bridge, vlan: n.vlan, model: None, firewall: None })
                .collect(),
            tags: self.tags,
            start: self.start,
            cloud_init: CloudInitSpec {
                mode: Some(ci.mode.unwrap_or_else(|| "native".into())),
                user: ci.user,
                ssh_keys: ci.ssh_keys,
                ip: [("net0".to_string(), ip)].into(),
                nameserver: ci.nameserver,
                searchdomain: ci.searchdomain,
                ..CloudInitSpec::default()
            },
            password: None,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests", tag = "lifecycle",
    params(("remote" = String, Path)), request_body = VmCreate,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<VmCreate>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    // A new guest is outside any scope until it exists; only unscoped tokens make them.
    caller.unscoped("creating a guest")?;
    let client = app.remote(&remote)?.client.clone();
    let req = req.request()?;
    // Refused now, not as a failed operation: the request must make a valid manifest.
    proxctl_engine::imperative::manifest(&req).map_err(|e| Problem::bad_request(e.to_string()))?;
    let store = Arc::clone(app.state.get().await.map_err(Problem::from)?);
    let mut opts = proxctl_engine::ApplyOptions::new(caller.name.clone());
    opts.locks.wait = std::time::Duration::ZERO;
    let description = format!("create VM {} from {} on remote {remote}", req.name, req.template);
    let op = app.operations.start_pinned_reporting(&caller.name, description, move |report| {
        opts.progress =
            Some(Arc::new(move |key: &str, msg: &str| report.line(format!("{key}: {msg}"))));
        async move {
            let made = proxctl_engine::imperative::create_vm(&client, store, &req, &opts)
                .await
                .map_err(super::declare::engine_problem)?;
            Ok(serde_json::json!({ "vmid": made.vmid.get(), "node": made.node.to_string() }))
        }
    });
    Ok(super::accepted(&app, op).await)
}

/// A copy of a guest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneRequest {
    /// The copy's name (hostname for containers).
    pub name: String,
    /// Default: the next free VMID, taken race-free.
    #[schema(minimum = 100, maximum = 999_999_999)]
    pub vmid: Option<u32>,
    /// A full copy instead of a linked clone (templates clone linked by default).
    pub full: Option<bool>,
    /// Another node for the copy (VMs only).
    pub target: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/clone", tag = "lifecycle",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = CloneRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn clone(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, id)): Path<(String, u32)>,
    Body(req): Body<CloneRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    // The copy would carry the source's tags, but need not stay in a scope; keep it simple.
    caller.unscoped("cloning a guest")?;
    let newid = req.vmid.map(vmid).transpose()?;
    let target = req.target.as_deref().map(node).transpose()?;
    let (_, g) = find(&app, &caller, &remote, id).await?;
    let client = app.remote(&remote)?.client.clone();
    let state = Arc::clone(&app.state);
    let description = format!("clone {} as {} on remote {remote}", g.label(), req.name);
    let op = app.operations.start(&caller.name, description, async move {
        let (made, upid) = proxctl_ops::lifecycle::clone(
            &client,
            Some(&state),
            &g,
            &req.name,
            newid,
            req.full,
            target,
        )
        .await
        .map_err(Problem::from)?;
        if let Some(u) = &upid {
            wait(&client, u).await?;
        }
        Ok(serde_json::json!({ "vmid": made.get(), "upid": upid.map(|u| u.to_string()) }))
    });
    Ok(super::accepted(&app, op).await)
}

/// Config changes (any left out stay as they are).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    #[schema(minimum = 1, maximum = 8192)]
    pub cores: Option<u32>,
    /// MiB.
    #[schema(minimum = 16, maximum = 4194304)]
    pub memory: Option<u64>,
    pub description: Option<String>,
    pub onboot: Option<bool>,
    /// Keys to remove.
    #[serde(default)]
    pub delete: Vec<String>,
}

#[utoipa::path(patch, path = "/api/v1/remotes/{remote}/guests/{vmid}/config", tag = "lifecycle",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = ConfigChange,
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn set(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, id)): Path<(String, u32)>,
    Body(req): Body<ConfigChange>,
) -> ApiResult<StatusCode> {
    super::in_range("cores", req.cores.map(u64::from), 1, super::MAX_CORES)?;
    super::in_range("memory", req.memory, 16, super::MAX_MEMORY_MIB)?;
    let (_, g) = find(&app, &caller, &remote, id).await?;
    let client = &app.remote(&remote)?.client;
    let changes = proxctl_ops::lifecycle::CommonChanges {
        cores: req.cores,
        memory_mib: req.memory,
        description: req.description,
        onboot: req.onboot,
        delete: req.delete,
    };
    proxctl_ops::audit::acting_as(
        caller.name.clone(),
        proxctl_ops::lifecycle::set(client, &g, changes),
    )
    .await
    .map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A disk to grow.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeRequest {
    /// `scsi0`, `virtio1`, ... (VMs); `rootfs`, `mp0`, ... (containers).
    pub disk: String,
    /// The new size (`40G`) or what to add (`+10G`); disks only grow.
    pub size: String,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/resize", tag = "lifecycle",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = ResizeRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn resize(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, id)): Path<(String, u32)>,
    Body(req): Body<ResizeRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let size: proxctl_types::wire::ResizeTo = req.size.parse().map_err(|_| {
        Problem::bad_request(format!("size '{}' is not a size such as 40G or +10G", req.size))
    })?;
    let (_, g) = find(&app, &caller, &remote, id).await?;
    let client = app.remote(&remote)?.client.clone();
    let description =
        format!("resize {} of {} to {} on remote {remote}", req.disk, g.label(), req.size);
    let op = app.operations.start(&caller.name, description, async move {
        let upid = proxctl_ops::lifecycle::resize(&client, &g, &req.disk, size)
            .await
            .map_err(Problem::from)?;
        if let Some(u) = &upid {
            wait(&client, u).await?;
        }
        Ok(serde_json::json!({ "disk": req.disk, "upid": upid.map(|u| u.to_string()) }))
    });
    Ok(super::accepted(&app, op).await)
}

/// Where to move a guest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateRequest {
    pub target: String,
    /// Live-migrate a running VM (required when it runs).
    #[serde(default)]
    pub online: bool,
    /// Copy local disks along.
    #[serde(default)]
    pub with_local_disks: bool,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/migrate", tag = "lifecycle",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = MigrateRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn migrate(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, id)): Path<(String, u32)>,
    Body(req): Body<MigrateRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let target = node(&req.target)?;
    let (_, g) = find(&app, &caller, &remote, id).await?;
    let client = app.remote(&remote)?.client.clone();
    let description = format!("migrate {} to {target} on remote {remote}", g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let upid =
            proxctl_ops::migrate::migrate(&client, &g, &target, req.online, req.with_local_disks)
                .await
                .map_err(Problem::from)?;
        wait(&client, &upid).await?;
        Ok(serde_json::json!({ "node": target.to_string(), "upid": upid.to_string() }))
    });
    Ok(super::accepted(&app, op).await)
}

/// How to roll back.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Start the guest afterwards.
    #[serde(default)]
    pub start: bool,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/snapshots/{name}/rollback", tag = "lifecycle",
    params(("remote" = String, Path), ("vmid" = u32, Path), ("name" = String, Path)), request_body = RollbackRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, id, name)): Path<(String, u32, String)>,
    Body(req): Body<RollbackRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let name = SnapshotName::new(&name)
        .map_err(|e| Problem::bad_request(format!("snapshot name: {e}")))?;
    let (_, g) = find(&app, &caller, &remote, id).await?;
    let client = app.remote(&remote)?.client.clone();
    let description = format!("roll {} back to {name} on remote {remote}", g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let upid = proxctl_ops::lifecycle::rollback(&client, &g, &name, req.start)
            .await
            .map_err(Problem::from)?;
        wait(&client, &upid).await?;
        Ok(serde_json::json!({ "snapshot": name.to_string(), "upid": upid.to_string() }))
    });
    Ok(super::accepted(&app, op).await)
}
