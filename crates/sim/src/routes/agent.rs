//! The QEMU guest agent (§5.13): ping, network-get-interfaces (addresses from `ipconfigN` or a
//! simulated DHCP lease), and exec / exec-status, which answers `cloud-init status --wait`.

use proxctl_types::messages::GuestKind;
use proxctl_types::prop::{IpConfig, Ipv4Setting, NetDevice};
use serde_json::{Value, json};

use super::common::{guest, node, vmid};
use super::qemu::agent_enabled;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{Guest, RunState, World};

fn usable<'a>(w: &'a World, n: &str, id: proxctl_types::VmId) -> PveResult<&'a Guest> {
    let g = guest(w, n, id, GuestKind::Qemu)?;
    if !agent_enabled(g) {
        return Err(PveError::die("No QEMU guest agent configured"));
    }
    if g.run != RunState::Running {
        return Err(PveError::die(format!("VM {id} is not running")));
    }
    // The agent comes up a few seconds after boot.
    if w.now_secs() < g.started_at + 5 {
        return Err(PveError::die("QEMU guest agent is not running"));
    }
    Ok(g)
}

pub fn ping(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    usable(w, &n, id)?;
    Ok(Reply::data(json!({"result": {}})))
}

pub fn network(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    ctx.p.finish()?;
    let g = usable(w, &n, id)?;
    let mut ifaces = vec![json!({
        "name": "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}],
    })];
    for (k, v) in g.conf.iter().filter(|(k, _)| k.starts_with("net")) {
        let Some(i) = k.strip_prefix("net").and_then(|x| x.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(nd) = v.parse::<NetDevice>() else {
            continue;
        };
        let mac = nd.macaddr.map(|m| m.to_lowercase()).unwrap_or_default();
        let ipc = g.conf.get(&format!("ipconfig{i}")).and_then(|c| c.parse::<IpConfig>().ok());
        let addr = match ipc.and_then(|c| c.ip) {
            Some(Ipv4Setting::Static(net)) => (net.addr().to_string(), net.prefix_len()),
            // A deterministic "DHCP lease" derived from the VMID and interface.
            _ => (format!("10.{}.{}.{}", 100 + i, (g.vmid / 250) % 250, 10 + g.vmid % 240), 24),
        };
        ifaces.push(json!({
            "name": format!("eth{i}"),
            "hardware-address": mac,
            "ip-addresses": [{"ip-address": addr.0, "ip-address-type": "ipv4", "prefix": addr.1}],
        }));
    }
    Ok(Reply::data(json!({ "result": ifaces })))
}

pub fn exec(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let command = ctx.p.list("command");
    let _input = ctx.p.opt_str("input-data");
    if command.is_empty() {
        ctx.p.invalid("command", proxctl_types::messages::MISSING_PARAM);
    }
    ctx.p.finish()?;
    usable(w, &n, id)?;
    let line = command.join(" ");
    let (code, out) = if line.starts_with("cloud-init status") {
        if w.cloud_init_ok {
            (
                0,
                r#"{"boot_status_code": "enabled-by-generator", "errors": [], "status": "done"}"#
                    .to_string(),
            )
        } else {
            (1, r#"{"boot_status_code": "enabled-by-generator", "errors": ["simulated failure"], "status": "error"}"#.to_string())
        }
    } else {
        (0, String::new())
    };
    let pid = u64::from(w.next_pid.wrapping_add(3));
    w.next_pid = w.next_pid.wrapping_add(3);
    if let Some(g) = w.guests.get_mut(&id.get()) {
        g.agent_exec.insert(pid, (code, out));
    }
    Ok(Reply::data(json!({ "pid": pid })))
}

pub fn exec_status(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let pid = ctx.p.opt_int("pid", Some(0), None);
    if !ctx.p.has("pid") {
        ctx.p.invalid("pid", proxctl_types::messages::MISSING_PARAM);
    }
    ctx.p.finish()?;
    let g = usable(w, &n, id)?;
    let Some((code, out)) = pid.and_then(|p| g.agent_exec.get(&(p as u64))) else {
        return Err(PveError::die("Agent error: Invalid parameter 'pid'"));
    };
    let mut v = json!({"exited": 1, "exitcode": code});
    if !out.is_empty() {
        v["out-data"] = Value::from(out.clone());
    }
    Ok(Reply::data(v))
}
