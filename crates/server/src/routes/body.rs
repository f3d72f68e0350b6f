//! Request bodies: JSON objects only. serde lets a struct be read from a JSON array (its
//! fields in order), so `[null, null]` would pass as a request whose fields are all optional;
//! a body that is not an object is refused here, before any handler sees it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON object body, deserialized as `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

fn rejected(e: JsonRejection) -> Problem {
    let detail = e.body_text();
    match e.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", detail)
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
        }
        _ => Problem::bad_request(detail),
    }
}

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let Json(v) =
            Json::<serde_json::Value>::from_request(req, state).await.map_err(rejected)?;
        if !v.is_object() {
            return Err(Problem::bad_request("the request body must be a JSON object"));
        }
        serde_json::from_value(v)
            .map(Body)
            .map_err(|e| Problem::bad_request(format!("the request body does not fit: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Optional {
        a: Option<String>,
        b: Option<u32>,
    }

    async fn parse(body: &'static str) -> Result<Body<Optional>, Problem> {
        let req = Request::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .map_err(|e| Problem::internal(e.to_string()))?;
        Body::<Optional>::from_request(req, &()).await
    }

    #[tokio::test]
    async fn an_array_is_refused_even_when_every_field_is_optional() {
        let p = parse("[null, null]").await.unwrap_err();
        assert_eq!(p.status, 400);
        assert!(parse("{}").await.is_ok());
        assert_eq!(parse(r#"{"b": "x"}"#).await.unwrap_err().status, 400);
    }
}
