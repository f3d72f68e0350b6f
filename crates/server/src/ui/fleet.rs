//! The fleet pages: the overview, the guest table (selector search, filters, sorting, paging)
//! and one guest's page. Each reads through the REST handlers, as the caller's token.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{UiResult, Viewer, finish, form::encode, page};
use crate::App;
use crate::problem::Problem;
use crate::routes::cluster::{RemoteQuery, TaskQuery};
use crate::routes::guests::{Guest, GuestQuery};
use crate::routes::{attention, cluster, guests, inspect};

/// Every guest the caller may see, over all pages of the API's list.
pub(super) async fn all_guests(
    app: &Arc<App>,
    v: &Viewer,
    selector: Option<String>,
) -> Result<(Vec<Guest>, Vec<cluster::Unavailable>), Problem> {
    const PAGE: usize = 5000;
    let (mut out, mut unavailable, mut offset) = (Vec::new(), Vec::new(), 0);
    loop {
        let q = GuestQuery {
            remote: None,
            selector: selector.clone(),
            kind: None,
            offset,
            limit: Some(PAGE),
        };
        let Json(list) =
            guests::list(State(Arc::clone(app)), Extension(v.caller.clone()), Query(q)).await?;
        let got = list.items.len();
        out.extend(list.items);
        if unavailable.is_empty() {
            unavailable.extend(list.unavailable);
        }
        offset += got;
        if got == 0 || offset >= list.total {
            break;
        }
    }
    Ok((out, unavailable))
}

fn to_value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

pub async fn overview(State(app): State<Arc<App>>, Extension(v): Extension<Viewer>) -> Response {
    let r = overview_page(&app, &v).await;
    finish(&app, &v, r)
}

async fn overview_page(app: &Arc<App>, v: &Viewer) -> UiResult {
    let all = || Query(RemoteQuery { remote: None });
    let Json(nodes) = cluster::nodes(State(Arc::clone(app)), all()).await?;
    let Json(storage) = cluster::storage(State(Arc::clone(app)), all()).await?;
    let (guests, _) = all_guests(app, v, None).await?;
    let live: Vec<&Guest> = guests.iter().filter(|g| !g.guest.template).collect();
    let running = live.iter().filter(|g| g.guest.status == "running").count();
    let mut by_cpu: Vec<&&Guest> = live.iter().filter(|g| g.guest.status == "running").collect();
    by_cpu.sort_by(|a, b| b.guest.cpu.total_cmp(&a.guest.cpu));
    let mut by_mem = by_cpu.clone();
    by_mem.sort_by_key(|g| std::cmp::Reverse(g.guest.mem));

    let aq =
        Query(attention::AttentionQuery { remote: None, backup_age: None, snapshot_age: None });
    let Json(items) =
        attention::list(State(Arc::clone(app)), Extension(v.caller.clone()), aq).await?;
    let attention: Vec<Value> = items.iter().map(attention_row).collect();
    let top = |list: &[&&Guest]| -> Vec<Value> { list.iter().take(5).map(to_value).collect() };
    Ok(page(
        app,
        v,
        "overview.html",
        "overview",
        "Overview",
        json!({
            "nodes": to_value(&nodes.items),
            "unavailable": to_value(&nodes.unavailable),
            "storage": to_value(&storage.items),
            "counts": {
                "running": running,
                "stopped": live.len() - running,
                "total": live.len(),
                "templates": guests.len() - live.len(),
            },
            "top_cpu": top(&by_cpu),
            "top_mem": top(&by_mem),
            "attention": attention,
        }),
    ))
}

/// An attention item as the overview lists it: its level, its sentence and where to look.
fn attention_row(i: &proxctl_ops::attention::Item) -> Value {
    use proxctl_ops::attention::Concern as C;
    let remote = i.remote.as_deref().unwrap_or_default();
    let href = match &i.concern {
        C::TaskFailed { upid, .. } => Some(format!("/tasks/{remote}/{}", encode(upid))),
        C::MoreTasksFailed { .. } => Some("/tasks".into()),
        C::NoRecentBackup { .. } => Some("/backups".into()),
        C::JobFailed { job, .. } | C::Drift { job, .. } => Some(format!("/jobs/{}", encode(job))),
        C::SnapshotOld { vmid, .. } => Some(format!("/guests/{remote}/{vmid}")),
        _ => None,
    };
    json!({ "level": i.level, "text": i.text, "href": href })
}

/// Rows per page of the guest table.
const PER_PAGE: usize = 100;
const SORTS: [(&str, &str, bool); 7] = [
    ("vmid", "VMID", true),
    ("name", "Name", false),
    ("type", "Type", false),
    ("node", "Node", false),
    ("status", "Status", false),
    ("cpu", "CPU", true),
    ("mem", "Memory", true),
];

pub async fn guests(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = guests_page(&app, &v, &q).await;
    finish(&app, &v, r)
}

async fn guests_page(app: &Arc<App>, v: &Viewer, q: &HashMap<String, String>) -> UiResult {
    let get = |k: &str| q.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let (sel, node, status, tag) = (get("q"), get("node"), get("status"), get("tag"));
    let sort = get("sort")
        .filter(|s| SORTS.iter().any(|(k, _, _)| k == s))
        .unwrap_or_else(|| "vmid".into());
    let desc = get("dir").as_deref() == Some("desc");
    let offset: usize = get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let (mut rows, unavailable, error) = match all_guests(app, v, sel.clone()).await {
        Ok((rows, u)) => (rows, u, None),
        // A selector that does not parse is the user's to fix on this page.
        Err(p) if p.status == 400 => (Vec::new(), Vec::new(), Some(p.detail)),
        Err(p) => return Err(p),
    };
    let node_names: BTreeSet<String> = rows.iter().map(|g| g.guest.node.clone()).collect();
    let tag_names: BTreeSet<String> = rows.iter().flat_map(|g| g.guest.tags.clone()).collect();
    rows.retain(|g| {
        node.as_ref().is_none_or(|n| &g.guest.node == n)
            && status.as_ref().is_none_or(|s| &g.guest.status == s)
            && tag.as_ref().is_none_or(|t| g.guest.tags.contains(t))
    });
    rows.sort_by(|a, b| {
        let (a, b) = (&a.guest, &b.guest);
        let o = match sort.as_str() {
            "name" => a.name.cmp(&b.name),
            "type" => a.kind.cmp(&b.kind),
            "node" => a.node.cmp(&b.node),
            "status" => a.status.cmp(&b.status),
            "cpu" => a.cpu.total_cmp(&b.cpu),
            "mem" => a.mem.cmp(&b.mem),
            _ => a.vmid.cmp(&b.vmid),
        };
        let o = o.then(a.vmid.cmp(&b.vmid));
        if desc { o.reverse() } else { o }
    });
    let total = rows.len();
    let items: Vec<Value> = rows.iter().skip(offset).take(PER_PAGE).map(to_value).collect();
    let link = |sort: &str, desc: bool, offset: usize| {
        let mut parts = Vec::new();
        for (k, val) in [("q", &sel), ("node", &node), ("status", &status), ("tag", &tag)] {
            if let Some(val) = val {
                parts.push(format!("{k}={}", encode(val)));
            }
        }
        parts.push(format!("sort={sort}"));
        if desc {
            parts.push("dir=desc".into());
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        format!("/guests?{}", parts.join("&"))
    };
    let columns: Vec<Value> = SORTS
        .iter()
        .map(|(key, label, num)| {
            let here = *key == sort;
            json!({
                "label": label,
                "num": num,
                "href": link(key, here && !desc, 0),
                "sorted": here.then_some(if desc { "descending" } else { "ascending" }),
            })
        })
        .collect();
    let prev = (offset > 0).then(|| link(&sort, desc, offset.saturating_sub(PER_PAGE)));
    let next = (offset + PER_PAGE < total).then(|| link(&sort, desc, offset + PER_PAGE));
    Ok(page(
        app,
        v,
        "guests.html",
        "guests",
        "Guests",
        json!({
            "q": sel.unwrap_or_default(), "node": node, "status": status, "tag": tag,
            "sort": sort, "offset": offset, "total": total, "items": items,
            "columns": columns, "prev_href": prev, "next_href": next,
            "node_names": node_names, "tag_names": tag_names,
            "unavailable": to_value(&unavailable), "error": error,
        }),
    ))
}

pub async fn guest(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, vmid)): Path<(String, u32)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = guest_page(&app, &v, remote, vmid, q.get("timeframe").cloned()).await;
    finish(&app, &v, r)
}

async fn guest_page(
    app: &Arc<App>,
    v: &Viewer,
    remote: String,
    vmid: u32,
    timeframe: Option<String>,
) -> UiResult {
    let timeframe = timeframe
        .filter(|t| ["hour", "day", "week"].contains(&t.as_str()))
        .unwrap_or_else(|| "hour".into());
    let path = || Path((remote.clone(), vmid));
    let who = || Extension(v.caller.clone());
    let Json(detail) = guests::detail(State(Arc::clone(app)), who(), path()).await?;
    let Json(description) = inspect::describe(State(Arc::clone(app)), who(), path()).await?;
    let Json(snapshots) = guests::snapshots(State(Arc::clone(app)), who(), path()).await?;
    let rq = Query(inspect::RrdQuery { timeframe: Some(timeframe.clone()) });
    let (graphs, graph_error) =
        match inspect::rrddata(State(Arc::clone(app)), who(), path(), rq).await {
            Ok(Json(rows)) => (super::graphs::series(&rows), None),
            Err(p) => (Vec::new(), Some(p.detail)),
        };
    // A manifest's guest: how it differs from what was applied (an error here must not cost
    // the rest of the page).
    let (desired, desired_error) =
        match inspect::desired(State(Arc::clone(app)), who(), path()).await {
            Ok(Json(d)) => (to_value(d.difference), None),
            Err(p) => (Value::Null, Some(p.detail)),
        };
    let tq = Query(TaskQuery { remote: Some(remote.clone()), running: false });
    let Json(tasks) = cluster::tasks(State(Arc::clone(app)), who(), tq).await?;
    let id = vmid.to_string();
    let tasks: Vec<Value> =
        tasks.items.iter().filter(|t| t.task.id == id).take(10).map(to_value).collect();
    let now = proxctl_ops::snapshot::now_unix();
    let snapshots: Vec<Value> = snapshots
        .iter()
        .map(|s| {
            let expires = proxctl_ops::snapshot::expiry_of(&s.description);
            let mut val = to_value(s);
            if let Value::Object(m) = &mut val {
                m.insert("expires".into(), json!(expires));
                m.insert("expires_in".into(), json!(expires.map(|e| e - now)));
            }
            val
        })
        .collect();
    let g = &detail.guest.guest;
    let power: &[&str] = match g.status.as_str() {
        "running" => &["shutdown", "reboot", "stop"],
        "paused" => &["resume", "stop"],
        _ => &["start"],
    };
    let base = app.remote(&remote)?.client.settings().url.clone();
    let origin = base.split("/api2").next().unwrap_or(&base).trim_end_matches('/').to_string();
    let console = format!(
        "{origin}/?console={}&novnc=1&vmid={vmid}&vmname={}&node={}",
        if g.kind == "lxc" { "lxc" } else { "kvm" },
        encode(&g.name),
        encode(&g.node)
    );
    Ok(page(
        app,
        v,
        "guest.html",
        "guests",
        &format!("{} ({vmid})", g.name),
        json!({
            "g": to_value(&detail.guest),
            "sections": to_value(&description.sections),
            "snapshots": snapshots,
            "tasks": tasks,
            "graphs": graphs,
            "graph_error": graph_error,
            "timeframe": timeframe,
            "power_actions": power,
            "console_url": console,
            "desired": desired,
            "desired_error": desired_error,
        }),
    ))
}
