//! Change sets that MCP clients proposed, for people: list them, read one, approve or reject
//! it (what the dashboard and scripts use; `proxctl mcp approve` does the same from a shell).
//! A token cannot approve what it proposed itself.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_mcp::ToolError;
use proxctl_mcp::changes::{self, Decider};
use serde::Deserialize;

use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

fn problem(e: ToolError) -> Problem {
    match e {
        ToolError::NotFound(m) => Problem::not_found(m),
        ToolError::Refused(m) => Problem::new(StatusCode::CONFLICT, "conflict", m),
        other => Problem::internal(other.to_string()),
    }
}

/// How many.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/mcp/changes", tag = "mcp", params(ListQuery),
    responses((status = 200, description = "Change sets, newest first", body = [Object]),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    caller.unscoped("reading change sets")?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be 1 to 1000, not {limit}")));
    }
    let list = changes::list(&app.state, limit).await.map_err(problem)?;
    Ok(Json(list.iter().map(changes::ChangeSet::summary).collect()))
}

#[utoipa::path(post, path = "/api/v1/mcp/changes/{id}/approve", tag = "mcp",
    params(("id" = String, Path)),
    responses((status = 200, description = "Approved", body = Object), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.unscoped("approving change sets")?;
    let by = Decider { name: &caller.name, token: Some(&caller.name) };
    let c = changes::approve(&app.state, &id, by).await.map_err(problem)?;
    Ok(Json(c.summary()))
}

#[utoipa::path(post, path = "/api/v1/mcp/changes/{id}/reject", tag = "mcp",
    params(("id" = String, Path)),
    responses((status = 200, description = "Rejected", body = Object), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reject(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.unscoped("rejecting change sets")?;
    let by = Decider { name: &caller.name, token: Some(&caller.name) };
    let c = changes::reject(&app.state, &id, by).await.map_err(problem)?;
    Ok(Json(c.summary()))
}
