//! Looking closely at one guest: its description in sections (as `proxctl describe` shows it:
//! hardware, disks, NICs with the agent's addresses, cloud-init, snapshots with TTLs, backups,
//! recent tasks, ownership) and its use over time from PVE's `rrddata`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use proxctl_client::endpoints::rrd::Timeframe;
use serde::Deserialize;

use super::guests::find;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/guests/{vmid}/describe", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)),
    responses((status = 200, description = "`sections`: each a `title` and `lines` of [label, value]", body = Object),
        (status = 404, body = Problem)))]
pub async fn describe(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
) -> ApiResult<Json<proxctl_ops::describe::Description>> {
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    Ok(Json(proxctl_ops::describe::guest(client, &g).await.map_err(Problem::from)?))
}

/// How far back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RrdQuery {
    /// hour (default), day, week, month or year.
    pub timeframe: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/guests/{vmid}/rrddata", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path), RrdQuery),
    responses((status = 200, description = "PVE's samples, oldest first: `time`, `cpu`, `mem`, `maxmem`, `netin`, `netout`, `diskread`, `diskwrite`", body = [Object]),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn rrddata(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
    Query(q): Query<RrdQuery>,
) -> ApiResult<Json<Vec<serde_json::Map<String, serde_json::Value>>>> {
    let timeframe: Timeframe =
        q.timeframe.as_deref().unwrap_or("hour").parse().map_err(Problem::bad_request)?;
    let (_, g) = find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    let rows =
        client.guest_rrddata(g.kind, &g.node, g.vmid, timeframe).await.map_err(Problem::from)?;
    Ok(Json(rows))
}

/// Whether a guest is managed by a manifest, and how it differs from it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Desired {
    /// A manifest applied by proxctl manages the guest (and its spec was kept).
    pub managed: bool,
    /// `key`, `applied_at`, `in_sync`, `action` and `change` (with `diffs`: `field`, `from`
    /// the guest's value now, `to` the manifest's, `reboot`).
    #[schema(value_type = Option<Object>)]
    pub difference: Option<proxctl_engine::applied::Difference>,
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/guests/{vmid}/desired", tag = "guests",
    params(("remote" = String, Path), ("vmid" = u32, Path)),
    responses((status = 200, body = Desired), (status = 404, body = Problem)))]
pub async fn desired(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, vmid)): Path<(String, u32)>,
) -> ApiResult<Json<Desired>> {
    find(&app, &caller, &remote, vmid).await?;
    let client = &app.remote(&remote)?.client;
    let store = app.state.get().await.map_err(Problem::from)?;
    let difference = proxctl_engine::applied::difference(client, store.as_ref(), vmid)
        .await
        .map_err(super::declare::engine_problem)?;
    Ok(Json(Desired { managed: difference.is_some(), difference }))
}
