//! Plans: paste manifests, see the plan as a coloured diff, apply exactly what was shown (by
//! its digest) and follow the apply's progress; or check drift against the cluster.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::json;

use super::form::Form;
use super::{UiResult, Viewer, finish, follow};
use crate::App;
use crate::routes::body::Body;
use crate::routes::declare::{self, ApplyRequest, HistoryQuery, PlanRequest};

async fn history(app: &Arc<App>) -> serde_json::Value {
    match declare::history(State(Arc::clone(app)), Query(HistoryQuery { limit: Some(20) })).await {
        Ok(Json(h)) => serde_json::to_value(h).unwrap_or_default(),
        Err(_) => json!([]),
    }
}

async fn page_get(
    app: &Arc<App>,
    v: &Viewer,
    manifests: &str,
    prune: bool,
    error: Option<String>,
) -> Response {
    let applies = history(app).await;
    super::page(
        app,
        v,
        "plans.html",
        "plans",
        "Plans",
        json!({ "applies": applies, "manifests": manifests, "prune": prune, "error": error }),
    )
}

pub async fn show(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    page_get(&app, &v, "", false, None).await
}

/// How a plan line reads: added, removed or changed.
fn class(line: &str) -> &'static str {
    match line.trim_start().chars().next() {
        Some('+') => "add",
        Some('-') => "del",
        Some('~') | Some('!') => "chg",
        _ => "",
    }
}

pub async fn plan(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    form: Form,
) -> Response {
    let manifests = form.get("manifests").unwrap_or_default().to_string();
    let prune = form.yes("prune");
    let drift = form.get("mode") == Some("drift");
    let req = PlanRequest {
        manifests: manifests.clone(),
        prune,
        remote: form.get("remote").map(str::to_string),
    };
    let who = Extension(v.caller.clone());
    let answer = if drift {
        declare::drift(State(Arc::clone(&app)), who, Body(req)).await.map(|Json(a)| a)
    } else {
        declare::create(State(Arc::clone(&app)), who, Body(req)).await.map(|(_, Json(a))| a)
    };
    match answer {
        Ok(a) => {
            let lines: Vec<_> =
                a.text.lines().map(|l| json!({ "text": l, "class": class(l) })).collect();
            super::page(
                &app,
                &v,
                "plan.html",
                "plans",
                if drift { "Drift" } else { "Plan" },
                json!({ "plan": a, "lines": lines, "drift": drift }),
            )
        }
        // Manifests with mistakes go back to the form, with what is wrong and where.
        Err(p) if p.status == 400 => page_get(&app, &v, &manifests, prune, Some(p.detail)).await,
        Err(p) => super::problem_page(&app, &v, p),
    }
}

pub async fn apply(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let req = ApplyRequest { digest: form.get("digest").map(str::to_string), parallel: None };
    let r: UiResult = declare::apply(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        axum::extract::Path(id),
        Body(req),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}
