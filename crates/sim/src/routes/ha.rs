//! The HA API (`/cluster/ha`): resources with their requested state, `migrate` and `relocate`
//! requests, PVE 9's rules, the older groups, arming and disarming, and the status the CRM
//! keeps (`crate::ha` moves the services).

use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::ha::{verbose_state, wake};
use crate::router::{Ctx, Reply};
use crate::state::{HaResource, World};

const HA_STATES: &[&str] = &["started", "stopped", "enabled", "disabled", "ignored"];

/// `vm:100`, `ct:100` or a bare `100` (a VM, or the container with that ID).
fn parse_sid(w: &World, raw: &str) -> PveResult<String> {
    let bad = || PveError::param("sid", format!("unable to parse service id '{raw}'"));
    let (kind, id) = match raw.split_once(':') {
        Some((k @ ("vm" | "ct"), id)) => (Some(k), id),
        Some(_) => return Err(bad()),
        None => (None, raw),
    };
    let vmid: u32 = id.parse().map_err(|_| bad())?;
    let g = w.guests.get(&vmid);
    let kind = match (kind, g) {
        (Some(k), _) => k,
        (None, Some(g)) if g.kind == proxctl_types::messages::GuestKind::Lxc => "ct",
        (None, _) => "vm",
    };
    Ok(format!("{kind}:{vmid}"))
}

fn existing_guest(w: &World, sid: &str) -> PveResult<()> {
    let vmid = sid.rsplit(':').next().and_then(|i| i.parse::<u32>().ok());
    match vmid.and_then(|id| w.guests.get(&id)) {
        Some(_) => Ok(()),
        None => Err(PveError::die(format!("no such VMID '{}'", vmid.unwrap_or(0)))),
    }
}

fn resource<'a>(w: &'a World, sid: &str) -> PveResult<&'a HaResource> {
    w.ha.get(sid).ok_or_else(|| PveError::die(format!("no such resource '{sid}'")))
}

fn requested(state: &str) -> String {
    if state == "enabled" { "started".into() } else { state.into() }
}

fn resource_json(r: &HaResource) -> Value {
    let mut m = Map::new();
    m.insert("sid".into(), json!(r.sid));
    m.insert("type".into(), json!(r.kind()));
    m.insert("state".into(), json!(r.state));
    m.insert("digest".into(), json!(digest(r)));
    for (k, v) in [("comment", &r.comment), ("group", &r.group)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("max_restart", r.max_restart), ("max_relocate", r.max_relocate)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(f) = r.failback {
        m.insert("failback".into(), json!(u8::from(f)));
    }
    Value::Object(m)
}

fn digest(r: &HaResource) -> String {
    // Over what an admin configures, not over the CRM's runtime state.
    sha1_hex(&format!(
        "{}:{}:{:?}:{:?}:{:?}:{:?}:{:?}",
        r.sid, r.state, r.comment, r.group, r.max_restart, r.max_relocate, r.failback
    ))
}

/// The SHA-1 hex digest PVE gives a section config, over our own rendering of it.
pub fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}

/// `GET /cluster/ha`.
pub fn index(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(
        json!([{"id": "status"}, {"id": "resources"}, {"id": "groups"}, {"id": "rules"}]),
    ))
}

/// `GET /cluster/ha/resources`.
pub fn resources(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let kind = ctx.p.opt_enum("type", &["ct", "vm"]);
    ctx.p.finish()?;
    let out: Vec<Value> =
        w.ha.values()
            .filter(|r| kind.as_deref().is_none_or(|k| r.kind() == k))
            .map(resource_json)
            .collect();
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /cluster/ha/resources/{sid}`.
pub fn resource_get(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let sid = ctx.p.str("sid");
    ctx.p.finish()?;
    let sid = parse_sid(w, &sid)?;
    Ok(Reply::data(resource_json(resource(w, &sid)?)))
}

fn read_options(ctx: &mut Ctx, r: &mut HaResource) {
    if let Some(c) = ctx.p.opt_str("comment") {
        r.comment = Some(c);
    }
    if let Some(g) = ctx.p.opt_str("group") {
        r.group = Some(g);
    }
    if let Some(n) = ctx.p.opt_int("max_restart", Some(0), Some(10)) {
        r.max_restart = u64::try_from(n).ok();
    }
    if let Some(n) = ctx.p.opt_int("max_relocate", Some(0), Some(10)) {
        r.max_relocate = u64::try_from(n).ok();
    }
    if let Some(f) = ctx.p.opt_bool("failback") {
        r.failback = Some(f);
    }
}

fn check_group(w: &World, r: &HaResource) -> PveResult<()> {
    match &r.group {
        Some(g) if !w.ha_config.groups.iter().any(|x| &x.group == g) => {
            Err(PveError::param("group", format!("ha group '{g}' does not exist")))
        }
        _ => Ok(()),
    }
}

/// `POST /cluster/ha/resources`.
pub fn resource_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let sid = ctx.p.str("sid");
    let state = ctx.p.opt_enum("state", HA_STATES).unwrap_or_else(|| "started".into());
    let kind = ctx.p.opt_enum("type", &["ct", "vm"]);
    let mut r = HaResource::new(String::new(), requested(&state));
    read_options(ctx, &mut r);
    ctx.p.finish()?;
    let sid = match kind {
        Some(k) if !sid.contains(':') => format!("{k}:{sid}"),
        _ => parse_sid(w, &sid)?,
    };
    existing_guest(w, &sid)?;
    if w.ha.contains_key(&sid) {
        return Err(PveError::die(format!("resource ID '{sid}' already defined")));
    }
    r.sid = sid.clone();
    check_group(w, &r)?;
    w.ha.insert(sid, r);
    wake(w);
    Ok(Reply::null())
}

/// `PUT /cluster/ha/resources/{sid}`.
pub fn resource_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let sid = ctx.p.str("sid");
    let state = ctx.p.opt_enum("state", HA_STATES);
    let delete = ctx.p.opt_str("delete");
    let digest_given = ctx.p.opt_str("digest");
    let mut changed =
        w.ha.get(&parse_sid(w, &sid)?)
            .cloned()
            .unwrap_or_else(|| HaResource::new(String::new(), String::new()));
    read_options(ctx, &mut changed);
    ctx.p.finish()?;
    let sid = parse_sid(w, &sid)?;
    let current = resource(w, &sid)?;
    if digest_given.as_deref().is_some_and(|d| d != digest(current)) {
        return Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "comment" => changed.comment = None,
            "group" => changed.group = None,
            "max_restart" => changed.max_restart = None,
            "max_relocate" => changed.max_relocate = None,
            "failback" => changed.failback = None,
            other => {
                return Err(PveError::param("delete", format!("unknown property '{other}'")));
            }
        }
    }
    if let Some(s) = state {
        changed.state = requested(&s);
        if changed.state == "disabled" && changed.crm == "error" {
            // Disabling is how an admin clears an error (PVE: "clearing error flag").
            changed.crm = "stopped".into();
            changed.failed_starts = 0;
        }
    }
    check_group(w, &changed)?;
    w.ha.insert(sid, changed);
    wake(w);
    Ok(Reply::null())
}

/// `DELETE /cluster/ha/resources/{sid}`: the guest stays as it is, unmanaged.
pub fn resource_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let sid = ctx.p.str("sid");
    let purge = ctx.p.flag("purge");
    ctx.p.finish()?;
    let sid = parse_sid(w, &sid)?;
    resource(w, &sid)?;
    w.ha.remove(&sid);
    if purge {
        for rule in &mut w.ha_config.rules {
            let left: Vec<&str> = rule.resources.split(',').filter(|s| *s != sid).collect();
            rule.resources = left.join(",");
        }
        w.ha_config.rules.retain(|r| !r.resources.is_empty());
    }
    Ok(Reply::null())
}

/// `POST /cluster/ha/resources/{sid}/migrate` and `/relocate`: a request the CRM carries out.
pub fn resource_move(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let relocate = ctx.path.ends_with("/relocate");
    let sid = ctx.p.str("sid");
    let node = ctx.p.str("node");
    ctx.p.finish()?;
    let sid = parse_sid(w, &sid)?;
    if !w.nodes.contains_key(&node) {
        return Err(PveError::param("node", format!("no such cluster node '{node}'")));
    }
    let r =
        w.ha.get(&sid)
            .ok_or_else(|| PveError::die(format!("service '{sid}' is not managed by HA")))?;
    if r.state == "ignored" || r.state == "disabled" {
        return Err(PveError::die(format!(
            "service '{sid}' is in state '{}' - cannot {}",
            r.state,
            if relocate { "relocate" } else { "migrate" }
        )));
    }
    if let Some(r) = w.ha.get_mut(&sid) {
        r.target = Some(node.clone());
        r.relocate = relocate;
    }
    wake(w);
    Ok(Reply::data(json!({"sid": sid, "requested-node": node})))
}

/// `GET /cluster/ha/status`.
pub fn status_index(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(json!([{"name": "current"}, {"name": "manager_status"}])))
}

fn ctime(secs: u64) -> String {
    jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0))
        .map(|t| t.strftime("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_default()
}

fn master(w: &World) -> String {
    w.nodes.keys().find(|n| w.node_online(n)).cloned().unwrap_or_else(|| w.first_node())
}

/// `GET /cluster/ha/status/current`: quorum, the CRM master, every node's LRM and every
/// service, as `ha-manager status` shows them.
pub fn status_current(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let now = w.now_secs();
    let master = master(w);
    let quorate = w.is_quorate();
    let mut out = vec![json!({
        "id": "quorum", "type": "quorum", "node": master,
        "status": if quorate { "OK".to_string() } else { format!("No quorum on node '{master}'!") },
        "quorate": u8::from(quorate),
    })];
    if !w.ha.is_empty() {
        out.push(json!({
            "id": "master", "type": "master", "node": master, "timestamp": now,
            "status": format!("{master} (active, {})", ctime(now)),
        }));
        let armed = w.ha_config.disarmed.is_none();
        let mut fencing = json!({
            "id": "fencing", "type": "fencing", "node": master,
            "status": if armed { "armed" } else { "disarmed" },
            "armed-state": if armed { "armed" } else { "disarmed" },
        });
        if let Some(mode) = &w.ha_config.disarmed {
            fencing["resource_mode"] = json!(mode);
        }
        out.push(fencing);
        for n in w.nodes.keys() {
            let services =
                w.ha.values()
                    .filter_map(|r| r.vmid().and_then(|id| w.guests.get(&id)))
                    .any(|g| &g.node == n);
            let mode = if !w.node_online(n) {
                "old timestamp - dead?"
            } else if services {
                "active"
            } else {
                "idle"
            };
            out.push(json!({
                "id": format!("lrm:{n}"), "type": "lrm", "node": n, "timestamp": now,
                "status": format!("{n} ({mode}, {})", ctime(now)),
            }));
        }
    }
    for r in w.ha.values() {
        let node = r.vmid().and_then(|id| w.guests.get(&id)).map(|g| g.node.clone());
        let state = verbose_state(w, r);
        let mut item = json!({
            "id": format!("service:{}", r.sid), "type": "service", "sid": r.sid,
            "node": node.unwrap_or_default(), "status": state, "state": state,
            "crm_state": if r.crm.is_empty() { "queued" } else { r.crm.as_str() },
            "request_state": r.state, "timestamp": now,
            "failback": u8::from(r.failback.unwrap_or(true)),
            "max_restart": r.max_restart.unwrap_or(1), "max_relocate": r.max_relocate.unwrap_or(1),
        });
        if let Some(t) = &r.target {
            item["target"] = json!(t);
        }
        out.push(item);
    }
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /cluster/ha/status/manager_status`: the CRM's raw state.
pub fn manager_status(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut services = Map::new();
    for r in w.ha.values() {
        let node = r.vmid().and_then(|id| w.guests.get(&id)).map(|g| g.node.clone());
        services.insert(
            r.sid.clone(),
            json!({"node": node, "state": if r.crm.is_empty() { "queued" } else { r.crm.as_str() },
                   "uid": format!("{:x}", r.sid.len() as u64 * 7919 + w.now_secs())}),
        );
    }
    let node_status: Map<String, Value> = w
        .nodes
        .keys()
        .map(|n| (n.clone(), json!(if w.node_online(n) { "online" } else { "unknown" })))
        .collect();
    Ok(Reply::data(json!({
        "manager_status": {"master_node": master(w), "node_status": node_status,
                           "service_status": services, "timestamp": w.now_secs()},
        "quorum": {"node": master(w), "quorate": u8::from(w.is_quorate())},
    })))
}

/// `POST /cluster/ha/status/disarm-ha`: services freeze (or are ignored) until `arm-ha`.
pub fn disarm(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let mode = ctx.p.opt_enum("resource-mode", &["freeze", "ignore"]);
    ctx.p.finish()?;
    let mode = mode.ok_or_else(|| {
        PveError::param("resource-mode", "property is missing and it is not optional")
    })?;
    if w.ha_config.disarmed.is_some() {
        return Err(PveError::die("HA is already disarmed"));
    }
    w.ha_config.disarmed = Some(mode);
    wake(w);
    Ok(Reply::null())
}

/// `POST /cluster/ha/status/arm-ha`.
pub fn arm(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    if w.ha_config.disarmed.take().is_none() {
        return Err(PveError::die("HA is already armed"));
    }
    for r in w.ha.values_mut() {
        if r.crm == "freeze" || r.crm == "ignored" {
            r.crm = String::new();
        }
    }
    wake(w);
    Ok(Reply::null())
}

/// A power or migrate call on an HA-managed guest only asks the HA stack (PVE's `hastart`,
/// `hastop` and `hamigrate` tasks): the task records the request and the CRM acts on it later.
/// `None` when the guest is not HA-managed (or `ignored`) or the action is not one HA takes.
pub fn request(
    w: &mut World,
    node: &str,
    kind: proxctl_types::messages::GuestKind,
    vmid: u32,
    action: &str,
    target: Option<&str>,
    user: &str,
) -> Option<String> {
    let (prefix, what) = match kind {
        proxctl_types::messages::GuestKind::Qemu => ("vm", "VM"),
        proxctl_types::messages::GuestKind::Lxc => ("ct", "CT"),
    };
    let sid = format!("{prefix}:{vmid}");
    if w.ha.get(&sid).is_none_or(|r| r.state == "ignored") {
        return None;
    }
    let (task_type, line, state) = match action {
        "start" => ("hastart", format!("Requesting HA start for {what} {vmid}"), "started"),
        "stop" | "shutdown" => {
            ("hastop", format!("Requesting HA stop for {what} {vmid}"), "stopped")
        }
        "migrate" => (
            "hamigrate",
            format!("Requesting HA migration for {what} {vmid} to node {}", target.unwrap_or("")),
            "",
        ),
        _ => return None,
    };
    let target = target.map(str::to_string);
    let plan = crate::task::Plan::new().log(line).sleep(200).act(move |w, _| {
        if let Some(r) = w.ha.get_mut(&sid) {
            if state.is_empty() {
                r.target = target.clone();
                r.relocate = false;
            } else {
                r.state = state.to_string();
                if r.crm == "error" && state == "stopped" {
                    r.crm = "stopped".into();
                }
            }
        }
        wake(w);
        Ok(())
    });
    Some(w.spawn(node, task_type, &vmid.to_string(), user, plan).to_string())
}
