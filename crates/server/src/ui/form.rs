//! HTML forms: the CSRF and origin checks every change passes before its handler runs, and
//! the form body itself (`application/x-www-form-urlencoded`, with repeated fields kept, as
//! checkboxes send them).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use crate::problem::Problem;

/// A form's fields, in order.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of a field, trimmed; `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of a field.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a checkbox or confirmation field is set.
    pub fn yes(&self, key: &str) -> bool {
        matches!(self.get(key), Some("yes" | "true" | "on" | "1"))
    }

    /// The fields to carry through a confirmation page (not the CSRF token, which the page
    /// adds again, nor an earlier confirmation).
    pub fn carried(&self) -> Vec<(String, String)> {
        self.0.iter().filter(|(k, _)| k != "_csrf" && k != "confirm").cloned().collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Problem;

    async fn from_request(req: Request, _: &S) -> Result<Self, Problem> {
        let body = axum::body::to_bytes(req.into_body(), crate::routes::MAX_BODY)
            .await
            .map_err(|_| Problem::bad_request("the form is too large"))?;
        Ok(Form::parse(&body))
    }
}

/// Percent-encode a value for a URL's query.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Refuse a change that did not come from one of our pages: its origin must be ours (when the
/// browser says), and it must carry the session's CSRF token as the `_csrf` field or the
/// `x-csrf-token` header. The body is read here and handed on unchanged.
pub async fn checked(req: Request, csrf: &str) -> Result<Request, Problem> {
    let stale = || {
        Problem::forbidden(
            "this form is stale or came from another site (its CSRF token does not match your \
             session); reload the page and try again",
        )
    };
    let h = req.headers();
    let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match site {
        // The browser itself says where the request came from (Fetch Metadata): trusted over
        // comparing `Origin` with `Host`, which a TLS-terminating proxy may rewrite.
        Some("same-origin") => {}
        Some(other) => {
            return Err(Problem::forbidden(format!(
                "a change sent from another site ({other}) is refused; use the dashboard's own pages"
            )));
        }
        // An older browser: its `Origin` must be this server, as the client reached it (the
        // `Host`, or the `X-Forwarded-Host` a proxy sets; a page on another site cannot set
        // either on a form post).
        None => {
            if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
                let ours = |name: &str| {
                    h.get_all(name)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(|host| origin == format!("https://{}", host.trim()))
                };
                if !ours("host") && !ours("x-forwarded-host") {
                    return Err(Problem::forbidden(format!(
                        "a change sent from {origin} is refused; use the dashboard's own pages"
                    )));
                }
            }
        }
    }
    let header_token = h.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::routes::MAX_BODY)
        .await
        .map_err(|_| Problem::bad_request("the form is too large"))?;
    let form = Form::parse(&bytes);
    let sent = header_token.or_else(|| form.get("_csrf").map(str::to_string));
    match sent {
        Some(t) if super::session::same(&t, csrf) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(stale()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_fields_are_kept_and_empty_ones_are_absent() {
        let f =
            Form::parse(b"guest=a%2F100&guest=a%2F101&ttl=&action=snapshot&_csrf=x&confirm=yes");
        assert_eq!(f.all("guest"), ["a/100", "a/101"]);
        assert_eq!(f.get("ttl"), None);
        assert!(f.yes("confirm"));
        assert_eq!(f.carried().len(), 4);
        assert_eq!(encode("/guests?q=a b"), "%2Fguests%3Fq%3Da+b");
    }

    fn req(headers: &[(&str, &str)], body: &str) -> Request {
        let mut b = Request::builder().method("POST").uri("/guests/bulk");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn a_change_needs_the_sessions_csrf_token_and_our_origin() {
        let host = [("host", "h:1")];
        assert!(checked(req(&host, "_csrf=good&a=1"), "good").await.is_ok());
        assert!(checked(req(&[("x-csrf-token", "good")], "a=1"), "good").await.is_ok());
        assert!(checked(req(&host, "_csrf=bad"), "good").await.is_err());
        assert!(checked(req(&host, "a=1"), "good").await.is_err());
        let cross = [("host", "h:1"), ("origin", "https://evil.example")];
        assert!(checked(req(&cross, "_csrf=good"), "good").await.is_err());
        let same = [("host", "h:1"), ("origin", "https://h:1"), ("sec-fetch-site", "same-origin")];
        assert!(checked(req(&same, "_csrf=good"), "good").await.is_ok());
        assert!(
            checked(req(&[("sec-fetch-site", "cross-site")], "_csrf=good"), "good").await.is_err()
        );
        // Behind a proxy that rewrites Host: the browser's same-origin word is enough, and an
        // older browser's Origin may match the forwarded host.
        let proxied = [
            ("host", "10.0.0.5:8443"),
            ("origin", "https://px.example"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(checked(req(&proxied, "_csrf=good"), "good").await.is_ok());
        let old = [
            ("host", "10.0.0.5:8443"),
            ("origin", "https://px.example"),
            ("x-forwarded-host", "px.example"),
        ];
        assert!(checked(req(&old, "_csrf=good"), "good").await.is_ok());
        assert!(checked(req(&old[..2], "_csrf=good"), "good").await.is_err());
        // Whatever the headers, the CSRF token is still needed.
        assert!(checked(req(&proxied, "_csrf=bad"), "good").await.is_err());
        // The handler still gets the body.
        let ok = checked(req(&host, "_csrf=good&a=1"), "good").await.unwrap();
        let body = axum::body::to_bytes(ok.into_body(), 100).await.unwrap();
        assert_eq!(&body[..], b"_csrf=good&a=1");
    }
}
