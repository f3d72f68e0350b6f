//! The series prometheus-pve-exporter writes, from one `/cluster/resources`, one
//! `/cluster/status` and one `/version`: the same names, label names and `id` formats
//! (`qemu/100`, `lxc/101`, `node/pve1`, `storage/pve1/local`, `cluster/pvec`), so the Grafana
//! dashboards and alert rules written for the exporter work unchanged. `docs/monitoring.md`
//! lists them, with the few the exporter has that proxctl does not serve yet.

use std::collections::BTreeMap;

use proxctl_types::api::{
    ClusterResource, ClusterStatusItem, NotBackedUp, QDevice, ReplicationJob, Subscription,
    VersionInfo,
};

use super::Family;
use super::details::Detail;

/// What one remote showed in one scrape.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub resources: Vec<ClusterResource>,
    pub status: Vec<ClusterStatusItem>,
    pub version: Option<VersionInfo>,
    /// `/cluster/backup-info/not-backed-up`, when it could be read.
    pub not_backed_up: Option<Vec<NotBackedUp>>,
    /// Each online node's subscription, by node name.
    pub subscriptions: Vec<(String, Subscription)>,
    /// Every online node's replication jobs.
    pub replication: Vec<ReplicationJob>,
    /// The QDevice, when the cluster has one.
    pub qdevice: Option<QDevice>,
}

/// HA states the exporter reports one series each for, by resource type.
const HA_GUEST_STATES: &[&str] = &[
    "stopped",
    "request_stop",
    "request_start",
    "request_start_balance",
    "started",
    "fence",
    "recovery",
    "migrate",
    "relocate",
    "freeze",
    "error",
];
const HA_NODE_STATES: &[&str] = &["online", "maintenance", "unknown", "fence", "gone"];
/// Config locks, one series each per guest.
const LOCK_STATES: &[&str] = &[
    "backup",
    "clone",
    "create",
    "migrate",
    "rollback",
    "snapshot",
    "snapshot-delete",
    "suspended",
    "suspending",
];

fn is_guest(r: &ClusterResource) -> bool {
    r.res_type == "qemu" || r.res_type == "lxc"
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// A comma-separated list sorted, as the exporter does: PVE orders `content` at random,
/// which would make a new series on every scrape.
fn sorted_csv(s: &str) -> String {
    let mut v: Vec<&str> = s.split(',').collect();
    v.sort_unstable();
    v.join(",")
}

/// `pve_up`: nodes online, the cluster quorate, guests running, storages available.
fn up(o: &Observed) -> Family {
    let mut f = Family::gauge("pve_up", "Node/VM/CT-Status is online/running", &["id"]);
    for s in &o.status {
        match s.item_type.as_str() {
            "node" => f.add(vec![s.id.clone()], flag(s.online.unwrap_or(false))),
            "cluster" => {
                f.add(vec![format!("cluster/{}", s.name)], flag(s.quorate.unwrap_or(false)))
            }
            _ => {}
        }
    }
    for r in o.resources.iter().filter(|r| is_guest(r)) {
        f.add(vec![r.id.clone()], flag(r.status.as_deref() == Some("running")));
    }
    for r in o.resources.iter().filter(|r| r.res_type == "storage") {
        f.add(vec![r.id.clone()], flag(r.status.as_deref() == Some("available")));
    }
    f
}

/// The per-resource gauges and counters, each from one key of `/cluster/resources`.
fn usage(o: &Observed) -> Vec<Family> {
    type Get = fn(&ClusterResource) -> Option<f64>;
    let gauges: [(&str, &str, Get); 11] = [
        (
            "pve_disk_size_bytes",
            "Storage size in bytes (for type 'storage'), root image size for VMs (for types 'qemu' and 'lxc').",
            |r| r.maxdisk.map(|n| n as f64),
        ),
        (
            "pve_disk_usage_bytes",
            "Used disk space in bytes (for type 'storage'), used root image space for VMs (for types 'qemu' and 'lxc').",
            |r| r.disk.map(|n| n as f64),
        ),
        (
            "pve_memory_size_bytes",
            "Number of available memory in bytes (for types 'node', 'qemu' and 'lxc').",
            |r| r.maxmem.map(|n| n as f64),
        ),
        (
            "pve_memory_usage_bytes",
            "Used memory in bytes (for types 'node', 'qemu' and 'lxc').",
            |r| r.mem.map(|n| n as f64),
        ),
        (
            "pve_network_transmit_bytes",
            "The amount of traffic in bytes that was sent from the guest over the network since it was started. (for types 'qemu' and 'lxc') DEPRECATED: Use pve_network_transmit_bytes_total instead.",
            |r| r.netout.map(|n| n as f64),
        ),
        (
            "pve_network_receive_bytes",
            "The amount of traffic in bytes that was sent to the guest over the network since it was started. (for types 'qemu' and 'lxc') DEPRECATED: Use pve_network_receive_bytes_total instead.",
            |r| r.netin.map(|n| n as f64),
        ),
        (
            "pve_disk_write_bytes",
            "The amount of bytes the guest wrote to its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc') DEPRECATED: Use pve_disk_written_bytes_total instead.",
            |r| r.diskwrite.map(|n| n as f64),
        ),
        (
            "pve_disk_read_bytes",
            "The amount of bytes the guest read from its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc') DEPRECATED: Use pve_disk_read_bytes_total instead.",
            |r| r.diskread.map(|n| n as f64),
        ),
        ("pve_cpu_usage_ratio", "CPU utilization (for types 'node', 'qemu' and 'lxc').", |r| r.cpu),
        (
            "pve_cpu_usage_limit",
            "Number of available CPUs (for types 'node', 'qemu' and 'lxc').",
            |r| r.maxcpu,
        ),
        (
            "pve_uptime_seconds",
            "Uptime of node or virtual guest in seconds (for types 'node', 'qemu' and 'lxc').",
            |r| r.uptime.map(|n| n as f64),
        ),
    ];
    let counters: [(&str, &str, Get); 4] = [
        (
            "pve_network_transmit_bytes_total",
            "The amount of traffic in bytes that was sent from the guest over the network since it was started. (for types 'qemu' and 'lxc')",
            |r| r.netout.map(|n| n as f64),
        ),
        (
            "pve_network_receive_bytes_total",
            "The amount of traffic in bytes that was sent to the guest over the network since it was started. (for types 'qemu' and 'lxc')",
            |r| r.netin.map(|n| n as f64),
        ),
        (
            "pve_disk_written_bytes_total",
            "The amount of bytes the guest wrote to its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc')",
            |r| r.diskwrite.map(|n| n as f64),
        ),
        (
            "pve_disk_read_bytes_total",
            "The amount of bytes the guest read from its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc')",
            |r| r.diskread.map(|n| n as f64),
        ),
    ];
    let mut out = Vec::new();
    let mut fill = |mut f: Family, get: Get| {
        for r in &o.resources {
            if let Some(v) = get(r) {
                f.add(vec![r.id.clone()], v);
            }
        }
        out.push(f);
    };
    for (name, help, get) in gauges {
        fill(Family::gauge(name, help, &["id"]), get);
    }
    for (name, help, get) in counters {
        fill(Family::counter(name, help, &["id"]), get);
    }
    let mut shared = Family::gauge(
        "pve_storage_shared",
        "Whether or not the storage is shared among cluster nodes",
        &["id"],
    );
    for r in o.resources.iter().filter(|r| r.res_type == "storage") {
        shared.add(vec![r.id.clone()], flag(r.shared.unwrap_or(false)));
    }
    out.push(shared);
    out
}

/// `pve_ha_state` and `pve_lock_state`: one series per state, 1 for the current one.
fn states(o: &Observed) -> Vec<Family> {
    let mut ha =
        Family::gauge("pve_ha_state", "HA service status (for HA managed VMs).", &["id", "state"]);
    let mut lock = Family::gauge(
        "pve_lock_state",
        "The guest's current config lock (for types 'qemu' and 'lxc')",
        &["id", "state"],
    );
    for r in &o.resources {
        let ha_states = match r.res_type.as_str() {
            "qemu" | "lxc" => HA_GUEST_STATES,
            "node" => HA_NODE_STATES,
            _ => &[],
        };
        for s in ha_states {
            ha.add(vec![r.id.clone(), s.to_string()], flag(r.hastate.as_deref() == Some(*s)));
        }
        if is_guest(r) {
            for s in LOCK_STATES {
                lock.add(vec![r.id.clone(), s.to_string()], flag(r.lock.as_deref() == Some(*s)));
            }
        }
    }
    vec![ha, lock]
}

/// The info families: guests, storages, nodes, the cluster, the version.
fn info(o: &Observed) -> Vec<Family> {
    let mut guest = Family::gauge(
        "pve_guest_info",
        "VM/CT info",
        &["id", "node", "name", "type", "template", "tags"],
    );
    let mut storage = Family::gauge(
        "pve_storage_info",
        "Storage info",
        &["id", "node", "storage", "plugintype", "content"],
    );
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let node = |r: &ClusterResource| r.node.as_ref().map(|n| n.to_string()).unwrap_or_default();
    for r in &o.resources {
        if is_guest(r) {
            guest.add(
                vec![
                    r.id.clone(),
                    node(r),
                    text(&r.name),
                    r.res_type.clone(),
                    // The exporter writes PVE's 0/1, as the API sends it.
                    if r.template.unwrap_or(false) { "1" } else { "0" }.into(),
                    text(&r.tags),
                ],
                1.0,
            );
        } else if r.res_type == "storage" {
            storage.add(
                vec![
                    r.id.clone(),
                    node(r),
                    text(&r.storage),
                    text(&r.plugintype),
                    sorted_csv(&text(&r.content)),
                ],
                1.0,
            );
        }
    }
    let mut nodes = Family::gauge("pve_node_info", "Node info", &["id", "level", "name", "nodeid"]);
    let mut cluster =
        Family::gauge("pve_cluster_info", "Cluster info", &["id", "nodes", "quorate", "version"]);
    let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    for s in &o.status {
        match s.item_type.as_str() {
            "node" => {
                nodes.add(vec![s.id.clone(), text(&s.level), s.name.clone(), num(s.nodeid)], 1.0)
            }
            "cluster" => cluster.add(
                vec![
                    format!("cluster/{}", s.name),
                    num(s.nodes),
                    if s.quorate.unwrap_or(false) { "1" } else { "0" }.into(),
                    num(s.version),
                ],
                1.0,
            ),
            _ => {}
        }
    }
    let mut version = Family::gauge(
        "pve_version_info",
        "Proxmox VE version info",
        &["release", "repoid", "version"],
    );
    if let Some(v) = &o.version {
        version.add(vec![v.release.clone(), v.repoid.clone(), v.version.clone()], 1.0);
    }
    vec![guest, storage, nodes, cluster, version]
}

/// `pve_not_backed_up_*`: guests no PVE backup job covers. The exporter names the total
/// after the first entry of `/cluster/status` (the cluster, or the node of a lone node).
fn not_backed_up(o: &Observed) -> Vec<Family> {
    let mut total = Family::gauge(
        "pve_not_backed_up_total",
        "Total number of guests not covered by any backup job.",
        &["id"],
    );
    let mut info = Family::gauge(
        "pve_not_backed_up_info",
        "Present if guest is not covered by any backup job.",
        &["id"],
    );
    if let Some(list) = &o.not_backed_up {
        for g in list {
            info.add(vec![format!("{}/{}", g.guest_type, g.vmid)], 1.0);
        }
        if let Some(first) = o.status.first() {
            total.add(vec![format!("cluster/{}", first.name)], list.len() as f64);
        }
    }
    vec![total, info]
}

/// `pve_onboot_status`, for guests whose config sets `onboot`, from the details kept between
/// scrapes (the exporter reads every guest's config at every scrape instead).
pub fn onboot(details: &BTreeMap<u32, Detail>) -> Family {
    let mut f = Family::gauge(
        "pve_onboot_status",
        "Proxmox vm config onboot value",
        &["id", "node", "type"],
    );
    for (vmid, d) in details {
        if let Some(on) = d.onboot {
            f.add(vec![format!("{}/{vmid}", d.kind), d.node.clone(), d.kind.clone()], flag(on));
        }
    }
    f
}

/// Subscription states the exporter reports one series each for.
const SUBSCRIPTION_STATES: &[&str] =
    &["new", "notfound", "active", "invalid", "expired", "suspended"];

/// `pve_subscription_*` per node (the exporter's node collector, for every node at once).
fn subscriptions(o: &Observed) -> Vec<Family> {
    let mut info = Family::gauge(
        "pve_subscription_info",
        "Proxmox VE subscription info (1 if present)",
        &["id", "level"],
    );
    let mut status = Family::gauge(
        "pve_subscription_status",
        "Proxmox VE subscription status (1 if matches status)",
        &["id", "status"],
    );
    let mut due = Family::gauge(
        "pve_subscription_next_due_timestamp_seconds",
        "Subscription next due date as Unix timestamp",
        &["id"],
    );
    for (node, s) in &o.subscriptions {
        let id = format!("node/{node}");
        info.add(vec![id.clone(), s.level.clone().unwrap_or_else(|| "unknown".into())], 1.0);
        for st in SUBSCRIPTION_STATES {
            status.add(vec![id.clone(), st.to_string()], flag(s.status == *st));
        }
        // A date, read as midnight UTC (the exporter reads it in its host's zone).
        let at = s.nextduedate.as_deref().and_then(|d| d.parse::<jiff::civil::Date>().ok());
        if let Some(ts) = at.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok()) {
            due.add(vec![id], ts.timestamp().as_second() as f64);
        }
    }
    vec![info, status, due]
}

/// `pve_qdevice_*`, when the cluster has a QDevice.
fn qdevice(o: &Observed) -> Vec<Family> {
    const LABELS: [(&str, &str); 5] = [
        ("Model", "model"),
        ("Algorithm", "algorithm"),
        ("QNetd host", "qnetd_host"),
        ("Tie-breaker", "tie_breaker"),
        ("State", "state"),
    ];
    let mut names = vec!["id"];
    names.extend(LABELS.iter().map(|(_, l)| *l));
    let mut info =
        Family::gauge("pve_qdevice_info", "Proxmox VE QDevice info (1 if configured)", &names);
    let mut up =
        Family::gauge("pve_qdevice_up", "Proxmox VE QDevice is connected (1) or not (0)", &["id"]);
    let cluster = o.status.iter().find(|s| s.item_type == "cluster");
    if let (Some(c), Some(q)) = (cluster, o.qdevice.as_ref().filter(|q| !q.is_empty())) {
        let id = format!("cluster/{}", c.name);
        let text = |k: &str| match q.get(k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        let mut values = vec![id.clone()];
        values.extend(LABELS.iter().map(|(k, _)| text(k)));
        info.add(values, 1.0);
        up.add(vec![id], flag(text("State") == "Connected"));
    }
    vec![up, info]
}

/// `pve_replication_*`, from each node's job list (which carries the jobs' state, so no
/// request per job).
fn replication(o: &Observed) -> Vec<Family> {
    let mut info = Family::gauge(
        "pve_replication_info",
        "Proxmox vm replication info",
        &["id", "type", "source", "target", "guest"],
    );
    type Get = fn(&ReplicationJob) -> Option<f64>;
    let gauges: [(&str, &str, Get); 5] = [
        ("pve_replication_duration_seconds", "Proxmox vm replication duration", |j| j.duration),
        ("pve_replication_last_sync_timestamp_seconds", "Proxmox vm replication last_sync", |j| {
            j.last_sync.map(|n| n as f64)
        }),
        ("pve_replication_last_try_timestamp_seconds", "Proxmox vm replication last_try", |j| {
            j.last_try.map(|n| n as f64)
        }),
        ("pve_replication_next_sync_timestamp_seconds", "Proxmox vm replication next_sync", |j| {
            j.next_sync.map(|n| n as f64)
        }),
        ("pve_replication_failed_syncs", "Proxmox vm replication fail_count", |j| {
            j.fail_count.map(|n| n as f64)
        }),
    ];
    let mut out = Vec::new();
    for (name, help, get) in gauges {
        let mut f = Family::gauge(name, help, &["id"]);
        for j in &o.replication {
            if let Some(v) = get(j) {
                f.add(vec![j.id.clone()], v);
            }
        }
        out.push(f);
    }
    for j in &o.replication {
        info.add(
            vec![
                j.id.clone(),
                j.job_type.clone(),
                format!("node/{}", j.source),
                format!("node/{}", j.target),
                format!("{}/{}", j.vmtype, j.guest),
            ],
            1.0,
        );
    }
    out.push(info);
    out
}

/// Every exporter-compatible family for what one remote showed.
pub fn families(o: &Observed) -> Vec<Family> {
    let mut out = vec![up(o)];
    out.extend(usage(o));
    out.extend(states(o));
    out.extend(info(o));
    out.extend(not_backed_up(o));
    out.extend(subscriptions(o));
    out.extend(qdevice(o));
    out.extend(replication(o));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_content_is_sorted_so_series_do_not_churn() {
        assert_eq!(sorted_csv("vztmpl,iso,backup"), "backup,iso,vztmpl");
    }
}
