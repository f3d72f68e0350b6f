//! The server about itself: liveness and readiness probes, the OpenAPI document and its
//! reference page, and the operations it runs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller, Role};

#[utoipa::path(get, path = "/healthz", tag = "meta", security(()),
    responses((status = 200, description = "The server is alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// What readiness depends on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// This instance does the singleton work (snapshot sweeps) for all sharing its store.
    pub leader: bool,
    /// The state store answers.
    pub state: Check,
    /// Each remote answers.
    pub remotes: Vec<RemoteCheck>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub ok: bool,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemoteCheck {
    pub remote: String,
    pub ok: bool,
    pub detail: Option<String>,
}

#[utoipa::path(get, path = "/readyz", tag = "meta", security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let state = match app.state.get().await {
        Ok(s) => match s.tokens().await {
            Ok(_) => Check { ok: true, detail: None },
            Err(e) => Check { ok: false, detail: Some(e.to_string()) },
        },
        Err(e) => Check { ok: false, detail: Some(e.to_string()) },
    };
    let checks = futures_util::future::join_all(app.remotes.values().map(|r| async move {
        match r.client.version().await {
            Ok(_) => RemoteCheck { remote: r.name.clone(), ok: true, detail: None },
            Err(e) => {
                RemoteCheck { remote: r.name.clone(), ok: false, detail: Some(e.to_string()) }
            }
        }
    }))
    .await;
    let ready = state.ok && checks.iter().all(|c| c.ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let leader = app.leadership.is_leader();
    (status, Json(Readiness { ready, leader, state, remotes: checks })).into_response()
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 document"), (status = 401, body = Problem)))]
pub async fn openapi_json() -> Response {
    let doc = crate::openapi::document();
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

#[utoipa::path(get, path = "/api/v1/docs", tag = "meta",
    responses((status = 200, description = "A browsable reference of this API", content_type = "text/html"),
        (status = 401, body = Problem)))]
pub async fn reference_page() -> Html<&'static str> {
    Html(include_str!("../../assets/reference.html"))
}

/// Operations an admin sees all of; others see their own.
fn visible(caller: &Caller, op: &Operation) -> bool {
    caller.role == Role::Admin || op.actor == caller.name
}

#[utoipa::path(get, path = "/api/v1/operations", tag = "operations",
    responses((status = 200, body = [Operation]), (status = 401, body = Problem)))]
pub async fn operations(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<Operation>> {
    Json(app.operations.list().into_iter().filter(|o| visible(&caller, o)).collect())
}

#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path)),
    responses((status = 200, body = Operation), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn operation(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Operation>> {
    app.operations
        .get(&id)
        .filter(|o| visible(&caller, o))
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no operation '{id}'")))
}
