//! Cluster-wide reads across remotes: remotes, nodes, storage, tasks. A remote that cannot be
//! reached is listed under `unavailable` with the reason; the others answer as usual.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::{Extension, Json};
use futures_util::future::join_all;
use proxctl_ops::OpsError;
use proxctl_ops::views::{NodeRow, StorageRow, TaskRow};
use serde::{Deserialize, Serialize};

use crate::problem::{ApiResult, Problem};
use crate::{App, Caller};

/// A remote that did not answer, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unavailable {
    pub remote: String,
    pub detail: String,
}

/// Which remote to ask; all when absent.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoteQuery {
    pub remote: Option<String>,
}

/// A list gathered from remotes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub unavailable: Vec<Unavailable>,
}

macro_rules! item {
    ($name:ident, $row:ty, $field:ident) => {
        /// A row of one remote.
        #[derive(Debug, Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub remote: String,
            #[serde(flatten)]
            pub $field: $row,
        }
    };
}
item!(NodeItem, NodeRow, node);
item!(StorageItem, StorageRow, storage);
item!(TaskItem, TaskRow, task);
item!(NetworkItem, proxctl_ops::cluster_views::NetworkRow, network);
item!(SdnItem, proxctl_ops::cluster_views::SdnRow, sdn);
item!(HaItem, proxctl_ops::cluster_views::HaRow, ha);
item!(ClusterItem, proxctl_ops::cluster_views::ClusterRow, member);

/// Ask each remote named by `q` (all by default) and gather the rows.
pub(super) async fn gather<R, T, F, Fut>(
    app: &App,
    remote: Option<&str>,
    fetch: F,
    tag: impl Fn(String, R) -> T,
) -> ApiResult<(Vec<T>, Vec<Unavailable>)>
where
    F: Fn(crate::Remote) -> Fut,
    Fut: Future<Output = Result<Vec<R>, OpsError>>,
{
    let remotes: Vec<crate::Remote> = match remote.filter(|r| !r.is_empty()) {
        Some(name) => vec![app.remote(name)?],
        None => app.remotes(),
    };
    let answers = join_all(remotes.iter().map(|r| fetch(r.clone()))).await;
    let mut items = Vec::new();
    let mut unavailable = Vec::new();
    for (r, answer) in remotes.iter().zip(answers) {
        match answer {
            Ok(rows) => items.extend(rows.into_iter().map(|row| tag(r.name.clone(), row))),
            Err(e) => {
                let p = Problem::from(e);
                unavailable.push(Unavailable { remote: r.name.clone(), detail: p.detail });
            }
        }
    }
    Ok((items, unavailable))
}

/// [`gather`], answered as a [`Listed`].
async fn listed<R, T, F, Fut>(
    app: &App,
    remote: Option<&str>,
    fetch: F,
    tag: impl Fn(String, R) -> T,
) -> ApiResult<Json<Listed<T>>>
where
    F: Fn(crate::Remote) -> Fut,
    Fut: Future<Output = Result<Vec<R>, OpsError>>,
{
    let (items, unavailable) = gather(app, remote, fetch, tag).await?;
    Ok(Json(Listed { items, unavailable }))
}

/// A remote as the API lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemoteInfo {
    pub name: String,
    pub url: String,
    /// Whether guests without a remote in their path belong to it.
    pub default: bool,
}

#[utoipa::path(get, path = "/api/v1/remotes", tag = "cluster",
    responses((status = 200, body = [RemoteInfo]), (status = 401, body = Problem)))]
pub async fn remotes(State(app): State<Arc<App>>) -> Json<Vec<RemoteInfo>> {
    Json(
        app.remotes()
            .iter()
            .map(|r| RemoteInfo {
                name: r.name.clone(),
                url: r.client.settings().url.clone(),
                default: r.name == app.default_remote,
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<NodeItem>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn nodes(
    State(app): State<Arc<App>>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<NodeItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| async move { proxctl_ops::views::nodes(&r.client).await },
        |remote, node| NodeItem { remote, node },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/storage", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<StorageItem>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn storage(
    State(app): State<Arc<App>>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<StorageItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| async move { proxctl_ops::views::storage(&r.client).await },
        |remote, storage| StorageItem { remote, storage },
    )
    .await
}

/// Which tasks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    pub remote: Option<String>,
    /// Only the running ones.
    #[serde(default)]
    pub running: bool,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "cluster", params(TaskQuery),
    responses((status = 200, body = Listed<TaskItem>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn tasks(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<TaskQuery>,
) -> ApiResult<Json<Listed<TaskItem>>> {
    let running = q.running;
    listed(
        &app,
        q.remote.as_deref(),
        |r| {
            let (app, caller) = (Arc::clone(&app), caller.clone());
            async move {
                let tasks = proxctl_ops::views::tasks(&r.client, running).await?;
                if caller.scope.is_none() {
                    return Ok(tasks);
                }
                // A scoped token sees the tasks of the guests in its scope, and no others
                // (a task's id is its guest's VMID; node-wide tasks name no guest it may see).
                let visible = super::guests::visible_vmids(&app, &caller, &r).await?;
                Ok(tasks
                    .into_iter()
                    .filter(|t| t.id.parse::<u32>().is_ok_and(|v| visible.contains(&v)))
                    .collect())
            }
        },
        |remote, task| TaskItem { remote, task },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/networks", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<NetworkItem>), (status = 404, body = Problem)))]
pub async fn networks(
    State(app): State<Arc<App>>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<NetworkItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| async move { proxctl_ops::cluster_views::networks(&r.client).await },
        |remote, network| NetworkItem { remote, network },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/sdn", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<SdnItem>), (status = 404, body = Problem)))]
pub async fn sdn(
    State(app): State<Arc<App>>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<SdnItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| async move { proxctl_ops::cluster_views::sdn(&r.client).await },
        |remote, sdn| SdnItem { remote, sdn },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<ClusterItem>), (status = 404, body = Problem)))]
pub async fn cluster_status(
    State(app): State<Arc<App>>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<ClusterItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| async move { proxctl_ops::cluster_views::cluster_status(&r.client).await },
        |remote, member| ClusterItem { remote, member },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/ha", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<HaItem>), (status = 404, body = Problem)))]
pub async fn ha(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<HaItem>>> {
    listed(
        &app,
        q.remote.as_deref(),
        |r| {
            let (app, caller) = (Arc::clone(&app), caller.clone());
            async move {
                let rows = proxctl_ops::cluster_views::ha(&r.client).await?;
                if caller.scope.is_none() {
                    return Ok(rows);
                }
                // An HA resource names its guest (`vm:100`); one outside the scope stays hidden.
                let visible = super::guests::visible_vmids(&app, &caller, &r).await?;
                Ok(rows
                    .into_iter()
                    .filter(|h| match h.id.rsplit(':').next().and_then(|v| v.parse::<u32>().ok()) {
                        Some(vmid) => visible.contains(&vmid),
                        None => true,
                    })
                    .collect())
            }
        },
        |remote, ha| HaItem { remote, ha },
    )
    .await
}

/// A task's log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskLog {
    pub upid: String,
    /// Lines from `start` on, the first numbered `start + 1`.
    pub lines: Vec<String>,
    /// How many lines the log has in all.
    pub total: u64,
}

/// Which part of a log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The first line to return, from 0.
    #[serde(default)]
    pub start: u64,
    /// At most this many lines (default 500).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/remotes/{remote}/tasks/{upid}/log", tag = "cluster",
    params(("remote" = String, Path), ("upid" = String, Path), LogQuery),
    responses((status = 200, body = TaskLog), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn task_log(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path((remote, upid)): axum::extract::Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<TaskLog>> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be 1 to 5000, not {limit}")));
    }
    let r = app.remote(&remote)?;
    let parsed: proxctl_types::Upid =
        upid.parse().map_err(|_| Problem::bad_request(format!("'{upid}' is not a UPID")))?;
    if caller.scope.is_some() {
        // A scoped token reads the logs of its guests' tasks only.
        let visible =
            super::guests::visible_vmids(&app, &caller, &r).await.map_err(Problem::from)?;
        if !parsed.id.parse::<u32>().is_ok_and(|v| visible.contains(&v)) {
            return Err(Problem::not_found(format!("no task {upid} on remote '{remote}'")));
        }
    }
    let (lines, total) = match r.client.task_log(&parsed.node, &parsed, q.start, limit).await {
        Ok(v) => v,
        // PVE answers an unknown task with a parameter error ("no such task").
        Err(proxctl_client::ClientError::Api(a)) if a.to_string().contains("no such task") => {
            return Err(Problem::not_found(format!("no task {upid} on remote '{remote}'")));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(TaskLog {
        upid,
        lines: lines.into_iter().map(|l| l.t).collect(),
        total: total.unwrap_or(0),
    }))
}

item!(TagItem, proxctl_ops::tags::TagCount, count);

#[utoipa::path(get, path = "/api/v1/tags", tag = "cluster", params(RemoteQuery),
    responses((status = 200, body = Listed<TagItem>), (status = 404, body = Problem)))]
pub async fn tags(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RemoteQuery>,
) -> ApiResult<Json<Listed<TagItem>>> {
    let (items, unavailable) = gather(
        &app,
        q.remote.as_deref(),
        |r| {
            let (app, caller) = (Arc::clone(&app), caller.clone());
            async move {
                let rows = app.guests.guests(&r).await?;
                // Counted over the guests the token sees, so a scope hides other tags' use.
                let seen: Vec<proxctl_ops::views::GuestRow> = rows
                    .iter()
                    .filter(|g| {
                        caller.sees(&proxctl_types::selector::Subject {
                            vmid: g.vmid,
                            name: &g.name,
                            node: &g.node,
                            pool: g.pool.as_deref(),
                            tags: &g.tags,
                        })
                    })
                    .cloned()
                    .collect();
                Ok(proxctl_ops::tags::stats(&seen))
            }
        },
        |remote, count| TagItem { remote, count },
    )
    .await?;
    Ok(Json(Listed { items, unavailable }))
}
