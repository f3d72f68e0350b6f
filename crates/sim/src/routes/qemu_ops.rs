//! QEMU clone (§4.4, §5.6), template (§5.7), resize (§5.8), destroy (§5.9) and migrate (§5.10).

use proxctl_types::VmId;
use proxctl_types::messages::{self, GuestKind, SHRINK_UNSUPPORTED};
use proxctl_types::prop::{Drive, DriveSlot, NetDevice, Smbios1};
use proxctl_types::wire::{DiskSize, ResizeTo};
use serde_json::json;

use super::common::{
    alloc_volume, find_volume, guest, migration_target, node, not_locked, quorum, remove_volume,
    user, vmid,
};
use super::qemu::free_guest_volumes;
use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode};
use crate::router::{Ctx, Reply};
use crate::state::{Guest, World};
use crate::task::Plan;

const K: GuestKind = GuestKind::Qemu;

/// The disks of a config (bus slots, efidisk, tpmstate), excluding CD-ROMs except cloud-init.
fn disks(g: &Guest) -> Vec<(String, Drive)> {
    g.conf
        .iter()
        .filter(|(k, _)| {
            k.parse::<DriveSlot>().is_ok_and(|s| {
                s.is_bus() || matches!(s, DriveSlot::EfiDisk0 | DriveSlot::TpmState0)
            })
        })
        .filter_map(|(k, v)| v.parse::<Drive>().ok().map(|d| (k.clone(), d)))
        .filter(|(_, d)| d.file.contains(':') && (!d.is_cdrom() || d.is_cloudinit()))
        .collect()
}

fn storage_of(volid: &str) -> &str {
    volid.split_once(':').map_or("", |(s, _)| s)
}

pub fn clone(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let newid = ctx.p.vmid("newid");
    let name = ctx.p.opt_str("name");
    let description = ctx.p.opt_str("description");
    let pool = ctx.p.opt_str("pool");
    crate::routes::pools::check_pool(w, pool.as_deref())?;
    let snapname = ctx.p.opt_str("snapname");
    let storage = ctx.p.opt_str("storage");
    let format = ctx.p.opt_enum("format", &["raw", "qcow2", "vmdk"]);
    let full_param = ctx.p.opt_bool("full");
    let target = ctx.p.opt_str("target");
    let _bw = ctx.p.opt_int("bwlimit", Some(0), None);
    if let Some(nm) = &name
        && !proxctl_types::ids::is_dns_name(nm)
    {
        ctx.p.invalid("name", "invalid format - value does not look like a valid DNS name\n");
    }
    ctx.p.finish()?;
    let Some(newid) = newid else {
        return Err(PveError::param("newid", messages::MISSING_PARAM));
    };
    quorum(w)?;
    let src = guest(w, &n, id, K)?;
    not_locked(src, &[])?;
    if let Some(s) = &snapname
        && !src.snapshots.contains_key(s)
    {
        return Err(PveError::die(format!("snapshot '{s}' does not exist")));
    }
    let full = full_param.unwrap_or(!src.is_template());
    if !full && (storage.is_some() || format.is_some()) {
        let which = if storage.is_some() { "storage" } else { "format" };
        return Err(PveError::die(format!("parameter '{which}' not allowed for linked clones")));
    }
    let src_disks = disks(src);
    if !full
        && !src.is_template()
        && let Some((k, d)) = src_disks.iter().find(|(_, d)| !d.is_cloudinit())
    {
        return Err(PveError::die(format!(
            "Linked clone feature is not supported for '{}' ({k})",
            d.file
        )));
    }
    let target_node = target.clone().unwrap_or_else(|| n.clone());
    if target_node != n {
        if !w.nodes.contains_key(&target_node) {
            return Err(PveError::die(format!("no such cluster node '{target_node}'")));
        }
        let local = src_disks
            .iter()
            .any(|(_, d)| w.storages.get(storage_of(&d.file)).is_some_and(|s| !s.shared));
        if local {
            return Err(PveError::die(format!(
                "can't clone VM to node '{target_node}' (VM uses local storage)"
            )));
        }
        if let Some(s) = &storage
            && w.storages.get(s).is_some_and(|d| !d.shared)
        {
            return Err(PveError::die(format!("can't clone to non-shared storage '{s}'")));
        }
    }
    if w.guests.contains_key(&newid.get()) {
        return Err(PveError::die(messages::clone_exists(newid)));
    }
    let running = src.is_running();
    let src_conf = match &snapname {
        Some(s) => src.snapshots.get(s).map(|x| x.config.clone()).unwrap_or_default(),
        None => src.conf.clone(),
    };
    let src_name = src.name().map(String::from).unwrap_or_else(|| id.to_string());

    // The target's temporary config holds only `lock: clone`: later calls on newid see it.
    let mut tgt = Guest::new(newid.get(), K, &target_node);
    tgt.conf.insert("lock".into(), "clone".into());
    w.guests.insert(newid.get(), tgt);

    let (sid, nid) = (id.get(), newid.get());
    let src_mode = if running { LockMode::Exclusive } else { LockMode::Shared };
    let mut plan = Plan::new().lock(LockKey::Config(id), src_mode, 1000, K, "clone failed: ").lock(
        LockKey::Config(newid),
        LockMode::Exclusive,
        1000,
        K,
        "clone failed: ",
    );
    let copy_rate = w.copy_rate.max(1);
    for (key, d) in src_disks {
        let dst_store = if d.is_cloudinit() || !full {
            storage_of(&d.file).to_string()
        } else {
            storage.clone().unwrap_or_else(|| storage_of(&d.file).to_string())
        };
        let alloc_ms = w.storages.get(&dst_store).map_or(50, |s| s.alloc_ms);
        let lock = LockKey::Storage(dst_store.clone());
        let size = find_volume(w, &n, &d.file).map_or(d.size.map_or(0, |s| s.bytes()), |v| v.size);
        let linked = !full && !d.is_cloudinit();
        let tn = target_node.clone();
        let (k2, d2, st2) = (key.clone(), d.clone(), dst_store.clone());
        plan = plan
            .log(format!(
                "create {} clone of drive {key} ({})",
                if linked { "linked" } else { "full" },
                d.file
            ))
            .lock(lock.clone(), LockMode::Exclusive, 10_000, K, "clone failed: ")
            .sleep(alloc_ms)
            .act(move |w, task| {
                let volid = if d2.is_cloudinit() {
                    let def = w.storages.get(&st2).cloned().ok_or("storage vanished")?;
                    let v = if def.is_file_based() {
                        format!("{st2}:{nid}/vm-{nid}-cloudinit.qcow2")
                    } else {
                        format!("{st2}:vm-{nid}-cloudinit")
                    };
                    super::common::insert_volume(
                        w,
                        &def.scope(&tn),
                        &v,
                        &st2,
                        "images",
                        "raw",
                        size,
                        Some(nid),
                    );
                    v
                } else {
                    let v = alloc_volume(w, &tn, &st2, nid, size, "images")
                        .map_err(|e| format!("clone failed: {e}"))?;
                    if linked && let Some(vol) = w.volumes.values_mut().find(|x| x.volid == v) {
                        vol.parent = Some(d2.file.clone());
                    }
                    v
                };
                if !linked {
                    w.task_log(task, format!("allocated target volume '{volid}'"));
                }
                let mut nd = d2.clone();
                nd.file = volid;
                if let Some(g) = w.guests.get_mut(&nid) {
                    g.conf.insert(k2.clone(), nd.to_string());
                }
                Ok(())
            })
            .unlock(lock);
        if !linked && !d.is_cloudinit() {
            let total_ms = size.saturating_mul(1000) / copy_rate;
            for pct in [25u64, 50, 75, 100] {
                plan = plan.sleep(total_ms / 4).log(format!(
                    "transferred {} of {} ({pct}.00%)",
                    DiskSize(size * pct / 100 / (1024 * 1024) * 1024 * 1024),
                    DiskSize(size)
                ));
            }
        }
    }
    let mut macs = Vec::new();
    for k in src_conf.keys().filter(|k| k.starts_with("net")) {
        macs.push((k.clone(), w.random_mac()));
    }
    let uuid = w.random_uuid();
    let genid = w.random_uuid();
    plan = plan.sleep(crate::task::CLONE_FINISH_MS).act(move |w, task| {
        let dropped_pending = w.guests.get(&sid).is_some_and(|s| !s.pending.is_empty());
        let Some(g) = w.guests.get_mut(&nid) else {
            return Err("clone failed: target config vanished".into());
        };
        for (k, v) in &src_conf {
            let skip = matches!(
                k.as_str(),
                "template" | "lock" | "parent" | "vmstate" | "runningcpu" | "runningmachine"
            ) || k.starts_with("unused")
                || g.conf.contains_key(k);
            if !skip {
                g.conf.insert(k.clone(), v.clone());
            }
        }
        for (k, mac) in &macs {
            if let Some(v) = g.conf.get(k).and_then(|v| v.parse::<NetDevice>().ok()) {
                let mut v = v;
                v.macaddr = mac.parse().ok();
                g.conf.insert(k.clone(), v.to_string());
            }
        }
        let mut smb =
            g.conf.get("smbios1").and_then(|s| s.parse::<Smbios1>().ok()).unwrap_or_default();
        smb.uuid = Some(uuid.clone());
        g.conf.insert("smbios1".into(), smb.to_string());
        if g.conf.contains_key("vmgenid") {
            g.conf.insert("vmgenid".into(), genid.clone());
        }
        g.conf.insert(
            "name".into(),
            name.clone().unwrap_or_else(|| format!("Copy-of-VM-{src_name}")),
        );
        if let Some(d) = &description {
            g.conf.insert("description".into(), d.clone());
        }
        g.conf.remove("lock");
        if dropped_pending {
            w.task_warn(task, "pending changes of the source VM are not cloned");
        }
        Ok(())
    });
    plan = plan.on_fail(move |w, _| {
        free_guest_volumes(w, nid);
        w.guests.remove(&nid);
        w.pool_forget(nid);
        Ok(())
    });
    let who = user(ctx);
    w.pool_join(pool.as_deref(), nid);
    let upid = w.spawn(&n, "qmclone", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn template(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let disk = ctx.p.opt_str("disk");
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    not_locked(g, &[])?;
    if !g.snapshots.is_empty() {
        return Err(PveError::die("unable to create template, because VM contains snapshots"));
    }
    if g.is_template() && disk.is_none() {
        return Err(PveError::die("you can't convert a template to a template"));
    }
    if g.is_running() {
        return Err(PveError::die("you can't convert a VM to template if VM is running"));
    }
    let vid = id.get();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "")
        .sleep(1000)
        .act(move |w, _| {
            let Some(g) = w.guests.get(&vid) else {
                return Err(format!("VM {vid} vanished"));
            };
            let node = g.node.clone();
            let renames: Vec<(String, Drive)> =
                disks(g).into_iter().filter(|(_, d)| !d.is_cloudinit()).collect();
            for (k, d) in renames {
                let new_file =
                    d.file.replace(&format!("vm-{vid}-disk-"), &format!("base-{vid}-disk-"));
                if let Some(mut vol) = remove_volume(w, &node, &d.file) {
                    let scope =
                        w.storages.get(&vol.storage).map(|s| s.scope(&node)).unwrap_or_default();
                    vol.volid = new_file.clone();
                    w.volumes.insert((scope, new_file.clone()), vol);
                }
                let mut nd = d.clone();
                nd.file = new_file;
                if let Some(g) = w.guests.get_mut(&vid) {
                    g.conf.insert(k, nd.to_string());
                }
            }
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.insert("template".into(), "1".into());
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, "qmtemplate", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn resize(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let disk = ctx.p.str("disk");
    let size = ctx.p.str("size");
    let digest = ctx.p.opt_str("digest");
    let skiplock = ctx.p.flag("skiplock");
    let valid_slot = disk
        .parse::<DriveSlot>()
        .is_ok_and(|s| s.is_bus() || matches!(s, DriveSlot::EfiDisk0 | DriveSlot::TpmState0));
    if !disk.is_empty() && !valid_slot {
        ctx.p.invalid("disk", format!("value '{disk}' does not have a value in the enumeration"));
    }
    let to: Option<ResizeTo> = size.parse().ok();
    let pattern_ok = !size.is_empty()
        && size
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || "KMGT".contains(c));
    if !size.is_empty() && (to.is_none() || !pattern_ok) {
        ctx.p.invalid("size", "value does not match the regex pattern");
    }
    ctx.p.finish()?;
    guest(w, &n, id, K)?;
    let Some(to) = to else {
        return Err(PveError::param("size", "value does not match the regex pattern"));
    };
    let vid = id.get();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "")
        .act(move |w, task| {
            let g = w.guests.get(&vid).ok_or("VM vanished")?;
            if let Some(d) = &digest
                && *d != g.digest()
            {
                return Err(messages::DIGEST_MISMATCH.into());
            }
            if !skiplock && let Some(l) = g.lock() {
                return Err(messages::guest_locked(K, l));
            }
            let drive: Drive = g
                .conf
                .get(&disk)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("disk '{disk}' does not exist"))?;
            if drive.is_cdrom() {
                return Err("you can't resize a cdrom".into());
            }
            let node = g.node.clone();
            let current = find_volume(w, &node, &drive.file)
                .map_or(drive.size.map_or(0, |s| s.bytes()), |v| v.size);
            let new = match to {
                ResizeTo::Grow(d) => current + d.bytes(),
                ResizeTo::Absolute(d) => d.bytes(),
            };
            if new < current {
                return Err(SHRINK_UNSUPPORTED.into());
            }
            if new == current {
                return Ok(());
            }
            if let Some(v) = w.volumes.values_mut().find(|v| v.volid == drive.file) {
                v.size = new;
            }
            let mut nd = drive.clone();
            nd.size = Some(DiskSize(new));
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.insert(disk.clone(), nd.to_string());
            }
            w.task_log(task, format!("Image resized to {}", DiskSize(new)));
            Ok(())
        })
        .sleep(300);
    let who = user(ctx);
    let upid = w.spawn(&n, "resize", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn destroy(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let purge = ctx.p.flag("purge");
    let _unref = ctx.p.flag("destroy-unreferenced-disks");
    let skiplock = ctx.p.flag("skiplock");
    ctx.p.finish()?;
    quorum(w)?;
    let g = guest(w, &n, id, K)?;
    if g.is_running() {
        return Err(PveError::die(format!("VM {id} is running - destroy failed")));
    }
    if g.conf.get("protection").is_some_and(|p| p == "1") {
        return Err(PveError::die(format!("can't remove VM {id} - protection mode enabled")));
    }
    let sid = format!("vm:{id}");
    if w.ha.contains_key(&sid) && !purge {
        return Err(PveError::die(format!(
            "unable to remove VM {id} - used in HA resources and purge parameter not set."
        )));
    }
    let vid = id.get();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "")
        .act(move |w, _| {
            if !skiplock {
                super::common::task_not_locked(
                    w,
                    VmId::new(vid).map_err(|e| e.to_string())?,
                    &["suspended"],
                )?;
            }
            let g = w.guests.get(&vid).ok_or("VM vanished")?;
            if g.is_template() {
                for (_, d) in disks(g) {
                    if let Some(child) =
                        w.volumes.values().find(|v| v.parent.as_deref() == Some(d.file.as_str()))
                    {
                        let _ = child;
                        return Err(format!(
                            "base volume '{}' is still in use by linked cloned",
                            d.file
                        ));
                    }
                }
            }
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.clear();
                g.conf.insert("lock".into(), "destroyed".into());
            }
            Ok(())
        })
        .sleep(1500)
        .act(move |w, _| {
            free_guest_volumes(w, vid);
            w.guests.remove(&vid);
            w.pool_forget(vid);
            if purge {
                w.ha.remove(&sid);
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, "qmdestroy", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn migrate_preconditions(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let target = ctx.p.opt_str("target");
    ctx.p.finish()?;
    let g = guest(w, &n, id, K)?;
    let local: Vec<serde_json::Value> = disks(g)
        .into_iter()
        .filter(|(_, d)| w.storages.get(storage_of(&d.file)).is_some_and(|s| !s.shared))
        .map(|(k, d)| {
            let size = find_volume(w, &n, &d.file).map_or(0, |v| v.size);
            json!({"volid": d.file, "size": size, "cdrom": u8::from(d.is_cdrom()), "is_unused": 0, "drivename": k})
        })
        .collect();
    let allowed: Vec<String> = w
        .nodes
        .keys()
        .filter(|x| **x != n && target.as_ref().is_none_or(|t| t == *x))
        .cloned()
        .collect();
    Ok(Reply::data(json!({
        "running": u8::from(g.is_running()),
        "allowed_nodes": allowed,
        "not_allowed_nodes": {},
        "local_disks": local,
        "local_resources": [],
        "mapped-resources": [],
    })))
}

pub fn migrate(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let target = ctx.p.str("target");
    let online = ctx.p.flag("online");
    let with_local = ctx.p.flag("with-local-disks");
    let _ts = ctx.p.opt_str("targetstorage");
    let _bw = ctx.p.opt_int("bwlimit", Some(0), None);
    for k in ["force", "migration_type", "migration_network", "with-conntrack-state"] {
        let _ = ctx.p.opt_str(k);
    }
    ctx.p.finish()?;
    migration_target(w, &n, &target)?;
    guest(w, &n, id, K)?;
    if let Some(upid) = super::ha::request(w, &n, K, id.get(), "migrate", Some(&target), &user(ctx))
    {
        return Ok(Reply::data(upid));
    }
    let g = guest(w, &n, id, K)?;
    not_locked(g, &[])?;
    let running = g.is_running();
    if running && !online {
        return Err(PveError::die("can't migrate running VM without --online"));
    }
    let local: Vec<String> = disks(g)
        .into_iter()
        .filter(|(_, d)| w.storages.get(storage_of(&d.file)).is_some_and(|s| !s.shared))
        .map(|(_, d)| d.file)
        .collect();
    let vid = id.get();
    let started = w.now_secs();
    let mut plan = Plan::new().lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "").act(
        move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.insert("lock".into(), "migrate".into());
            }
            Ok(())
        },
    );
    plan = plan.log(format!("starting migration of VM {vid} to node '{target}'"));
    if running && !with_local && !local.is_empty() {
        for v in &local {
            plan = plan.log(format!(
                "can't migrate local disk '{v}': can't live migrate attached local disks without with-local-disks option"
            ));
        }
        plan = plan.act(move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.remove("lock");
            }
            Err("migration aborted (duration 00:00:01): can't migrate VM - check log".into())
        });
    } else {
        let t2 = target.clone();
        plan = plan.sleep(5000).act(move |w, task| {
            let node = w.guests.get(&vid).map(|g| g.node.clone()).unwrap_or_default();
            for v in &local {
                if let Some(vol) = w.volumes.remove(&(node.clone(), v.clone())) {
                    w.volumes.insert((t2.clone(), v.clone()), vol);
                }
            }
            if let Some(g) = w.guests.get_mut(&vid) {
                g.node = t2.clone();
                g.conf.remove("lock");
            }
            let secs = w.now_secs().saturating_sub(started);
            w.task_log(
                task,
                format!(
                    "migration finished successfully (duration {:02}:{:02}:{:02})",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                ),
            );
            Ok(())
        });
    }
    plan = plan.on_fail(move |w, _| {
        if let Some(g) = w.guests.get_mut(&vid)
            && g.lock() == Some("migrate")
        {
            g.conf.remove("lock");
        }
        Ok(())
    });
    let who = user(ctx);
    let upid = w.spawn(&n, "qmigrate", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}
