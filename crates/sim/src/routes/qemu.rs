//! QEMU: list, create (with `import-from`, cloud-init drives and disk allocation), config
//! GET/PUT/POST with pending changes and digests, `status/current`, and power actions (§5).

use std::collections::BTreeMap;

use proxctl_types::VmId;
use proxctl_types::api::GuestStatus;
use proxctl_types::messages::{self, DIGEST_MISMATCH, GuestKind, NO_OPTIONS};
use proxctl_types::prop::{Drive, DriveSlot, Media, NetDevice};
use proxctl_types::wire::DiskSize;
use serde_json::{Value, json};

use super::common::{
    alloc_syntax, alloc_volume, check_config_value, config_flock_free, find_volume, guest,
    guest_mut, is_config_key, node, not_locked, quorum, remove_volume, user, vmid,
};
use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode};
use crate::router::{Ctx, Reply};
use crate::state::{GIB, Guest, RunState, World};
use crate::task::Plan;

const K: GuestKind = GuestKind::Qemu;

pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let _ = ctx.p.opt_bool("full");
    ctx.p.finish()?;
    let out: Vec<GuestStatus> = w
        .guests
        .values()
        .filter(|g| g.node == n && g.kind == K)
        .map(|g| status_of(w, g, false))
        .collect();
    Ok(Reply::json(&out))
}

pub fn status_of(w: &World, g: &Guest, current: bool) -> GuestStatus {
    let running = g.is_running();
    let id = crate::state::vm_id(g.vmid);
    GuestStatus {
        vmid: id,
        status: if running { "running" } else { "stopped" }.into(),
        name: Some(
            g.name()
                .map(String::from)
                .unwrap_or_else(|| super::cluster::default_name(g.kind, g.vmid)),
        ),
        guest_type: (g.kind == GuestKind::Lxc).then(|| "lxc".to_string()),
        cpus: Some(g.cpus()),
        maxmem: Some(g.memory_bytes()),
        maxdisk: Some(g.boot_disk_size()),
        disk: Some(0),
        mem: Some(if running { g.memory_bytes() / 4 } else { 0 }),
        cpu: Some(if running { 0.01 } else { 0.0 }),
        uptime: Some(if running { w.now_secs().saturating_sub(g.started_at) } else { 0 }),
        netin: Some(0),
        netout: Some(0),
        pid: running.then_some(u64::from(g.pid)),
        template: g.is_template().then_some(true),
        lock: g.lock().map(String::from),
        tags: g.conf.get("tags").cloned(),
        qmpstatus: (current && g.kind == K).then(|| {
            match g.run {
                RunState::Running => "running",
                RunState::Paused => "paused",
                RunState::Stopped => "stopped",
            }
            .to_string()
        }),
        ha: current.then(|| match w.ha.get(&format!("vm:{}", g.vmid)) {
            Some(h) => json!({"managed": 1, "state": h.state}),
            None => json!({"managed": 0}),
        }),
        agent: (current && agent_enabled(g)).then_some(true),
        running_qemu: (current && running && g.kind == K).then(|| "9.2.0".to_string()),
        running_machine: (current && running && g.kind == K)
            .then(|| "pc-i440fx-9.2+pve1".to_string()),
    }
}

pub fn agent_enabled(g: &Guest) -> bool {
    g.conf
        .get("agent")
        .is_some_and(|a| a.parse::<proxctl_types::prop::Agent>().is_ok_and(|a| a.enabled))
}

pub fn status_current(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    Ok(Reply::json(&status_of(w, g, true)))
}

/// Validate the config keys of a create or update; returns them in key order.
fn config_params(ctx: &mut Ctx) -> Vec<(String, String)> {
    let kv = ctx.p.take_matching(|k| is_config_key(K, k) && k != "lock" && k != "meta");
    for (k, v) in &kv {
        check_config_value(K, &mut ctx.p, k, v);
        if let Ok(slot) = k.parse::<DriveSlot>()
            && slot.is_bus()
            && let Ok(d) = v.parse::<Drive>()
        {
            if d.file.contains(":iso/") && d.media != Some(Media::Cdrom) {
                ctx.p.invalid(k, "explicit 'media=cdrom' is required for iso images");
            }
            if d.import_from.is_some() && alloc_syntax(&d.file).is_none_or(|(_, g)| g != 0.0) {
                ctx.p.invalid(k, "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>");
            }
        }
    }
    kv
}

/// What creating a disk from `X:size` / `X:0,import-from=` / `X:cloudinit` syntax needs.
struct DiskJob {
    key: String,
    storage: String,
    size: u64,
    drive: Drive,
    import: Option<(String, u64)>,
    cloudinit: bool,
}

fn disk_jobs(w: &World, node: &str, kv: &[(String, String)]) -> PveResult<Vec<DiskJob>> {
    let mut jobs = Vec::new();
    for (k, v) in kv {
        let Ok(slot) = k.parse::<DriveSlot>() else {
            continue;
        };
        if !(slot.is_bus() || matches!(slot, DriveSlot::EfiDisk0 | DriveSlot::TpmState0)) {
            continue;
        }
        let drive: Drive = match v.parse() {
            Ok(d) => d,
            Err(_) => continue,
        };
        let (store, rest) = drive.file.split_once(':').unwrap_or(("", ""));
        let cloudinit = rest == "cloudinit";
        let alloc = alloc_syntax(&drive.file);
        if !cloudinit && alloc.is_none() {
            // An existing volume (or `none`/`cdrom`): it must exist if it names a volume.
            if drive.file.contains(':')
                && !drive.file.contains(":iso/")
                && find_volume(w, node, &drive.file).is_none()
            {
                return Err(PveError::die(format!("volume '{}' does not exist", drive.file)));
            }
            if drive.file.contains(":iso/") && find_volume(w, node, &drive.file).is_none() {
                return Err(PveError::die(format!("volume '{}' does not exist", drive.file)));
            }
            continue;
        }
        let def = w
            .storages
            .get(store)
            .ok_or_else(|| PveError::die(format!("storage '{store}' does not exist")))?;
        if !def.supports("images") {
            return Err(PveError::die(format!(
                "storage '{store}' does not support content-type 'images'"
            )));
        }
        let import = match &drive.import_from {
            Some(src) => {
                let vol = find_volume(w, node, src)
                    .ok_or_else(|| PveError::die(format!("volume '{src}' does not exist")))?;
                Some((src.clone(), vol.size))
            }
            None => None,
        };
        let size = if cloudinit {
            4 * 1024 * 1024
        } else if let Some((_, s)) = &import {
            *s
        } else if matches!(slot, DriveSlot::EfiDisk0 | DriveSlot::TpmState0) {
            4 * 1024 * 1024
        } else {
            alloc.map_or(0, |(_, g)| (g * GIB as f64) as u64)
        };
        jobs.push(DiskJob {
            key: k.clone(),
            storage: store.to_string(),
            size,
            drive,
            import,
            cloudinit,
        });
    }
    Ok(jobs)
}

/// Allocation steps for disk jobs: each takes the storage lock for its allocation time.
fn alloc_steps(
    mut plan: Plan,
    w: &World,
    node: &str,
    vmid: u32,
    jobs: Vec<DiskJob>,
    prefix: &'static str,
) -> Plan {
    for job in jobs {
        let alloc_ms = w.storages.get(&job.storage).map_or(50, |s| s.alloc_ms);
        let key = LockKey::Storage(job.storage.clone());
        let node_s = node.to_string();
        plan = plan.lock(key.clone(), LockMode::Exclusive, 10_000, K, prefix).sleep(alloc_ms);
        let import_ms = job.import.as_ref().map(|(_, s)| s * 1000 / w.bandwidth.max(1));
        plan = plan.act(move |w, task| {
            let volid = if job.cloudinit {
                let def = w.storages.get(&job.storage).cloned().ok_or("storage vanished")?;
                let volid = if def.is_file_based() {
                    format!("{}:{vmid}/vm-{vmid}-cloudinit.qcow2", job.storage)
                } else {
                    format!("{}:vm-{vmid}-cloudinit", job.storage)
                };
                super::common::insert_volume(
                    w,
                    &def.scope(&node_s),
                    &volid,
                    &job.storage,
                    "images",
                    "raw",
                    job.size,
                    Some(vmid),
                );
                volid
            } else {
                alloc_volume(w, &node_s, &job.storage, vmid, job.size, "images")
                    .map_err(|e| format!("{prefix}unable to create VM {vmid} - {e}"))?
            };
            let mut d = job.drive.clone();
            d.file = volid.clone();
            d.import_from = None;
            if job.cloudinit {
                d.media = Some(Media::Cdrom);
            } else {
                d.size = Some(DiskSize(job.size));
            }
            if let Some(g) = w.guests.get_mut(&vmid) {
                g.conf.insert(job.key.clone(), d.to_string());
            }
            if let Some((src, _)) = &job.import {
                w.task_log(task, format!("importing disk '{src}' to VM {vmid} ..."));
            }
            w.task_log(task, format!("{}: successfully created disk '{}'", job.key, d));
            Ok(())
        });
        plan = plan.unlock(key);
        if let Some(ms) = import_ms {
            plan = plan.sleep(ms).log("transferred 100% of disk image");
        }
    }
    plan
}

pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let start = ctx.p.flag("start");
    let pool = ctx.p.opt_str("pool");
    crate::routes::pools::check_pool(w, pool.as_deref())?;
    let default_storage = ctx.p.opt_str("storage");
    let _unique = ctx.p.opt_bool("unique");
    let _ha = ctx.p.opt_bool("ha-managed");
    let archive = ctx.p.opt_str("archive");
    let mut kv = config_params(ctx);
    ctx.p.finish()?;
    quorum(w)?;
    if let Some(a) = &archive {
        kv = restore_config(w, &n, a, default_storage.as_deref(), kv)?;
    }
    if let Some(existing) = w.guests.get(&id.get()) {
        return Err(PveError::die(messages::create_exists(K, id, &existing.node)));
    }
    // `X:size` needs a storage; a bare size uses the `storage` parameter.
    for (k, v) in kv.iter_mut() {
        if k.parse::<DriveSlot>().is_ok()
            && let Some(first) = v.split(',').next()
            && first.parse::<f64>().is_ok()
        {
            match &default_storage {
                Some(s) => *v = format!("{s}:{v}"),
                None => {
                    return Err(PveError::die("no storage ID specified (and no default storage)"));
                }
            }
        }
    }
    let jobs = disk_jobs(w, &n, &kv)?;
    let job_keys: Vec<String> = jobs.iter().map(|j| j.key.clone()).collect();

    let mut g = Guest::new(id.get(), K, &n);
    g.conf.insert("lock".into(), "create".into());
    w.guests.insert(id.get(), g);

    let vid = id.get();
    let who = user(ctx);
    let mut plan = Plan::new().lock(
        LockKey::Config(id),
        LockMode::Exclusive,
        1000,
        K,
        &format!("unable to create VM {id} - "),
    );
    plan = alloc_steps(plan, w, &n, vid, jobs, "");
    let uuid = w.random_uuid();
    let genid = w.random_uuid();
    let macs: BTreeMap<String, String> = kv
        .iter()
        .filter(|(k, _)| k.starts_with("net"))
        .map(|(k, _)| (k.clone(), w.random_mac()))
        .collect();
    let ctime = w.now_secs();
    plan = plan.sleep(1000).act(move |w, _| {
        let Some(g) = w.guests.get_mut(&vid) else {
            return Err(format!("unable to create VM {vid} - config vanished"));
        };
        for (k, v) in &kv {
            if job_keys.contains(k) {
                continue;
            }
            let v = if k == "cipassword" { hash_password(v) } else { fill_mac(k, v, &macs) };
            g.conf.insert(k.clone(), v);
        }
        g.conf.entry("smbios1".into()).or_insert_with(|| format!("uuid={uuid}"));
        g.conf.entry("vmgenid".into()).or_insert(genid);
        g.conf.insert("meta".into(), format!("creation-qemu=9.2.0,ctime={ctime}"));
        if !g.conf.contains_key("boot") {
            let mut order: Vec<&str> = ["scsi0", "virtio0", "sata0", "ide0", "ide2", "net0"]
                .into_iter()
                .filter(|k| g.conf.contains_key(*k))
                .collect();
            order.dedup();
            if !order.is_empty() {
                g.conf.insert("boot".into(), format!("order={}", order.join(";")));
            }
        }
        g.conf.remove("lock");
        Ok(())
    });
    if start {
        plan = plan.log("Execute autostart").act(move |w, _| {
            start_now(w, vid);
            Ok(())
        });
    }
    plan = plan.on_fail(move |w, _| {
        free_guest_volumes(w, vid);
        w.guests.remove(&vid);
        w.pool_forget(vid);
        Ok(())
    });
    let kind = if archive.is_some() { "qmrestore" } else { "qmcreate" };
    w.pool_join(pool.as_deref(), id.get());
    let upid = w.spawn(&n, kind, &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

/// The config a restore of `archive` creates: the backed-up config with every disk re-allocated
/// (on `storage` when given, else where it was), new MACs and a new VM generation id, then the
/// caller's explicit keys on top.
fn restore_config(
    w: &World,
    node: &str,
    archive: &str,
    storage: Option<&str>,
    explicit: Vec<(String, String)>,
) -> PveResult<Vec<(String, String)>> {
    let vol = find_volume(w, node, archive)
        .ok_or_else(|| PveError::die(format!("volume '{archive}' does not exist")))?;
    let conf = match (&vol.guest_conf, vol.content.as_str()) {
        (Some(c), "backup") => c.clone(),
        _ => return Err(PveError::die(format!("'{archive}' is not a QEMU backup archive"))),
    };
    let mut kv: Vec<(String, String)> = Vec::new();
    for (k, v) in conf {
        if matches!(k.as_str(), "lock" | "meta" | "vmgenid" | "smbios1" | "parent") {
            continue;
        }
        let v = if k.parse::<DriveSlot>().is_ok() {
            match v.parse::<Drive>() {
                Ok(mut d) if d.media != Some(Media::Cdrom) && d.file.contains(':') => {
                    let (store, rest) = d.file.split_once(':').unwrap_or(("", ""));
                    let target = storage.unwrap_or(store);
                    d.file = if rest == "cloudinit" {
                        format!("{target}:cloudinit")
                    } else {
                        let gib = d.size.map_or(1, |s| s.0.div_ceil(1 << 30).max(1));
                        format!("{target}:{gib}")
                    };
                    d.size = None;
                    d.to_string()
                }
                _ => v,
            }
        } else if k.starts_with("net") {
            match v.parse::<NetDevice>() {
                Ok(mut nd) => {
                    nd.macaddr = None;
                    nd.to_string()
                }
                Err(_) => v,
            }
        } else {
            v
        };
        kv.push((k, v));
    }
    Ok(super::common::overlay(kv, explicit))
}

/// Give `netN` values without a MAC a generated one.
fn fill_mac(k: &str, v: &str, macs: &BTreeMap<String, String>) -> String {
    match (v.parse::<NetDevice>(), macs.get(k)) {
        (Ok(mut nd), Some(mac)) if nd.macaddr.is_none() => {
            nd.macaddr = mac.parse().ok();
            nd.to_string()
        }
        _ => v.to_string(),
    }
}

/// PVE stores cloud-init passwords as SHA-256 crypt unless already hashed.
pub fn hash_password(pw: &str) -> String {
    if pw.starts_with('$') {
        return pw.to_string();
    }
    use sha2::{Digest, Sha256};
    format!("$5${}", hex::encode(Sha256::digest(pw.as_bytes())))
}

pub fn free_guest_volumes(w: &mut World, vmid: u32) {
    let keys: Vec<(String, String)> = w
        .volumes
        .iter()
        .filter(|(_, v)| v.vmid == Some(vmid) && v.content != "backup")
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        w.volumes.remove(&k);
    }
}

pub fn start_now(w: &mut World, vmid: u32) {
    let now = w.now_secs();
    let pid = w.next_pid.wrapping_add(17);
    w.next_pid = pid;
    if let Some(g) = w.guests.get_mut(&vmid) {
        apply_pending(g);
        g.run = RunState::Running;
        g.started_at = now;
        g.pid = pid;
        if g.conf.get("lock").is_some_and(|l| l == "suspended") {
            g.conf.remove("lock");
        }
        g.ci_generated = cloudinit_values(g);
    }
}

pub fn cloudinit_values(g: &Guest) -> BTreeMap<String, String> {
    g.conf
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "ciuser"
                    | "cipassword"
                    | "sshkeys"
                    | "nameserver"
                    | "searchdomain"
                    | "citype"
                    | "cicustom"
            ) || k.starts_with("ipconfig")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn apply_pending(g: &mut Guest) {
    let pending = std::mem::take(&mut g.pending);
    for (k, v) in pending {
        g.conf.insert(k, v);
    }
    let deletes = std::mem::take(&mut g.pending_delete);
    for k in deletes.keys() {
        g.conf.remove(k);
    }
}

pub fn config_get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let current = ctx.p.flag("current");
    let snapshot = ctx.p.opt_str("snapshot");
    if current && snapshot.is_some() {
        ctx.p.invalid("snapshot", "cannot use 'snapshot' parameter with 'current'");
        ctx.p.invalid("current", "cannot use 'snapshot' parameter with 'current'");
    }
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    if let Some(s) = snapshot {
        let snap = g
            .snapshots
            .get(&s)
            .ok_or_else(|| PveError::die(format!("snapshot '{s}' does not exist")))?;
        let mut m: serde_json::Map<String, Value> =
            snap.config.iter().map(|(k, v)| (k.clone(), g.typed(k, v))).collect();
        m.insert("digest".into(), Value::from(g.digest()));
        return Ok(Reply::data(Value::Object(m)));
    }
    Ok(Reply::data(Value::Object(g.config_view(current))))
}

pub fn pending(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    let mut keys: Vec<&String> =
        g.conf.keys().chain(g.pending.keys()).chain(g.pending_delete.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let mask = |v: &String| {
            if k == "cipassword" { Value::from("**********") } else { g.typed(k, v) }
        };
        let mut item = json!({ "key": k });
        if let Some(v) = g.conf.get(k) {
            item["value"] = mask(v);
        }
        if let Some(v) = g.pending.get(k) {
            item["pending"] = mask(v);
        }
        if let Some(force) = g.pending_delete.get(k) {
            item["delete"] = Value::from(if *force { 2 } else { 1 });
        }
        out.push(item);
    }
    Ok(Reply::data(Value::Array(out)))
}

/// Keys applied at once even while running.
fn live_key(k: &str) -> bool {
    matches!(
        k,
        "description"
            | "hookscript"
            | "name"
            | "onboot"
            | "protection"
            | "shares"
            | "startup"
            | "tags"
            | "vmstatestorage"
            | "ciuser"
            | "cipassword"
            | "sshkeys"
            | "nameserver"
            | "searchdomain"
            | "citype"
            | "cicustom"
            | "ciupgrade"
            | "balloon"
            | "cpulimit"
            | "cpuunits"
            | "agent"
    ) || k.starts_with("ipconfig")
        || k.starts_with("net")
        || k.starts_with("scsi")
        || k.starts_with("virtio")
        || k.starts_with("unused")
}

/// The shared body of PUT (sync) and POST (async) config.
fn config_update(ctx: &mut Ctx, w: &mut World, async_post: bool) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let delete = ctx.p.opt_str("delete").unwrap_or_default();
    let revert = ctx.p.opt_str("revert").unwrap_or_default();
    let force = ctx.p.flag("force");
    let digest = ctx.p.opt_str("digest");
    let skiplock = ctx.p.flag("skiplock");
    let background_delay =
        if async_post { ctx.p.opt_int("background_delay", Some(1), Some(30)) } else { None };
    let kv = config_params(ctx);
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let mut deletes = split(&delete);
    for d in deletes.iter_mut() {
        if d == "cdrom" {
            *d = "ide2".into();
        }
    }
    let reverts = split(&revert);
    for d in deletes.iter().chain(reverts.iter()) {
        if !is_config_key(K, d) {
            let which = if deletes.contains(d) { "delete" } else { "revert" };
            ctx.p.invalid(which, format!("unknown option '{d}'"));
        }
    }
    if force && deletes.is_empty() {
        ctx.p.invalid("force", "missing property required by 'force'");
    }
    for (k, _) in &kv {
        if deletes.contains(k) {
            ctx.p.invalid(
                "delete",
                format!("you can't use '-{k}' and -delete {k}' at the same time"),
            );
        }
    }
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    if kv.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(PveError::die(NO_OPTIONS));
    }
    if let Some(d) = &digest
        && *d != g.digest()
    {
        return Err(PveError::die(DIGEST_MISMATCH));
    }
    if !skiplock {
        not_locked(g, &[])?;
    } else if ctx.who.user != "root@pam" {
        return Err(PveError::param("skiplock", "Only root may use this option."));
    }
    config_flock_free(w, id, K)?;
    if let Some(b) =
        kv.iter().find(|(k, _)| k == "balloon").and_then(|(_, v)| v.parse::<u64>().ok())
    {
        let mem = kv
            .iter()
            .find(|(k, _)| k == "memory")
            .map(|(_, v)| v.clone())
            .or_else(|| g.conf.get("memory").cloned());
        let mem: u64 =
            mem.and_then(|m| m.trim_start_matches("current=").parse().ok()).unwrap_or(512);
        if b > mem {
            return Err(PveError::die(
                "balloon value too large (must be smaller than assigned memory)",
            ));
        }
    }
    let jobs = disk_jobs(w, &n, &kv)?;
    let running = g.is_running();
    let mut macs = BTreeMap::new();
    for (k, _) in kv.iter().filter(|(k, _)| k.starts_with("net")) {
        macs.insert(k.clone(), w.random_mac());
    }
    let job_keys: Vec<String> = jobs.iter().map(|j| j.key.clone()).collect();
    let g = guest_mut(w, &n, id, K)?;
    let mut freed: Vec<String> = Vec::new();
    for (k, v) in &kv {
        if job_keys.contains(k) {
            continue;
        }
        let v = if k == "cipassword" {
            // cipassword bypasses pending and is stored hashed.
            g.conf.insert(k.clone(), hash_password(v));
            continue;
        } else {
            fill_mac(k, v, &macs)
        };
        // Replacing a disk moves the old volume to unusedN.
        if k.parse::<DriveSlot>().is_ok_and(|s| s.is_bus())
            && let Some(old) = g.conf.get(k).and_then(|o| o.parse::<Drive>().ok())
            && !old.is_cdrom()
            && old.file != v.split(',').next().unwrap_or("")
        {
            let slot =
                (0..=255u16).find(|i| !g.conf.contains_key(&format!("unused{i}"))).unwrap_or(0);
            g.conf.insert(format!("unused{slot}"), old.file);
        }
        if running && !live_key(k) {
            g.pending.insert(k.clone(), v);
        } else {
            g.conf.insert(k.clone(), v);
            g.pending.remove(k);
        }
    }
    for k in &deletes {
        if running && !live_key(k) {
            g.pending_delete.insert(k.clone(), force);
            continue;
        }
        g.pending.remove(k);
        if let Some(old) = g.conf.remove(k) {
            let as_drive = old.parse::<Drive>().ok();
            let is_disk = k.parse::<DriveSlot>().is_ok_and(|s| s.is_bus());
            if k.starts_with("unused")
                || as_drive.as_ref().is_some_and(|d| d.is_cloudinit())
                || (is_disk && force)
            {
                freed.push(as_drive.map_or(old, |d| d.file));
            } else if is_disk && let Some(d) = as_drive.filter(|d| !d.is_cdrom()) {
                let slot =
                    (0..=255u16).find(|i| !g.conf.contains_key(&format!("unused{i}"))).unwrap_or(0);
                g.conf.insert(format!("unused{slot}"), d.file);
            }
        }
    }
    for k in &reverts {
        g.pending.remove(k);
        g.pending_delete.remove(k);
    }
    // Pending entries equal to the current value are dropped.
    let same: Vec<String> = g
        .pending
        .iter()
        .filter(|(k, v)| g.conf.get(*k) == Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    for k in same {
        g.pending.remove(&k);
    }
    for v in freed {
        remove_volume(w, &n, &v);
    }
    let vid = id.get();
    let who = user(ctx);
    if !jobs.is_empty() || async_post {
        let mut plan = Plan::new().lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "");
        plan = alloc_steps(plan, w, &n, vid, jobs, "").sleep(if async_post { 200 } else { 0 });
        let upid = w.spawn(&n, "qmconfig", &id.to_string(), &who, plan);
        if async_post {
            if background_delay.is_some() {
                let target = w.now + 200;
                w.advance_to(target);
                if let Some(t) = w.task_by_upid(&upid.to_string())
                    && let Some(e) = t.exitstatus()
                {
                    return if e == "OK" {
                        Ok(Reply::null())
                    } else {
                        Err(PveError::die(format!("failed to update VM {id}: {e}")))
                    };
                }
            }
            return Ok(Reply::data(upid.to_string()));
        }
    }
    Ok(Reply::null())
}

pub fn config_put(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    config_update(ctx, w, false)
}

pub fn config_post(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    config_update(ctx, w, true)
}

/// Power actions (§5.5), with PVE's split between synchronous errors and task errors.
pub fn power(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let action = ctx.path.rsplit('/').next().unwrap_or("").to_string();
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let skiplock = ctx.p.flag("skiplock");
    let timeout = ctx.p.opt_int("timeout", Some(0), None);
    let force_stop = ctx.p.flag("forceStop");
    let todisk = ctx.p.flag("todisk");
    for extra in [
        "keepActive",
        "overrule-shutdown",
        "machine",
        "force-cpu",
        "statestorage",
        "nocheck",
        "migratedfrom",
        "migration_network",
        "migration_type",
        "stateuri",
        "targetstorage",
        "with-conntrack-state",
        "nets-host-mtu",
    ] {
        let _ = ctx.p.opt_str(extra);
    }
    ctx.p.finish()?;
    quorum(w)?;
    guest(w, &n, id, K)?;
    if let Some(upid) = super::ha::request(w, &n, K, id.get(), &action, None, &user(ctx)) {
        return Ok(Reply::data(upid));
    }
    let g = guest(w, &n, id, K)?;
    let vid = id.get();
    let not_running = || PveError::die(messages::not_running(K, id));
    let task_type = match action.as_str() {
        "start" => "qmstart",
        "stop" => "qmstop",
        "shutdown" => {
            if g.run == RunState::Paused && !force_stop {
                return Err(PveError::die("VM is paused - cannot shutdown"));
            }
            "qmshutdown"
        }
        "reboot" => {
            if !g.is_running() {
                return Err(not_running());
            }
            "qmreboot"
        }
        "reset" => {
            if !g.is_running() {
                return Err(not_running());
            }
            "qmreset"
        }
        "suspend" => {
            if !g.is_running() {
                return Err(not_running());
            }
            if todisk { "qmsuspend" } else { "qmpause" }
        }
        "resume" => {
            if !g.is_running() && g.lock() != Some("suspended") {
                return Err(not_running());
            }
            "qmresume"
        }
        _ => return Err(PveError::not_implemented(&ctx.method, &ctx.path)),
    };
    let allow: &'static [&'static str] = if skiplock {
        &[
            "backup",
            "clone",
            "create",
            "migrate",
            "rollback",
            "snapshot",
            "snapshot-delete",
            "suspending",
            "suspended",
        ]
    } else {
        &["suspended"]
    };
    let mut plan = Plan::new().lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "");
    let a = action.clone();
    plan = plan.act(move |w, _| {
        super::common::task_not_locked(w, VmId::new(vid).map_err(|e| e.to_string())?, allow)?;
        let g = w.guests.get(&vid).ok_or_else(|| format!("VM {vid} does not exist"))?;
        match a.as_str() {
            "start" if g.is_template() => Err("you can't start a vm if it's a template".into()),
            "start" if g.is_running() => Err(format!("VM {vid} already running")),
            _ => Ok(()),
        }
    });
    let dur = match action.as_str() {
        "start" => 2000,
        "stop" => 1000,
        "shutdown" => 3000,
        "reboot" => 5000,
        "suspend" if todisk => 3000,
        _ => 500,
    };
    // A guest that does not power down within `timeout` fails the shutdown (§5.5); the
    // simulated guest takes `dur`, so a shorter timeout reproduces PVE's error.
    let shutdown_times_out =
        action == "shutdown" && timeout.is_some_and(|t| (t as u64) * 1000 < dur);
    if action == "start" {
        plan = plan.act(move |w, task| {
            if w.guests
                .get(&vid)
                .is_some_and(|g| cloudinit_values(g) != g.ci_generated && has_cloudinit_drive(g))
            {
                w.task_log(task, "generating cloud-init ISO");
            }
            Ok(())
        });
    }
    if shutdown_times_out {
        let wait_ms = timeout.map_or(0, |t| t as u64 * 1000);
        plan = plan.sleep(wait_ms);
        if force_stop {
            plan = plan.warn("VM quit/powerdown failed - terminating now with SIGTERM");
        } else {
            plan = plan.act(|_, _| Err("VM quit/powerdown failed - got timeout".into()));
        }
    }
    plan = plan.sleep(if shutdown_times_out { 0 } else { dur }).act(move |w, _| {
        let now = w.now_secs();
        match action.as_str() {
            "start" | "resume" => {
                let resume_paused = w.guests.get(&vid).is_some_and(|g| g.run == RunState::Paused);
                if resume_paused {
                    if let Some(g) = w.guests.get_mut(&vid) {
                        g.run = RunState::Running;
                    }
                } else if w.guests.get(&vid).is_some_and(|g| !g.is_running()) {
                    start_now(w, vid);
                }
            }
            "stop" | "shutdown" => {
                if let Some(g) = w.guests.get_mut(&vid) {
                    g.run = RunState::Stopped;
                    apply_pending(g);
                }
            }
            "reboot" => {
                if let Some(g) = w.guests.get_mut(&vid) {
                    apply_pending(g);
                    g.started_at = now;
                }
            }
            "suspend" => {
                if let Some(g) = w.guests.get_mut(&vid) {
                    if todisk {
                        g.run = RunState::Stopped;
                        g.conf.insert("lock".into(), "suspended".into());
                    } else {
                        g.run = RunState::Paused;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    });
    let who = user(ctx);
    let upid = w.spawn(&n, task_type, &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn has_cloudinit_drive(g: &Guest) -> bool {
    g.conf
        .iter()
        .any(|(k, v)| k.parse::<DriveSlot>().is_ok_and(|s| s.is_bus()) && v.contains("cloudinit"))
}
