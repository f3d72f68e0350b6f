//! A node's network (`/nodes/{node}/network`): interfaces made, changed and deleted as pending
//! changes (`interfaces.new`, listed with PVE's `changes` diff), applied by `PUT` as a
//! `srvreload` task or thrown away by `DELETE`, with PVE's checks on ports, VLANs and the
//! single default gateway.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::common::{node, user};
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{Iface, NodeNet, World, net_diff, render_interfaces};
use crate::task::Plan;

const TYPES: &[&str] = &[
    "bridge",
    "bond",
    "eth",
    "alias",
    "vlan",
    "fabric",
    "OVSBridge",
    "OVSBond",
    "OVSPort",
    "OVSIntPort",
    "vnet",
    "unknown",
];
/// The types an admin can make; the others exist because the hardware or SDN does.
const CREATABLE: &[&str] =
    &["bridge", "bond", "alias", "vlan", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort"];
const STRING_OPTS: &[&str] = &[
    "address",
    "netmask",
    "cidr",
    "gateway",
    "address6",
    "netmask6",
    "cidr6",
    "gateway6",
    "bridge_ports",
    "bridge_vids",
    "comments",
    "comments6",
    "slaves",
    "bond-primary",
    "bond_xmit_hash_policy",
    "vlan-raw-device",
    "ovs_bonds",
    "ovs_bridge",
    "ovs_options",
    "ovs_ports",
    "ovs_tag",
    "bond_mode",
];
const INT_OPTS: &[&str] = &["mtu", "vlan-id", "autostart", "bridge_vlan_aware"];

fn net(w: &World, node: &str) -> NodeNet {
    w.node_net
        .get(node)
        .cloned()
        .or_else(|| w.node(node).map(NodeNet::default_for))
        .unwrap_or_default()
}

fn render_one(i: &Iface, prio: usize, active: bool) -> Value {
    let mut m = Map::new();
    m.insert("iface".into(), json!(i.iface));
    m.insert("type".into(), json!(i.kind));
    m.insert("priority".into(), json!(prio));
    m.insert("families".into(), json!(["inet"]));
    m.insert("method6".into(), json!("manual"));
    m.insert("active".into(), json!(u8::from(active)));
    if i.kind == "eth" {
        m.insert("exists".into(), json!(1));
    }
    if i.kind == "bridge" {
        m.insert("bridge_stp".into(), json!("off"));
        m.insert("bridge_fd".into(), json!("0"));
    }
    for (k, v) in &i.opts {
        if INT_OPTS.contains(&k.as_str()) {
            m.insert(k.clone(), json!(v.parse::<i64>().unwrap_or(0)));
        } else {
            m.insert(k.clone(), json!(v));
        }
    }
    let static_v4 = i.opts.get("cidr").and_then(|c| c.parse::<ipnet::Ipv4Net>().ok());
    m.insert("method".into(), json!(if static_v4.is_some() { "static" } else { "manual" }));
    if let Some(net) = static_v4 {
        m.insert("address".into(), json!(net.addr().to_string()));
        m.insert("netmask".into(), json!(net.netmask().to_string()));
    }
    Value::Object(m)
}

/// `GET /nodes/{node}/network`: the configuration as it will be after an apply, with the
/// pending diff in `changes`.
pub fn list(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let filter = ctx
        .p
        .opt_enum("type", &[TYPES, &["any_bridge", "any_local_bridge", "include_sdn"]].concat());
    ctx.p.finish()?;
    let cfg = net(w, &n);
    let running: Vec<&str> = cfg.running.iter().map(|i| i.iface.as_str()).collect();
    let out: Vec<Value> = cfg
        .current()
        .iter()
        .enumerate()
        .filter(|(_, i)| match filter.as_deref() {
            None | Some("include_sdn") => true,
            Some("any_bridge" | "any_local_bridge") => i.kind == "bridge" || i.kind == "OVSBridge",
            Some(t) => i.kind == t,
        })
        .map(|(p, i)| render_one(i, p + 1, running.contains(&i.iface.as_str())))
        .collect();
    let changes = cfg
        .pending
        .as_ref()
        .map(|p| net_diff(&render_interfaces(&cfg.running), &render_interfaces(p)));
    Ok(Reply::data(Value::Array(out)).with_changes(changes))
}

fn no_iface() -> PveError {
    PveError::param("iface", "interface does not exist")
}

/// `GET /nodes/{node}/network/{iface}`.
pub fn get(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let name = ctx.p.str("iface");
    ctx.p.finish()?;
    let cfg = net(w, &n);
    let (p, i) =
        cfg.current().iter().enumerate().find(|(_, i)| i.iface == name).ok_or_else(no_iface)?;
    let active = cfg.running.iter().any(|r| r.iface == name);
    Ok(Reply::data(render_one(i, p + 1, active)))
}

/// Read the options of a create or update into `opts`.
fn read_opts(ctx: &mut Ctx, opts: &mut BTreeMap<String, String>) {
    for k in STRING_OPTS {
        if let Some(v) = ctx.p.opt_str(k) {
            opts.insert((*k).to_string(), v);
        }
    }
    for k in ["autostart", "bridge_vlan_aware"] {
        if let Some(v) = ctx.p.opt_bool(k) {
            opts.insert(k.to_string(), u8::from(v).to_string());
        }
    }
    if let Some(v) = ctx.p.opt_int("mtu", Some(1280), Some(65520)) {
        opts.insert("mtu".into(), v.to_string());
    }
    if let Some(v) = ctx.p.opt_int("vlan-id", Some(1), Some(4094)) {
        opts.insert("vlan-id".into(), v.to_string());
    }
}

/// PVE's checks on one interface within the whole configuration.
fn check(cfg: &[Iface], i: &Iface) -> PveResult<()> {
    let others = || cfg.iter().filter(|o| o.iface != i.iface);
    if i.opts.contains_key("gateway")
        && let Some(o) = others().find(|o| o.opts.contains_key("gateway"))
    {
        return Err(PveError::param(
            "gateway",
            format!("Default gateway already exists on interface '{}'.", o.iface),
        ));
    }
    for key in ["bridge_ports", "slaves"] {
        for port in i.opts.get(key).into_iter().flat_map(|v| v.split([',', ' ', ';'])) {
            if port.is_empty() {
                continue;
            }
            // A VLAN port (`eno1.20`) rides on its device.
            let dev = port.split('.').next().unwrap_or(port);
            if !cfg.iter().any(|o| o.iface == port || o.iface == dev) {
                return Err(PveError::param(key, format!("interface '{port}' does not exist")));
            }
            let user = others().find(|o| {
                ["bridge_ports", "slaves"].iter().any(|k| {
                    o.opts.get(*k).is_some_and(|v| v.split([',', ' ', ';']).any(|p| p == port))
                })
            });
            if let Some(o) = user {
                return Err(PveError::param(
                    key,
                    format!("'{port}' is already used on interface '{}'", o.iface),
                ));
            }
        }
    }
    if i.kind == "vlan" {
        let named = i.iface.rsplit_once('.').is_some_and(|(_, id)| id.parse::<u16>().is_ok());
        let given = i.opts.contains_key("vlan-raw-device") && i.opts.contains_key("vlan-id");
        if !(named || given) {
            return Err(PveError::param(
                "vlan-raw-device",
                format!("vlan-raw-device and vlan-id are required for interface '{}'", i.iface),
            ));
        }
    }
    if i.kind == "bond" && !i.opts.contains_key("slaves") {
        return Err(PveError::param("slaves", "a bond needs slaves"));
    }
    Ok(())
}

/// Turn `address` + `netmask` into the `cidr` PVE keeps.
fn normalise(i: &mut Iface) -> PveResult<()> {
    if let (Some(addr), Some(mask)) = (i.opts.get("address"), i.opts.get("netmask")) {
        let prefix = mask
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .and_then(|m| ipnet::ipv4_mask_to_prefix(m).ok())
            .ok_or_else(|| PveError::param("netmask", format!("invalid netmask '{mask}'")))?;
        let cidr = format!("{addr}/{prefix}");
        i.opts.insert("cidr".into(), cidr);
    }
    if i.opts.contains_key("address")
        && !i.opts.contains_key("netmask")
        && !i.opts.contains_key("cidr")
    {
        return Err(PveError::param("netmask", "netmask is required with address"));
    }
    i.opts.remove("address");
    i.opts.remove("netmask");
    Ok(())
}

fn save(w: &mut World, node: &str, mut cfg: NodeNet, current: Vec<Iface>) {
    cfg.pending = Some(current);
    w.node_net.insert(node.to_string(), cfg);
}

/// `POST /nodes/{node}/network`: a new interface, pending until applied.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let name = ctx.p.str("iface");
    let kind = ctx.p.opt_enum("type", TYPES).unwrap_or_default();
    let mut i = Iface { iface: name.clone(), kind: kind.clone(), opts: BTreeMap::new() };
    read_opts(ctx, &mut i.opts);
    ctx.p.finish()?;
    if !CREATABLE.contains(&kind.as_str()) {
        return Err(PveError::param("type", format!("can't create interface of type '{kind}'")));
    }
    let cfg = net(w, &n);
    let mut current = cfg.current().clone();
    if current.iter().any(|o| o.iface == name) {
        return Err(PveError::param("iface", "interface already exists"));
    }
    normalise(&mut i)?;
    check(&current, &i)?;
    current.push(i);
    save(w, &n, cfg, current);
    Ok(Reply::null())
}

/// `PUT /nodes/{node}/network/{iface}`.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let name = ctx.p.str("iface");
    let kind = ctx.p.opt_enum("type", TYPES).unwrap_or_default();
    let delete = ctx.p.opt_str("delete");
    let mut opts = BTreeMap::new();
    read_opts(ctx, &mut opts);
    ctx.p.finish()?;
    let cfg = net(w, &n);
    let mut current = cfg.current().clone();
    let pos = current.iter().position(|o| o.iface == name).ok_or_else(no_iface)?;
    let mut i = current[pos].clone();
    if i.kind != kind {
        return Err(PveError::param("type", format!("interface '{name}' is of type '{}'", i.kind)));
    }
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        i.opts.remove(key);
        if key == "address" || key == "netmask" {
            i.opts.remove("cidr");
        }
    }
    i.opts.extend(opts);
    normalise(&mut i)?;
    check(&current, &i)?;
    current[pos] = i;
    save(w, &n, cfg, current);
    Ok(Reply::null())
}

/// `DELETE /nodes/{node}/network/{iface}`.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let name = ctx.p.str("iface");
    ctx.p.finish()?;
    let cfg = net(w, &n);
    let mut current = cfg.current().clone();
    let before = current.len();
    current.retain(|i| i.iface != name);
    if current.len() == before {
        return Err(no_iface());
    }
    save(w, &n, cfg, current);
    Ok(Reply::null())
}

/// `DELETE /nodes/{node}/network`: throw the pending changes away.
pub fn revert(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    ctx.p.finish()?;
    if let Some(cfg) = w.node_net.get_mut(&n) {
        cfg.pending = None;
    }
    Ok(Reply::null())
}

/// `PUT /nodes/{node}/network`: apply the pending changes (`ifreload -a`) as a task; the
/// node's bridges become the applied configuration's.
pub fn apply(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let _ = ctx.p.opt_bool("regenerate-frr");
    ctx.p.finish()?;
    let node_name = n.clone();
    let plan = Plan::new().sleep(1500).act(move |w, _| {
        let mut cfg = net(w, &node_name);
        if let Some(p) = cfg.pending.take() {
            cfg.running = p;
        }
        let bridges: Vec<String> = cfg
            .running
            .iter()
            .filter(|i| i.kind == "bridge" || i.kind == "OVSBridge")
            .map(|i| i.iface.clone())
            .collect();
        if let Some(nd) = w.nodes.get_mut(&node_name) {
            nd.bridges = bridges;
        }
        w.node_net.insert(node_name.clone(), cfg);
        Ok(())
    });
    let upid = w.spawn(&n, "srvreload", "networking", &user(ctx), plan);
    Ok(Reply::data(upid.to_string()))
}
