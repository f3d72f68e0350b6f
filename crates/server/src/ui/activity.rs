//! The pages that show what happens and what there is: operations, tasks and their logs,
//! templates, backups, jobs, notifications, the audit log and tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{UiResult, Viewer, finish, page};
use crate::App;
use crate::routes::cluster::{self, LogQuery, RemoteQuery, TaskQuery};
use crate::routes::{backups, guests, jobs, meta, notifications, templates, tokens};

fn to_value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

pub async fn operations(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let Json(mut ops) =
        meta::operations(State(Arc::clone(&app)), Extension(v.caller.clone())).await;
    ops.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    page(&app, &v, "operations.html", "tasks", "Operations", json!({ "ops": ops }))
}

pub async fn operation(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = async {
        let Json(op) =
            meta::operation(State(Arc::clone(&app)), Extension(v.caller.clone()), Path(id)).await?;
        if q.contains_key("part") {
            // htmx asks for the part alone, to swap it in place.
            let html = proxctl_dashboard::render("operation_part.html", json!({ "op": op }))
                .map_err(|e| crate::problem::Problem::internal(e.to_string()))?;
            return Ok((super::html_type(), html).into_response());
        }
        Ok(page(
            &app,
            &v,
            "operation.html",
            "tasks",
            "Operation",
            json!({ "op": op, "back": "/operations", "back_label": "all operations" }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn tasks(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let running = q.contains_key("running");
    let r = async {
        let tq = Query(TaskQuery { remote: None, running });
        let Json(list) =
            cluster::tasks(State(Arc::clone(&app)), Extension(v.caller.clone()), tq).await?;
        let mut items = list.items;
        items.sort_by_key(|t| std::cmp::Reverse(t.task.starttime));
        items.truncate(200);
        let timeline = timeline(&items, jiff::Timestamp::now().as_second());
        let data = json!({ "tasks": to_value(&items), "unavailable": to_value(&list.unavailable),
            "running": running, "timeline": timeline });
        if q.contains_key("part") {
            let mut ctx = data;
            if let Value::Object(m) = &mut ctx {
                m.insert("remotes".into(), json!(app.remotes().len()));
            }
            let html = proxctl_dashboard::render("tasks_part.html", ctx)
                .map_err(|e| crate::problem::Problem::internal(e.to_string()))?;
            return Ok((super::html_type(), html).into_response());
        }
        Ok(page(&app, &v, "tasks.html", "tasks", "Tasks", data))
    }
    .await;
    finish(&app, &v, r)
}

/// The last day's tasks on a line, one mark per task where it started (600 wide): failures
/// stand out against the routine.
fn timeline(items: &[cluster::TaskItem], now: i64) -> Value {
    const DAY: i64 = 86_400;
    let marks: Vec<Value> = items
        .iter()
        .filter_map(|t| {
            // PVE's clock may run ahead of ours: a task "from the future" started just now.
            let age = now - i64::try_from(t.task.starttime).ok()?;
            (-DAY..DAY).contains(&age).then(|| {
                let age = age.max(0);
                let status = match t.task.status.as_str() {
                    "OK" => "ok",
                    "running" | "" => "running",
                    _ => "failed",
                };
                json!({
                    "x": format!("{:.1}", 600.0 - age as f64 / DAY as f64 * 600.0),
                    "status": status,
                    "title": format!("{} {} on {}: {}", t.task.task_type, t.task.id, t.task.node, t.task.status),
                })
            })
        })
        .collect();
    let failed = marks.iter().filter(|m| m["status"] == "failed").count();
    json!({ "marks": marks, "failed": failed })
}

pub async fn task_log(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, upid)): Path<(String, String)>,
) -> Response {
    let r = async {
        let lq = Query(LogQuery { start: 0, limit: Some(5000) });
        let Json(log) = cluster::task_log(
            State(Arc::clone(&app)),
            Extension(v.caller.clone()),
            Path((remote.clone(), upid)),
            lq,
        )
        .await?;
        Ok(page(
            &app,
            &v,
            "task_log.html",
            "tasks",
            "Task log",
            json!({ "upid": log.upid, "lines": log.lines, "total": log.total, "remote": remote }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn templates(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let r: UiResult = async {
        let Json(list) = templates::list(
            State(Arc::clone(&app)),
            Extension(v.caller.clone()),
            Query(RemoteQuery { remote: None }),
        )
        .await?;
        let mut by_name: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for t in &list {
            let mut val = to_value(&t.version);
            if let Value::Object(m) = &mut val {
                m.insert("remote".into(), json!(t.remote));
            }
            by_name.entry(t.version.name.clone()).or_default().push(val);
        }
        let Json(catalog) = templates::catalog().await?;
        Ok(page(
            &app,
            &v,
            "templates.html",
            "templates",
            "Templates",
            json!({ "by_name": by_name, "catalog": to_value(&catalog),
            "remote_names": app.remotes().iter().map(|r| r.name.clone()).collect::<Vec<_>>() }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn backups(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let r: UiResult = async {
        let who = || Extension(v.caller.clone());
        let mut coverage = Vec::new();
        for remote in app.remotes() {
            let cq = Query(backups::CoverageQuery {
                remote: Some(remote.name.clone()),
                selector: None,
                max_age: None,
            });
            let Json(rows) = backups::coverage(State(Arc::clone(&app)), who(), cq).await?;
            coverage.extend(rows.into_iter().map(|c| {
                let mut val = to_value(&c);
                if let Value::Object(m) = &mut val {
                    m.insert("remote".into(), json!(remote.name));
                }
                val
            }));
        }
        let Json(mut list) =
            guests::backups(State(Arc::clone(&app)), who(), Query(RemoteQuery { remote: None }))
                .await?;
        list.sort_by_key(|b| std::cmp::Reverse(b.backup.ctime));
        Ok(page(
            &app,
            &v,
            "backups.html",
            "backups",
            "Backups",
            json!({ "coverage": coverage, "backups": to_value(&list) }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn jobs(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let r: UiResult = async {
        let Json(list) = jobs::list(State(Arc::clone(&app))).await?;
        Ok(page(&app, &v, "jobs.html", "jobs", "Jobs", json!({ "jobs": to_value(&list) })))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn job(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(name): Path<String>,
) -> Response {
    let r: UiResult = async {
        let hq = Query(jobs::HistoryQuery { limit: Some(100) });
        let Json(runs) = jobs::history(
            State(Arc::clone(&app)),
            Extension(v.caller.clone()),
            Path(name.clone()),
            hq,
        )
        .await?;
        Ok(page(
            &app,
            &v,
            "job.html",
            "jobs",
            &format!("Job {name}"),
            json!({ "name": name, "runs": runs }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn notifications(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
) -> Response {
    let r: UiResult = async {
        let who = || Extension(v.caller.clone());
        let Json(targets) = notifications::targets(State(Arc::clone(&app)), who()).await?;
        let Json(matchers) = notifications::matchers(State(Arc::clone(&app)), who()).await?;
        let Json(dead) = notifications::dead_letters(State(Arc::clone(&app)), who()).await?;
        Ok(page(
            &app,
            &v,
            "notifications.html",
            "notifications",
            "Notifications",
            json!({ "targets": targets, "matchers": matchers, "dead": dead }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn audit(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r: UiResult = async {
        let get = |k: &str| q.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let last = get("last").and_then(|l| l.parse().ok()).unwrap_or(200);
        let aq = meta::AuditQuery { actor: get("actor"), target: get("target"), last: Some(last) };
        let Json(a) =
            meta::audit(State(Arc::clone(&app)), Extension(v.caller.clone()), Query(aq)).await?;
        let mut rows = a.rows;
        rows.reverse();
        Ok(page(
            &app,
            &v,
            "audit.html",
            "audit",
            "Audit log",
            json!({
                "rows": to_value(&rows), "chain_ok": a.chain_ok, "problems": a.problems,
                "actor": get("actor"), "target": get("target"), "last": last,
            }),
        ))
    }
    .await;
    finish(&app, &v, r)
}

pub async fn tokens(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let r: UiResult = async {
        let Json(list) = tokens::list(State(Arc::clone(&app)), Extension(v.caller.clone())).await?;
        Ok(page(&app, &v, "tokens.html", "tokens", "Tokens", json!({ "tokens": to_value(&list) })))
    }
    .await;
    finish(&app, &v, r)
}
