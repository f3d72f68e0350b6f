//! `GET /api/v1/events`: the event feed as server-sent events. A scoped token gets only the
//! events of its own work (it must not learn of guests outside its scope); other tokens get
//! everything. A client too slow to keep up is told how many events it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::events::Event;
use crate::problem::Problem;
use crate::{App, Caller};

#[utoipa::path(get, path = "/api/v1/events", tag = "operations",
    responses((status = 200, description = "Server-sent events, one JSON `Event` each", content_type = "text/event-stream", body = Event),
        (status = 401, body = Problem)))]
pub async fn events(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.events.subscribe();
    let stream = futures_util::stream::unfold((rx, caller), |(mut rx, caller)| async move {
        loop {
            let sse = match rx.recv().await {
                Ok(e) if caller.scope.is_some() && e.actor != caller.name => continue,
                Ok(e) => SseEvent::default()
                    .id(e.seq.to_string())
                    .event(kind(&e))
                    .json_data(&*e)
                    .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
                Err(RecvError::Lagged(n)) => {
                    SseEvent::default().event("lagged").data(n.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(sse), (rx, caller)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn kind(e: &Event) -> &'static str {
    match e.body {
        crate::events::EventBody::Operation(_) => "operation",
        crate::events::EventBody::Call { .. } => "call",
        crate::events::EventBody::Task { .. } => "task",
    }
}
