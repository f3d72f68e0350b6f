//! The route table: every route with the privilege it needs, in one list that builds the
//! router and that tests walk (a route without a declared privilege cannot be written). The
//! guard in front of each route authenticates the caller, checks its role and rate, and hands
//! the handler a [`Caller`].

pub(crate) mod act;
pub(crate) mod attention;
pub(crate) mod backups;
pub(crate) mod body;
pub(crate) mod changes;
pub(crate) mod cluster;
pub(crate) mod declare;
pub(crate) mod guests;
pub(crate) mod inspect;
pub(crate) mod jobs;
pub(crate) mod lifecycle;
pub(crate) mod meta;
pub(crate) mod metrics;
pub(crate) mod nodes;
pub(crate) mod notifications;
pub(crate) mod releases;
pub(crate) mod stream;
pub(crate) mod templates;
pub(crate) mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::App;
use crate::auth::{AuthError, Privilege};
use crate::problem::Problem;

pub use guests::{Guest, GuestList, PowerRequest};

/// One route.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// axum's path syntax (`{param}`), which is also OpenAPI's.
    pub path: &'static str,
    pub privilege: Privilege,
    pub handler: MethodRouter<Arc<App>>,
}

pub(crate) fn r(
    method: Method,
    path: &'static str,
    privilege: Privilege,
    handler: MethodRouter<Arc<App>>,
) -> Route {
    Route { method, path, privilege, handler }
}

/// Every route the server has.
pub fn table() -> Vec<Route> {
    use Privilege::*;
    vec![
        r(Method::GET, "/healthz", Public, get(meta::healthz)),
        r(Method::GET, "/readyz", Public, get(meta::readyz)),
        r(Method::GET, "/api/v1/openapi.json", Read, get(meta::openapi_json)),
        r(Method::GET, "/api/v1/docs", Read, get(meta::reference_page)),
        r(Method::GET, "/metrics", Read, get(metrics::all)),
        r(Method::GET, "/pve", Read, get(metrics::exporter)),
        r(Method::GET, "/api/v1/remotes", Read, get(cluster::remotes)),
        r(Method::GET, "/api/v1/nodes", Read, get(cluster::nodes)),
        r(Method::GET, "/api/v1/storage", Read, get(cluster::storage)),
        r(Method::GET, "/api/v1/tasks", Read, get(cluster::tasks)),
        r(Method::GET, "/api/v1/attention", Read, get(attention::list)),
        r(Method::GET, "/api/v1/remotes/{remote}/tasks/{upid}/log", Read, get(cluster::task_log)),
        r(Method::GET, "/api/v1/networks", Read, get(cluster::networks)),
        r(Method::GET, "/api/v1/sdn", Read, get(cluster::sdn)),
        r(Method::GET, "/api/v1/ha", Read, get(cluster::ha)),
        r(Method::GET, "/api/v1/cluster", Read, get(cluster::cluster_status)),
        r(Method::GET, "/api/v1/guests", Read, get(guests::list)),
        r(Method::GET, "/api/v1/remotes/{remote}/guests/{vmid}", Read, get(guests::detail)),
        r(
            Method::GET,
            "/api/v1/remotes/{remote}/guests/{vmid}/describe",
            Read,
            get(inspect::describe),
        ),
        r(
            Method::GET,
            "/api/v1/remotes/{remote}/guests/{vmid}/rrddata",
            Read,
            get(inspect::rrddata),
        ),
        r(
            Method::GET,
            "/api/v1/remotes/{remote}/guests/{vmid}/desired",
            Read,
            get(inspect::desired),
        ),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/power",
            Operate,
            post(guests::power),
        ),
        r(
            Method::GET,
            "/api/v1/remotes/{remote}/guests/{vmid}/snapshots",
            Read,
            get(guests::snapshots),
        ),
        r(Method::GET, "/api/v1/backups", Read, get(guests::backups)),
        r(Method::GET, "/api/v1/backup-coverage", Read, get(backups::coverage)),
        r(Method::GET, "/api/v1/audit", Admin, get(meta::audit)),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/snapshots",
            Operate,
            post(act::snapshot_create),
        ),
        r(
            Method::DELETE,
            "/api/v1/remotes/{remote}/guests/{vmid}/snapshots/{name}",
            Operate,
            delete(act::snapshot_delete),
        ),
        r(Method::PUT, "/api/v1/remotes/{remote}/guests/{vmid}/tags", Operate, put(act::tags)),
        r(Method::DELETE, "/api/v1/remotes/{remote}/guests/{vmid}", Admin, delete(act::delete)),
        r(Method::POST, "/api/v1/remotes/{remote}/guests", Admin, post(lifecycle::create)),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/clone",
            Admin,
            post(lifecycle::clone),
        ),
        r(
            Method::PATCH,
            "/api/v1/remotes/{remote}/guests/{vmid}/config",
            Admin,
            patch(lifecycle::set),
        ),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/resize",
            Admin,
            post(lifecycle::resize),
        ),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/migrate",
            Admin,
            post(lifecycle::migrate),
        ),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/snapshots/{name}/rollback",
            Operate,
            post(lifecycle::rollback),
        ),
        r(Method::GET, "/api/v1/templates", Read, get(templates::list)),
        r(Method::GET, "/api/v1/catalog", Read, get(templates::catalog)),
        r(Method::POST, "/api/v1/remotes/{remote}/templates", Admin, post(templates::build)),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/templates/rebuild",
            Admin,
            post(templates::rebuild),
        ),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/templates/{name}/rollback",
            Admin,
            post(templates::rollback),
        ),
        r(Method::POST, "/api/v1/snapshots/sweep", Operate, post(act::sweep)),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/guests/{vmid}/backups",
            Operate,
            post(backups::create),
        ),
        r(Method::PATCH, "/api/v1/remotes/{remote}/backups", Operate, patch(backups::update)),
        r(Method::POST, "/api/v1/remotes/{remote}/backups/restore", Admin, post(backups::restore)),
        r(Method::POST, "/api/v1/remotes/{remote}/backups/prune", Operate, post(backups::prune)),
        r(Method::POST, "/api/v1/remotes/{remote}/nodes/{node}/drain", Admin, post(nodes::drain)),
        r(
            Method::POST,
            "/api/v1/remotes/{remote}/nodes/{node}/undrain",
            Admin,
            post(nodes::undrain),
        ),
        r(Method::GET, "/api/v1/remotes/{remote}/doctor", Admin, get(nodes::doctor)),
        r(Method::GET, "/api/v1/tags", Read, get(cluster::tags)),
        r(Method::GET, "/api/v1/jobs", Read, get(jobs::list)),
        r(Method::POST, "/api/v1/jobs", Admin, post(jobs::create)),
        r(Method::GET, "/api/v1/jobs/{name}", Read, get(jobs::show)),
        r(Method::PATCH, "/api/v1/jobs/{name}", Admin, patch(jobs::change)),
        r(Method::DELETE, "/api/v1/jobs/{name}", Admin, delete(jobs::delete)),
        r(Method::GET, "/api/v1/jobs/{name}/history", Read, get(jobs::history)),
        r(Method::POST, "/api/v1/jobs/{name}/run", Admin, post(jobs::run)),
        r(Method::GET, "/api/v1/notifications/targets", Admin, get(notifications::targets)),
        r(Method::POST, "/api/v1/notifications/targets", Admin, post(notifications::add_target)),
        r(
            Method::DELETE,
            "/api/v1/notifications/targets/{name}",
            Admin,
            delete(notifications::delete_target),
        ),
        r(Method::GET, "/api/v1/notifications/matchers", Admin, get(notifications::matchers)),
        r(Method::POST, "/api/v1/notifications/matchers", Admin, post(notifications::add_matcher)),
        r(
            Method::DELETE,
            "/api/v1/notifications/matchers/{name}",
            Admin,
            delete(notifications::delete_matcher),
        ),
        r(
            Method::GET,
            "/api/v1/notifications/dead-letters",
            Admin,
            get(notifications::dead_letters),
        ),
        r(Method::POST, "/api/v1/export", Admin, post(declare::export)),
        r(Method::POST, "/api/v1/adopt", Admin, post(declare::adopt)),
        r(Method::POST, "/api/v1/bulk", Operate, post(guests::bulk)),
        r(Method::GET, "/api/v1/events", Read, get(stream::events)),
        r(Method::GET, "/api/v1/operations", Read, get(meta::operations)),
        r(Method::GET, "/api/v1/operations/{id}", Read, get(meta::operation)),
        r(Method::GET, "/api/v1/tokens", Admin, get(tokens::list)),
        r(Method::POST, "/api/v1/plans", Admin, post(declare::create)),
        r(Method::POST, "/api/v1/plans/{id}/apply", Admin, post(declare::apply)),
        r(Method::POST, "/api/v1/drift", Admin, post(declare::drift)),
        r(Method::GET, "/api/v1/applies", Read, get(declare::history)),
        r(Method::GET, "/api/v1/charts", Read, get(releases::charts)),
        r(Method::GET, "/api/v1/charts/{name}", Read, get(releases::chart)),
        r(Method::POST, "/api/v1/charts/{name}/render", Read, post(releases::render)),
        r(Method::GET, "/api/v1/releases", Read, get(releases::list)),
        r(Method::POST, "/api/v1/releases", Admin, post(releases::install)),
        r(Method::GET, "/api/v1/releases/{name}", Read, get(releases::show)),
        r(Method::DELETE, "/api/v1/releases/{name}", Admin, delete(releases::uninstall)),
        r(Method::GET, "/api/v1/releases/{name}/manifest", Admin, get(releases::manifest)),
        r(Method::POST, "/api/v1/releases/{name}/upgrade", Admin, post(releases::upgrade)),
        r(Method::POST, "/api/v1/releases/{name}/rollback", Admin, post(releases::rollback)),
        // The MCP face: every token may connect; its role and scope limit the tools.
        r(Method::POST, "/mcp", Read, post(crate::mcp::handle)),
        r(Method::GET, "/api/v1/mcp/changes", Admin, get(changes::list)),
        r(Method::POST, "/api/v1/mcp/changes/{id}/approve", Admin, post(changes::approve)),
        r(Method::POST, "/api/v1/mcp/changes/{id}/reject", Admin, post(changes::reject)),
    ]
}

/// The answer to a request that started an operation: `202` once the operation is in the
/// state store, so a client may follow it through any instance at once.
pub(crate) async fn accepted(
    app: &App,
    op: crate::operations::Operation,
) -> (StatusCode, axum::Json<crate::operations::Operation>) {
    app.operations.flush().await;
    (StatusCode::ACCEPTED, axum::Json(op))
}

/// The most cores a guest may be given over the API (PVE's limit for containers).
pub(crate) const MAX_CORES: u64 = 8192;
/// The most memory, in MiB (4 TiB), a guest may be given over the API.
pub(crate) const MAX_MEMORY_MIB: u64 = 4 * 1024 * 1024;

/// Refuse `v` outside `lo..=hi`, as the OpenAPI document says.
pub(crate) fn in_range(what: &str, v: Option<u64>, lo: u64, hi: u64) -> Result<(), Problem> {
    match v {
        Some(v) if !(lo..=hi).contains(&v) => {
            Err(Problem::bad_request(format!("{what} must be {lo} to {hi}, not {v}")))
        }
        _ => Ok(()),
    }
}

/// Request bodies larger than this are refused (413) before a handler sees them.
pub const MAX_BODY: usize = 1024 * 1024;

/// The router: each route behind its guard.
pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for route in table() {
        let guard = from_fn_with_state((Arc::clone(&app), route.privilege), guard);
        let timed = from_fn_with_state((Arc::clone(&app), route.path), timed);
        router = router.route(route.path, route.handler.route_layer(guard).route_layer(timed));
    }
    // The dashboard's pages answer in HTML and authenticate by session, not by token.
    let ui = crate::ui::router(Arc::clone(&app));
    let ui_timed = from_fn_with_state((Arc::clone(&app), "dashboard"), timed);
    router = router.merge(ui.route_layer(ui_timed));
    let unknown = from_fn_with_state((Arc::clone(&app), Privilege::Read), guard);
    let unmatched = from_fn_with_state((Arc::clone(&app), "unmatched"), timed);
    router
        .fallback(not_found.layer(unknown).layer(unmatched))
        .layer(axum::middleware::map_response(crate::problem::normalize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

async fn not_found() -> Problem {
    Problem::not_found("no such route; the API is described at /api/v1/openapi.json")
}

/// Time the answer (authentication included), by route template: the label a histogram can
/// afford, unlike the path with its VMIDs.
async fn timed(
    State((app, route)): State<(Arc<App>, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    app.http.observe(method.as_str(), route, resp.status().as_u16(), secs);
    resp
}

/// Authenticate, authorise and rate-limit, then run the handler with the [`Caller`].
async fn guard(
    State((app, privilege)): State<(Arc<App>, Privilege)>,
    mut req: Request,
    next: Next,
) -> Response {
    if privilege == Privilege::Public {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::presented);
    let Some(token) = presented else {
        return Problem::unauthorized(AuthError::Missing.to_string()).into_response();
    };
    let caller = match app.auth.check(&token).await {
        Ok(c) => c,
        Err(e @ AuthError::Store(_)) => {
            return Problem::unavailable(format!("{e}; try again shortly")).into_response();
        }
        Err(e @ AuthError::TooManyFailures) => {
            let mut r = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", e.to_string())
                .into_response();
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            return r;
        }
        Err(e) => return Problem::unauthorized(e.to_string()).into_response(),
    };
    if !crate::auth::allows(caller.role, privilege) {
        return Problem::forbidden(format!(
            "token '{}' has the {} role; {} {} needs {}",
            caller.name,
            caller.role.as_str(),
            req.method(),
            req.uri().path(),
            needed(privilege)
        ))
        .into_response();
    }
    if !app.limits.allow(&caller.name) {
        let mut r = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("token '{}' sends more requests than its limit; slow down", caller.name),
        )
        .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    }
    tracing::info!(token = %caller.name, method = %req.method(), path = %req.uri().path(), "request");
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn needed(p: Privilege) -> &'static str {
    match p {
        Privilege::Public | Privilege::Read => "the viewer role or more",
        Privilege::Operate => "the operator role or more",
        Privilege::Admin => "the admin role",
    }
}

/// A whole number that JSON may write as `60` or `60.0` (both are integers to JSON Schema,
/// which the OpenAPI document promises), within `u32`.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    use serde::Deserialize;
    let Some(v) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let n = v
        .as_u64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    n.and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{v} is not a whole number of seconds")))
}

/// Token buckets per token name.
#[derive(Debug)]
pub struct RateLimits {
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimits {
    pub fn new(per_second: u32) -> Self {
        Self { per_second: f64::from(per_second.max(1)), buckets: Mutex::default() }
    }

    pub(crate) fn allow(&self, who: &str) -> bool {
        let burst = self.per_second * 2.0;
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, at) = b.entry(who.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Serve `router` over TLS until `stop` turns true; then stop accepting and let the
/// connections in flight finish their requests.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let (acceptor, router, watcher) = (acceptor.clone(), router.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A client that never finishes its handshake must not hold a task forever.
            let Ok(Ok(tls)) = tokio::time::timeout(IO_TIMEOUT, acceptor.accept(tcp)).await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let service = hyper_util::service::TowerToHyperService::new(router);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(IO_TIMEOUT)
                .serve_connection(io, service);
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serve `/metrics` and `/pve` over plain HTTP without a token until `stop` turns true: for
/// a Prometheus on the same host, as exporters are usually scraped.
pub async fn serve_metrics(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    async fn all(State(app): State<Arc<App>>) -> Response {
        metrics::scrape(&app).await.into_response()
    }
    async fn exporter(
        State(app): State<Arc<App>>,
        q: axum::extract::Query<metrics::Target>,
    ) -> Response {
        metrics::one(&app, q.0).await.into_response()
    }
    let router =
        Router::new().route("/metrics", get(all)).route("/pve", get(exporter)).with_state(app);
    let stopped = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

/// How long a connection may take to finish its handshake or send a request's headers. Long
/// enough that a loaded machine (CI running every suite at once) does not cut off clients
/// mid-handshake or between keep-alive requests; short enough that idle or trickling
/// connections do not pile up.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_per_method_and_only_probes_are_public() {
        let t = table();
        let mut seen = std::collections::BTreeSet::new();
        for r in &t {
            assert!(seen.insert((r.method.to_string(), r.path)), "{} {} twice", r.method, r.path);
            let probe = matches!(r.path, "/healthz" | "/readyz");
            assert_eq!(r.privilege == Privilege::Public, probe, "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn a_token_gets_twice_its_rate_at_once_and_then_waits() {
        let l = RateLimits::new(5);
        let allowed = (0..20).filter(|_| l.allow("ci")).count();
        assert_eq!(allowed, 10);
        assert!(l.allow("other"), "buckets are per token");
    }
}
