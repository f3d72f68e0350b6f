//! Errors as RFC 9457 problem details, in the same classes as the CLI's exit codes: bad
//! request (1), not found, conflict, Proxmox's error with its message (3), the rest (2).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use proxctl_ops::{ErrorClass, OpsError};
use serde::{Deserialize, Serialize};

/// A problem detail (`application/problem+json`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:proxctl:problem:<class>`: what kind of failure, for programs.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    pub status: u16,
    /// What failed and what to do next, for people.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, class: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:proxctl:problem:{class}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "system", detail)
    }
}

/// The whole chain of causes, as the CLI prints it, so a problem says why, not just what.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

impl From<OpsError> for Problem {
    fn from(e: OpsError) -> Self {
        let detail = chain(&e);
        match ErrorClass::of(&e) {
            ErrorClass::Invalid => Problem::bad_request(detail),
            ErrorClass::NotFound => Problem::not_found(detail),
            ErrorClass::Conflict => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            ErrorClass::Proxmox => Problem::new(StatusCode::BAD_GATEWAY, "proxmox", detail),
            ErrorClass::Unavailable => Problem::unavailable(detail),
            ErrorClass::System => {
                tracing::error!(error = %detail, "request failed");
                Problem::internal(detail)
            }
        }
    }
}

impl From<proxctl_client::ClientError> for Problem {
    fn from(e: proxctl_client::ClientError) -> Self {
        OpsError::Client(e).into()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut r = (status, Json(self)).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if unauthorized {
            // Lets a browser ask for the token (as a Basic password) on the reference page.
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, Basic realm=\"proxctl\""),
            );
        }
        r
    }
}

pub type ApiResult<T> = Result<T, Problem>;

/// Turn error answers made outside the handlers (axum's rejections of a bad query, path or
/// body, a wrong method, a body too large) into problems too, so every error has one shape.
pub async fn normalize(resp: Response) -> Response {
    let status = resp.status();
    // Handlers answer errors in JSON (problems, or a readiness report); axum's own
    // rejections are plain text or empty.
    let is_json = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/") && v.as_bytes().ends_with(b"json")
    });
    // The dashboard's error pages are already what a browser should show.
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_html {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    match status {
        // A body that does not fit the type is bad input like any other.
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Problem::bad_request(detail),
        StatusCode::NOT_FOUND => Problem::not_found(detail),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(status, "too-large", detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(status, "unsupported-media-type", detail)
        }
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(status, "method-not-allowed", detail),
        s if s.is_client_error() => Problem::new(s, "invalid", detail),
        s => Problem::new(s, "system", detail),
    }
    .into_response()
}
