//! Signing in with an API token, and out. A sign-in is audited like any change, under the
//! token's name; so is a sign-out.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, extract::FromRequest};

use super::form::Form;
use super::{Viewer, session};
use crate::App;
use crate::auth::AuthError;

fn login_page(status: StatusCode, error: Option<&str>, next: &str) -> Response {
    let ctx = serde_json::json!({
        "error": error,
        "next": next,
        "idle_minutes": session::IDLE.as_secs() / 60,
        "absolute_hours": session::ABSOLUTE.as_secs() / 3600,
    });
    match proxctl_dashboard::render("login.html", ctx) {
        Ok(body) => (status, super::html_type(), body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the sign-in page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the sign-in page failed to render").into_response()
        }
    }
}

/// Where to go after signing in: only a path on this server (never `//elsewhere`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub async fn page(Query(q): Query<HashMap<String, String>>) -> Response {
    login_page(StatusCode::OK, None, &safe_next(q.get("next").map(String::as_str)))
}

async fn audit(app: &App, actor: &str, action: &str) {
    let entry = proxctl_state::NewAuditEntry {
        time: jiff::Timestamp::now(),
        actor: actor.to_string(),
        profile: "dashboard".into(),
        target: "dashboard/session".into(),
        action: action.into(),
        params: serde_json::json!({}),
        result: "ok".into(),
    };
    let written = match app.state.get().await {
        Ok(store) => store.append_audit(&entry).await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, actor, action, "cannot audit a dashboard sign-in or sign-out");
    }
}

pub async fn sign_in(State(app): State<Arc<App>>, req: Request) -> Response {
    let h = req.headers();
    let foreign =
        h.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|s| s != "same-origin")
            || h.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_some_and(|o| {
                let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
                o != format!("https://{host}")
            });
    let Ok(form) = Form::from_request(req, &()).await else {
        return login_page(StatusCode::BAD_REQUEST, Some("the form is too large"), "/");
    };
    let next = safe_next(form.get("next"));
    if foreign {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("a sign-in sent from another site is refused; sign in here"),
            &next,
        );
    }
    let Some(token) = form.get("token").map(str::to_string) else {
        return login_page(StatusCode::BAD_REQUEST, Some("enter an API token"), &next);
    };
    let caller = match app.auth.check(&token).await {
        Ok(c) => c,
        Err(e @ (AuthError::Store(_) | AuthError::TooManyFailures)) => {
            return login_page(StatusCode::SERVICE_UNAVAILABLE, Some(&e.to_string()), &next);
        }
        Err(_) => {
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some("that token is not valid, or has expired or been revoked"),
                &next,
            );
        }
    };
    let Some(token_id) = crate::auth::token_id(&token) else {
        return login_page(StatusCode::UNAUTHORIZED, Some("that token is not valid"), &next);
    };
    let id = match app.ui.create(token_id).await {
        Ok(id) => id,
        Err(e) => {
            let msg = format!("the session cannot be kept: {e}; try again shortly");
            return login_page(StatusCode::SERVICE_UNAVAILABLE, Some(&msg), &next);
        }
    };
    audit(&app, &caller.name, "sign-in").await;
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn sign_out(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    req: Request,
) -> Response {
    if let Some(id) = session::from_headers(req.headers())
        && let Err(e) = app.ui.end(&id).await
    {
        return super::plain_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("signing out failed: {e}; try again shortly"),
        );
    }
    audit(&app, &v.caller.name, "sign-out").await;
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(c) = HeaderValue::from_str(&session::clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_server_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/guests?q=web")), "/guests?q=web");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "guests"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
