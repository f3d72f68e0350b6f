//! Backups over HTTP: take one (vzdump), protect it or change its notes, restore it as a new
//! guest, and prune by retention with the plan shown first (`dry_run`) and exactly that plan
//! carried out. A scoped token touches only backups of guests in its scope.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_client::endpoints::storage::VzdumpRequest;
use proxctl_ops::backup::{BackupFilter, PruneRow};
use proxctl_types::prop::PruneBackups;
use proxctl_types::{StorageId, VmId, VolumeId};
use serde::{Deserialize, Serialize};

use super::body::Body;
use super::guests::{find, visible_vmids};
use super::lifecycle::wait;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

pub(super) fn storage(s: Option<&str>) -> ApiResult<Option<StorageId>> {
    s.map(|s| StorageId::new(s).map_err(|e| Problem::bad_request(format!("storage '{s}': {e}"))))
        .transpose()
}

fn volume(v: &str) -> ApiResult<VolumeId> {
    VolumeId::new(v).map_err(|e| Problem::bad_request(format!("volid '{v}': {e}")))
}

/// A backup to take.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCreate {
    /// Default: the node's default backup storage.
    pub storage: Option<String>,
    /// `snapshot` (default), `suspend` or `stop`.
    pub mode: Option<String>,
    /// `zstd` (default), `gzip`, `lzo` or `0`.
    pub compress: Option<String>,
    /// Notes for the backup; `{{guestname}}` and the like as in PVE (needs `storage`).
    pub notes_template: Option<String>,
    /// Protect it from pruning (needs `storage`).
    #[serde(default)]
    pub protected: bool,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/backups", tag = "backups",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = BackupCreate,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Body(req): Body<BackupCreate>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let storage = storage(req.storage.as_deref())?;
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = app.remote(&remote)?.client.clone();
    let dump = VzdumpRequest {
        vmids: vec![g.vmid],
        storage,
        mode: Some(req.mode.unwrap_or_else(|| "snapshot".into())),
        compress: Some(req.compress.unwrap_or_else(|| "zstd".into())),
        notes_template: req.notes_template,
        protected: req.protected,
        ..Default::default()
    };
    let description = format!("back up {} on remote {remote}", g.label());
    let op = app.operations.start(&caller.name, description, async move {
        match proxctl_ops::backup::create(&client, &g.node, &dump).await.map_err(Problem::from)? {
            Some(u) => {
                wait(&client, &u).await?;
                Ok(serde_json::json!({ "upid": u.to_string() }))
            }
            None => Err(Problem::not_found(format!("{} is not on {}", g.label(), g.node))),
        }
    });
    Ok(super::accepted(&app, op).await)
}

/// The backup `volid`, if the caller may touch it.
async fn backup_of(
    app: &App,
    caller: &Caller,
    remote: &crate::Remote,
    volid: &VolumeId,
) -> ApiResult<proxctl_ops::views::BackupRow> {
    let missing = || Problem::not_found(format!("no backup '{volid}' on remote '{}'", remote.name));
    let b = match proxctl_ops::backup::find(&remote.client, volid).await {
        Ok(b) => b,
        Err(proxctl_ops::OpsError::Invalid(_)) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    if caller.scope.is_some() {
        let visible = visible_vmids(app, caller, remote).await.map_err(Problem::from)?;
        if !b.vmid.is_some_and(|v| visible.contains(&v)) {
            return Err(missing());
        }
    }
    Ok(b)
}

/// Changes to one backup.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupUpdate {
    /// The backup's volume ID, e.g. `local:backup/vzdump-qemu-100-2026_01_01-00_00_00.vma.zst`.
    pub volid: String,
    pub protected: Option<bool>,
    pub notes: Option<String>,
}

/// A backup after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupChanged {
    pub volid: String,
    pub protected: Option<bool>,
    pub notes: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/remotes/{remote}/backups", tag = "backups",
    params(("remote" = String, Path)), request_body = BackupUpdate,
    responses((status = 200, body = BackupChanged), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn update(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<BackupUpdate>,
) -> ApiResult<Json<BackupChanged>> {
    if req.protected.is_none() && req.notes.is_none() {
        return Err(Problem::bad_request("nothing to change: give protected or notes"));
    }
    let volid = volume(&req.volid)?;
    let r = app.remote(&remote)?;
    backup_of(&app, &caller, &r, &volid).await?;
    let change = async {
        if let Some(p) = req.protected {
            proxctl_ops::backup::set_protected(&r.client, &volid, p).await?;
        }
        if let Some(n) = &req.notes {
            proxctl_ops::backup::set_notes(&r.client, &volid, n).await?;
        }
        Ok::<_, proxctl_ops::OpsError>(())
    };
    proxctl_ops::audit::acting_as(caller.name.clone(), change).await.map_err(Problem::from)?;
    Ok(Json(BackupChanged { volid: req.volid, protected: req.protected, notes: req.notes }))
}

/// A backup to restore as a new guest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    pub volid: String,
    /// Default: the next free VMID; a restore never overwrites a guest.
    #[schema(minimum = 100, maximum = 999_999_999)]
    pub vmid: Option<u32>,
    /// Storage for the restored disks (default: as in the backup).
    pub storage: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/backups/restore", tag = "backups",
    params(("remote" = String, Path)), request_body = RestoreRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn restore(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<RestoreRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("restoring a backup as a new guest")?;
    let volid = volume(&req.volid)?;
    let vmid = req
        .vmid
        .map(|v| VmId::new(v).map_err(|e| Problem::bad_request(format!("vmid: {e}"))))
        .transpose()?;
    let target = storage(req.storage.as_deref())?;
    let r = app.remote(&remote)?;
    backup_of(&app, &caller, &r, &volid).await?;
    let client = r.client.clone();
    let description = format!("restore {volid} on remote {remote}");
    let op = app.operations.start(&caller.name, description, async move {
        let (made, upid) = proxctl_ops::backup::restore(&client, &volid, vmid, target.as_ref())
            .await
            .map_err(Problem::from)?;
        wait(&client, &upid).await?;
        Ok(serde_json::json!({ "vmid": made.get(), "upid": upid.to_string() }))
    });
    Ok(super::accepted(&app, op).await)
}

/// Retention to apply, as PVE's `prune-backups`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Only this guest's backups.
    pub vmid: Option<u32>,
    /// Only backups on this storage.
    pub storage: Option<String>,
    #[schema(maximum = 1000000)]
    pub keep_last: Option<u32>,
    #[schema(maximum = 1000000)]
    pub keep_hourly: Option<u32>,
    #[schema(maximum = 1000000)]
    pub keep_daily: Option<u32>,
    #[schema(maximum = 1000000)]
    pub keep_weekly: Option<u32>,
    #[schema(maximum = 1000000)]
    pub keep_monthly: Option<u32>,
    #[schema(maximum = 1000000)]
    pub keep_yearly: Option<u32>,
    /// Only show the plan (the default); `false` carries it out as an operation.
    #[serde(default = "yes")]
    pub dry_run: bool,
}

/// The most of any `keep_*` (as documented).
const MAX_KEEP: u64 = 1_000_000;

fn yes() -> bool {
    true
}

/// A prune plan, or what carrying it out did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrunePlan {
    pub rows: Vec<PruneRow>,
    /// How many backups it removes.
    pub remove: usize,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/backups/prune", tag = "backups",
    params(("remote" = String, Path)), request_body = PruneRequest,
    responses((status = 200, body = PrunePlan, description = "the plan (dry run)"),
        (status = 202, body = Operation, description = "carrying the plan out"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn prune(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
    Body(req): Body<PruneRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    for (what, v) in [
        ("keep_last", req.keep_last),
        ("keep_hourly", req.keep_hourly),
        ("keep_daily", req.keep_daily),
        ("keep_weekly", req.keep_weekly),
        ("keep_monthly", req.keep_monthly),
        ("keep_yearly", req.keep_yearly),
    ] {
        super::in_range(what, v.map(u64::from), 0, MAX_KEEP)?;
    }
    let r = app.remote(&remote)?;
    let filter = BackupFilter {
        vmid: req
            .vmid
            .map(|v| VmId::new(v).map_err(|e| Problem::bad_request(format!("vmid: {e}"))))
            .transpose()?,
        node: None,
        storage: storage(req.storage.as_deref())?,
    };
    let keep = PruneBackups {
        keep_last: req.keep_last,
        keep_hourly: req.keep_hourly,
        keep_daily: req.keep_daily,
        keep_weekly: req.keep_weekly,
        keep_monthly: req.keep_monthly,
        keep_yearly: req.keep_yearly,
        ..PruneBackups::default()
    };
    let mut rows =
        proxctl_ops::backup::prune_plan(&r.client, &filter, &keep).await.map_err(Problem::from)?;
    if caller.scope.is_some() {
        let visible: BTreeSet<u32> =
            visible_vmids(&app, &caller, &r).await.map_err(Problem::from)?;
        rows.retain(|b| b.vmid.is_some_and(|v| visible.contains(&v)));
    }
    let remove = rows.iter().filter(|b| b.mark == proxctl_ops::backup::Mark::Remove).count();
    if req.dry_run {
        return Ok(Json(PrunePlan { rows, remove }).into_response());
    }
    let client = r.client.clone();
    let description = format!("prune {remove} backup(s) on remote {remote}");
    let op = app.operations.start(&caller.name, description, async move {
        let done = proxctl_ops::backup::prune_execute(&client, rows).await;
        let failed = done
            .iter()
            .filter(|b| b.mark == proxctl_ops::backup::Mark::Remove && b.result != "deleted")
            .count();
        let v = serde_json::to_value(PrunePlan { rows: done, remove }).unwrap_or_default();
        if failed > 0 {
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "proxmox",
                format!("{failed} of {remove} backup(s) could not be removed: {v}"),
            ));
        }
        Ok(v)
    });
    Ok(super::accepted(&app, op).await.into_response())
}

/// Which guests' coverage, measured against what.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// The remote (default: the default remote).
    pub remote: Option<String>,
    /// Only guests this `-l` selector picks (default all).
    pub selector: Option<String>,
    /// The oldest a guest's newest backup may be (default `26h`).
    pub max_age: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/backup-coverage", tag = "backups", params(CoverageQuery),
    responses((status = 200, body = [proxctl_ops::coverage::CoverageRow]), (status = 400, body = Problem),
        (status = 404, body = Problem)))]
pub async fn coverage(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<CoverageQuery>,
) -> ApiResult<Json<Vec<proxctl_ops::coverage::CoverageRow>>> {
    let remote = q.remote.unwrap_or_else(|| app.default_remote.clone());
    let client = app.remote(&remote)?.client;
    let sel: proxctl_types::selector::Selector = q
        .selector
        .as_deref()
        .unwrap_or("all")
        .parse()
        .map_err(|e| Problem::bad_request(format!("selector: {e}")))?;
    let max_age = proxctl_ops::snapshot::parse_ttl(
        q.max_age.as_deref().unwrap_or(proxctl_ops::coverage::DEFAULT_MAX_AGE),
    )
    .map_err(|e| Problem::bad_request(format!("max_age: {e}")))?;
    let jobs = proxctl_ops::jobs::list(&app.state).await.map_err(Problem::from)?;
    let now = jiff::Timestamp::now().as_second();
    let rows = proxctl_ops::coverage::coverage(&client, &jobs, &caller.within(sel), max_age, now)
        .await
        .map_err(Problem::from)?;
    Ok(Json(rows))
}
