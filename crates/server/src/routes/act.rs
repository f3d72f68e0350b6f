//! Changing one guest: snapshots (with a TTL the sweeper enforces), tags, and deleting it;
//! and sweeping expired snapshots across a remote.
//! Long work answers 202 with an operation run as the token; every call is audited under its
//! name and checked by safe mode, as in the CLI. The guest must be in the token's scope.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_types::SnapshotName;
use serde::{Deserialize, Serialize};

use super::body::Body;
use super::guests::find;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// A snapshot to take.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCreate {
    pub name: String,
    /// Delete it after this long (`30m`, `4h`, `2d`, `1w`); the leader's sweeper does.
    pub ttl: Option<String>,
    pub description: Option<String>,
    /// Include the RAM state (VMs).
    #[serde(default)]
    pub ram: bool,
}

fn snapshot_name(name: &str) -> ApiResult<SnapshotName> {
    SnapshotName::new(name).map_err(|e| Problem::bad_request(format!("snapshot name: {e}")))
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/guests/{vmid}/snapshots", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = SnapshotCreate,
    responses((status = 202, body = Operation), (status = 404, body = Problem)))]
pub async fn snapshot_create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Body(req): Body<SnapshotCreate>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let name = snapshot_name(&req.name)?;
    let ttl = match req.ttl.as_deref() {
        Some(t) => Some(proxctl_ops::snapshot::parse_ttl(t).map_err(Problem::from)?),
        None => None,
    };
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = app.remote(&remote)?.client.clone();
    let state = Arc::clone(&app.state);
    let description = format!("snapshot {} of {} on remote {remote}", name, g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let upid = proxctl_ops::snapshot::create(
            &client,
            Some(&state),
            &g,
            &name,
            req.description.as_deref(),
            ttl,
            req.ram,
        )
        .await
        .map_err(Problem::from)?;
        client
            .wait_task(&upid, &proxctl_client::WaitOptions::default())
            .await
            .map_err(Problem::from)?;
        Ok(serde_json::json!({ "snapshot": name.to_string(), "upid": upid.to_string() }))
    });
    Ok(super::accepted(&app, op).await)
}

#[utoipa::path(delete, path = "/api/v1/remotes/{remote}/guests/{vmid}/snapshots/{name}", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path), ("name" = String, Path)),
    responses((status = 202, body = Operation), (status = 404, body = Problem)))]
pub async fn snapshot_delete(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid, name)): Path<(String, u32, String)>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let name = snapshot_name(&name)?;
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = app.remote(&remote)?.client.clone();
    let state = Arc::clone(&app.state);
    let description = format!("delete snapshot {name} of {} on remote {remote}", g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let gone = proxctl_ops::snapshot::delete_matching(&client, Some(&state), &g, name.as_str())
            .await
            .map_err(Problem::from)?;
        if gone.is_empty() {
            return Err(Problem::not_found(format!("{} has no snapshot '{name}'", g.label())));
        }
        Ok(serde_json::json!({ "deleted": gone }))
    });
    Ok(super::accepted(&app, op).await)
}

/// A guest's tags, replacing the ones it has.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    pub tags: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/remotes/{remote}/guests/{vmid}/tags", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)), request_body = Tags,
    responses((status = 200, body = Tags), (status = 404, body = Problem)))]
pub async fn tags(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Body(req): Body<Tags>,
) -> ApiResult<Json<Tags>> {
    proxctl_ops::tags::validate(&req.tags).map_err(Problem::from)?;
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    proxctl_ops::audit::acting_as(
        caller.name.clone(),
        proxctl_ops::tags::write(client, &g, req.tags.clone()),
    )
    .await
    .map_err(Problem::from)?;
    Ok(Json(req))
}

/// How to delete a guest.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also remove it from backup jobs, replication and HA.
    #[serde(default)]
    pub purge: bool,
}

#[utoipa::path(delete, path = "/api/v1/remotes/{remote}/guests/{vmid}", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path), DeleteQuery),
    responses((status = 202, body = Operation), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = app.remote(&remote)?.client.clone();
    // A running guest is stopped first, as in the CLI; the DELETE is the confirmation.
    let description = format!("delete {} on remote {remote}", g.label());
    let op = app.operations.start(&caller.name, description, async move {
        let d = proxctl_ops::guest::destroy(&client, &g, q.purge).await.map_err(Problem::from)?;
        Ok(serde_json::json!({ "deleted": g.vmid.get(), "stopped_first": d.stopped, "seed_deleted": d.seed }))
    });
    Ok(super::accepted(&app, op).await)
}

/// Which expired snapshots to delete.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Default: the default remote.
    pub remote: Option<String>,
    /// The CLI's `-l` language (default `all`), narrowed to the token's scope.
    pub selector: Option<String>,
    /// Only report what would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(post, path = "/api/v1/snapshots/sweep", tag = "guests", request_body = SweepRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn sweep(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<SweepRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    let selector: proxctl_types::selector::Selector = req
        .selector
        .as_deref()
        .unwrap_or("all")
        .parse()
        .map_err(|e| Problem::bad_request(format!("selector: {e}")))?;
    let selector = caller.within(selector);
    let remote = req.remote.unwrap_or_else(|| app.default_remote.clone());
    let client = app.remote(&remote)?.client.clone();
    let state = Arc::clone(&app.state);
    let description = format!("sweep expired snapshots on remote {remote}");
    let op = app.operations.start(&caller.name, description, async move {
        let now = proxctl_ops::snapshot::now_unix();
        let removed =
            proxctl_ops::snapshot::sweep(&client, Some(&state), &selector, now, req.dry_run)
                .await
                .map_err(Problem::from)?;
        Ok(serde_json::to_value(removed).unwrap_or_default())
    });
    Ok(super::accepted(&app, op).await)
}
