//! The declarative engine over HTTP: manifests in, a plan out (kept under an id, with a
//! digest); applying that plan later is refused with 409 if the cluster changed since, as a
//! saved plan is in the CLI; drift is a plan that is not kept; and the apply history.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_engine::{Action, ApplyOptions, EngineError, Plan};
use proxctl_ops::notify::Severity;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::Body;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// Manifests to plan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// One or more YAML documents (`apiVersion: proxctl.io/v1`), as in manifest files.
    pub manifests: String,
    /// Also delete what proxctl made and the manifests no longer declare.
    #[serde(default)]
    pub prune: bool,
    /// The remote to plan against (default: the default remote).
    pub remote: Option<String>,
}

/// A plan, as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanAnswer {
    /// Apply it with `POST /api/v1/plans/{id}/apply` (drift answers have none).
    pub id: Option<String>,
    /// SHA-256 of the plan: what was reviewed is what gets applied.
    pub digest: String,
    pub remote: String,
    /// Whether applying it would change anything (for drift: whether the cluster drifted).
    pub changes: bool,
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    /// The plan as people read it (the CLI's `plan` output).
    pub text: String,
    /// The plan itself: every change and its steps.
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
}

fn bad_manifests(d: Vec<proxctl_engine::Diagnostic>) -> Problem {
    let lines: Vec<String> =
        d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect();
    Problem::bad_request(format!("the manifests have problems:\n{}", lines.join("\n")))
}

pub(super) fn engine_problem(e: EngineError) -> Problem {
    match e {
        EngineError::Stale(_) => Problem::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        EngineError::Ops(o) => o.into(),
        EngineError::Client(c) => c.into(),
        EngineError::Manifest(_) | EngineError::Plan(_) | EngineError::Invalid(_) => {
            Problem::bad_request(e.to_string())
        }
        EngineError::Apply(a) => match a {
            proxctl_engine::ApplyError::Lock(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", a.to_string())
            }
            other => Problem::internal(other.to_string()),
        },
        other => Problem::internal(other.to_string()),
    }
}

async fn make(app: &App, req: &PlanRequest) -> ApiResult<(String, Plan)> {
    let remote = req.remote.clone().unwrap_or_else(|| app.default_remote.clone());
    let client = &app.remote(&remote)?.client;
    let declared = proxctl_engine::manifest::parse(Path::new("request"), &req.manifests)
        .map_err(bad_manifests)?;
    let store = app.state.get().await.map_err(Problem::from)?;
    let plan = proxctl_engine::make_plan(client, store.as_ref(), &declared, req.prune)
        .await
        .map_err(engine_problem)?;
    Ok((remote, plan))
}

pub(super) fn answer(id: Option<String>, remote: String, plan: &Plan) -> PlanAnswer {
    let value = serde_json::to_value(plan).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(value.to_string().as_bytes()));
    PlanAnswer {
        id,
        digest,
        remote,
        changes: plan.has_changes(),
        create: plan.count(Action::Create),
        update: plan.count(Action::Update),
        replace: plan.count(Action::Replace),
        delete: plan.count(Action::Delete),
        text: proxctl_engine::render::text(plan, false, false),
        plan: value,
    }
}

#[utoipa::path(post, path = "/api/v1/plans", tag = "declare", request_body = PlanRequest,
    responses((status = 201, body = PlanAnswer), (status = 400, body = Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<PlanRequest>,
) -> ApiResult<(StatusCode, Json<PlanAnswer>)> {
    caller.unscoped("planning manifests")?;
    let (remote, plan) = make(&app, &req).await?;
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let id = format!("plan-{}", hex::encode(bytes));
    let out = answer(Some(id.clone()), remote.clone(), &plan);
    crate::plans::keep(&app.state, &id, &remote, &plan).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(post, path = "/api/v1/drift", tag = "declare", request_body = PlanRequest,
    responses((status = 200, body = PlanAnswer), (status = 400, body = Problem)))]
pub async fn drift(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<PlanRequest>,
) -> ApiResult<Json<PlanAnswer>> {
    caller.unscoped("checking drift")?;
    let (remote, plan) = make(&app, &req).await?;
    Ok(Json(answer(None, remote, &plan)))
}

/// How to apply a kept plan.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The digest the caller reviewed: the apply is refused if the plan is not that one.
    pub digest: Option<String>,
    /// Resources worked on at once (default 4).
    #[schema(minimum = 1, maximum = 64)]
    pub parallel: Option<u8>,
}

#[utoipa::path(post, path = "/api/v1/plans/{id}/apply", tag = "declare",
    params(("id" = String, Path)), request_body = ApplyRequest,
    responses((status = 202, body = Operation), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn apply(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<ApplyRequest>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("applying a plan")?;
    let (remote, plan) = crate::plans::load(&app.state, &id).await?.ok_or_else(|| {
        Problem::not_found(format!(
            "no plan '{id}' (the newest {} are kept); make it again with POST /api/v1/plans",
            crate::plans::KEEP_PLANS
        ))
    })?;
    let shown = answer(Some(id.clone()), remote.clone(), &plan);
    if let Some(d) = req.digest.as_deref().filter(|d| *d != shown.digest) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("plan {id} has digest {}, not {d}", shown.digest),
        ));
    }
    if !(1..=64).contains(&req.parallel.unwrap_or(4)) {
        return Err(Problem::bad_request("parallel must be 1 to 64"));
    }
    let client = app.remote(&remote)?.client.clone();
    // Refused now if the cluster moved on, rather than as a failed operation later (the
    // apply checks again under its locks).
    proxctl_engine::check_saved(&client, &plan).await.map_err(engine_problem)?;
    let store = Arc::clone(app.state.get().await.map_err(Problem::from)?);
    let mut opts = ApplyOptions::new(caller.name.clone());
    opts.parallel = usize::from(req.parallel.unwrap_or(4));
    // An API caller cannot be asked to wait for another apply: busy resources are a 409-like
    // failure of the operation, reported at once.
    opts.locks.wait = std::time::Duration::ZERO;
    let description = format!("apply {id} on remote {remote}");
    let (state, retry, who) = (Arc::clone(&app.state), app.notify_retry, caller.name.clone());
    let op = app.operations.start_pinned_reporting(
        &caller.name,
        description,
        move |report| async move {
            // Each resource's steps, as the CLI prints them, are the operation's progress.
            let mut opts = opts;
            opts.progress =
                Some(Arc::new(move |key: &str, msg: &str| report.line(format!("{key}: {msg}"))));
            let outcome =
                proxctl_engine::apply_saved(&client, store, &plan, &opts, |_| Ok(())).await;
            let (kind, severity, detail) = match &outcome {
                Ok(Some(r)) if r.failed() > 0 => (
                    "apply-failed",
                    Severity::Error,
                    format!("{} of {} resource(s) failed", r.failed(), r.results.len()),
                ),
                Ok(Some(r)) => (
                    "apply-succeeded",
                    Severity::Info,
                    format!("{} resource(s) changed", r.results.len()),
                ),
                Ok(None) => ("apply-succeeded", Severity::Info, "nothing to change".to_string()),
                Err(e) => ("apply-failed", Severity::Error, e.to_string()),
            };
            let event = proxctl_ops::notify::Event::new(
                kind,
                severity,
                format!(
                    "apply of plan {id} by {who} on remote {remote}: {}",
                    kind.trim_start_matches("apply-")
                ),
                detail,
                serde_json::json!({ "plan": id, "remote": remote, "actor": who }),
            );
            proxctl_ops::notify::raise(state, event, retry).await;
            let report = outcome.map_err(engine_problem)?;
            Ok(match report {
                Some(r) => {
                    let failed = r.failed();
                    let v = serde_json::to_value(&r).unwrap_or_default();
                    if failed > 0 {
                        return Err(Problem::new(
                            StatusCode::BAD_GATEWAY,
                            "proxmox",
                            format!("{failed} of {} resource(s) failed: {v}", r.results.len()),
                        ));
                    }
                    v
                }
                None => serde_json::json!({ "changes": false }),
            })
        },
    );
    Ok(super::accepted(&app, op).await)
}

/// Which applies.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The newest this many (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// One apply of the history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplyEntry {
    pub id: i64,
    pub actor: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// succeeded, failed: why, interrupted, or null while running.
    pub outcome: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/applies", tag = "declare", params(HistoryQuery),
    responses((status = 200, body = [ApplyEntry])))]
pub async fn history(
    State(app): State<Arc<App>>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<ApplyEntry>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be 1 to 1000, not {limit}")));
    }
    let store = app.state.get().await.map_err(Problem::from)?;
    let applies =
        store.applies(limit).await.map_err(|e| Problem::from(proxctl_ops::OpsError::State(e)))?;
    Ok(Json(
        applies
            .into_iter()
            .map(|a| ApplyEntry {
                id: a.id.0,
                actor: a.actor,
                started_at: a.started_at.to_string(),
                finished_at: a.finished_at.map(|t| t.to_string()),
                outcome: a.outcome.map(|o| match o {
                    proxctl_state::ApplyOutcome::Succeeded => "succeeded".to_string(),
                    proxctl_state::ApplyOutcome::Failed(why) => format!("failed: {why}"),
                    proxctl_state::ApplyOutcome::Interrupted(why) => format!("interrupted: {why}"),
                }),
            })
            .collect(),
    ))
}

/// What to export.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Default: the default remote.
    pub remote: Option<String>,
    /// The CLI's `-l` language (default: every VM).
    pub selector: Option<String>,
}

/// Manifests for existing VMs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Exported {
    /// YAML documents, ready for `POST /api/v1/plans` (after adopting).
    pub manifests: String,
    pub count: usize,
    /// VMs that could not be described, and why.
    pub skipped: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/export", tag = "declare", request_body = ExportRequest,
    responses((status = 200, body = Exported), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn export(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<ExportRequest>,
) -> ApiResult<Json<Exported>> {
    caller.unscoped("exporting manifests")?;
    let selector: Option<proxctl_types::selector::Selector> = req
        .selector
        .as_deref()
        .map(|s| s.parse().map_err(|e| Problem::bad_request(format!("selector: {e}"))))
        .transpose()?;
    let remote = req.remote.unwrap_or_else(|| app.default_remote.clone());
    let client = &app.remote(&remote)?.client;
    let (docs, skipped) = proxctl_engine::export::export_vms(client, selector.as_ref())
        .await
        .map_err(engine_problem)?;
    let manifests = proxctl_engine::export::to_yaml(&docs)
        .map_err(|e| Problem::internal(format!("writing manifests: {e}")))?;
    Ok(Json(Exported { manifests, count: docs.len(), skipped }))
}

/// Manifests whose VMs exist already, unmanaged, to take over.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptRequest {
    pub manifests: String,
    /// Default: the default remote.
    pub remote: Option<String>,
}

/// One adopted guest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Adopted {
    pub key: String,
    pub vmid: u32,
}

#[utoipa::path(post, path = "/api/v1/adopt", tag = "declare", request_body = AdoptRequest,
    responses((status = 200, body = [Adopted]), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn adopt(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<AdoptRequest>,
) -> ApiResult<Json<Vec<Adopted>>> {
    caller.unscoped("adopting guests")?;
    let remote = req.remote.clone().unwrap_or_else(|| app.default_remote.clone());
    let client = &app.remote(&remote)?.client;
    let declared = proxctl_engine::manifest::parse(Path::new("request"), &req.manifests)
        .map_err(bad_manifests)?;
    let store = app.state.get().await.map_err(Problem::from)?;
    let adopted = proxctl_ops::audit::acting_as(
        caller.name.clone(),
        proxctl_engine::export::adopt_declared(client, store.as_ref(), &declared),
    )
    .await
    .map_err(engine_problem)?;
    Ok(Json(adopted.into_iter().map(|(key, vmid)| Adopted { key, vmid }).collect()))
}
