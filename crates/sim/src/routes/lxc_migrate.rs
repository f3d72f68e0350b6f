//! LXC migration (`POST /nodes/{node}/lxc/{vmid}/migrate`, task `vzmigrate`). Containers have
//! no live migration: a running one moves only in restart mode (shut down on the source, its
//! volumes moved, started on the target), and asking for `online` fails the task as PVE does.

use proxctl_types::messages::GuestKind;
use proxctl_types::prop::LxcMount;

use super::common::{guest, migration_target, node, not_locked, user, vmid};
use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode};
use crate::router::{Ctx, Reply};
use crate::state::{RunState, World};
use crate::task::Plan;

const K: GuestKind = GuestKind::Lxc;

/// The volumes of a container: its rootfs and mount points.
fn volumes(conf: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    conf.iter()
        .filter(|(k, _)| {
            *k == "rootfs" || k.strip_prefix("mp").is_some_and(|i| i.parse::<u8>().is_ok())
        })
        .filter_map(|(_, v)| v.parse::<LxcMount>().ok())
        .map(|m| m.volume)
        .filter(|v| v.contains(':'))
        .collect()
}

pub fn migrate(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let target = ctx.p.str("target");
    let online = ctx.p.flag("online");
    let restart = ctx.p.flag("restart");
    let timeout = ctx.p.opt_int("timeout", None, None).unwrap_or(180);
    let _ts = ctx.p.opt_str("target-storage");
    let _bw = ctx.p.opt_int("bwlimit", Some(0), None);
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
    if running && !online && !restart {
        return Err(PveError::die("can't migrate running container without --online or --restart"));
    }
    let vols = volumes(&g.conf);
    let vid = id.get();
    let mut plan = Plan::new().lock(LockKey::Config(id), LockMode::Exclusive, 10_000, K, "").act(
        move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.insert("lock".into(), "migrate".into());
            }
            Ok(())
        },
    );
    plan = plan.log(format!("starting migration of CT {vid} to node '{target}'"));
    if running && online && !restart {
        plan = plan.act(move |w, _| {
            if let Some(g) = w.guests.get_mut(&vid) {
                g.conf.remove("lock");
            }
            Err("lxc live migration is currently not implemented".into())
        });
    } else {
        if running {
            plan = plan.log(format!("shutdown CT {vid} (timeout {timeout}s)")).sleep(2000).act(
                move |w, _| {
                    if let Some(g) = w.guests.get_mut(&vid) {
                        g.run = RunState::Stopped;
                    }
                    Ok(())
                },
            );
        }
        let t2 = target.clone();
        plan = plan.sleep(3000).act(move |w, task| {
            let from = w.guests.get(&vid).map(|g| g.node.clone()).unwrap_or_default();
            for v in &vols {
                if let Some(vol) = w.volumes.remove(&(from.clone(), v.clone())) {
                    w.volumes.insert((t2.clone(), v.clone()), vol);
                }
            }
            if let Some(g) = w.guests.get_mut(&vid) {
                g.node = t2.clone();
                g.conf.remove("lock");
            }
            w.task_log(task, format!("volumes moved to node '{t2}'"));
            Ok(())
        });
        if running {
            plan = plan.log(format!("start container on target node '{target}'")).sleep(1500).act(
                move |w, _| {
                    super::qemu::start_now(w, vid);
                    Ok(())
                },
            );
        }
        plan = plan.log("migration finished successfully");
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
    let upid = w.spawn(&n, "vzmigrate", &id.to_string(), &who, plan);
    Ok(Reply::data(upid.to_string()))
}
