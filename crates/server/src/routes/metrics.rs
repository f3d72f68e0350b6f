//! Prometheus scrapes: `/metrics` (every remote, a `remote` label on the exporter-compatible
//! series, and proxctl's own) and `/pve?target=REMOTE` (one remote exactly as
//! prometheus-pve-exporter serves it, for scrape configs written for the exporter). Both for
//! tokens without a scope: a scrape shows every guest.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use proxctl_ops::metrics;
use serde::Deserialize;

use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

fn text(families: &[metrics::Family], more: &str) -> ApiResult<Response> {
    let mut body = metrics::encode(families).map_err(Problem::from)?;
    body.push_str(more);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response())
}

/// Every remote's series and proxctl's own, for the scrape (also served without a token on
/// `--metrics-listen`).
pub async fn scrape(app: &App) -> ApiResult<Response> {
    let remotes: Vec<(String, proxctl_client::Client)> =
        app.remotes().into_iter().map(|r| (r.name, r.client)).collect();
    text(&app.scraper.all(&remotes, &app.state).await, &app.http.text())
}

#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 403, body = Problem)))]
pub async fn all(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    caller.unscoped("reading metrics")?;
    scrape(&app).await
}

/// Which remote `/pve` reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Target {
    /// The remote's name (the exporter's `target`; default: the default remote). The
    /// exporter's other parameters (`module`, `cluster`, `node`) are accepted and ignored.
    pub target: Option<String>,
}

#[utoipa::path(get, path = "/pve", tag = "meta", params(Target),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
pub async fn exporter(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Target>,
) -> ApiResult<Response> {
    caller.unscoped("reading metrics")?;
    one(&app, q).await
}

/// One remote's exporter-compatible series (also served without a token on
/// `--metrics-listen`).
pub async fn one(app: &App, q: Target) -> ApiResult<Response> {
    let name = q.target.unwrap_or_else(|| app.default_remote.clone());
    let client = app.remote(&name)?.client;
    text(&app.scraper.exporter(&name, &client).await.map_err(Problem::from)?, "")
}
