//! What the dashboard's buttons do. Each handler asks first where the action destroys or
//! interrupts something (naming what), then calls the REST handler that does it and sends the
//! browser to the operation it started.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::form::Form;
use super::{UiResult, Viewer, finish, follow, page};
use crate::App;
use crate::problem::Problem;
use crate::routes::body::Body;
use crate::routes::{act as api, backups, guests, jobs, lifecycle, templates};

/// A confirmation page: what will happen, to what, and the button that does it.
struct Confirm<'a> {
    title: String,
    question: String,
    button: String,
    action: String,
    back: String,
    destructive: bool,
    form: &'a Form,
    targets: Vec<serde_json::Value>,
}

fn confirm(app: &App, v: &Viewer, c: Confirm<'_>) -> Response {
    page(
        app,
        v,
        "confirm.html",
        "",
        &c.title,
        json!({
            "question": c.question, "button": c.button, "action": c.action, "back": c.back,
            "destructive": c.destructive, "fields": c.form.carried(), "targets": c.targets,
        }),
    )
}

pub async fn power(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, vmid)): Path<(String, u32)>,
    form: Form,
) -> Response {
    let action = form.get("action").unwrap_or_default().to_string();
    if action != "start" && action != "resume" && !form.yes("confirm") {
        let here = format!("/guests/{remote}/{vmid}");
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("{} guest {vmid}?", capitalise(&action)),
                question: format!(
                    "This will {action} guest {vmid} on remote {remote}; what runs in it stops{}.",
                    if action == "stop" { " at once, like pulling the plug" } else { "" }
                ),
                button: capitalise(&action),
                action: format!("{here}/power"),
                back: here,
                destructive: true,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let req = guests::PowerRequest { action, timeout: None };
    let r = guests::power(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path((remote, vmid)),
        Body(req),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub async fn snapshot(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, vmid)): Path<(String, u32)>,
    form: Form,
) -> Response {
    let req = api::SnapshotCreate {
        name: form.get("snapshot").unwrap_or_default().to_string(),
        ttl: form.get("ttl").map(str::to_string),
        description: None,
        ram: false,
    };
    let r = api::snapshot_create(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path((remote, vmid)),
        Body(req),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

pub async fn snapshot_delete(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, vmid, name)): Path<(String, u32, String)>,
    form: Form,
) -> Response {
    let here = format!("/guests/{remote}/{vmid}");
    if !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("Delete snapshot {name}?"),
                question: format!(
                    "Snapshot {name} of guest {vmid} on remote {remote} will be deleted; it cannot be brought back."
                ),
                button: format!("Delete snapshot {name}"),
                action: format!("{here}/snapshots/{name}/delete"),
                back: here,
                destructive: true,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let r = api::snapshot_delete(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path((remote, vmid, name)),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

pub async fn snapshot_rollback(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, vmid, name)): Path<(String, u32, String)>,
    form: Form,
) -> Response {
    let here = format!("/guests/{remote}/{vmid}");
    if !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("Roll back to {name}?"),
                question: format!(
                    "Guest {vmid} on remote {remote} goes back to snapshot {name}: everything written since is lost."
                ),
                button: format!("Roll back to {name}"),
                action: format!("{here}/snapshots/{name}/rollback"),
                back: here,
                destructive: true,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let r = lifecycle::rollback(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path((remote, vmid, name)),
        Body(lifecycle::RollbackRequest::default()),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

/// Bulk actions: the first post shows what would be done to which guests; the confirmed one
/// starts one operation per remote.
pub async fn bulk(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    form: Form,
) -> Response {
    let r = bulk_inner(&app, &v, &form).await;
    finish(&app, &v, r)
}

async fn bulk_inner(app: &Arc<App>, v: &Viewer, form: &Form) -> UiResult {
    let action = form.get("action").unwrap_or_default().to_string();
    let mut by_remote: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for g in form.all("guest") {
        let (remote, vmid) = g
            .rsplit_once('/')
            .and_then(|(r, id)| Some((r.to_string(), id.parse::<u32>().ok()?)))
            .ok_or_else(|| Problem::bad_request(format!("'{g}' is not a guest")))?;
        by_remote.entry(remote).or_default().push(vmid);
    }
    if by_remote.is_empty() {
        return Err(Problem::bad_request("select at least one guest, then choose the action"));
    }
    let tags: Vec<String> = form
        .get("tags")
        .map(|t| t.split([',', ' ', ';']).filter(|t| !t.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let what = match action.as_str() {
        "snapshot" => {
            let name = form
                .get("snapshot")
                .ok_or_else(|| Problem::bad_request("a snapshot needs a name"))?;
            match form.get("ttl") {
                Some(ttl) => format!("take snapshot {name}, deleted after {ttl}, of"),
                None => format!("take snapshot {name} (kept until deleted) of"),
            }
        }
        "tag" if tags.is_empty() => return Err(Problem::bad_request("give the tags to add")),
        "tag" => format!("add the tags {} to", tags.join(", ")),
        "backup" => "back up".to_string(),
        "start" | "shutdown" | "stop" | "reboot" => action.clone(),
        other => return Err(Problem::bad_request(format!("'{other}' is not an action here"))),
    };
    let total: usize = by_remote.values().map(Vec::len).sum();
    if !form.yes("confirm") {
        // Show the guests as they are now, as the caller's token sees them.
        let (all, _) = super::fleet::all_guests(app, v, None).await?;
        let targets: Vec<serde_json::Value> = all
            .iter()
            .filter(|g| by_remote.get(&g.remote).is_some_and(|ids| ids.contains(&g.guest.vmid)))
            .map(|g| {
                let note = (matches!(action.as_str(), "stop" | "shutdown" | "reboot")
                    && g.guest.tags.iter().any(|t| t == proxctl_ops::bulk::ALWAYS_ON))
                .then_some("tagged always-on: it will be skipped");
                json!({ "name": g.guest.name, "vmid": g.guest.vmid, "node": g.guest.node,
                        "status": g.guest.status, "note": note })
            })
            .collect();
        let stops = matches!(action.as_str(), "stop" | "shutdown" | "reboot");
        return Ok(confirm(
            app,
            v,
            Confirm {
                title: format!("{} {total} guest(s)?", capitalise(&action)),
                question: format!("This will {what} these {total} guest(s):"),
                button: format!("{} {total} guest(s)", capitalise(&action)),
                action: "/guests/bulk".into(),
                back: "/guests".into(),
                destructive: stops,
                form,
                targets,
            },
        ));
    }
    let mut started = Vec::new();
    for (remote, ids) in by_remote {
        let selector = ids.iter().map(|id| format!("id:{id}")).collect::<Vec<_>>().join(" | ");
        let (api_action, add) = match action.as_str() {
            "tag" => ("tag".to_string(), tags.clone()),
            a => (a.to_string(), Vec::new()),
        };
        let req = guests::BulkRequest {
            selector,
            action: api_action,
            snapshot: form.get("snapshot").map(str::to_string),
            ttl: form.get("ttl").map(str::to_string),
            storage: None,
            add,
            remove: Vec::new(),
            parallel: None,
            remote: Some(remote),
        };
        let (_, Json(op)) =
            guests::bulk(State(Arc::clone(app)), Extension(v.caller.clone()), Body(req)).await?;
        started.push(op);
    }
    Ok(match started.as_slice() {
        [one] => follow(one),
        _ => Redirect::to("/operations").into_response(),
    })
}

pub async fn template_rollback(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path((remote, name)): Path<(String, String)>,
    form: Form,
) -> Response {
    let version = form.get("version").unwrap_or_default().to_string();
    if !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("Make {name} {version} current?"),
                question: format!(
                    "New guests cloned from template {name} on remote {remote} will use version {version}, pinned there until you choose the newest again."
                ),
                button: format!("Use {name} {version}"),
                action: format!("/templates/{remote}/{name}/rollback"),
                back: "/templates".into(),
                destructive: false,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let req = templates::RollbackRequest { to: Some(version), latest: false };
    let r = templates::rollback(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path((remote, name)),
        Body(req),
    )
    .await
    .map(|_| Redirect::to("/templates").into_response());
    finish(&app, &v, r)
}

pub async fn backup_protect(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(remote): Path<String>,
    form: Form,
) -> Response {
    let volid = form.get("volid").unwrap_or_default().to_string();
    let protect = form.yes("protected");
    if !protect && !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: "Unprotect this backup?".into(),
                question: format!(
                    "Backup {volid} on remote {remote} may then be deleted by pruning or by hand."
                ),
                button: "Unprotect".into(),
                action: format!("/backups/{remote}/protect"),
                back: "/backups".into(),
                destructive: true,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let req = backups::BackupUpdate { volid, protected: Some(protect), notes: None };
    let r = backups::update(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path(remote),
        Body(req),
    )
    .await
    .map(|_| Redirect::to("/backups").into_response());
    finish(&app, &v, r)
}

pub async fn job_run(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(name): Path<String>,
    form: Form,
) -> Response {
    if !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("Run job {name} now?"),
                question: format!(
                    "Job {name} runs now, as if its schedule had come, acting on every guest it selects."
                ),
                button: format!("Run {name}"),
                action: format!("/jobs/{name}/run"),
                back: "/jobs".into(),
                destructive: false,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let r = jobs::run(State(Arc::clone(&app)), Extension(v.caller.clone()), Path(name))
        .await
        .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

pub async fn backup_restore(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(remote): Path<String>,
    form: Form,
) -> Response {
    let volid = form.get("volid").unwrap_or_default().to_string();
    if !form.yes("confirm") {
        return confirm(
            &app,
            &v,
            Confirm {
                title: "Restore this backup?".into(),
                question: format!(
                    "Backup {volid} on remote {remote} will be restored as a new guest with the \
                     next free VMID; no existing guest is overwritten."
                ),
                button: "Restore as a new guest".into(),
                action: format!("/backups/{remote}/restore"),
                back: "/backups".into(),
                destructive: false,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let req = backups::RestoreRequest { volid, vmid: None, storage: None };
    let r = backups::restore(
        State(Arc::clone(&app)),
        Extension(v.caller.clone()),
        Path(remote),
        Body(req),
    )
    .await
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}

/// Build a template from a catalog image, or rebuild one from the image it came from: asks
/// first, then follows the build's progress.
pub async fn template_build(
    State(app): State<Arc<App>>,
    Extension(v): Extension<Viewer>,
    Path(remote): Path<String>,
    form: Form,
) -> Response {
    let entry = form.get("entry").unwrap_or_default().to_string();
    let name = form.get("name").unwrap_or(&entry).to_string();
    let rebuild = form.yes("rebuild");
    if !form.yes("confirm") {
        let question = if rebuild {
            format!(
                "Template {name} on remote {remote} gets a new version from image {entry}, if the image changed; older versions are kept as retention says."
            )
        } else {
            format!(
                "A template named {name} is built on remote {remote} from the catalog image {entry}: the image is downloaded and checked first."
            )
        };
        return confirm(
            &app,
            &v,
            Confirm {
                title: format!("{} template {name}?", if rebuild { "Rebuild" } else { "Build" }),
                question,
                button: format!("{} {name}", if rebuild { "Rebuild" } else { "Build" }),
                action: format!("/templates/{remote}/build"),
                back: "/templates".into(),
                destructive: false,
                form: &form,
                targets: Vec::new(),
            },
        );
    }
    let req =
        templates::BuildRequest { entry: Some(entry), name: Some(name), ..Default::default() };
    let (st, who, path) = (State(Arc::clone(&app)), Extension(v.caller.clone()), Path(remote));
    let r = if rebuild {
        templates::rebuild(st, who, path, Body(req)).await
    } else {
        templates::build(st, who, path, Body(req)).await
    }
    .map(|(_, Json(op))| follow(&op));
    finish(&app, &v, r)
}
