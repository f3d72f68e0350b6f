//! The web dashboard: server-rendered pages at `/`, for people who would rather look than
//! type. Every page gathers its data by calling the REST handlers (so it sees exactly what the
//! API shows the same token: its role, its scope) and renders it with `proxctl-dashboard`'s
//! templates; every action calls the REST handler that does it and follows the operation it
//! starts. The dashboard adds only what a browser needs: sessions, CSRF tokens, confirmations.

mod act;
mod activity;
mod fleet;
mod form;
mod graphs;
mod plans;
pub mod session;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::auth::{AuthError, Privilege};
use crate::problem::Problem;
use crate::routes::{Route, r};
use crate::{App, Caller};

pub use form::Form;

/// Every dashboard route, in the API's [`Route`] shape. Pages are GET with [`Privilege::Read`]; each POST declares what the
/// API route it calls declares, and that handler checks again.
pub fn table() -> Vec<Route> {
    use Privilege::*;
    vec![
        r(Method::GET, "/", Read, get(fleet::overview)),
        r(Method::GET, "/guests", Read, get(fleet::guests)),
        r(Method::GET, "/guests/{remote}/{vmid}", Read, get(fleet::guest)),
        r(Method::POST, "/guests/bulk", Operate, post(act::bulk)),
        r(Method::POST, "/guests/{remote}/{vmid}/power", Operate, post(act::power)),
        r(Method::POST, "/guests/{remote}/{vmid}/snapshots", Operate, post(act::snapshot)),
        r(
            Method::POST,
            "/guests/{remote}/{vmid}/snapshots/{name}/delete",
            Operate,
            post(act::snapshot_delete),
        ),
        r(
            Method::POST,
            "/guests/{remote}/{vmid}/snapshots/{name}/rollback",
            Operate,
            post(act::snapshot_rollback),
        ),
        r(Method::GET, "/operations", Read, get(activity::operations)),
        r(Method::GET, "/operations/{id}", Read, get(activity::operation)),
        r(Method::GET, "/tasks", Read, get(activity::tasks)),
        r(Method::GET, "/events", Read, get(crate::routes::stream::events)),
        r(Method::GET, "/tasks/{remote}/{upid}", Read, get(activity::task_log)),
        r(Method::GET, "/templates", Read, get(activity::templates)),
        r(Method::POST, "/templates/{remote}/{name}/rollback", Admin, post(act::template_rollback)),
        r(Method::POST, "/templates/{remote}/build", Admin, post(act::template_build)),
        r(Method::GET, "/backups", Read, get(activity::backups)),
        r(Method::POST, "/backups/{remote}/protect", Operate, post(act::backup_protect)),
        r(Method::POST, "/backups/{remote}/restore", Admin, post(act::backup_restore)),
        r(Method::GET, "/plans", Read, get(plans::show)),
        r(Method::POST, "/plans", Admin, post(plans::plan)),
        r(Method::POST, "/plans/{id}/apply", Admin, post(plans::apply)),
        r(Method::GET, "/jobs", Read, get(activity::jobs)),
        r(Method::GET, "/jobs/{name}", Read, get(activity::job)),
        r(Method::POST, "/jobs/{name}/run", Admin, post(act::job_run)),
        r(Method::GET, "/notifications", Admin, get(activity::notifications)),
        r(Method::GET, "/audit", Admin, get(activity::audit)),
        r(Method::GET, "/tokens", Admin, get(activity::tokens)),
        r(Method::POST, "/logout", Read, post(sign_in::sign_out)),
    ]
}

/// The dashboard's router: sign-in and assets are open; every page is behind the session
/// guard. Every answer gets the security headers.
pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    let mut router = Router::new()
        .route("/login", get(sign_in::page).post(sign_in::sign_in))
        .route("/assets/{file}", get(asset));
    for route in table() {
        let guard = from_fn_with_state((Arc::clone(&app), route.privilege), guard);
        router = router.route(route.path, route.handler.route_layer(guard));
    }
    router.layer(from_fn(headers))
}

/// What the pages' own CSP allows: our scripts and styles only, no framing, forms to us.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; \
                   object-src 'none'";

async fn headers(req: Request, next: Next) -> Response {
    let gzip_ok = accepts_gzip(req.headers());
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if gzip_ok { gzip_page(resp).await } else { resp }
}

fn accepts_gzip(h: &axum::http::HeaderMap) -> bool {
    h.get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// Pages are a few dozen KiB of repetitive HTML: gzip'd, a sixth of that. Only whole HTML
/// pages (never the event stream, which must flow as it comes).
async fn gzip_page(resp: Response) -> Response {
    use std::io::Write;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !html || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the page is too large").into_response();
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    match enc.write_all(&bytes).and_then(|()| enc.finish()) {
        Ok(gz) => {
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(gz))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// What a handler knows about the signed-in browser.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    pub csrf: String,
}

/// Check the session, the role, the rate, and for changes the origin and the CSRF token; then
/// run the page with the [`Caller`] the session's token stands for.
async fn guard(
    State((app, privilege)): State<(Arc<App>, Privilege)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(id) = session::from_headers(req.headers()) else {
        return sign_in_first(&req);
    };
    let s = match app.ui.touch(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return sign_in_first(&req),
        Err(e) => {
            let msg = format!("sessions cannot be read: {e}; try again shortly");
            return plain_error(StatusCode::SERVICE_UNAVAILABLE, &msg);
        }
    };
    let caller = match app.auth.by_id(&s.token_id).await {
        Ok(c) => c,
        Err(e @ AuthError::Store(_)) => {
            return plain_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{e}; try again shortly"),
            );
        }
        Err(_) => {
            // Revoked or expired since sign-in: the session ends with it.
            if let Err(e) = app.ui.end(&id).await {
                tracing::warn!("a revoked token's session could not be ended: {e}");
            }
            return sign_in_first(&req);
        }
    };
    let viewer = Viewer { caller, csrf: s.csrf.clone() };
    if !crate::auth::allows(viewer.caller.role, privilege) {
        let p = Problem::forbidden(format!(
            "your token '{}' has the {} role; this needs {}",
            viewer.caller.name,
            viewer.caller.role.as_str(),
            match privilege {
                Privilege::Public | Privilege::Read => "the viewer role",
                Privilege::Operate => "the operator role",
                Privilege::Admin => "the admin role",
            }
        ));
        return problem_page(&app, &viewer, p);
    }
    if !app.limits.allow(&viewer.caller.name) {
        return plain_error(StatusCode::TOO_MANY_REQUESTS, "too many requests; slow down");
    }
    let req = if req.method() == Method::GET || req.method() == Method::HEAD {
        req
    } else {
        match form::checked(req, &s.csrf).await {
            Ok(req) => req,
            Err(p) => return problem_page(&app, &viewer, p),
        }
    };
    tracing::info!(token = %viewer.caller.name, method = %req.method(), path = %req.uri().path(), "dashboard");
    let mut req = req;
    req.extensions_mut().insert(viewer.caller.clone());
    req.extensions_mut().insert(viewer);
    next.run(req).await
}

/// Pages send a browser without a session to sign in, and back afterwards; changes without a
/// session are refused (their form would be lost anyway).
fn sign_in_first(req: &Request) -> Response {
    if req.method() == Method::GET {
        let next = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let to = format!("/login?next={}", form::encode(next));
        return Redirect::to(&to).into_response();
    }
    plain_error(StatusCode::UNAUTHORIZED, "your session has ended; sign in again")
}

/// A bare HTML error, for answers before a session is known.
fn plain_error(status: StatusCode, detail: &str) -> Response {
    let body = proxctl_dashboard::render(
        "login.html",
        serde_json::json!({ "error": detail, "next": "/", "idle_minutes": session::IDLE.as_secs() / 60,
            "absolute_hours": session::ABSOLUTE.as_secs() / 3600 }),
    )
    .unwrap_or_else(|_| detail.to_string());
    (status, html_type(), body).into_response()
}

fn html_type() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))]
}

/// One item of the navigation.
#[derive(Serialize)]
struct Nav {
    key: &'static str,
    label: &'static str,
    href: &'static str,
}

fn nav(caller: &Caller) -> Vec<Nav> {
    let admin = crate::auth::allows(caller.role, Privilege::Admin);
    let mut n = vec![
        Nav { key: "overview", label: "Overview", href: "/" },
        Nav { key: "guests", label: "Guests", href: "/guests" },
        Nav { key: "templates", label: "Templates", href: "/templates" },
        Nav { key: "backups", label: "Backups", href: "/backups" },
        Nav { key: "tasks", label: "Tasks", href: "/tasks" },
        Nav { key: "plans", label: "Plans", href: "/plans" },
        Nav { key: "jobs", label: "Jobs", href: "/jobs" },
    ];
    if admin {
        n.push(Nav { key: "notifications", label: "Notifications", href: "/notifications" });
        n.push(Nav { key: "audit", label: "Audit", href: "/audit" });
        n.push(Nav { key: "tokens", label: "Tokens", href: "/tokens" });
    }
    n
}

/// Render a page: `data` (an object) plus what every page has (who is signed in and what
/// they may press, the CSRF token, the navigation).
pub(crate) fn page(
    app: &App,
    v: &Viewer,
    template: &str,
    active: &str,
    title: &str,
    data: serde_json::Value,
) -> Response {
    page_with_status(app, v, StatusCode::OK, template, active, title, data)
}

fn page_with_status(
    app: &App,
    v: &Viewer,
    status: StatusCode,
    template: &str,
    active: &str,
    title: &str,
    data: serde_json::Value,
) -> Response {
    let mut ctx = serde_json::json!({
        "me": {
            "name": v.caller.name,
            "role": v.caller.role.as_str(),
            "operate": crate::auth::allows(v.caller.role, Privilege::Operate),
            "admin": crate::auth::allows(v.caller.role, Privilege::Admin),
            "scoped": v.caller.scope.is_some(),
        },
        "csrf": v.csrf,
        "nav": nav(&v.caller),
        "active": active,
        "title": title,
        "remotes": app.remotes().len(),
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (ctx.as_object_mut(), data) {
        base.extend(extra);
    }
    match proxctl_dashboard::render(template, &ctx) {
        Ok(body) => (status, html_type(), body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page failed to render");
            plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this page failed to render; see the server's log",
            )
        }
    }
}

/// A problem as a page, with its status: what failed and what to do next.
pub(crate) fn problem_page(app: &App, v: &Viewer, p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page_with_status(
        app,
        v,
        status,
        "error.html",
        "",
        &p.title,
        serde_json::json!({ "detail": p.detail }),
    )
}

/// The page's answer, or its problem as a page.
pub(crate) type UiResult = Result<Response, Problem>;

/// Answer a handler's result: a problem becomes a page.
pub(crate) fn finish(app: &App, v: &Viewer, r: UiResult) -> Response {
    r.unwrap_or_else(|p| problem_page(app, v, p))
}

/// An operation started: follow it on its page.
pub(crate) fn follow(op: &crate::operations::Operation) -> Response {
    Redirect::to(&format!("/operations/{}", op.id)).into_response()
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>, req: Request) -> Response {
    let Some(a) = proxctl_dashboard::assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let h = req.headers();
    if h.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(a.etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let gzip = h
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut resp = if gzip && !a.gzip.is_empty() {
        let mut r = a.gzip.clone().into_response();
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.body.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // The name carries the content's hash: it never changes under the same name.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&a.etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_paths_are_unique_and_changes_need_more_than_reading() {
        let mut seen = std::collections::BTreeSet::new();
        let api: Vec<_> = crate::routes::table().into_iter().map(|r| r.path).collect();
        for r in table() {
            assert!(seen.insert((r.method.to_string(), r.path)), "{} {}", r.method, r.path);
            assert!(!api.contains(&r.path), "{} is also an API path", r.path);
            assert!(r.privilege != Privilege::Public, "{} is behind the session guard", r.path);
            if r.method == Method::POST && r.path != "/logout" {
                assert!(r.privilege >= Privilege::Operate, "{} changes something", r.path);
            }
        }
    }
}
