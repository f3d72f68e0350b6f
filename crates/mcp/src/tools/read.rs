//! The read tools: always on, they change nothing. Each is a call into the operations layer or
//! the engine, filtered to the caller's scope; cluster-wide views (the audit log, manifests)
//! need a token without a scope.

use std::path::Path;

use proxctl_client::endpoints::rrd::Timeframe;
use proxctl_ops::views::GuestRow;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Call, ToolDef, make_tool as tool};
use crate::access::Tier;
use crate::error::{ToolError, ToolResult};

/// Which remote (cluster); the default one when left out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteArg {
    /// The remote (cluster) to look at; leave out for the default one.
    pub remote: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListGuests {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// proxctl's selector language: tags (`web`), `name:db-*`, `node:pve1`, `pool:prod`,
    /// `id:100-199`, `all`, joined with `,` or a space (and), `|` (or), `!` (not) and
    /// parentheses; the resource `proxctl://selectors` explains it. Leave out for all guests.
    pub selector: Option<String>,
    /// `qemu` for VMs, `lxc` for containers; leave out for both.
    pub kind: Option<String>,
    /// At most this many (default 200).
    pub limit: Option<usize>,
    /// Sort by `vmid` (default), `name`, `cpu`, `mem` (memory size) or `disk`.
    pub sort: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GuestList {
    pub remote: String,
    pub total: usize,
    pub items: Vec<GuestRow>,
}

async fn list_guests(call: Call, a: ListGuests) -> ToolResult<GuestList> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let sel = call.selector(a.selector.as_deref())?;
    let mut rows: Vec<GuestRow> = proxctl_ops::views::guests(&client, a.kind.as_deref(), false)
        .await?
        .into_iter()
        .filter(|g| g.selected_by(&sel))
        .collect();
    match a.sort.as_deref().unwrap_or("vmid") {
        "vmid" => {}
        "name" => rows.sort_by(|x, y| x.name.cmp(&y.name)),
        "cpu" => rows.sort_by(|x, y| y.cpus.total_cmp(&x.cpus)),
        "mem" | "memory" => rows.sort_by_key(|g| std::cmp::Reverse(g.maxmem)),
        "disk" => rows.sort_by_key(|g| std::cmp::Reverse(g.maxdisk)),
        other => {
            return Err(ToolError::Invalid(format!(
                "sort must be vmid, name, cpu, mem or disk, not '{other}'"
            )));
        }
    }
    let total = rows.len();
    rows.truncate(a.limit.unwrap_or(200));
    Ok(GuestList { remote, total, items: rows })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestArg {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// The guest's name or VMID.
    pub guest: String,
}

async fn get_guest(call: Call, a: GuestArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let (g, row) = call.guest(&client, &a.guest).await?;
    let description = proxctl_ops::describe::guest(&client, &g).await?;
    Ok(json!({ "remote": remote, "guest": row, "details": description }))
}

async fn list_nodes(call: Call, a: RemoteArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let nodes = proxctl_ops::views::nodes(&client).await?;
    Ok(json!({ "remote": remote, "nodes": nodes }))
}

async fn list_storage(call: Call, a: RemoteArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let storage = proxctl_ops::views::storage(&client).await?;
    Ok(json!({ "remote": remote, "storage": storage }))
}

async fn cluster_status(call: Call, a: RemoteArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let status = proxctl_ops::cluster_views::cluster_status(&client).await?;
    let ha = proxctl_ops::cluster_views::ha(&client).await.unwrap_or_default();
    Ok(json!({ "remote": remote, "members": status, "ha": ha }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// Only tasks still running.
    #[serde(default)]
    pub running_only: bool,
    /// Only failed tasks (status other than OK and still running).
    #[serde(default)]
    pub failed_only: bool,
    /// At most this many, newest first (default 50).
    pub limit: Option<usize>,
}

async fn list_tasks(call: Call, a: ListTasks) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let mut tasks = proxctl_ops::views::tasks(&client, a.running_only).await?;
    if call.principal.scope.is_some() {
        // A scoped token sees the tasks of the guests it sees, and nothing cluster-wide.
        let visible: Vec<u32> = proxctl_ops::views::guests(&client, None, false)
            .await?
            .into_iter()
            .filter(|g| call.sees(g))
            .map(|g| g.vmid)
            .collect();
        tasks.retain(|t| t.id.parse::<u32>().is_ok_and(|v| visible.contains(&v)));
    }
    if a.failed_only {
        tasks.retain(|t| t.status != "OK" && t.status != "running" && !t.status.is_empty());
    }
    tasks.sort_by_key(|t| std::cmp::Reverse(t.starttime));
    tasks.truncate(a.limit.unwrap_or(50));
    Ok(json!({ "remote": remote, "tasks": tasks }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskLog {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// The task's UPID, as list_tasks shows it.
    pub upid: String,
    /// At most this many lines from the end (default 200).
    pub tail: Option<u64>,
}

async fn task_log(call: Call, a: TaskLog) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let upid: proxctl_types::Upid =
        a.upid.parse().map_err(|e| ToolError::Invalid(format!("upid: {e}")))?;
    if call.principal.scope.is_some() {
        let id = upid.id.parse::<u32>().ok();
        let rows = proxctl_ops::views::guests(&client, None, false).await?;
        if !rows.iter().any(|g| Some(g.vmid) == id && call.sees(g)) {
            return Err(ToolError::NotFound(format!("no task {upid} that this token may see")));
        }
    }
    let node = upid.node.clone();
    let status = client.task_status(&node, &upid).await?;
    let tail = a.tail.unwrap_or(200).clamp(1, 5000);
    let (_, total) = client.task_log(&node, &upid, 0, 1).await?;
    let start = total.unwrap_or(0).saturating_sub(tail);
    let (lines, total) = client.task_log(&node, &upid, start, tail).await?;
    let text: Vec<String> = lines.into_iter().map(|l| l.t).collect();
    Ok(
        json!({ "remote": remote, "upid": upid.to_string(), "status": status, "total_lines": total, "log": text }),
    )
}

async fn list_snapshots(call: Call, a: GuestArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let (g, _) = call.guest(&client, &a.guest).await?;
    let snapshots = proxctl_ops::views::snapshots(&client, &g).await?;
    Ok(json!({ "remote": remote, "vmid": g.vmid.get(), "snapshots": snapshots }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBackups {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// Only this guest's backups (name or VMID).
    pub guest: Option<String>,
}

async fn list_backups(call: Call, a: ListBackups) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let only = match &a.guest {
        Some(what) => Some(call.guest(&client, what).await?.0.vmid.get()),
        None => None,
    };
    let visible: Vec<u32> = proxctl_ops::views::guests(&client, None, false)
        .await?
        .into_iter()
        .filter(|g| call.sees(g))
        .map(|g| g.vmid)
        .collect();
    let backups: Vec<_> = proxctl_ops::views::backups(&client)
        .await?
        .into_iter()
        .filter(|b| only.is_none_or(|v| b.vmid == Some(v)))
        // A scoped token sees backups of its guests only; a backup of a guest that is gone
        // belongs to no scope.
        .filter(|b| call.principal.scope.is_none() || b.vmid.is_some_and(|v| visible.contains(&v)))
        .collect();
    Ok(json!({ "remote": remote, "backups": backups }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// Which guests (selector language); leave out for all.
    pub selector: Option<String>,
    /// How old the newest backup may be and still count, e.g. `26h` (default) or `7d`.
    pub max_age: Option<String>,
}

async fn backup_coverage(call: Call, a: Coverage) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let sel = call.selector(a.selector.as_deref())?;
    let max_age = proxctl_ops::snapshot::parse_ttl(
        a.max_age.as_deref().unwrap_or(proxctl_ops::coverage::DEFAULT_MAX_AGE),
    )?;
    let jobs = proxctl_ops::jobs::list(call.state()).await?;
    let now = jiff::Timestamp::now().as_second();
    let rows = proxctl_ops::coverage::coverage(&client, &jobs, &sel, max_age, now).await?;
    Ok(json!({ "remote": remote, "guests": rows }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// Only this template name's versions.
    pub name: Option<String>,
    /// Also list the cloud image catalog templates can be built from.
    #[serde(default)]
    pub catalog: bool,
}

async fn list_templates(call: Call, a: Templates) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let versions = proxctl_ops::template::versions(&client, a.name.as_deref()).await?;
    let mut out = json!({ "remote": remote, "versions": versions });
    if a.catalog {
        let env = |k: &str| std::env::var(k).ok();
        let catalog = proxctl_ops::image::catalog(&env)?;
        let entries: Vec<Value> =
            catalog.entries().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)).collect();
        out["catalog"] = Value::Array(entries);
    }
    Ok(out)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// The guest's name or VMID.
    pub guest: String,
    /// `hour` (default), `day`, `week`, `month` or `year`.
    pub timeframe: Option<String>,
}

async fn guest_metrics(call: Call, a: Metrics) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let timeframe: Timeframe =
        a.timeframe.as_deref().unwrap_or("hour").parse().map_err(ToolError::Invalid)?;
    let (g, _) = call.guest(&client, &a.guest).await?;
    let points = client.guest_rrddata(g.kind, &g.node, g.vmid, timeframe).await?;
    // A summary first: a model reads averages and peaks better than hundreds of samples.
    let mut summary = serde_json::Map::new();
    for field in ["cpu", "mem", "netin", "netout", "diskread", "diskwrite"] {
        let vals: Vec<f64> = points.iter().filter_map(|p| p.get(field)?.as_f64()).collect();
        if vals.is_empty() {
            continue;
        }
        let avg = vals.iter().sum::<f64>() / vals.len() as f64;
        let max = vals.iter().copied().fold(f64::MIN, f64::max);
        summary.insert(field.into(), json!({ "avg": avg, "max": max }));
    }
    Ok(json!({
        "remote": remote, "vmid": g.vmid.get(), "timeframe": timeframe.as_str(),
        "summary": summary, "points": points,
    }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifests {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// One or more YAML documents (`apiVersion: proxctl.io/v1`), as in manifest files; the
    /// resource `proxctl://manifests/reference` describes them.
    pub manifests: String,
    /// Also delete what proxctl made and these manifests no longer declare.
    #[serde(default)]
    pub prune: bool,
}

/// A plan as the tools return it.
pub(crate) async fn plan_of(
    call: &Call,
    remote: Option<&str>,
    manifests: &str,
    prune: bool,
) -> ToolResult<(String, proxctl_engine::Plan)> {
    call.principal.unscoped("planning manifests")?;
    let (remote, client) = call.client(remote)?;
    let declared =
        proxctl_engine::manifest::parse(Path::new("manifests"), manifests).map_err(|d| {
            let lines: Vec<String> =
                d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect();
            ToolError::Invalid(format!("the manifests have problems:\n{}", lines.join("\n")))
        })?;
    let store = call.store().await?;
    let plan = proxctl_engine::make_plan(&client, store.as_ref(), &declared, prune).await?;
    Ok((remote, plan))
}

pub(crate) fn plan_summary(remote: &str, plan: &proxctl_engine::Plan) -> Value {
    use proxctl_engine::Action;
    json!({
        "remote": remote,
        "changes": plan.has_changes(),
        "create": plan.count(Action::Create),
        "update": plan.count(Action::Update),
        "replace": plan.count(Action::Replace),
        "delete": plan.count(Action::Delete),
        "text": proxctl_engine::render::text(plan, false, false),
    })
}

async fn plan(call: Call, a: Manifests) -> ToolResult<Value> {
    let (remote, plan) = plan_of(&call, a.remote.as_deref(), &a.manifests, a.prune).await?;
    Ok(plan_summary(&remote, &plan))
}

async fn drift(call: Call, a: Manifests) -> ToolResult<Value> {
    let (remote, plan) = plan_of(&call, a.remote.as_deref(), &a.manifests, a.prune).await?;
    let mut out = plan_summary(&remote, &plan);
    out["drifted"] = Value::Bool(plan.has_changes());
    Ok(out)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSearch {
    /// Exact actor, e.g. `mcp:claude-desktop`, `job nightly` or a token name.
    pub actor: Option<String>,
    /// Exact target, e.g. `qemu/100`.
    pub target: Option<String>,
    /// Part of the action, e.g. `status/stop` or `mcp tool`.
    pub action: Option<String>,
    /// Only rows at or after this time (RFC 3339).
    pub since: Option<String>,
    /// The last N matching rows (default 50).
    pub last: Option<usize>,
}

async fn audit_search(call: Call, a: AuditSearch) -> ToolResult<Value> {
    call.principal.unscoped("reading the audit log")?;
    let since = match a.since.as_deref() {
        Some(s) => Some(
            s.parse::<jiff::Timestamp>()
                .map_err(|e| ToolError::Invalid(format!("since '{s}': {e}")))?,
        ),
        None => None,
    };
    let filter = proxctl_state::AuditFilter {
        actor: a.actor,
        target: a.target,
        action: a.action,
        since,
        last: Some(a.last.unwrap_or(50).min(1000)),
        ..Default::default()
    };
    let rows = proxctl_ops::audit::list(call.state(), &filter).await?;
    Ok(json!({ "rows": rows }))
}

async fn doctor(call: Call, a: RemoteArg) -> ToolResult<Value> {
    let (remote, client) = call.client(a.remote.as_deref())?;
    let checks = proxctl_ops::doctor::run(&client).await;
    Ok(json!({ "remote": remote, "checks": checks }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttentionArg {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// How old the newest backup may be, e.g. `26h` (default).
    pub backup_age: Option<String>,
    /// Snapshots older than this are listed, e.g. `30d` (default).
    pub snapshot_age: Option<String>,
}

async fn attention(call: Call, a: AttentionArg) -> ToolResult<Value> {
    use proxctl_ops::attention as at;
    let (remote, client) = call.client(a.remote.as_deref())?;
    let sel = call.selector(None)?;
    let scoped = call.principal.scope.is_some();
    let mut opts = at::Options::at(jiff::Timestamp::now().as_second());
    opts.backup_max_age = proxctl_ops::snapshot::parse_ttl(
        a.backup_age.as_deref().unwrap_or(proxctl_ops::coverage::DEFAULT_MAX_AGE),
    )?;
    opts.snapshot_max_age = proxctl_ops::snapshot::parse_ttl(
        a.snapshot_age.as_deref().unwrap_or(at::DEFAULT_SNAPSHOT_MAX_AGE),
    )?;
    let items = at::gather(&client, &remote, call.state(), &sel, scoped, &opts).await;
    Ok(json!({ "remote": remote, "items": items }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationArg {
    /// The operation id a tool answered with when its work outlasted the wait.
    pub id: String,
}

async fn operation_status(call: Call, a: OperationArg) -> ToolResult<Value> {
    crate::operations::status(&call, &a.id).await
}

pub fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "list_guests",
            "List guests",
            Tier::Read,
            "List VMs and containers (status, node, CPU, memory, disk, tags, pool), filtered with \
             proxctl's selector language and sorted. Start here to find a guest's VMID.",
            list_guests,
        ),
        tool(
            "get_guest",
            "Guest details",
            Tier::Read,
            "One guest in detail: status, hardware, disks, network interfaces with guest-agent \
             addresses, cloud-init, snapshots, whether proxctl manages it.",
            get_guest,
        ),
        tool(
            "list_nodes",
            "List nodes",
            Tier::Read,
            "The cluster's nodes with status, CPU, memory and uptime: where there is capacity.",
            list_nodes,
        ),
        tool(
            "list_storage",
            "List storage",
            Tier::Read,
            "Storages per node with type, content types, used and total space.",
            list_storage,
        ),
        tool(
            "cluster_status",
            "Cluster status",
            Tier::Read,
            "Quorum, cluster members online or not, and HA resources and their states.",
            cluster_status,
        ),
        tool(
            "list_tasks",
            "List tasks",
            Tier::Read,
            "Recent Proxmox tasks (backups, migrations, clones, power actions) with status, \
             newest first; failed_only finds what went wrong.",
            list_tasks,
        ),
        tool(
            "task_log",
            "Task log",
            Tier::Read,
            "A task's status and the end of its log: why a backup or migration failed.",
            task_log,
        ),
        tool(
            "list_snapshots",
            "List snapshots",
            Tier::Read,
            "A guest's snapshots with their age and, for proxctl's, when they expire.",
            list_snapshots,
        ),
        tool(
            "list_backups",
            "List backups",
            Tier::Read,
            "Backup archives on every storage, optionally of one guest: size, time, protection.",
            list_backups,
        ),
        tool(
            "backup_coverage",
            "Backup coverage",
            Tier::Read,
            "Per guest: its newest backup, whether it is recent enough, and which jobs cover it. \
             Use it to find guests without a recent backup.",
            backup_coverage,
        ),
        tool(
            "list_templates",
            "List templates",
            Tier::Read,
            "Versioned templates guests are cloned from (name, version, image, build time), and \
             with catalog=true the cloud images they can be built from.",
            list_templates,
        ),
        tool(
            "guest_metrics",
            "Guest metrics history",
            Tier::Read,
            "CPU, memory, network and disk history of a guest from Proxmox's RRD (hour, day, \
             week, month, year), with averages and peaks.",
            guest_metrics,
        ),
        tool(
            "plan",
            "Plan manifests",
            Tier::Read,
            "What applying these manifests would change (create, update, replace, delete), as \
             text and counts. Planning changes nothing; to apply, propose_change with an apply.",
            plan,
        ),
        tool(
            "drift",
            "Drift of manifests",
            Tier::Read,
            "Whether the cluster still matches these manifests, and what differs.",
            drift,
        ),
        tool(
            "audit_search",
            "Search the audit log",
            Tier::Read,
            "Who changed what and when: every change made through proxctl, by any face, in a \
             tamper-evident log.",
            audit_search,
        ),
        tool(
            "doctor",
            "Doctor",
            Tier::Read,
            "Check the connection, the Proxmox version, the token's privileges and the cluster's \
             health, with what to fix.",
            doctor,
        ),
        tool(
            "attention",
            "Needs attention",
            Tier::Read,
            "What needs a look now: nodes offline, failed tasks, guests without a recent backup, \
             failed jobs, drift found by drift-check jobs, snapshots past their TTL or very old. \
             Start here when asked how the cluster is doing.",
            attention,
        ),
        tool(
            "operation_status",
            "Operation status",
            Tier::Read,
            "The state and result of long work a tool handed back as an operation id.",
            operation_status,
        ),
    ]
}
