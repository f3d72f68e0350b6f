//! Charts and releases over HTTP (`/api/v1/charts`, `/api/v1/releases`): the built-in charts,
//! rendering, and release install, upgrade, rollback and uninstall as operations, each a call
//! into `proxctl-charts` as the CLI makes. `dry_run` answers with the plan and changes nothing.
//! Release changes need the admin role and an unscoped token; manifests (which hold the
//! secrets charts generate) are for admins only.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use proxctl_charts::release::{self, Change, ReleaseError, Request};
use proxctl_charts::render::{ReleaseInfo, Secrets};
use proxctl_charts::values::Source;
use proxctl_charts::{Chart, ChartError, builtin, lint};
use proxctl_engine::ApplyOptions;
use serde::{Deserialize, Serialize};

use super::body::Body;
use super::declare::{answer, engine_problem};
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

fn problem(e: ReleaseError) -> Problem {
    match e {
        ReleaseError::NotFound(m) => Problem::not_found(m),
        ReleaseError::Conflict(m) | ReleaseError::Refused(m) => {
            Problem::new(StatusCode::CONFLICT, "conflict", m)
        }
        ReleaseError::Chart(c) => chart_problem(c),
        ReleaseError::Prepare(p) => Problem::bad_request(p.to_string()),
        ReleaseError::Engine(e) => engine_problem(e),
        ReleaseError::Client(c) => c.into(),
        e @ ReleaseError::Failed { .. } => {
            Problem::new(StatusCode::BAD_GATEWAY, "proxmox", e.to_string())
        }
        other => Problem::internal(other.to_string()),
    }
}

fn chart_problem(e: ChartError) -> Problem {
    match e {
        ChartError::NotFound(m) => Problem::not_found(m),
        ChartError::Io { .. } | ChartError::Fetch { .. } => Problem::internal(e.to_string()),
        other => Problem::bad_request(other.to_string()),
    }
}

/// A built-in chart.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChartEntry {
    pub name: String,
    pub version: String,
    pub description: String,
}

#[utoipa::path(get, path = "/api/v1/charts", tag = "charts",
    responses((status = 200, body = [ChartEntry]), (status = 401, body = Problem)))]
pub async fn charts() -> Json<Vec<ChartEntry>> {
    Json(
        builtin::names()
            .filter_map(builtin::get)
            .map(|c| ChartEntry {
                name: c.meta.name.clone(),
                version: c.meta.version.to_string(),
                description: c.meta.description.clone(),
            })
            .collect(),
    )
}

fn builtin_chart(name: &str) -> Result<Chart, Problem> {
    builtin::get(name).ok_or_else(|| {
        let names: Vec<&str> = builtin::names().collect();
        Problem::not_found(format!("no built-in chart {name}; there are {}", names.join(", ")))
    })
}

#[utoipa::path(get, path = "/api/v1/charts/{name}", tag = "charts", params(("name" = String, Path)),
    responses((status = 200, description = "Chart.yaml, the default values and the files", body = Object),
        (status = 404, body = Problem)))]
pub async fn chart(Path(name): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let c = builtin_chart(&name)?;
    let values = c.values().map_err(chart_problem)?;
    Ok(Json(serde_json::json!({
        "chart": c.meta, "values": values, "schema": c.schema, "files": c.files.keys().collect::<Vec<_>>(),
    })))
}

/// Values for a chart: an object merged over the chart's defaults, then `set` assignments.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// The release name to render for (default `release`).
    pub release: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub values: Option<serde_json::Value>,
    /// `KEY=VALUE` assignments, as the CLI's `--set`.
    #[serde(default)]
    pub set: Vec<String>,
}

/// Rendered manifests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    /// Multi-document YAML, each file headed by its template.
    pub manifest: String,
    pub notes: Option<String>,
    pub resources: Vec<String>,
}

fn sources(values: Option<serde_json::Value>, set: &[String]) -> Result<Vec<Source>, Problem> {
    let mut out = Vec::new();
    if let Some(v) = values {
        if !v.is_object() {
            return Err(Problem::bad_request("values must be an object"));
        }
        let text = serde_yaml_ng::to_string(&v).map_err(|e| Problem::bad_request(e.to_string()))?;
        out.push(Source::File { name: "request values".into(), text });
    }
    out.extend(set.iter().map(|s| Source::Set(s.clone())));
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/charts/{name}/render", tag = "charts", params(("name" = String, Path)),
    request_body = RenderRequest,
    responses((status = 200, body = Rendered), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn render(
    Path(name): Path<String>,
    Body(req): Body<RenderRequest>,
) -> ApiResult<Json<Rendered>> {
    let c = builtin_chart(&name)?;
    let release = req.release.clone().unwrap_or_else(|| "release".into());
    proxctl_charts::chart::check_name(&release).map_err(Problem::bad_request)?;
    let info = ReleaseInfo { name: release, revision: 1, is_install: true, is_upgrade: false };
    // Secrets are made up for the preview and not kept.
    let p =
        lint::prepare(&c, &info, None, &sources(req.values, &req.set)?, &mut Secrets::default())
            .map_err(|e| Problem::bad_request(e.to_string()))?;
    Ok(Json(Rendered {
        manifest: p.rendered.manifest(),
        notes: p.rendered.notes,
        resources: p.declared.iter().map(proxctl_engine::Declared::key).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/releases", tag = "charts",
    responses((status = 200, description = "Every release: name, revision, status, chart, resources", body = [Object]),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<release::Summary>>> {
    caller.unscoped("reading releases")?;
    let store = app.state.get().await.map_err(Problem::from)?;
    let all = release::list(store.as_ref()).await.map_err(problem)?;
    Ok(Json(all.iter().filter_map(release::Summary::of).collect()))
}

/// Which revision.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    /// Default: the latest.
    pub revision: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/releases/{name}", tag = "charts", params(("name" = String, Path)),
    responses((status = 200, description = "The release: owned resources and revisions (values, status, who, when)", body = Object),
        (status = 404, body = Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.unscoped("reading releases")?;
    let store = app.state.get().await.map_err(Problem::from)?;
    let r = release::get(store.as_ref(), &name).await.map_err(problem)?;
    // Never the secrets, the manifests (which hold them) or the packed charts.
    let revisions: Vec<serde_json::Value> = r
        .revisions
        .iter()
        .map(|v| {
            serde_json::json!({
                "revision": v.revision, "chart": v.chart, "chart_version": v.chart_version,
                "values": v.values, "status": v.status, "description": v.description,
                "by": v.by, "at": v.at.to_string(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "name": r.name, "remote": r.remote, "resources": r.owned, "revisions": revisions,
        "deployed": r.deployed().map(|d| d.revision),
    })))
}

#[utoipa::path(get, path = "/api/v1/releases/{name}/manifest", tag = "charts",
    params(("name" = String, Path), RevisionQuery),
    responses((status = 200, description = "The rendered manifests (YAML)", body = String, content_type = "application/yaml"),
        (status = 404, body = Problem)))]
pub async fn manifest(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<RevisionQuery>,
) -> ApiResult<Response> {
    caller.unscoped("reading release manifests")?;
    let store = app.state.get().await.map_err(Problem::from)?;
    let r = release::get(store.as_ref(), &name).await.map_err(problem)?;
    let rev = match q.revision {
        Some(n) => r.revision(n),
        None => r.latest(),
    }
    .ok_or_else(|| Problem::not_found(format!("release {name} has no such revision")))?;
    Ok(([("content-type", "application/yaml")], rev.manifest.clone()).into_response())
}

/// Install a chart as a release.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    pub name: String,
    /// A built-in chart's name; or leave it out and give `package`.
    pub chart: Option<String>,
    /// A chart package (`proxctl chart package`), base64.
    pub package: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub values: Option<serde_json::Value>,
    #[serde(default)]
    pub set: Vec<String>,
    /// Answer with the plan and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Default: the default remote.
    pub remote: Option<String>,
}

/// Upgrade a release.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// A built-in chart's name (default: the release's current chart).
    pub chart: Option<String>,
    pub package: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub values: Option<serde_json::Value>,
    #[serde(default)]
    pub set: Vec<String>,
    /// Start from the deployed revision's values.
    #[serde(default)]
    pub reuse_values: bool,
    #[serde(default)]
    pub dry_run: bool,
}

/// Roll a release back.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Default: the revision deployed before the current one.
    pub revision: Option<u32>,
    #[serde(default)]
    pub dry_run: bool,
}

fn chart_of(chart: Option<&str>, package: Option<&str>) -> Result<Option<Box<Chart>>, Problem> {
    match (chart, package) {
        (Some(_), Some(_)) => Err(Problem::bad_request("give chart or package, not both")),
        (Some(name), None) => Ok(Some(Box::new(builtin_chart(name)?))),
        (None, Some(b64)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| Problem::bad_request(format!("package is not base64: {e}")))?;
            Ok(Some(Box::new(Chart::from_package(&bytes).map_err(chart_problem)?)))
        }
        (None, None) => Ok(None),
    }
}

#[utoipa::path(post, path = "/api/v1/releases", tag = "charts", request_body = InstallRequest,
    responses((status = 200, description = "dry_run: the plan", body = super::declare::PlanAnswer),
        (status = 202, body = crate::operations::Operation), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn install(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<InstallRequest>,
) -> ApiResult<Response> {
    caller.unscoped("installing releases")?;
    let chart = chart_of(req.chart.as_deref(), req.package.as_deref())?
        .ok_or_else(|| Problem::bad_request("name a built-in chart or give a package"))?;
    let remote = req.remote.clone().unwrap_or_else(|| app.default_remote.clone());
    app.remote(&remote)?;
    let change = Change::Install { chart, sources: sources(req.values, &req.set)? };
    let r = Request { name: req.name, change, dry_run: req.dry_run, remote: Some(remote.clone()) };
    run(app, caller, remote, r).await
}

/// The remote a release lives on.
async fn remote_of(app: &App, name: &str) -> Result<String, Problem> {
    let store = app.state.get().await.map_err(Problem::from)?;
    let r = release::get(store.as_ref(), name).await.map_err(problem)?;
    Ok(r.remote.unwrap_or_else(|| app.default_remote.clone()))
}

#[utoipa::path(post, path = "/api/v1/releases/{name}/upgrade", tag = "charts", params(("name" = String, Path)),
    request_body = UpgradeRequest,
    responses((status = 200, description = "dry_run: the plan", body = super::declare::PlanAnswer),
        (status = 202, body = crate::operations::Operation), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn upgrade(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(req): Body<UpgradeRequest>,
) -> ApiResult<Response> {
    caller.unscoped("upgrading releases")?;
    let chart = chart_of(req.chart.as_deref(), req.package.as_deref())?;
    let remote = remote_of(&app, &name).await?;
    let change = Change::Upgrade {
        chart,
        sources: sources(req.values, &req.set)?,
        reuse_values: req.reuse_values,
    };
    run(app, caller, remote, Request { name, change, dry_run: req.dry_run, remote: None }).await
}

#[utoipa::path(post, path = "/api/v1/releases/{name}/rollback", tag = "charts", params(("name" = String, Path)),
    request_body = RollbackRequest,
    responses((status = 200, description = "dry_run: the plan", body = super::declare::PlanAnswer),
        (status = 202, body = crate::operations::Operation), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(req): Body<RollbackRequest>,
) -> ApiResult<Response> {
    caller.unscoped("rolling releases back")?;
    let remote = remote_of(&app, &name).await?;
    let change = Change::Rollback { revision: req.revision };
    run(app, caller, remote, Request { name, change, dry_run: req.dry_run, remote: None }).await
}

fn options(caller: &Caller) -> ApplyOptions {
    let mut opts = ApplyOptions::new(caller.name.clone());
    // An API caller cannot be asked to wait: busy resources fail the operation at once.
    opts.locks.wait = std::time::Duration::ZERO;
    opts
}

/// A dry run answers with the plan; the rest runs as an operation acting as the caller.
async fn run(app: Arc<App>, caller: Caller, remote: String, req: Request) -> ApiResult<Response> {
    let client = app.remote(&remote)?.client.clone();
    let store = Arc::clone(app.state.get().await.map_err(Problem::from)?);
    let opts = options(&caller);
    if req.dry_run {
        // The engine's session future is not `Send`; run it on a blocking thread of its own,
        // as operations do.
        let handle = tokio::runtime::Handle::current();
        let out = tokio::task::spawn_blocking(move || {
            handle.block_on(release::deploy(&client, store, req, &opts, |_| Ok(())))
        })
        .await
        .map_err(|e| Problem::internal(format!("the dry run stopped: {e}")))?
        .map_err(problem)?;
        return Ok(Json(answer(None, remote, &out.plan)).into_response());
    }
    let description = format!("release {} on remote {remote}", req.name);
    let who = caller.name.clone();
    let op = app.operations.start_pinned(&caller.name, description, move || async move {
        let work = release::deploy(&client, store, req, &opts, |_| Ok(()));
        let out = proxctl_ops::audit::acting_as(who, work).await.map_err(problem)?;
        Ok(serde_json::json!({
            "release": out.name, "revision": out.revision, "status": out.status,
            "results": out.report.map(|r| r.results), "notes": out.notes,
        }))
    });
    Ok(super::accepted(&app, op).await.into_response())
}

#[utoipa::path(delete, path = "/api/v1/releases/{name}", tag = "charts", params(("name" = String, Path)),
    responses((status = 202, body = crate::operations::Operation), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn uninstall(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.unscoped("uninstalling releases")?;
    let remote = remote_of(&app, &name).await?;
    let client = app.remote(&remote)?.client.clone();
    let store = Arc::clone(app.state.get().await.map_err(Problem::from)?);
    let opts = options(&caller);
    let who = caller.name.clone();
    let op = app.operations.start_pinned(
        &caller.name,
        format!("uninstall release {name}"),
        move || async move {
            let work = release::uninstall(&client, store, &name, &opts, |_| Ok(()));
            let out = proxctl_ops::audit::acting_as(who, work).await.map_err(problem)?;
            Ok(serde_json::json!({ "release": out.name, "results": out.report.map(|r| r.results) }))
        },
    );
    Ok(super::accepted(&app, op).await.into_response())
}
