//! LXC containers (§6): create from a vztmpl, config (PUT only, synchronous), status, power with
//! synchronous precondition errors, and destroy.

use proxctl_types::messages::{self, DIGEST_MISMATCH, GuestKind, NO_OPTIONS};
use proxctl_types::prop::{LxcMount, LxcNet};
use proxctl_types::wire::{DiskSize, ResizeTo};
use serde_json::Value;

use super::common::{
    alloc_volume, check_config_value, config_flock_free, find_volume, guest, guest_mut,
    is_config_key, node, not_locked, quorum, user, vmid,
};
use super::qemu::{free_guest_volumes, status_of};
use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode};
use crate::router::{Ctx, Reply};
use crate::state::{GIB, Guest, RunState, World};
use crate::task::Plan;

const K: GuestKind = GuestKind::Lxc;

pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    ctx.p.finish()?;
    let out: Vec<_> = w
        .guests
        .values()
        .filter(|g| g.node == n && g.kind == K)
        .map(|g| status_of(w, g, false))
        .collect();
    Ok(Reply::json(&out))
}

pub fn status_current(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    Ok(Reply::json(&status_of(w, g, true)))
}

fn config_params(ctx: &mut Ctx) -> Vec<(String, String)> {
    let kv = ctx.p.take_matching(|k| is_config_key(K, k) && k != "lock");
    for (k, v) in &kv {
        check_config_value(K, &mut ctx.p, k, v);
    }
    kv
}

pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let ostemplate = ctx.p.str("ostemplate");
    let password = ctx.p.opt_str("password");
    if password.as_ref().is_some_and(|p| p.len() < 5) {
        ctx.p.invalid("password", "value must be at least 5 characters long");
    }
    let _keys = ctx.p.opt_str("ssh-public-keys");
    let storage_param = ctx.p.opt_str("storage");
    let storage = storage_param.clone().unwrap_or_else(|| "local".into());
    let start = ctx.p.flag("start");
    let restore = ctx.p.flag("restore");
    let pool = ctx.p.opt_str("pool");
    crate::routes::pools::check_pool(w, pool.as_deref())?;
    for k in ["force", "unique", "ignore-unpack-errors", "bwlimit", "ha-managed"] {
        let _ = ctx.p.opt_str(k);
    }
    let mut kv = config_params(ctx);
    ctx.p.finish()?;
    quorum(w)?;
    if let Some(existing) = w.guests.get(&id.get()) {
        return Err(PveError::die(messages::create_exists(K, id, &existing.node)));
    }
    let Some(vol) = find_volume(w, &n, &ostemplate) else {
        return Err(PveError::die(format!("volume '{ostemplate}' does not exist")));
    };
    if restore {
        let Some(conf) = vol.guest_conf.clone().filter(|_| vol.content == "backup") else {
            return Err(PveError::die(format!("'{ostemplate}' is not a container backup")));
        };
        kv = restore_config(conf, storage_param.as_deref(), kv);
    }
    let rootfs = kv.iter().find(|(k, _)| k == "rootfs").map(|(_, v)| v.clone());
    if rootfs.is_none() && kv.iter().any(|(k, _)| k.starts_with("mp")) {
        return Err(PveError::die("mount points configured, but 'rootfs' not set - aborting"));
    }
    let rootfs: LxcMount = match rootfs {
        Some(r) => {
            r.parse().map_err(|e| PveError::param("rootfs", format!("invalid format - {e}\n")))?
        }
        None => LxcMount::new(format!("{storage}:4")),
    };
    // `local-lvm:8` → 8 GiB; a bare number uses `storage`.
    let (store, gib) = match rootfs.volume.split_once(':') {
        Some((s, g)) => (s.to_string(), g.parse::<f64>().unwrap_or(4.0)),
        None => (storage.clone(), rootfs.volume.parse::<f64>().unwrap_or(4.0)),
    };
    let mut g = Guest::new(id.get(), K, &n);
    g.conf.insert("lock".into(), "create".into());
    w.guests.insert(id.get(), g);
    let vid = id.get();
    let nn = n.clone();
    let macs: Vec<(String, String)> = kv
        .iter()
        .filter(|(k, _)| k.starts_with("net"))
        .map(|(k, _)| (k.clone(), w.random_mac()))
        .collect();
    let alloc_ms = w.storages.get(&store).map_or(50, |s| s.alloc_ms);
    let store_lock = LockKey::Storage(store.clone());
    let mut plan = Plan::new()
        .lock(
            LockKey::Config(id),
            LockMode::Exclusive,
            1000,
            K,
            &format!("unable to create CT {id} - "),
        )
        .lock(store_lock.clone(), LockMode::Exclusive, 10_000, K, "")
        .sleep(alloc_ms)
        .act(move |w, task| {
            let size = (gib * GIB as f64) as u64;
            let volid = alloc_volume(w, &nn, &store, vid, size, "rootdir")
                .map_err(|e| format!("unable to create CT {vid} - {e}"))?;
            let mut r = rootfs.clone();
            r.volume = volid;
            r.size = Some(DiskSize(size));
            let verb = if restore { "restoring" } else { "extracting" };
            w.task_log(task, format!("{verb} archive '{ostemplate}'"));
            let g = w.guests.get_mut(&vid).ok_or("config vanished")?;
            g.conf.insert("rootfs".into(), r.to_string());
            Ok(())
        })
        .unlock(store_lock)
        .sleep(3000)
        .act(move |w, _| {
            let g = w.guests.get_mut(&vid).ok_or("config vanished")?;
            for (k, v) in &kv {
                if k == "rootfs" {
                    continue;
                }
                let v = match macs.iter().find(|(mk, _)| mk == k) {
                    Some((_, mac)) => match v.parse::<LxcNet>() {
                        Ok(mut n) if n.hwaddr.is_none() => {
                            n.hwaddr = mac.parse().ok();
                            n.to_string()
                        }
                        _ => v.clone(),
                    },
                    None => v.clone(),
                };
                g.conf.insert(k.clone(), v);
            }
            g.conf.entry("arch".into()).or_insert_with(|| "amd64".into());
            g.conf.entry("ostype".into()).or_insert_with(|| "debian".into());
            g.conf.remove("lock");
            Ok(())
        })
        .on_fail(move |w, _| {
            free_guest_volumes(w, vid);
            w.guests.remove(&vid);
            w.pool_forget(vid);
            Ok(())
        });
    if start {
        plan = plan.act(move |w, _| {
            super::qemu::start_now(w, vid);
            Ok(())
        });
    }
    let who = user(ctx);
    let kind = if restore { "vzrestore" } else { "vzcreate" };
    w.pool_join(pool.as_deref(), id.get());
    let upid = w.spawn(&n, kind, &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

/// The config a container restore creates: the backed-up one with rootfs re-allocated at its
/// size (on `storage` when given), MACs dropped so new ones are generated, and the caller's
/// keys on top. Mount points are not restored (the simulator keeps no data to put in them).
fn restore_config(
    conf: std::collections::BTreeMap<String, String>,
    storage: Option<&str>,
    explicit: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut kv: Vec<(String, String)> = Vec::new();
    for (k, v) in conf {
        if matches!(k.as_str(), "lock" | "parent") || k.starts_with("mp") {
            continue;
        }
        let v = if k == "rootfs" {
            match v.parse::<LxcMount>() {
                Ok(r) => {
                    let store = r.volume.split_once(':').map_or("local", |(s, _)| s);
                    let gib = r.size.map_or(4, |s| s.0.div_ceil(GIB).max(1));
                    format!("{}:{gib}", storage.unwrap_or(store))
                }
                Err(_) => v,
            }
        } else if k.starts_with("net") {
            match v.parse::<LxcNet>() {
                Ok(mut n) => {
                    n.hwaddr = None;
                    n.to_string()
                }
                Err(_) => v,
            }
        } else {
            v
        };
        kv.push((k, v));
    }
    super::common::overlay(kv, explicit)
}

pub fn config_get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let current = ctx.p.flag("current");
    let _snap = ctx.p.opt_str("snapshot");
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    Ok(Reply::data(Value::Object(g.config_view(current))))
}

pub fn config_put(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let delete = ctx.p.opt_str("delete").unwrap_or_default();
    let digest = ctx.p.opt_str("digest");
    let _revert = ctx.p.opt_str("revert");
    let kv = config_params(ctx);
    ctx.p.finish()?;
    let deletes: Vec<String> =
        delete.split([',', ';', ' ']).filter(|x| !x.is_empty()).map(String::from).collect();
    let g = guest(w, &n, id, K)?;
    if kv.is_empty() && deletes.is_empty() {
        return Err(PveError::die(NO_OPTIONS));
    }
    if let Some(d) = &digest
        && *d != g.digest()
    {
        return Err(PveError::die(DIGEST_MISMATCH));
    }
    not_locked(g, &[])?;
    config_flock_free(w, id, K)?;
    let g = guest_mut(w, &n, id, K)?;
    for (k, v) in kv {
        g.conf.insert(k, v);
    }
    for k in deletes {
        g.conf.remove(&k);
    }
    Ok(Reply::null())
}

/// LXC power: precondition failures are synchronous 500s (unlike QEMU).
pub fn power(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let action = ctx.path.rsplit('/').next().unwrap_or("").to_string();
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    for k in ["timeout", "forceStop", "skiplock", "overrule-shutdown", "debug"] {
        let _ = ctx.p.opt_str(k);
    }
    ctx.p.finish()?;
    quorum(w)?;
    guest(w, &n, id, K)?;
    if let Some(upid) = super::ha::request(w, &n, K, id.get(), &action, None, &user(ctx)) {
        return Ok(Reply::data(upid));
    }
    let g = guest(w, &n, id, K)?;
    not_locked(g, &[])?;
    let running = g.is_running();
    let (ty, dur) = match action.as_str() {
        "start" if g.is_template() => {
            return Err(PveError::die("you can't start a CT if it's a template"));
        }
        "start" if running => return Err(PveError::die(messages::already_running(K, id))),
        "resume" if g.run == RunState::Running => {
            return Err(PveError::die(messages::already_running(K, id)));
        }
        "stop" | "shutdown" | "suspend" if !running => {
            return Err(PveError::die(messages::not_running(K, id)));
        }
        // PVE really says VM here.
        "reboot" if !running => return Err(PveError::die(format!("VM {id} not running"))),
        "start" => ("vzstart", 1500),
        "stop" => ("vzstop", 500),
        "shutdown" => ("vzshutdown", 2000),
        "reboot" => ("vzreboot", 3000),
        "suspend" => ("vzsuspend", 500),
        "resume" => ("vzresume", 500),
        _ => return Err(PveError::not_implemented(&ctx.method, &ctx.path)),
    };
    let vid = id.get();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "")
        .sleep(dur)
        .act(move |w, _| {
            match action.as_str() {
                "start" => super::qemu::start_now(w, vid),
                "stop" | "shutdown" => {
                    if let Some(g) = w.guests.get_mut(&vid) {
                        g.run = RunState::Stopped;
                    }
                }
                "suspend" => {
                    if let Some(g) = w.guests.get_mut(&vid) {
                        g.run = RunState::Paused;
                    }
                }
                "resume" => {
                    if let Some(g) = w.guests.get_mut(&vid) {
                        g.run = RunState::Running;
                    }
                }
                _ => {}
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, ty, &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn destroy(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let force = ctx.p.flag("force");
    let purge = ctx.p.flag("purge");
    let _unref = ctx.p.flag("destroy-unreferenced-disks");
    ctx.p.finish()?;
    quorum(w)?;
    let g = guest(w, &n, id, K)?;
    if g.is_running() && !force {
        return Err(PveError::die(format!("unable to destroy CT {id} - container is running")));
    }
    if g.conf.get("protection").is_some_and(|p| p == "1") {
        return Err(PveError::die(format!("can't remove CT {id} - protection mode enabled")));
    }
    not_locked(g, &[])?;
    let vid = id.get();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "")
        .sleep(1500)
        .act(move |w, _| {
            free_guest_volumes(w, vid);
            w.guests.remove(&vid);
            w.pool_forget(vid);
            if purge {
                w.ha.remove(&format!("ct:{vid}"));
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, "vzdestroy", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

/// `POST .../lxc/{vmid}/clone` (`vzclone`): like QEMU's, a shared lock on a stopped source,
/// a temporary `lock: clone` target, one allocation per volume under the storage lock.
pub fn clone(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let newid = ctx.p.vmid("newid");
    let hostname = ctx.p.opt_str("hostname");
    let description = ctx.p.opt_str("description");
    let pool = ctx.p.opt_str("pool");
    crate::routes::pools::check_pool(w, pool.as_deref())?;
    let snapname = ctx.p.opt_str("snapname");
    let storage = ctx.p.opt_str("storage");
    let full_param = ctx.p.opt_bool("full");
    let target = ctx.p.opt_str("target");
    let _bw = ctx.p.opt_str("bwlimit");
    ctx.p.finish()?;
    let Some(newid) = newid else { return Err(PveError::param("newid", messages::MISSING_PARAM)) };
    quorum(w)?;
    let src = guest(w, &n, id, K)?;
    not_locked(src, &[])?;
    let full = full_param.unwrap_or(!src.is_template());
    if !full && !src.is_template() {
        return Err(PveError::die("linked clone feature is only available for templates"));
    }
    if let Some(s) = &snapname
        && !src.snapshots.contains_key(s)
    {
        return Err(PveError::die(format!("snapshot '{s}' does not exist")));
    }
    let target_node = target.unwrap_or_else(|| n.clone());
    if !w.nodes.contains_key(&target_node) {
        return Err(PveError::die(format!("no such cluster node '{target_node}'")));
    }
    if w.guests.contains_key(&newid.get()) {
        return Err(PveError::die(format!(
            "unable to create CT {newid}: config file already exists"
        )));
    }
    let src_conf = match &snapname {
        Some(s) => src.snapshots.get(s).map(|x| x.config.clone()).unwrap_or_default(),
        None => src.conf.clone(),
    };
    let running = src.is_running();
    let mut tgt = Guest::new(newid.get(), K, &target_node);
    tgt.conf.insert("lock".into(), "clone".into());
    w.guests.insert(newid.get(), tgt);
    let (sid, nid) = (id.get(), newid.get());
    let mode = if running { LockMode::Exclusive } else { LockMode::Shared };
    let mut plan = Plan::new().lock(LockKey::Config(id), mode, 1000, K, "clone failed: ").lock(
        LockKey::Config(newid),
        LockMode::Exclusive,
        1000,
        K,
        "clone failed: ",
    );
    let vols: Vec<(String, LxcMount)> = src_conf
        .iter()
        .filter(|(k, _)| *k == "rootfs" || k.starts_with("mp"))
        .filter_map(|(k, v)| v.parse::<LxcMount>().ok().map(|m| (k.clone(), m)))
        .collect();
    for (key, m) in vols {
        let store = storage
            .clone()
            .unwrap_or_else(|| m.volume.split(':').next().unwrap_or("local-lvm").to_string());
        let alloc_ms = w.storages.get(&store).map_or(50, |s| s.alloc_ms);
        let lock = LockKey::Storage(store.clone());
        let size = m.size.map_or(4 * GIB, |s| s.bytes());
        let tn = target_node.clone();
        plan = plan
            .log(format!(
                "create {} clone of mount point {key} ({})",
                if full { "full" } else { "linked" },
                m.volume
            ))
            .lock(lock.clone(), LockMode::Exclusive, 10_000, K, "clone failed: ")
            .sleep(alloc_ms)
            .act(move |w, _| {
                let volid = alloc_volume(w, &tn, &store, nid, size, "rootdir")
                    .map_err(|e| format!("clone failed: {e}"))?;
                let mut nm = m.clone();
                nm.volume = volid;
                if let Some(g) = w.guests.get_mut(&nid) {
                    g.conf.insert(key.clone(), nm.to_string());
                }
                Ok(())
            })
            .unlock(lock);
    }
    let macs: Vec<(String, String)> = src_conf
        .keys()
        .filter(|k| k.starts_with("net"))
        .map(|k| (k.clone(), w.random_mac()))
        .collect();
    plan = plan
        .sleep(if full { 2000 } else { 500 })
        .act(move |w, _| {
            let g = w.guests.get_mut(&nid).ok_or("clone failed: target config vanished")?;
            for (k, v) in &src_conf {
                let skip = matches!(k.as_str(), "template" | "lock" | "parent")
                    || k.starts_with("unused")
                    || g.conf.contains_key(k);
                if !skip {
                    g.conf.insert(k.clone(), v.clone());
                }
            }
            for (k, mac) in &macs {
                if let Some(mut net) = g.conf.get(k).and_then(|v| v.parse::<LxcNet>().ok()) {
                    net.hwaddr = mac.parse().ok();
                    g.conf.insert(k.clone(), net.to_string());
                }
            }
            if let Some(h) = &hostname {
                g.conf.insert("hostname".into(), h.clone());
            }
            if let Some(d) = &description {
                g.conf.insert("description".into(), d.clone());
            }
            g.conf.remove("lock");
            Ok(())
        })
        .on_fail(move |w, _| {
            free_guest_volumes(w, nid);
            w.guests.remove(&nid);
            w.pool_forget(nid);
            Ok(())
        });
    let who = user(ctx);
    w.pool_join(pool.as_deref(), nid);
    let upid = w.spawn(&n, "vzclone", &sid.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

/// `PUT .../lxc/{vmid}/resize` (`resize`): grow `rootfs` or an `mpN`.
pub fn resize(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let disk = ctx.p.str("disk");
    let size = ctx.p.str("size");
    let digest = ctx.p.opt_str("digest");
    if !disk.is_empty() && disk != "rootfs" && !is_config_key(K, &disk) {
        ctx.p.invalid("disk", format!("value '{disk}' does not have a value in the enumeration"));
    }
    let to: Option<ResizeTo> = size.parse().ok();
    if !size.is_empty() && to.is_none() {
        ctx.p.invalid("size", "value does not match the regex pattern");
    }
    ctx.p.finish()?;
    guest(w, &n, id, K)?;
    let Some(to) = to else {
        return Err(PveError::param("size", "value does not match the regex pattern"));
    };
    let vid = id.get();
    let plan = Plan::new().lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "").act(
        move |w, task| {
            let g = w.guests.get(&vid).ok_or("CT vanished")?;
            if let Some(d) = &digest
                && *d != g.digest()
            {
                return Err(DIGEST_MISMATCH.into());
            }
            if let Some(l) = g.lock() {
                return Err(messages::guest_locked(K, l));
            }
            let m: LxcMount = g
                .conf
                .get(&disk)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("unable to parse config line '{disk}'"))?;
            let node = g.node.clone();
            let current = find_volume(w, &node, &m.volume)
                .map_or(m.size.map_or(0, |s| s.bytes()), |v| v.size);
            let new = match to {
                ResizeTo::Grow(d) => current + d.bytes(),
                ResizeTo::Absolute(d) => d.bytes(),
            };
            if new < current {
                return Err("unable to shrink disk size".into());
            }
            if let Some(v) = w.volumes.values_mut().find(|v| v.volid == m.volume) {
                v.size = new;
            }
            let mut nm = m.clone();
            nm.size = Some(DiskSize(new));
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.insert(disk.clone(), nm.to_string());
            }
            w.task_log(task, format!("Size of {disk} changed to {}", DiskSize(new)));
            Ok(())
        },
    );
    let who = user(ctx);
    let upid = w.spawn(&n, "resize", &id.to_string(), &who, plan.sleep(300));
    Ok(Reply::data(upid.to_string()))
}
