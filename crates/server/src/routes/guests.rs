//! Guests (VMs and containers) across remotes, identified by remote and VMID: the list (with
//! the CLI's `-l` selector language and paging), one guest's detail, and power actions as
//! operations. A scoped token sees only the guests its scope selects: lists are filtered,
//! and a guest outside the scope answers 404 as if it did not exist.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_client::PowerAction;
use proxctl_ops::GuestRef;
use proxctl_ops::views::GuestRow;
use proxctl_types::VmId;
use proxctl_types::messages::GuestKind;
use proxctl_types::selector::{Selector, Subject};
use serde::{Deserialize, Serialize};

use super::body::Body;
use super::cluster::{Unavailable, gather};
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// A guest, with the remote it is on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Guest {
    pub remote: String,
    #[serde(flatten)]
    pub guest: GuestRow,
}

impl Guest {
    fn subject(&self) -> Subject<'_> {
        Subject {
            vmid: self.guest.vmid,
            name: &self.guest.name,
            node: &self.guest.node,
            pool: self.guest.pool.as_deref(),
            tags: &self.guest.tags,
        }
    }
}

/// One page of guests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GuestList {
    pub items: Vec<Guest>,
    /// How many matched, over all pages.
    pub total: usize,
    pub offset: usize,
    pub unavailable: Vec<Unavailable>,
}

/// A kind of guest, as PVE names it.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    Qemu,
    Lxc,
}

impl GuestType {
    fn as_str(self) -> &'static str {
        match self {
            GuestType::Qemu => "qemu",
            GuestType::Lxc => "lxc",
        }
    }
}

/// Which guests.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GuestQuery {
    pub remote: Option<String>,
    /// The CLI's `-l` language, e.g. `web,node:pve1` or `name:db-*`.
    pub selector: Option<String>,
    /// Only VMs (`qemu`) or only containers (`lxc`).
    #[serde(rename = "type")]
    #[param(inline)]
    pub kind: Option<GuestType>,
    #[serde(default)]
    pub offset: usize,
    /// At most this many (default 500, at most 5000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<usize>,
}

const DEFAULT_PAGE: usize = 500;
const MAX_PAGE: usize = 5000;

#[utoipa::path(get, path = "/api/v1/guests", tag = "guests", params(GuestQuery),
    responses((status = 200, body = GuestList), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<GuestQuery>,
) -> ApiResult<Json<GuestList>> {
    let selector = match q.selector.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(
            s.parse::<Selector>().map_err(|e| Problem::bad_request(format!("selector: {e}")))?,
        ),
        None => None,
    };
    let kind = q.kind.map(GuestType::as_str);
    let (all, unavailable) = gather(
        &app,
        q.remote.as_deref().filter(|r| !r.is_empty()),
        |r| {
            let app = Arc::clone(&app);
            async move {
                let rows = app.guests.guests(&r).await?;
                Ok(rows
                    .iter()
                    .filter(|g| kind.is_none_or(|k| g.kind == k))
                    .cloned()
                    .collect::<Vec<_>>())
            }
        },
        |remote, guest| Guest { remote, guest },
    )
    .await?;
    let matching: Vec<Guest> = all
        .into_iter()
        .filter(|g| caller.sees(&g.subject()))
        .filter(|g| selector.as_ref().is_none_or(|s| s.matches(&g.subject())))
        .collect();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be 1 to {MAX_PAGE}, not {limit}")));
    }
    let total = matching.len();
    let items = matching.into_iter().skip(q.offset).take(limit).collect();
    Ok(Json(GuestList { items, total, offset: q.offset, unavailable }))
}

/// The VMIDs of a remote's guests the caller may see.
pub(super) async fn visible_vmids(
    app: &App,
    caller: &Caller,
    remote: &crate::Remote,
) -> Result<std::collections::BTreeSet<u32>, proxctl_ops::OpsError> {
    let rows = app.guests.guests(remote).await?;
    Ok(rows
        .iter()
        .filter(|g| {
            caller.sees(&Subject {
                vmid: g.vmid,
                name: &g.name,
                node: &g.node,
                pool: g.pool.as_deref(),
                tags: &g.tags,
            })
        })
        .map(|g| g.vmid)
        .collect())
}

/// Find a guest by remote and VMID, within the caller's scope.
pub(super) async fn find(
    app: &App,
    caller: &Caller,
    remote: &str,
    vmid: u32,
) -> ApiResult<(Guest, GuestRef)> {
    let r = app.remote(remote)?;
    let missing = || Problem::not_found(format!("no guest {vmid} on remote '{remote}'"));
    let id = VmId::new(vmid).map_err(|_| missing())?;
    let rows = app.guests.guests(&r).await.map_err(Problem::from)?;
    let row = rows.iter().find(|g| g.vmid == vmid).cloned().ok_or_else(missing)?;
    let guest = Guest { remote: remote.to_string(), guest: row };
    if !caller.sees(&guest.subject()) {
        return Err(missing());
    }
    let kind = if guest.guest.kind == "lxc" { GuestKind::Lxc } else { GuestKind::Qemu };
    let node = proxctl_types::NodeName::new(guest.guest.node.as_str())
        .map_err(|e| Problem::internal(format!("node name from PVE: {e}")))?;
    let g = GuestRef { vmid: id, node, kind, name: Some(guest.guest.name.clone()) };
    Ok((guest, g))
}

/// A guest and its configuration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GuestDetail {
    #[serde(flatten)]
    pub guest: Guest,
    /// The configuration as PVE returns it.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/guests/{vmid}", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)),
    responses((status = 200, body = GuestDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn detail(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
) -> ApiResult<Json<GuestDetail>> {
    let (guest, g) = find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    let config = match g.kind {
        GuestKind::Qemu => client.qemu_config(&g.node, g.vmid).await,
        GuestKind::Lxc => client.lxc_config(&g.node, g.vmid).await,
    }
    .map_err(Problem::from)?;
    let config = serde_json::to_value(config).unwrap_or_default();
    Ok(Json(GuestDetail { guest, config }))
}

/// A power action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    /// start, stop, shutdown, reboot, reset, suspend or resume.
    pub action: String,
    /// Seconds PVE waits before giving up (start, stop, shutdown, reboot).
    #[serde(default, deserialize_with = "crate::routes::whole_number")]
    #[schema(minimum = 0, maximum = 86400)]
    pub timeout: Option<u32>,
}

/// The longest `timeout` a power action takes, in seconds.
const MAX_TIMEOUT: u32 = 86_400;

fn power_action(r: &PowerRequest) -> ApiResult<PowerAction> {
    let t = r.timeout;
    if let Some(t) = t.filter(|t| *t > MAX_TIMEOUT) {
        return Err(Problem::bad_request(format!(
            "timeout must be at most {MAX_TIMEOUT} seconds, not {t}"
        )));
    }
    Ok(match r.action.as_str() {
        "start" => PowerAction::Start { timeout: t },
        "stop" => PowerAction::Stop { timeout: t },
        "shutdown" => PowerAction::Shutdown { timeout: t, force_stop: false },
        "reboot" => PowerAction::Reboot { timeout: t },
        "reset" => PowerAction::Reset,
        "suspend" => PowerAction::Suspend { todisk: false },
        "resume" => PowerAction::Resume,
        other => {
            return Err(Problem::bad_request(format!(
                "action must be start, stop, shutdown, reboot, reset, suspend or resume, not '{other}'"
            )));
        }
    })
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/power", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = PowerRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn power(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Body(req): Body<PowerRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let action = power_action(&req)?;
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = app.remote(&remote)?.client.clone();
    let description = format!("{} {} on remote {remote}", action.verb(), g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let upid = proxctl_ops::guest::power(&client, &g, &action).await.map_err(Problem::from)?;
        client
            .wait_task(&upid, &proxctl_client::WaitOptions::default())
            .await
            .map_err(Problem::from)?;
        Ok(serde_json::json!({ "upid": upid.to_string() }))
    });
    Ok(super::accepted(&app, op).await)
}

/// One action on every guest a selector picks.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The CLI's `-l` language; only guests in the token's scope are acted on.
    pub selector: String,
    /// start, stop, shutdown, reboot, snapshot (with `snapshot`), backup or tag (with
    /// `add`/`remove`).
    /// Guests tagged `always-on` are never stopped.
    pub action: String,
    /// The snapshot's name, for `snapshot`.
    pub snapshot: Option<String>,
    /// For `snapshot`: delete the snapshots after this long (`30m`, `4h`, `2d`, `1w`).
    pub ttl: Option<String>,
    /// For `backup`: the storage to back up to (default: PVE's choice for each node).
    pub storage: Option<String>,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    /// Guests worked on at once (default 4).
    #[schema(minimum = 1, maximum = 64)]
    pub parallel: Option<u8>,
    /// The remote (default: the default remote).
    pub remote: Option<String>,
}

fn bulk_action(r: &BulkRequest) -> ApiResult<proxctl_ops::bulk::BulkAction> {
    use proxctl_ops::bulk::BulkAction;
    Ok(match r.action.as_str() {
        "start" => BulkAction::Start,
        "stop" => BulkAction::Stop,
        "shutdown" => BulkAction::Shutdown,
        "reboot" => BulkAction::Reboot,
        "snapshot" => {
            let name = r
                .snapshot
                .as_deref()
                .ok_or_else(|| Problem::bad_request("snapshot needs `snapshot`: the name"))?;
            let expires = match r.ttl.as_deref() {
                Some(t) => Some(
                    proxctl_ops::snapshot::now_unix()
                        + proxctl_ops::snapshot::parse_ttl(t).map_err(Problem::from)?,
                ),
                None => None,
            };
            BulkAction::Snapshot {
                name: name.parse().map_err(|e| Problem::bad_request(format!("snapshot: {e}")))?,
                expires,
            }
        }
        "tag" => BulkAction::Tag { add: r.add.clone(), remove: r.remove.clone() },
        "backup" => BulkAction::Backup(super::backups::storage(r.storage.as_deref())?),
        other => {
            return Err(Problem::bad_request(format!(
                "action must be start, stop, shutdown, reboot, snapshot, backup or tag, not '{other}'"
            )));
        }
    })
}

#[utoipa::path(post, path = "/api/v1/bulk", tag = "guests", request_body = BulkRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem)))]
pub async fn bulk(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<BulkRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let action = bulk_action(&req)?;
    let parallel = usize::from(req.parallel.unwrap_or(4));
    if !(1..=64).contains(&parallel) {
        return Err(Problem::bad_request("parallel must be 1 to 64"));
    }
    let selector: Selector =
        req.selector.parse().map_err(|e| Problem::bad_request(format!("selector: {e}")))?;
    let remote =
        req.remote.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| app.default_remote.clone());
    let client = app.remote(&remote)?.client.clone();
    let targets: Vec<GuestRow> = proxctl_ops::bulk::targets(&client, &selector)
        .await
        .map_err(Problem::from)?
        .into_iter()
        .filter(|g| {
            caller.sees(&Subject {
                vmid: g.vmid,
                name: &g.name,
                node: &g.node,
                pool: g.pool.as_deref(),
                tags: &g.tags,
            })
        })
        .collect();
    let description = format!(
        "{} {} guest(s) matching '{}' on remote {remote}",
        action.verb(),
        targets.len(),
        req.selector
    );
    let state = Arc::clone(&app.state);
    let op = app.operations.start_pinned(&caller.name, description, move || async move {
        let report = proxctl_ops::bulk::run_recorded(
            &client,
            Some(&state),
            &targets,
            &action,
            parallel,
            false,
        )
        .await;
        let failed =
            report.iter().filter(|r| r.outcome == proxctl_ops::bulk::Outcome::Failed).count();
        let v = serde_json::to_value(&report).unwrap_or_default();
        if failed > 0 {
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "proxmox",
                format!("{failed} of {} guest(s) failed: {v}", report.len()),
            ));
        }
        Ok(v)
    });
    Ok(super::accepted(&app, op).await)
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/guests/{vmid}/snapshots", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)),
    responses((status = 200, body = [proxctl_ops::views::SnapshotRow]), (status = 404, body = Problem)))]
pub async fn snapshots(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
) -> ApiResult<Json<Vec<proxctl_ops::views::SnapshotRow>>> {
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    Ok(Json(proxctl_ops::views::snapshots(client, &g).await.map_err(Problem::from)?))
}

/// A backup, with the remote it is on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Backup {
    pub remote: String,
    #[serde(flatten)]
    pub backup: proxctl_ops::views::BackupRow,
}

#[utoipa::path(get, path = "/api/v1/backups", tag = "guests", params(super::cluster::RemoteQuery),
    responses((status = 200, body = [Backup]), (status = 404, body = Problem)))]
pub async fn backups(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<super::cluster::RemoteQuery>,
) -> ApiResult<Json<Vec<Backup>>> {
    let (items, _) = gather(
        &app,
        q.remote.as_deref(),
        |r| {
            let (app, caller) = (Arc::clone(&app), caller.clone());
            async move {
                let all = proxctl_ops::views::backups(&r.client).await?;
                if caller.scope.is_none() {
                    return Ok(all);
                }
                // Backups of guests outside the scope (or of guests gone) stay hidden.
                let visible = visible_vmids(&app, &caller, &r).await?;
                Ok(all
                    .into_iter()
                    .filter(|b| b.vmid.is_some_and(|v| visible.contains(&v)))
                    .collect())
            }
        },
        |remote, backup| Backup { remote, backup },
    )
    .await?;
    Ok(Json(items))
}
