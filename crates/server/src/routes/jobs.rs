//! Jobs over HTTP: list and read them with their next runs and history, make, change
//! (enable/disable), delete, and run one now as an operation. Jobs act on whole selectors, so
//! scoped tokens may read them (a run's guest lines only for guests in their scope) but not
//! make, change or run them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_ops::jobs::{self, Job, Missed, view::JobRow};
use serde::Deserialize;

use super::body::Body;
use crate::operations::Operation;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses((status = 200, body = [JobRow]), (status = 403, body = Problem)))]
pub async fn list(State(app): State<Arc<App>>) -> ApiResult<Json<Vec<JobRow>>> {
    Ok(Json(jobs::view::rows(&app.state, jiff::Timestamp::now()).await.map_err(Problem::from)?))
}

/// A job to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobCreate {
    pub name: String,
    /// A PVE calendar event (`mon..fri 20:00`, `*:0/15`, `daily`) or 5-field cron.
    pub schedule: String,
    /// IANA time zone (default: the server's).
    pub timezone: Option<String>,
    /// `{"type": "snapshot", "ttl": "24h"}`, `{"type": "snapshot-rotate", "keep": 6}`,
    /// `{"type": "snapshot-sweep"}`, `{"type": "backup", "storage": "local", "keep_daily": 7}`,
    /// `{"type": "power", "action": "shutdown"}`, `{"type": "tag", "add": ["x"]}`,
    /// `{"type": "template-rebuild", "catalog": ["debian-12"]}`,
    /// `{"type": "drift-check", "manifests": "<YAML>"}` (or `"path"` on the server's host),
    /// `{"type": "reconcile", "manifests": "<YAML>", "prune": false}` or
    /// `{"type": "backup-check", "max_age": "26h"}`.
    #[schema(value_type = Object)]
    pub action: jobs::Action,
    /// The `-l` language (default `all`).
    pub selector: Option<String>,
    /// The remote it acts on (default: the default remote).
    pub remote: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// `run-once` (default) or `skip`: what to do about runs missed while no server ran.
    pub missed: Option<String>,
    /// How many runs its history keeps (default 100).
    #[schema(minimum = 1, maximum = 100000)]
    pub history: Option<usize>,
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = JobCreate,
    responses((status = 201, body = JobRow), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<JobCreate>,
) -> ApiResult<(StatusCode, Json<JobRow>)> {
    caller.unscoped("making jobs")?;
    if let Some(r) = &req.remote {
        app.remote(r)?;
    }
    let missed: Missed =
        req.missed.as_deref().unwrap_or("run-once").parse().map_err(Problem::from)?;
    let now = jiff::Timestamp::now();
    let job = Job {
        name: req.name,
        schedule: req.schedule,
        timezone: req.timezone,
        action: req.action,
        selector: req.selector.unwrap_or_else(|| "all".into()),
        remote: req.remote,
        enabled: req.enabled.unwrap_or(true),
        missed,
        history: req.history.unwrap_or(jobs::DEFAULT_HISTORY),
        created_at: now,
        created_by: caller.name.clone(),
    };
    jobs::create(&app.state, &job).await.map_err(|e| match e {
        proxctl_ops::OpsError::Invalid(m) if m.contains("exists") => {
            Problem::new(StatusCode::CONFLICT, "conflict", m)
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(jobs::view::row(&job, None, now))))
}

async fn job(app: &App, name: &str) -> ApiResult<Job> {
    jobs::get(&app.state, name).await.map_err(|e| match e {
        proxctl_ops::OpsError::Invalid(m) => Problem::not_found(m),
        other => other.into(),
    })
}

#[utoipa::path(get, path = "/api/v1/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    responses((status = 200, body = JobRow), (status = 404, body = Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<Json<JobRow>> {
    let j = job(&app, &name).await?;
    let last = jobs::runs::history(&app.state, Some(&name), 1).await.map_err(Problem::from)?;
    Ok(Json(jobs::view::row(&j, last.first(), jiff::Timestamp::now())))
}

/// What to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobChange {
    pub enabled: bool,
}

#[utoipa::path(patch, path = "/api/v1/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    request_body = JobChange, responses((status = 200, body = JobRow), (status = 404, body = Problem)))]
pub async fn change(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(req): Body<JobChange>,
) -> ApiResult<Json<JobRow>> {
    caller.unscoped("changing jobs")?;
    let mut j = job(&app, &name).await?;
    j.enabled = req.enabled;
    jobs::save(&app.state, &j).await.map_err(Problem::from)?;
    Ok(Json(jobs::view::row(&j, None, jiff::Timestamp::now())))
}

#[utoipa::path(delete, path = "/api/v1/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.unscoped("deleting jobs")?;
    job(&app, &name).await?;
    jobs::delete(&app.state, &name).await.map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many runs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/jobs/{name}/history", tag = "jobs",
    params(("name" = String, Path), HistoryQuery),
    responses((status = 200, body = [Object]), (status = 404, body = Problem)))]
pub async fn history(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be 1 to 1000, not {limit}")));
    }
    let j = job(&app, &name).await?;
    let mut runs =
        jobs::runs::history(&app.state, Some(&name), limit).await.map_err(Problem::from)?;
    if caller.scope.is_some() {
        // A run's guest lines are guests: the ones outside the scope stay hidden.
        let remote = app.remote(j.remote.as_deref().unwrap_or(&app.default_remote))?;
        let visible =
            super::guests::visible_vmids(&app, &caller, &remote).await.map_err(Problem::from)?;
        for r in &mut runs {
            r.items.retain(|i| visible.contains(&i.vmid));
        }
    }
    Ok(Json(runs.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect()))
}

#[utoipa::path(post, path = "/api/v1/jobs/{name}/run", tag = "jobs", params(("name" = String, Path)),
    responses((status = 202, body = Operation), (status = 404, body = Problem)))]
pub async fn run(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Operation>)> {
    caller.unscoped("running jobs")?;
    let j = job(&app, &name).await?;
    let remote = j.remote.clone().unwrap_or_else(|| app.default_remote.clone());
    let client = app.remote(&remote)?.client;
    let (state, retry, who) = (Arc::clone(&app.state), app.notify_retry, caller.name.clone());
    let description = format!("run job {name} now on remote {remote}");
    let op = app.operations.start_pinned(&caller.name, description, move || async move {
        let engine = proxctl_engine::jobs::Engine;
        let finished = jobs::actions::run_by_hand(&client, &state, &engine, &j, &who)
            .await
            .map_err(Problem::from)?;
        // By hand or by the schedule, the same matchers hear of it.
        for event in finished.events {
            proxctl_ops::notify::raise(Arc::clone(&state), event, retry).await;
        }
        let record = finished.run;
        let v = serde_json::to_value(&record).unwrap_or_default();
        match record.outcome {
            jobs::RunOutcome::Succeeded => Ok(v),
            _ => Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "proxmox",
                format!("job {name}: {}", record.detail),
            )),
        }
    });
    Ok(super::accepted(&app, op).await)
}
