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
    pub state: StoreCheck,
    /// Each remote answers.
    pub remotes: Vec<RemoteCheck>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreCheck {
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
            Ok(_) => StoreCheck { ok: true, detail: None },
            Err(e) => StoreCheck { ok: false, detail: Some(e.to_string()) },
        },
        Err(e) => StoreCheck { ok: false, detail: Some(e.to_string()) },
    };
    let remotes = app.remotes();
    let checks = futures_util::future::join_all(remotes.iter().map(|r| async move {
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
    Json(app.operations.list().await.into_iter().filter(|o| visible(&caller, o)).collect())
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
        .await
        .filter(|o| visible(&caller, o))
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no operation '{id}'")))
}

/// Which audit rows.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only rows of this actor (a token's name, or a CLI user).
    pub actor: Option<String>,
    /// Only rows about this target, e.g. `qemu/100`.
    pub target: Option<String>,
    /// The newest this many (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub last: Option<usize>,
}

/// One row of the audit log, hash-chained to the one before.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub profile: String,
    pub target: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `sending` before a call goes, then `ok`, the error, or `refused: why`.
    pub result: String,
    pub hash: String,
}

/// The audit log and whether its chain holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditAnswer {
    pub rows: Vec<AuditItem>,
    /// Whether every row's hash and link to the one before check out.
    pub chain_ok: bool,
    /// What is wrong with the chain, when something is.
    pub problems: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditQuery),
    responses((status = 200, body = AuditAnswer), (status = 403, body = Problem)))]
pub async fn audit(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(q): axum::extract::Query<AuditQuery>,
) -> ApiResult<Json<AuditAnswer>> {
    caller.unscoped("reading the audit log")?;
    let last = q.last.unwrap_or(100);
    if !(1..=10_000).contains(&last) {
        return Err(Problem::bad_request(format!("last must be 1 to 10000, not {last}")));
    }
    let filter = proxctl_state::AuditFilter {
        actor: q.actor.filter(|a| !a.is_empty()),
        target: q.target.filter(|t| !t.is_empty()),
        last: Some(last),
        ..Default::default()
    };
    let rows = proxctl_ops::audit::list(&app.state, &filter).await.map_err(Problem::from)?;
    let report = proxctl_ops::audit::verify(&app.state, &[]).await.map_err(Problem::from)?;
    Ok(Json(AuditAnswer {
        rows: rows
            .into_iter()
            .map(|r| AuditItem {
                seq: r.0.seq,
                time: r.0.entry.time.to_string(),
                actor: r.0.entry.actor,
                profile: r.0.entry.profile,
                target: r.0.entry.target,
                action: r.0.entry.action,
                params: r.0.entry.params,
                result: r.0.entry.result,
                hash: r.0.hash,
            })
            .collect(),
        chain_ok: report.ok(),
        problems: report.problems.iter().map(ToString::to_string).collect(),
    }))
}
