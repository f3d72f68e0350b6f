//! The HA stack's cluster resource manager (CRM) and local resource managers (LRM), as one
//! loop that runs every 10 simulated seconds while a service needs something: it starts and
//! stops services to match their requested state, moves them on `migrate` and `relocate`
//! requests, and fences and recovers the services of a node that went offline onto another.
//! Power requests on HA-managed guests only change the requested state (`hastart`/`hastop`
//! tasks); the change itself happens here, later, as in PVE.

use crate::clock::SimMillis;
use crate::state::{HaResource, RunState, World, node_priorities};
use crate::task::Plan;

/// How often the CRM and LRMs act (PVE: every 10 s).
pub const CRM_CYCLE_MS: SimMillis = 10_000;

/// What a start, stop or move takes the LRM, in simulated ms.
const LRM_ACTION_MS: SimMillis = 2_000;

/// Make the CRM run at the next cycle boundary (a request changed something).
pub fn wake(w: &mut World) {
    if w.ha.is_empty() {
        return;
    }
    let next = (w.now / CRM_CYCLE_MS + 1) * CRM_CYCLE_MS;
    w.ha_due = Some(w.ha_due.map_or(next, |d| d.min(next)));
}

/// One CRM round. Schedules the next one only while a service is still on its way.
pub fn round(w: &mut World) {
    w.ha_due = None;
    // The CRM acts only in the quorate partition, and not at all while HA is disarmed.
    if !w.is_quorate() {
        return;
    }
    if let Some(mode) = w.ha_config.disarmed.clone() {
        for r in w.ha.values_mut() {
            r.crm = if mode == "ignore" { "ignored".into() } else { "freeze".into() };
        }
        return;
    }
    let sids: Vec<String> = w.ha.keys().cloned().collect();
    let mut again = false;
    for sid in sids {
        again |= step_service(w, &sid);
    }
    if again {
        w.ha_due = Some(w.now + CRM_CYCLE_MS);
    }
}

fn set_crm(w: &mut World, sid: &str, crm: &str) {
    if let Some(r) = w.ha.get_mut(sid) {
        r.crm = crm.to_string();
    }
}

/// Move one service a step towards its requested state; `true` while it is not there yet.
fn step_service(w: &mut World, sid: &str) -> bool {
    let Some(r) = w.ha.get(sid).cloned() else { return false };
    if r.busy {
        return true;
    }
    let Some(g) = r.vmid().and_then(|id| w.guests.get(&id)) else { return false };
    let (node, running, template) = (g.node.clone(), g.is_running(), g.is_template());
    if r.state == "ignored" {
        set_crm(w, sid, "ignored");
        return false;
    }
    if !w.node_online(&node) {
        return recover(w, &r, &node);
    }
    if r.crm == "error" {
        // Only a request for `disabled` (or `stopped`) clears the error, as in PVE.
        if r.state == "started" {
            return false;
        }
    }
    if let Some(target) = r.target.clone() {
        if target == node || !w.node_online(&target) {
            if let Some(r) = w.ha.get_mut(sid) {
                r.target = None;
            }
            return true;
        }
        let how = if r.relocate { "relocate" } else { "migrate" };
        set_crm(w, sid, how);
        lrm_move(w, &r, &node, &target, r.relocate || (running && r.kind() == "ct"));
        return true;
    }
    match r.state.as_str() {
        "started" if running => {
            if let Some(r) = w.ha.get_mut(sid) {
                r.crm = "started".into();
                r.failed_starts = 0;
            }
            false
        }
        "started" => {
            if template {
                set_crm(w, sid, "error");
                return false;
            }
            set_crm(w, sid, "started");
            lrm_power(w, &r, &node, true);
            true
        }
        _ if running => {
            set_crm(w, sid, "request_stop");
            lrm_power(w, &r, &node, false);
            true
        }
        _ => {
            set_crm(w, sid, "stopped");
            false
        }
    }
}

/// A service on an offline node: fenced first (a round), then recovered onto the best online
/// node, stopped there, from where the normal rounds start it if it is requested started.
fn recover(w: &mut World, r: &HaResource, node: &str) -> bool {
    match r.crm.as_str() {
        "fence" => {
            set_crm(w, &r.sid, "recovery");
            true
        }
        "recovery" => {
            let Some(to) = pick_node(w, r, Some(node)) else {
                // Nowhere to go (a strict rule or a restricted group): stay in recovery until
                // a node comes back, which wakes the CRM again.
                return false;
            };
            if let Some(vmid) = r.vmid() {
                move_guest(w, vmid, node, &to);
                if let Some(g) = w.guests.get_mut(&vmid) {
                    g.run = RunState::Stopped;
                }
            }
            let next = if r.state == "started" { "started" } else { "stopped" };
            set_crm(w, &r.sid, next);
            true
        }
        _ => {
            set_crm(w, &r.sid, "fence");
            true
        }
    }
}

/// The node a service should run on other than `exclude`: the highest-priority online node of
/// an enabled node-affinity rule naming it (strict rules allow only their nodes), else of its
/// group, else the online node running the fewest HA services.
pub fn pick_node(w: &World, r: &HaResource, exclude: Option<&str>) -> Option<String> {
    let usable = |n: &str| w.node_online(n) && Some(n) != exclude;
    let rule = w.ha_config.rules.iter().find(|x| {
        !x.disable
            && x.rule_type == "node-affinity"
            && x.resources.split(',').any(|s| s.trim() == r.sid)
    });
    let group = r.group.as_ref().and_then(|g| w.ha_config.groups.iter().find(|x| &x.group == g));
    let (preferred, only) = match (rule, group) {
        (Some(x), _) => (node_priorities(x.nodes.as_deref().unwrap_or("")), x.strict),
        (None, Some(g)) => (node_priorities(&g.nodes), g.restricted),
        (None, None) => (Vec::new(), false),
    };
    if let Some((n, _)) = preferred.iter().find(|(n, _)| usable(n)) {
        return Some(n.clone());
    }
    if only {
        return None;
    }
    let load = |n: &str| {
        w.ha.values()
            .filter_map(|s| s.vmid().and_then(|id| w.guests.get(&id)))
            .filter(|g| g.node == n)
            .count()
    };
    w.nodes.keys().filter(|n| usable(n)).min_by_key(|n| (load(n), (*n).clone())).cloned()
}

/// Move a guest's config and its volumes on local storages to another node.
fn move_guest(w: &mut World, vmid: u32, from: &str, to: &str) {
    let local: Vec<(String, String)> = w
        .volumes
        .iter()
        .filter(|((n, _), v)| {
            n == from
                && v.vmid == Some(vmid)
                && v.content != "backup"
                && w.storages.get(&v.storage).is_some_and(|s| !s.shared)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for key in local {
        if let Some(v) = w.volumes.remove(&key) {
            w.volumes.insert((to.to_string(), key.1), v);
        }
    }
    if let Some(g) = w.guests.get_mut(&vmid) {
        g.node = to.to_string();
    }
}

fn task_types(r: &HaResource) -> (&'static str, &'static str, &'static str, &'static str) {
    if r.kind() == "ct" {
        ("vzstart", "vzshutdown", "vzmigrate", "CT")
    } else {
        ("qmstart", "qmshutdown", "qmigrate", "VM")
    }
}

/// The LRM starts or stops the service's guest, as a task of its own (`root@pam`).
fn lrm_power(w: &mut World, r: &HaResource, node: &str, start: bool) {
    let Some(vmid) = r.vmid() else { return };
    let (ty_start, ty_stop, _, _) = task_types(r);
    let sid = r.sid.clone();
    if let Some(r) = w.ha.get_mut(&sid) {
        r.busy = true;
    }
    let done_sid = sid.clone();
    let plan = Plan::new().sleep(LRM_ACTION_MS).act(move |w, _| {
        if start {
            crate::routes::qemu::start_now(w, vmid);
        } else if let Some(g) = w.guests.get_mut(&vmid) {
            g.run = RunState::Stopped;
        }
        if let Some(r) = w.ha.get_mut(&done_sid) {
            r.busy = false;
        }
        Ok(())
    });
    let plan = plan.on_fail(move |w, _| {
        if let Some(r) = w.ha.get_mut(&sid) {
            r.busy = false;
            r.failed_starts += 1;
            if r.failed_starts > r.max_restart.unwrap_or(1) {
                r.crm = "error".into();
            }
        }
        Ok(())
    });
    let ty = if start { ty_start } else { ty_stop };
    w.spawn(node, ty, &vmid.to_string(), "root@pam", plan);
}

/// The LRM migrates the service to `target` (online for a running VM), or relocates it: stop,
/// move, start again.
fn lrm_move(w: &mut World, r: &HaResource, node: &str, target: &str, restart: bool) {
    let Some(vmid) = r.vmid() else { return };
    let (_, _, ty, what) = task_types(r);
    let sid = r.sid.clone();
    if let Some(r) = w.ha.get_mut(&sid) {
        r.busy = true;
    }
    let (from, to) = (node.to_string(), target.to_string());
    let done_sid = sid.clone();
    let plan = Plan::new()
        .log(format!("starting migration of {what} {vmid} to node '{to}'"))
        .sleep(LRM_ACTION_MS * 2)
        .act(move |w, task| {
            let was_running = w.guests.get(&vmid).is_some_and(|g| g.is_running());
            move_guest(w, vmid, &from, &to);
            if restart && was_running {
                crate::routes::qemu::start_now(w, vmid);
            }
            if let Some(r) = w.ha.get_mut(&done_sid) {
                r.busy = false;
                r.target = None;
                r.relocate = false;
                r.crm = if r.state == "started" { "started".into() } else { "stopped".into() };
            }
            w.task_log(task, "migration finished successfully (duration 00:00:04)");
            Ok(())
        });
    let plan = plan.on_fail(move |w, _| {
        if let Some(r) = w.ha.get_mut(&sid) {
            r.busy = false;
            r.target = None;
        }
        Ok(())
    });
    w.spawn(node, ty, &vmid.to_string(), "root@pam", plan);
}

/// The service state `ha-manager status` shows: the CRM's state refined by what the guest is
/// doing (`starting` until a started service's guest runs, `stopping` until a stopped one's
/// halts, `queued` before the CRM has seen it).
pub fn verbose_state(w: &World, r: &HaResource) -> String {
    let running = r.vmid().and_then(|id| w.guests.get(&id)).is_some_and(|g| g.is_running());
    match r.crm.as_str() {
        "" => "queued".into(),
        "started" if !running => "starting".into(),
        "request_stop" => "stopping".into(),
        "stopped" if r.state == "disabled" => "disabled".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_picks_the_next_cycle_boundary_and_keeps_an_earlier_one() {
        let start = 1_767_225_600_000; // 2026-01-01, the simulator's default start
        let mut w = World::new(1, 1, start + 12_345);
        wake(&mut w);
        assert_eq!(w.ha_due, None, "no resources, no CRM");
        w.ha.insert("vm:100".into(), HaResource::new("vm:100".into(), "started".into()));
        wake(&mut w);
        assert_eq!(w.ha_due, Some(start + 20_000));
        w.ha_due = Some(start + 15_000);
        wake(&mut w);
        assert_eq!(w.ha_due, Some(start + 15_000));
    }
}
