//! Notification settings over HTTP: targets, matchers and dead letters, as `proxctl notify`
//! manages them. Admin only: targets carry endpoints, and matchers see every event.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxctl_ops::notify::{self, Matcher, Target, kind};
use serde::Deserialize;

use super::body::Body;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// A target to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetCreate {
    pub name: String,
    /// `webhook`, `slack`, `discord`, `ntfy`, `gotify` or `smtp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where to send: an http(s) URL, or `smtp://`, `smtps://`, `smtp+plain://` (loopback).
    pub endpoint: String,
    /// `env:NAME` or `file:PATH` (resolved where the server runs); never the secret itself.
    pub secret: Option<String>,
    /// smtp: the recipients.
    #[serde(default)]
    pub mail_to: Vec<String>,
    /// smtp: the sender.
    pub mail_from: Option<String>,
    /// smtp: a PEM file (where the server runs) of a private CA.
    pub ca_file: Option<String>,
}

fn conflict_or(e: proxctl_ops::OpsError) -> Problem {
    match e {
        proxctl_ops::OpsError::Invalid(m) if m.contains("exists already") => {
            Problem::new(StatusCode::CONFLICT, "conflict", m)
        }
        proxctl_ops::OpsError::Invalid(m) if m.starts_with("no '") => Problem::not_found(m),
        other => other.into(),
    }
}

#[utoipa::path(get, path = "/api/v1/notifications/targets", tag = "notifications",
    responses((status = 200, body = [Object]), (status = 403, body = Problem)))]
pub async fn targets(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    caller.unscoped("reading notification settings")?;
    let ts = notify::targets(&app.state).await.map_err(Problem::from)?;
    Ok(Json(ts.iter().map(|t| serde_json::to_value(t).unwrap_or_default()).collect()))
}

#[utoipa::path(post, path = "/api/v1/notifications/targets", tag = "notifications", request_body = TargetCreate,
    responses((status = 201), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn add_target(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<TargetCreate>,
) -> ApiResult<StatusCode> {
    caller.unscoped("changing notification settings")?;
    let t = Target {
        name: req.name,
        kind: req.kind.parse().map_err(Problem::from)?,
        url: req.endpoint,
        secret: req.secret,
        mail_to: req.mail_to,
        mail_from: req.mail_from,
        ca_file: req.ca_file,
        created_at: jiff::Timestamp::now(),
    };
    notify::add_target(&app.state, &t).await.map_err(conflict_or)?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/notifications/targets/{name}", tag = "notifications",
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_target(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.unscoped("changing notification settings")?;
    notify::delete(&app.state, kind::TARGET, &name).await.map_err(conflict_or)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A matcher to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherCreate {
    pub name: String,
    /// Event kinds or their prefixes (`job-`); none: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `info`, `warning` (default) or `error`.
    pub min_severity: Option<String>,
    /// Only events about guests this `-l` selector picks.
    pub selector: Option<String>,
    pub targets: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/notifications/matchers", tag = "notifications",
    responses((status = 200, body = [Object]), (status = 403, body = Problem)))]
pub async fn matchers(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    caller.unscoped("reading notification settings")?;
    let ms = notify::matchers(&app.state).await.map_err(Problem::from)?;
    Ok(Json(ms.iter().map(|m| serde_json::to_value(m).unwrap_or_default()).collect()))
}

#[utoipa::path(post, path = "/api/v1/notifications/matchers", tag = "notifications", request_body = MatcherCreate,
    responses((status = 201), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn add_matcher(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<MatcherCreate>,
) -> ApiResult<StatusCode> {
    caller.unscoped("changing notification settings")?;
    let min_severity: notify::Severity =
        req.min_severity.as_deref().unwrap_or("warning").parse().map_err(Problem::from)?;
    let m = Matcher {
        name: req.name,
        kinds: req.kinds,
        min_severity,
        selector: req.selector,
        targets: req.targets,
    };
    notify::add_matcher(&app.state, &m).await.map_err(conflict_or)?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/notifications/matchers/{name}", tag = "notifications",
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_matcher(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.unscoped("changing notification settings")?;
    notify::delete(&app.state, kind::MATCHER, &name).await.map_err(conflict_or)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/notifications/dead-letters", tag = "notifications",
    responses((status = 200, body = [Object]), (status = 403, body = Problem)))]
pub async fn dead_letters(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    caller.unscoped("reading notification settings")?;
    Ok(Json(notify::deliver::dead_letters(&app.state, 100).await.map_err(Problem::from)?))
}
