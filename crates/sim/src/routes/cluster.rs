//! Cluster and node views: `/version`, `/nodes`, node status and network, `/cluster/status`,
//! `/cluster/resources`, `/cluster/nextid`, `/cluster/tasks`, HA and SDN (§9).

use proxctl_types::VmId;
use proxctl_types::api::{
    ClusterResource, ClusterStatusItem, CpuInfo, MemoryInfo, NodeListItem, NodeStatus,
    TaskListItem, VersionInfo,
};
use proxctl_types::messages::{GuestKind, nextid_taken};
use serde_json::json;

use super::common::{node, user};
use crate::control::INTERNAL_TASK;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{GIB, World, node_name};

pub const PVE_VERSION: &str = "9.1.3";
pub const REPOID: &str = "a5d8a3f3e5b2c1d0";

pub fn version(ctx: &mut Ctx, _w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::json(&VersionInfo {
        version: PVE_VERSION.into(),
        release: "9.1".into(),
        repoid: REPOID.into(),
        console: None,
    }))
}

/// Memory committed to running guests on a node.
fn node_mem_used(w: &World, n: &str) -> u64 {
    2 * GIB
        + w.guests
            .values()
            .filter(|g| g.node == n && g.is_running())
            .map(|g| g.memory_bytes())
            .sum::<u64>()
}

pub fn nodes(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let fp = ctx.env.fingerprint.clone();
    let list: Vec<NodeListItem> = w
        .nodes
        .values()
        .map(|n| NodeListItem {
            node: node_name(&n.name),
            id: format!("node/{}", n.name),
            item_type: "node".into(),
            status: if w.node_online(&n.name) { "online" } else { "offline" }.into(),
            level: String::new(),
            ssl_fingerprint: Some(ctx.env.node_fingerprints.get(&n.name).unwrap_or(&fp).clone()),
            cpu: Some(0.02),
            maxcpu: Some(n.cpus),
            mem: Some(node_mem_used(w, &n.name)),
            maxmem: Some(n.memory),
            disk: Some(8 * GIB),
            maxdisk: Some(100 * GIB),
            uptime: Some(w.now_secs().saturating_sub(n.boot_time)),
        })
        .collect();
    Ok(Reply::json(&list))
}

pub fn node_status(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    ctx.p.finish()?;
    let Some(nd) = w.node(&n) else {
        return Err(PveError::die(format!("no such node '{n}'")));
    };
    let used = node_mem_used(w, &n);
    Ok(Reply::json(&NodeStatus {
        uptime: w.now_secs().saturating_sub(nd.boot_time),
        cpu: 0.02,
        idle: 0.0,
        wait: 0.0,
        loadavg: vec!["0.12".into(), "0.08".into(), "0.02".into()],
        kversion: "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4".into(),
        pveversion: format!("pve-manager/{PVE_VERSION}/{REPOID}"),
        cpuinfo: CpuInfo {
            cpus: nd.cpus,
            cores: nd.cpus / 2,
            sockets: 1,
            model: "Simulated CPU @ 3.00GHz".into(),
            mhz: "3000.000".into(),
            hvm: "1".into(),
            flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov sse sse2 avx avx2 aes".into(),
            user_hz: 100,
        },
        memory: MemoryInfo { total: nd.memory, used, free: nd.memory.saturating_sub(used), available: Some(nd.memory.saturating_sub(used)) },
        swap: MemoryInfo { total: 8 * GIB, used: 0, free: 8 * GIB, available: None },
        rootfs: json!({"total": 100 * GIB, "used": 8 * GIB, "free": 92 * GIB, "avail": 92 * GIB}),
        boot_info: Some(json!({"mode": "efi", "secureboot": 0})),
        current_kernel: Some(json!({"sysname": "Linux", "release": "6.14.11-4-pve", "version": "#1 SMP", "machine": "x86_64"})),
        ksm: Some(json!({"shared": 0})),
    }))
}

pub fn node_time(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    ctx.p.finish()?;
    let Some(nd) = w.node(&n) else {
        return Err(PveError::die(format!("no such node '{n}'")));
    };
    let time = i64::try_from(w.now_secs()).unwrap_or(i64::MAX);
    // A zone the host's tz database lacks counts as UTC, as a node without one would.
    let offset = jiff::tz::TimeZone::get(&nd.timezone)
        .ok()
        .and_then(|tz| jiff::Timestamp::from_second(time).ok().map(|t| tz.to_offset(t)))
        .map_or(0, |o| i64::from(o.seconds()));
    Ok(Reply::json(&proxctl_types::api::NodeTime {
        timezone: nd.timezone.clone(),
        time,
        localtime: time + offset,
    }))
}

pub fn cluster_status(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut out = Vec::new();
    let standalone = w.nodes.len() == 1;
    if !standalone {
        out.push(ClusterStatusItem {
            item_type: "cluster".into(),
            id: "cluster".into(),
            name: w.cluster_name.clone(),
            nodes: Some(w.nodes.len() as u32),
            version: Some(w.nodes.len() as u32 + 2),
            quorate: Some(w.is_quorate()),
            nodeid: None,
            ip: None,
            local: None,
            online: None,
            level: None,
        });
    }
    let first = w.first_node();
    for (i, n) in w.nodes.values().enumerate() {
        out.push(ClusterStatusItem {
            item_type: "node".into(),
            id: format!("node/{}", n.name),
            name: n.name.clone(),
            nodes: None,
            version: None,
            quorate: None,
            nodeid: Some(if standalone { 0 } else { i as u32 + 1 }),
            ip: Some(n.ip.clone()),
            local: Some(n.name == first),
            online: Some(w.node_online(&n.name)),
            level: Some(String::new()),
        });
    }
    Ok(Reply::json(&out))
}

pub fn cluster_resources(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let t = ctx.p.opt_enum("type", &["vm", "storage", "node", "sdn"]);
    ctx.p.finish()?;
    let want = |k: &str| t.as_deref().is_none_or(|t| t == k);
    let mut out: Vec<ClusterResource> = Vec::new();
    if want("vm") {
        for g in w.guests.values() {
            let kind = g.kind.as_str();
            // No status yet: the id, the node and what the configs say (lock, tags), live.
            let unknown = || ClusterResource {
                id: format!("{kind}/{}", g.vmid),
                res_type: kind.into(),
                vmid: VmId::new(g.vmid).ok(),
                node: Some(node_name(&g.node)),
                status: Some("unknown".into()),
                lock: g.lock().map(String::from),
                tags: g.conf.get("tags").cloned(),
                ..ClusterResource::default()
            };
            if !w.node_online(&g.node) {
                // A node that is down sends no status: its guests are `unknown`, with what
                // the cluster filesystem still knows (name too) and no statistics.
                out.push(ClusterResource {
                    name: g.name().map(String::from),
                    template: Some(g.is_template()),
                    ..unknown()
                });
                continue;
            }
            if w.resources_lag {
                // Status, name and template come from RRD data; lock and tags are live.
                let Some((status, name, template)) = w.rrd.get(&g.vmid) else {
                    out.push(unknown());
                    continue;
                };
                out.push(ClusterResource {
                    id: format!("{kind}/{}", g.vmid),
                    res_type: kind.into(),
                    vmid: VmId::new(g.vmid).ok(),
                    node: Some(node_name(&g.node)),
                    status: Some(status.clone()),
                    name: Some(if name.is_empty() {
                        default_name(g.kind, g.vmid)
                    } else {
                        name.clone()
                    }),
                    template: Some(*template),
                    maxcpu: Some(g.cpus()),
                    maxmem: Some(g.memory_bytes()),
                    maxdisk: Some(g.boot_disk_size()),
                    lock: g.lock().map(String::from),
                    tags: g.conf.get("tags").cloned(),
                    ..ClusterResource::default()
                });
                continue;
            }
            let running = g.is_running();
            let uptime = if running { w.now_secs().saturating_sub(g.started_at) } else { 0 };
            out.push(ClusterResource {
                id: format!("{kind}/{}", g.vmid),
                res_type: kind.into(),
                vmid: VmId::new(g.vmid).ok(),
                node: Some(node_name(&g.node)),
                status: Some(
                    match g.run {
                        crate::state::RunState::Running => "running",
                        crate::state::RunState::Paused => "paused",
                        crate::state::RunState::Stopped => "stopped",
                    }
                    .into(),
                ),
                name: Some(
                    g.name().map(String::from).unwrap_or_else(|| default_name(g.kind, g.vmid)),
                ),
                template: Some(g.is_template()),
                maxcpu: Some(g.cpus()),
                cpu: Some(if running { 0.01 } else { 0.0 }),
                maxmem: Some(g.memory_bytes()),
                mem: Some(if running { g.memory_bytes() / 4 } else { 0 }),
                maxdisk: Some(g.boot_disk_size()),
                disk: Some(0),
                uptime: Some(uptime),
                lock: g.lock().map(String::from),
                tags: g.conf.get("tags").cloned(),
                hastate: w.ha.get(&format!("vm:{}", g.vmid)).map(|h| h.state.clone()),
                // Plausible counters that grow with uptime (and reset on a restart, as PVE's).
                netin: Some(uptime * 12_000),
                netout: Some(uptime * 3_000),
                diskread: Some(uptime * 40_000),
                diskwrite: Some(uptime * 25_000),
                ..ClusterResource::default()
            });
        }
    }
    if want("node") {
        // One pass over the guests for every node's memory, not one per node.
        let mut mem: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for g in w.guests.values().filter(|g| g.is_running()) {
            *mem.entry(g.node.as_str()).or_default() += g.memory_bytes();
        }
        for n in w.nodes.values() {
            out.push(ClusterResource {
                id: format!("node/{}", n.name),
                res_type: "node".into(),
                node: Some(node_name(&n.name)),
                status: Some(if w.node_online(&n.name) { "online" } else { "offline" }.into()),
                level: Some(String::new()),
                cpu: Some(0.02),
                maxcpu: Some(f64::from(n.cpus)),
                mem: Some(2 * GIB + mem.get(n.name.as_str()).copied().unwrap_or(0)),
                maxmem: Some(n.memory),
                disk: Some(8 * GIB),
                maxdisk: Some(100 * GIB),
                uptime: Some(w.now_secs().saturating_sub(n.boot_time)),
                ..ClusterResource::default()
            });
        }
    }
    if want("storage") {
        // One pass over the volumes for every storage's use, not one per node and storage.
        let mut used_by: std::collections::HashMap<(&str, &str), u64> =
            std::collections::HashMap::new();
        for ((scope, _), v) in &w.volumes {
            *used_by.entry((scope.as_str(), v.storage.as_str())).or_default() += v.size;
        }
        for n in w.nodes.values() {
            for s in w.storages.values().filter(|s| s.on_node(&n.name)) {
                let scope = s.scope(&n.name);
                let used = used_by.get(&(scope.as_str(), s.id.as_str())).copied().unwrap_or(0);
                out.push(ClusterResource {
                    id: format!("storage/{}/{}", n.name, s.id),
                    res_type: "storage".into(),
                    storage: Some(s.id.clone()),
                    node: Some(node_name(&n.name)),
                    plugintype: Some(s.storage_type.clone()),
                    status: Some(
                        if w.node_online(&n.name) { "available" } else { "unknown" }.into(),
                    ),
                    shared: Some(s.shared),
                    content: Some(s.content.join(",")),
                    disk: Some(if w.faults.full_storages.contains(&s.id) { s.total } else { used }),
                    maxdisk: Some(s.total),
                    ..ClusterResource::default()
                });
            }
        }
    }
    if want("sdn") {
        for n in w.nodes.values() {
            for z in &w.sdn_zones {
                out.push(ClusterResource {
                    id: format!("sdn/{}/{}", n.name, z.zone),
                    res_type: "sdn".into(),
                    sdn: Some(z.zone.clone()),
                    node: Some(node_name(&n.name)),
                    status: Some("ok".into()),
                    ..ClusterResource::default()
                });
            }
        }
    }
    for r in &mut out {
        match (r.res_type.as_str(), r.vmid) {
            ("qemu" | "lxc", Some(v)) => r.pool = w.pool_of(v.get()).map(String::from),
            ("storage", _) => {
                let s = r.storage.as_deref().unwrap_or_default();
                r.pool =
                    w.pools.iter().find(|(_, p)| p.storage.contains(s)).map(|(id, _)| id.clone());
            }
            _ => {}
        }
    }
    Ok(Reply::json(&out))
}

pub fn default_name(kind: GuestKind, vmid: u32) -> String {
    match kind {
        GuestKind::Qemu => format!("VM {vmid}"),
        GuestKind::Lxc => format!("CT{vmid}"),
    }
}

/// `GET /cluster/nextid`: the lowest free id (a string on the wire), or confirm `vmid` is free.
/// Nothing is reserved.
pub fn nextid(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let want = ctx.p.opt_vmid("vmid");
    ctx.p.finish()?;
    if let Some(id) = want {
        if w.vmid_taken(id.get()) {
            return Err(PveError::param("vmid", nextid_taken(id)));
        }
        return Ok(Reply::data(id.to_string()));
    }
    (100..1_000_000u32)
        .find(|id| !w.vmid_taken(*id))
        .map(|id| Reply::data(id.to_string()))
        .ok_or_else(|| PveError::die("unable to get any free VMID in range [100, 1000000]"))
}

/// Running tasks plus the newest finished ones, up to 25 per node.
pub fn cluster_tasks(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut out = Vec::new();
    for n in w.nodes.keys() {
        let mut tasks: Vec<_> = w
            .tasks
            .iter()
            .filter(|t| t.upid.node.as_str() == n && t.upid.task_type != INTERNAL_TASK)
            .collect();
        tasks.sort_by_key(|t| {
            (!t.is_running(), std::cmp::Reverse(t.upid.starttime), std::cmp::Reverse(t.id))
        });
        for t in tasks.into_iter().take(25) {
            out.push(super::tasks::list_item(t));
        }
    }
    Ok(Reply::json::<Vec<TaskListItem>>(&out))
}

pub fn node_termproxy(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let _ = ctx.p.opt_enum("cmd", &["ceph_install", "login", "upgrade"]);
    let _ = ctx.p.opt_str("cmd-opts");
    ctx.p.finish()?;
    let who = user(ctx);
    let reply = super::console::termproxy_reply(w, &n, "", &who, &ctx.env.auth);
    Ok(Reply::data(reply))
}
