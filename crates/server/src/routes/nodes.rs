//! Nodes over HTTP: drain one for maintenance (move `maint-ok` guests, shut down the rest,
//! tag all for undrain), undrain it, and `doctor`, which checks a remote as the CLI's does.
//! They span whole nodes, so scoped tokens are refused.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_ops::bulk::{ItemReport, Outcome};
use proxctl_types::NodeName;
use serde::Deserialize;

use super::body::Body;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

fn node(name: &str) -> ApiResult<NodeName> {
    NodeName::new(name).map_err(|e| Problem::bad_request(format!("node '{name}': {e}")))
}

/// How to drain.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Where `maint-ok` guests go (default: the online node with the most free memory).
    pub target: Option<String>,
    /// Also shut down `always-on` guests that cannot move.
    #[serde(default)]
    pub force: bool,
    /// Only report what would happen.
    #[serde(default)]
    pub dry_run: bool,
}

/// The operation's result: one row per guest; failures fail the operation.
fn reported(report: Vec<ItemReport>) -> Result<serde_json::Value, Problem> {
    let failed = report.iter().filter(|r| r.outcome == Outcome::Failed).count();
    let v = serde_json::to_value(&report).unwrap_or_default();
    if failed > 0 {
        return Err(Problem::new(
            StatusCode::BAD_GATEWAY,
            "proxmox",
            format!("{failed} of {} guest(s) failed: {v}", report.len()),
        ));
    }
    Ok(v)
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/nodes/{node}/drain", tag = "cluster",
    params(("remote" = String, Path), ("node" = String, Path)), request_body = DrainRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn drain(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, name)): Path<(String, String)>,
    Body(req): Body<DrainRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("draining a node")?;
    let from = node(&name)?;
    let target = req.target.as_deref().map(node).transpose()?;
    let client = app.remote(&remote)?.client.clone();
    let description = format!("drain {from} on remote {remote}");
    let op = app.operations.start(&caller.name, description, async move {
        let target = match target {
            Some(t) => t,
            None => proxctl_ops::migrate::pick_drain_target(&client, &from)
                .await
                .map_err(Problem::from)?,
        };
        let report = proxctl_ops::migrate::drain(&client, &from, &target, req.force, req.dry_run)
            .await
            .map_err(Problem::from)?;
        reported(report)
    });
    Ok(super::accepted(&app, op).await)
}

/// How to undrain.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndrainRequest {
    /// Only report what would happen.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(post, path = "/api/v1/remotes/{remote}/nodes/{node}/undrain", tag = "cluster",
    params(("remote" = String, Path), ("node" = String, Path)), request_body = UndrainRequest,
    responses((status = 202, body = Operation), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn undrain(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((remote, name)): Path<(String, String)>,
    Body(req): Body<UndrainRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("undraining a node")?;
    let to = node(&name)?;
    let client = app.remote(&remote)?.client.clone();
    let description = format!("undrain {to} on remote {remote}");
    let op = app.operations.start(&caller.name, description, async move {
        let report = proxctl_ops::migrate::undrain(&client, &to, req.dry_run)
            .await
            .map_err(Problem::from)?;
        reported(report)
    });
    Ok(super::accepted(&app, op).await)
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/doctor", tag = "cluster",
    params(("remote" = String, Path)),
    responses((status = 200, body = [proxctl_ops::doctor::Check]), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn doctor(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(remote): Path<String>,
) -> ApiResult<Json<Vec<proxctl_ops::doctor::Check>>> {
    caller.unscoped("checking a whole remote")?;
    let client = &app.remote(&remote)?.client;
    Ok(Json(proxctl_ops::doctor::run(client).await))
}
