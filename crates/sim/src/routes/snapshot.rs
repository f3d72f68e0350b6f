//! Snapshots for QEMU and LXC (§5.11): the tree with its trailing `current` entry, create,
//! delete and rollback, with the sync/task split of §3.7.

use proxctl_types::api::SnapshotItem;
use proxctl_types::messages::{self, GuestKind};

use super::common::{guest, node, user, vmid};
use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode};
use crate::router::{Ctx, Reply};
use crate::state::{RunState, Snapshot, World};
use crate::task::Plan;

fn prefix(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "qm",
        GuestKind::Lxc => "vz",
    }
}

pub fn list(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    let g = guest(w, &n, id, kind)?;
    let mut out: Vec<SnapshotItem> = g
        .snapshots
        .iter()
        .map(|(name, s)| SnapshotItem {
            name: name.clone(),
            snaptime: Some(s.snaptime),
            vmstate: (kind == GuestKind::Qemu).then_some(s.vmstate),
            description: s.description.clone(),
            parent: s.parent.clone(),
            snapstate: s.snapstate.clone(),
            digest: None,
            running: None,
        })
        .collect();
    out.push(SnapshotItem {
        name: "current".into(),
        description: "You are here!".into(),
        digest: Some(g.digest()),
        running: Some(g.is_running()),
        parent: g.conf.get("parent").cloned(),
        ..SnapshotItem::default()
    });
    Ok(Reply::json(&out))
}

fn check_reserved(name: &str) -> PveResult<()> {
    let l = name.to_ascii_lowercase();
    if l == "current" || l == "pending" {
        return Err(PveError::die(format!("unable to use snapshot name '{name}' (reserved name)")));
    }
    Ok(())
}

fn snapname(ctx: &mut Ctx) -> String {
    let s = ctx.p.str("snapname");
    if !s.is_empty() && (!proxctl_types::ids::is_config_id(&s) || s.len() > 40) {
        ctx.p.invalid("snapname", format!("invalid format - invalid configuration ID '{s}'\n"));
    }
    s
}

pub fn create(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let name = snapname(ctx);
    let description = ctx.p.opt_str("description").unwrap_or_default();
    let vmstate = if kind == GuestKind::Qemu { ctx.p.flag("vmstate") } else { false };
    ctx.p.finish()?;
    guest(w, &n, id, kind)?;
    check_reserved(&name)?;
    let vid = id.get();
    let nm = name.clone();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, kind, "")
        .act(move |w, _| {
            let now = w.now_secs();
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            if g.is_template() {
                return Err(match kind {
                    GuestKind::Qemu => "you can't take a snapshot if it's a template".into(),
                    GuestKind::Lxc => "you can't take a snapshot of a template".into(),
                });
            }
            if let Some(l) = g.lock() {
                return Err(messages::guest_locked(kind, l));
            }
            if g.snapshots.contains_key(&nm) {
                return Err(format!("snapshot name '{nm}' already used"));
            }
            let mut config = g.conf.clone();
            config.remove("parent");
            g.snapshots.insert(
                nm.clone(),
                Snapshot {
                    config,
                    snaptime: now,
                    description: description.clone(),
                    parent: g.conf.get("parent").cloned(),
                    vmstate: vmstate && g.run != RunState::Stopped,
                    snapstate: Some("prepare".into()),
                },
            );
            g.conf.insert("lock".into(), "snapshot".into());
            Ok(())
        })
        .sleep(if vmstate { 4000 } else { 1500 })
        .act(move |w, _| {
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            if let Some(s) = g.snapshots.get_mut(&name) {
                s.snapstate = None;
            }
            g.conf.remove("lock");
            g.conf.insert("parent".into(), name.clone());
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(
        &n,
        &format!("{}snapshot", prefix(kind)),
        &id.to_string(),
        &who,
        plan.on_fail(move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid)
                && g.lock() == Some("snapshot")
            {
                g.conf.remove("lock");
                g.snapshots.retain(|_, s| s.snapstate.is_none());
            }
            Ok(())
        }),
    );
    Ok(Reply::data(upid.to_string()))
}

pub fn delete(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let name = snapname(ctx);
    let force = ctx.p.flag("force");
    ctx.p.finish()?;
    let g = guest(w, &n, id, kind)?;
    if !g.snapshots.contains_key(&name) {
        return Err(PveError::die(format!("snapshot '{name}' does not exist")));
    }
    let vid = id.get();
    let nm = name.clone();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, kind, "")
        .act(move |w, _| {
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            if let Some(l) = g.lock()
                && !force
            {
                return Err(messages::guest_locked(kind, l));
            }
            g.conf.insert("lock".into(), "snapshot-delete".into());
            Ok(())
        })
        .sleep(1500)
        .act(move |w, _| {
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            let removed = g.snapshots.remove(&nm);
            let up = removed.and_then(|s| s.parent);
            for s in g.snapshots.values_mut() {
                if s.parent.as_deref() == Some(nm.as_str()) {
                    s.parent = up.clone();
                }
            }
            if g.conf.get("parent").map(String::as_str) == Some(nm.as_str()) {
                match &up {
                    Some(p) => g.conf.insert("parent".into(), p.clone()),
                    None => g.conf.remove("parent"),
                };
            }
            g.conf.remove("lock");
            Ok(())
        })
        .on_fail(move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid)
                && g.lock() == Some("snapshot-delete")
            {
                g.conf.remove("lock");
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, &format!("{}delsnapshot", prefix(kind)), &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}

pub fn rollback(ctx: &mut Ctx, w: &mut World, kind: GuestKind) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let name = snapname(ctx);
    let start = ctx.p.flag("start");
    ctx.p.finish()?;
    let g = guest(w, &n, id, kind)?;
    if !g.snapshots.contains_key(&name) {
        return Err(PveError::die(format!("snapshot '{name}' does not exist")));
    }
    let vid = id.get();
    let name2 = name.clone();
    let plan = Plan::new()
        .lock(LockKey::Config(id), LockMode::Exclusive, 10_000, kind, "")
        .act(move |w, _| {
            let name = name2;
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            if g.is_template() {
                return Err("you can't rollback if vm is a template".into());
            }
            if let Some(l) = g.lock() {
                return Err(messages::guest_locked(kind, l));
            }
            if g.snapshots.get(&name).is_some_and(|s| s.snapstate.as_deref() == Some("prepare")) {
                return Err(
                    "unable to rollback to incomplete snapshot (snapstate = prepare)".into()
                );
            }
            g.conf.insert("lock".into(), "rollback".into());
            if g.is_running() {
                g.run = RunState::Stopped;
            }
            Ok(())
        })
        .sleep(2000)
        .act(move |w, _| {
            let snap = w
                .guests
                .get(&vid)
                .and_then(|g| g.snapshots.get(&name).cloned())
                .ok_or("snapshot vanished")?;
            let g = w.guests.get_mut(&vid).ok_or("guest vanished")?;
            let keep: Vec<(String, String)> = g
                .conf
                .iter()
                .filter(|(k, _)| k.as_str() == "description" || k.starts_with("unused"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            g.conf = snap.config.clone();
            g.conf.extend(keep);
            g.conf.insert("parent".into(), name.clone());
            g.pending.clear();
            g.pending_delete.clear();
            if snap.vmstate || start {
                super::qemu::start_now(w, vid);
            }
            Ok(())
        })
        .on_fail(move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid)
                && g.lock() == Some("rollback")
            {
                g.conf.remove("lock");
            }
            Ok(())
        });
    let who = user(ctx);
    let upid = w.spawn(&n, &format!("{}rollback", prefix(kind)), &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}
