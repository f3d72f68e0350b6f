//! SDN (`/cluster/sdn`): zones, vnets and their subnets, written as pending changes that
//! `PUT /cluster/sdn` applies (a `reloadnetworkall` task) and `POST /cluster/sdn/rollback`
//! throws away; the global lock (`/cluster/sdn/lock`) whose token every change under it must
//! carry; `?pending=1` shows each entry's `state` (new, changed, deleted) and `?running=1` the
//! applied configuration. PVE's errors for the wrong things.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{SdnApplied, SdnSubnet, SdnVnet, SdnZone, World};
use crate::task::Plan;

const ZONE_TYPES: &[&str] = &["simple", "vlan", "qinq", "vxlan", "evpn"];
const ZONE_OPTIONS: &[&str] = &[
    "nodes",
    "mtu",
    "ipam",
    "dns",
    "reversedns",
    "dnszone",
    "peers",
    "tag",
    "vrf-vxlan",
    "controller",
    "dhcp",
];
const VNET_OPTIONS: &[&str] = &["alias", "vlanaware", "isolate-ports"];
const SUBNET_OPTIONS: &[&str] =
    &["gateway", "snat", "dhcp-range", "dnszoneprefix", "dhcp-dns-server"];

fn edited(w: &World) -> SdnApplied {
    SdnApplied {
        zones: w.sdn_zones.clone(),
        vnets: w.sdn_vnets.clone(),
        subnets: w.sdn_subnets.clone(),
    }
}

fn running(w: &World) -> SdnApplied {
    w.sdn_running.clone().unwrap_or_else(|| edited(w))
}

/// Before a change: the lock's token must match (or no lock be held without one), and the
/// running configuration is kept aside so the change stays pending.
fn begin(ctx: &mut Ctx, w: &mut World) -> PveResult<()> {
    let token = ctx.p.opt_str("lock-token");
    match (&w.sdn_lock, token) {
        (Some(held), Some(t)) if *held != t => return Err(PveError::die("invalid lock token")),
        (Some(_), None) => {
            return Err(PveError::die("SDN configuration is locked: a lock-token is required"));
        }
        (None, Some(_)) => {
            return Err(PveError::die("invalid lock token: the SDN configuration is not locked"));
        }
        _ => {}
    }
    if w.sdn_running.is_none() {
        w.sdn_running = Some(edited(w));
    }
    Ok(())
}

fn options(ctx: &mut Ctx, keys: &[&str], into: &mut BTreeMap<String, String>) {
    for k in keys {
        if let Some(v) = ctx.p.opt_str(k) {
            into.insert((*k).to_string(), v);
        }
    }
    if let Some(del) = ctx.p.opt_str("delete") {
        for k in del.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            into.remove(k);
        }
    }
}

fn put_options(m: &mut Map<String, Value>, o: &BTreeMap<String, String>) {
    for (k, v) in o {
        m.insert(k.clone(), v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v)));
    }
}

fn zone_view(z: &SdnZone) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("zone".into(), json!(z.zone));
    m.insert("type".into(), json!(z.zone_type));
    if let Some(b) = &z.bridge {
        m.insert("bridge".into(), json!(b));
    }
    put_options(&mut m, &z.options);
    m
}

fn vnet_view(v: &SdnVnet) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vnet".into(), json!(v.vnet));
    m.insert("zone".into(), json!(v.zone));
    m.insert("type".into(), json!("vnet"));
    if let Some(t) = v.tag {
        m.insert("tag".into(), json!(t));
    }
    put_options(&mut m, &v.options);
    m
}

fn subnet_view(s: &SdnSubnet) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("subnet".into(), json!(s.id));
    m.insert("id".into(), json!(s.id));
    m.insert("cidr".into(), json!(s.cidr));
    if let Some((network, mask)) = s.cidr.split_once('/') {
        m.insert("network".into(), json!(network));
        m.insert("mask".into(), json!(mask));
    }
    // Zone ids hold no '-', so the id's first part is the zone.
    m.insert("zone".into(), json!(s.id.split('-').next().unwrap_or_default()));
    m.insert("vnet".into(), json!(s.vnet));
    m.insert("type".into(), json!("subnet"));
    let mut o = s.options.clone();
    let ranges: Vec<Value> = o
        .remove("dhcp-range")
        .iter()
        .flat_map(|r| r.split(';'))
        .filter_map(|r| {
            let kv: BTreeMap<&str, &str> = r.split(',').filter_map(|p| p.split_once('=')).collect();
            Some(json!({"start-address": kv.get("start-address")?, "end-address": kv.get("end-address")?}))
        })
        .collect();
    m.insert("dhcp-range".into(), Value::Array(ranges));
    put_options(&mut m, &o);
    m
}

/// A list as PVE shows it: the edited entries, the running ones (`running`), or the edited
/// ones with their pending `state` and the deleted ones too (`pending`).
fn listing<T: PartialEq>(
    edited: &[T],
    running: &[T],
    key: impl Fn(&T) -> &str,
    view: impl Fn(&T) -> Map<String, Value>,
    mode: (bool, bool),
) -> Vec<Value> {
    let (pending, run) = mode;
    if run {
        return running.iter().map(|t| Value::Object(view(t))).collect();
    }
    let mut out: Vec<Value> = edited
        .iter()
        .map(|t| {
            let mut m = view(t);
            if pending {
                match running.iter().find(|r| key(r) == key(t)) {
                    None => {
                        m.insert("state".into(), json!("new"));
                    }
                    Some(r) if r != t => {
                        m.insert("state".into(), json!("changed"));
                    }
                    Some(_) => {}
                }
            }
            Value::Object(m)
        })
        .collect();
    if pending {
        for r in running.iter().filter(|r| !edited.iter().any(|t| key(t) == key(r))) {
            let mut m = view(r);
            m.insert("state".into(), json!("deleted"));
            out.push(Value::Object(m));
        }
    }
    out
}

fn mode(ctx: &mut Ctx) -> (bool, bool) {
    (ctx.p.opt_bool("pending").unwrap_or(false), ctx.p.opt_bool("running").unwrap_or(false))
}

/// `GET /cluster/sdn/zones`.
pub fn zones(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let m = mode(ctx);
    let only = ctx.p.opt_str("type");
    ctx.p.finish()?;
    let r = running(w);
    let list = listing(&w.sdn_zones, &r.zones, |z| z.zone.as_str(), zone_view, m);
    Ok(Reply::data(Value::Array(
        list.into_iter().filter(|z| only.as_ref().is_none_or(|t| z["type"] == json!(t))).collect(),
    )))
}

fn no_zone(z: &str) -> PveError {
    PveError::die(format!("sdn zone '{z}' does not exist"))
}

/// `GET /cluster/sdn/zones/{zone}`.
pub fn zone(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("zone");
    let _ = mode(ctx);
    ctx.p.finish()?;
    let z = w.sdn_zones.iter().find(|z| z.zone == id).ok_or_else(|| no_zone(&id))?;
    Ok(Reply::data(Value::Object(zone_view(z))))
}

fn check_id(ctx: &mut Ctx, key: &str, id: &str, max: usize) {
    let ok = !id.is_empty()
        && id.len() <= max
        && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok {
        ctx.p.invalid(key, format!("invalid format - value '{id}' does not look like a valid ID (letters and digits, at most {max})\n"));
    }
}

/// `POST /cluster/sdn/zones`.
pub fn zone_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("zone");
    check_id(ctx, "zone", &id, 8);
    let ty = ctx.p.str("type");
    if !ZONE_TYPES.contains(&ty.as_str()) {
        ctx.p.invalid(
            "type",
            format!(
                "value '{ty}' does not have a value in the enumeration '{}'\n",
                ZONE_TYPES.join(", ")
            ),
        );
    }
    let bridge = ctx.p.opt_str("bridge");
    if matches!(ty.as_str(), "vlan" | "qinq") && bridge.is_none() {
        ctx.p.invalid("bridge", "property is missing and it is not optional\n");
    }
    let mut z = SdnZone { zone: id.clone(), zone_type: ty, bridge, options: BTreeMap::new() };
    options(ctx, ZONE_OPTIONS, &mut z.options);
    begin(ctx, w)?;
    ctx.p.finish()?;
    if w.sdn_zones.iter().any(|z| z.zone == id) {
        return Err(PveError::die(format!("sdn zone object ID '{id}' already defined")));
    }
    w.sdn_zones.push(z);
    Ok(Reply::data(Value::Null))
}

/// `PUT /cluster/sdn/zones/{zone}`.
pub fn zone_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("zone");
    let bridge = ctx.p.opt_str("bridge");
    let _digest = ctx.p.opt_str("digest");
    let mut z = w.sdn_zones.iter().find(|z| z.zone == id).cloned().ok_or_else(|| no_zone(&id))?;
    options(ctx, ZONE_OPTIONS, &mut z.options);
    if bridge.is_some() {
        z.bridge = bridge;
    }
    begin(ctx, w)?;
    ctx.p.finish()?;
    if let Some(slot) = w.sdn_zones.iter_mut().find(|x| x.zone == id) {
        *slot = z;
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/sdn/zones/{zone}`: not while a vnet uses it.
pub fn zone_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("zone");
    begin(ctx, w)?;
    ctx.p.finish()?;
    if !w.sdn_zones.iter().any(|z| z.zone == id) {
        return Err(no_zone(&id));
    }
    if let Some(v) = w.sdn_vnets.iter().find(|v| v.zone == id) {
        return Err(PveError::die(format!("cannot delete zone '{id}': vnet '{}' uses it", v.vnet)));
    }
    w.sdn_zones.retain(|z| z.zone != id);
    Ok(Reply::data(Value::Null))
}

/// `GET /cluster/sdn/vnets`.
pub fn vnets(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let m = mode(ctx);
    ctx.p.finish()?;
    let r = running(w);
    Ok(Reply::data(Value::Array(listing(
        &w.sdn_vnets,
        &r.vnets,
        |v| v.vnet.as_str(),
        vnet_view,
        m,
    ))))
}

fn no_vnet(v: &str) -> PveError {
    PveError::die(format!("sdn vnet '{v}' does not exist"))
}

/// `GET /cluster/sdn/vnets/{vnet}`.
pub fn vnet(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("vnet");
    let _ = mode(ctx);
    ctx.p.finish()?;
    let v = w.sdn_vnets.iter().find(|v| v.vnet == id).ok_or_else(|| no_vnet(&id))?;
    Ok(Reply::data(Value::Object(vnet_view(v))))
}

fn tag_param(ctx: &mut Ctx) -> Option<u32> {
    let raw = ctx.p.opt_str("tag")?;
    match raw.parse::<u32>() {
        Ok(t) if (1..=16_777_215).contains(&t) => Some(t),
        _ => {
            ctx.p.invalid("tag", format!("value '{raw}' is not a valid tag\n"));
            None
        }
    }
}

/// `POST /cluster/sdn/vnets`: its zone must exist; VLAN zones need a tag.
pub fn vnet_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("vnet");
    check_id(ctx, "vnet", &id, 8);
    let zone = ctx.p.str("zone");
    let tag = tag_param(ctx);
    let _ty = ctx.p.opt_str("type");
    let mut v = SdnVnet { vnet: id.clone(), zone: zone.clone(), tag, options: BTreeMap::new() };
    options(ctx, VNET_OPTIONS, &mut v.options);
    begin(ctx, w)?;
    ctx.p.finish()?;
    let z = w.sdn_zones.iter().find(|z| z.zone == zone).ok_or_else(|| no_zone(&zone))?;
    if matches!(z.zone_type.as_str(), "vlan" | "qinq" | "vxlan") && tag.is_none() {
        return Err(PveError::die(format!(
            "missing vlan tag: zone '{zone}' is a {} zone",
            z.zone_type
        )));
    }
    if w.sdn_vnets.iter().any(|v| v.vnet == id) {
        return Err(PveError::die(format!("sdn vnet object ID '{id}' already defined")));
    }
    w.sdn_vnets.push(v);
    Ok(Reply::data(Value::Null))
}

/// `PUT /cluster/sdn/vnets/{vnet}`.
pub fn vnet_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("vnet");
    let zone = ctx.p.opt_str("zone");
    let tag = tag_param(ctx);
    let _digest = ctx.p.opt_str("digest");
    let mut v = w.sdn_vnets.iter().find(|v| v.vnet == id).cloned().ok_or_else(|| no_vnet(&id))?;
    options(ctx, VNET_OPTIONS, &mut v.options);
    begin(ctx, w)?;
    ctx.p.finish()?;
    if let Some(z) = zone {
        if !w.sdn_zones.iter().any(|x| x.zone == z) {
            return Err(no_zone(&z));
        }
        v.zone = z;
    }
    if tag.is_some() {
        v.tag = tag;
    }
    if let Some(slot) = w.sdn_vnets.iter_mut().find(|x| x.vnet == id) {
        *slot = v;
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/sdn/vnets/{vnet}`: not while it has subnets.
pub fn vnet_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("vnet");
    begin(ctx, w)?;
    ctx.p.finish()?;
    if !w.sdn_vnets.iter().any(|v| v.vnet == id) {
        return Err(no_vnet(&id));
    }
    if w.sdn_subnets.iter().any(|s| s.vnet == id) {
        return Err(PveError::die(format!("cannot delete vnet '{id}': it has subnets")));
    }
    w.sdn_vnets.retain(|v| v.vnet != id);
    Ok(Reply::data(Value::Null))
}

/// `GET /cluster/sdn/vnets/{vnet}/subnets`.
pub fn subnets(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let vnet = ctx.p.str("vnet");
    let m = mode(ctx);
    ctx.p.finish()?;
    if !w.sdn_vnets.iter().any(|v| v.vnet == vnet) {
        return Err(no_vnet(&vnet));
    }
    let mine = |l: &[SdnSubnet]| l.iter().filter(|s| s.vnet == vnet).cloned().collect::<Vec<_>>();
    let r = running(w);
    Ok(Reply::data(Value::Array(listing(
        &mine(&w.sdn_subnets),
        &mine(&r.subnets),
        |s| s.id.as_str(),
        subnet_view,
        m,
    ))))
}

/// The subnet id PVE gives a CIDR in a zone: `<zone>-<address>-<prefix>`.
fn subnet_id(zone: &str, cidr: &str) -> Option<String> {
    let net: ipnet::IpNet = cidr.parse().ok()?;
    Some(format!("{zone}-{}-{}", net.network(), net.prefix_len()))
}

fn find_subnet<'a>(w: &'a World, vnet: &str, id: &str) -> Option<&'a SdnSubnet> {
    // Callers may name it by id or by CIDR.
    w.sdn_subnets.iter().find(|s| s.vnet == vnet && (s.id == id || s.cidr == id))
}

/// `GET /cluster/sdn/vnets/{vnet}/subnets/{subnet}`.
pub fn subnet(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let vnet = ctx.p.str("vnet");
    let id = ctx.p.str("subnet");
    let _ = mode(ctx);
    ctx.p.finish()?;
    let s = find_subnet(w, &vnet, &id)
        .ok_or_else(|| PveError::die(format!("sdn subnet '{id}' does not exist")))?;
    Ok(Reply::data(Value::Object(subnet_view(s))))
}

/// `POST /cluster/sdn/vnets/{vnet}/subnets`.
pub fn subnet_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let vnet = ctx.p.str("vnet");
    let cidr = ctx.p.str("subnet");
    let _ty = ctx.p.opt_str("type");
    let mut o = BTreeMap::new();
    options(ctx, SUBNET_OPTIONS, &mut o);
    begin(ctx, w)?;
    ctx.p.finish()?;
    let v = w.sdn_vnets.iter().find(|v| v.vnet == vnet).ok_or_else(|| no_vnet(&vnet))?;
    let id = subnet_id(&v.zone, &cidr).ok_or_else(|| {
        PveError::param("subnet", format!("invalid format - value '{cidr}' is not a CIDR"))
    })?;
    if let Some(gw) = o.get("gateway") {
        let net: ipnet::IpNet =
            cidr.parse().map_err(|_| PveError::param("subnet", "not a CIDR"))?;
        let ok = gw.parse::<std::net::IpAddr>().is_ok_and(|g| net.contains(&g));
        if !ok {
            return Err(PveError::die(format!("gateway {gw} is not in subnet {cidr}")));
        }
    }
    if w.sdn_subnets.iter().any(|s| s.id == id) {
        return Err(PveError::die(format!("sdn subnet object ID '{id}' already defined")));
    }
    w.sdn_subnets.push(SdnSubnet { id, vnet, cidr, options: o });
    Ok(Reply::data(Value::Null))
}

/// `PUT /cluster/sdn/vnets/{vnet}/subnets/{subnet}`.
pub fn subnet_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let vnet = ctx.p.str("vnet");
    let id = ctx.p.str("subnet");
    let _digest = ctx.p.opt_str("digest");
    let mut s = find_subnet(w, &vnet, &id)
        .cloned()
        .ok_or_else(|| PveError::die(format!("sdn subnet '{id}' does not exist")))?;
    options(ctx, SUBNET_OPTIONS, &mut s.options);
    begin(ctx, w)?;
    ctx.p.finish()?;
    if let Some(slot) = w.sdn_subnets.iter_mut().find(|x| x.id == s.id) {
        *slot = s;
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/sdn/vnets/{vnet}/subnets/{subnet}`.
pub fn subnet_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let vnet = ctx.p.str("vnet");
    let id = ctx.p.str("subnet");
    begin(ctx, w)?;
    ctx.p.finish()?;
    let found = find_subnet(w, &vnet, &id)
        .map(|s| s.id.clone())
        .ok_or_else(|| PveError::die(format!("sdn subnet '{id}' does not exist")))?;
    w.sdn_subnets.retain(|s| s.id != found);
    Ok(Reply::data(Value::Null))
}

/// `POST /cluster/sdn/lock`: the token every change must carry until the lock is released.
pub fn lock(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let _allow_pending = ctx.p.opt_bool("allow-pending");
    ctx.p.finish()?;
    if w.sdn_lock.is_some() {
        return Err(PveError::die("could not acquire lock for SDN config - it is locked"));
    }
    let token = w.random_uuid();
    w.sdn_lock = Some(token.clone());
    Ok(Reply::data(json!(token)))
}

/// `DELETE /cluster/sdn/lock`: with the token, or `force`.
pub fn unlock(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let token = ctx.p.opt_str("lock-token");
    let force = ctx.p.opt_bool("force").unwrap_or(false);
    ctx.p.finish()?;
    match (&w.sdn_lock, token) {
        (None, _) => return Err(PveError::die("the SDN configuration is not locked")),
        (Some(held), Some(t)) if *held == t => {}
        _ if force => {}
        _ => return Err(PveError::die("invalid lock token")),
    }
    w.sdn_lock = None;
    Ok(Reply::data(Value::Null))
}

fn lock_matches(ctx: &mut Ctx, w: &World) -> PveResult<bool> {
    let token = ctx.p.opt_str("lock-token");
    let release = ctx.p.opt_bool("release-lock").unwrap_or(true);
    match (&w.sdn_lock, token) {
        (Some(held), Some(t)) if *held != t => Err(PveError::die("invalid lock token")),
        (Some(_), None) => {
            Err(PveError::die("SDN configuration is locked: a lock-token is required"))
        }
        _ => Ok(release),
    }
}

/// `PUT /cluster/sdn`: apply the pending configuration (a task), releasing the lock.
pub fn apply(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let release = lock_matches(ctx, w)?;
    ctx.p.finish()?;
    w.sdn_running = Some(edited(w));
    if release {
        w.sdn_lock = None;
    }
    let node = w.first_node();
    let user = super::common::user(ctx);
    let plan = Plan::new().log("reload network configuration on all nodes").sleep(500);
    let upid = w.spawn(&node, "reloadnetworkall", "", &user, plan);
    Ok(Reply::data(json!(upid.to_string())))
}

/// `POST /cluster/sdn/rollback`: throw the pending changes away.
pub fn rollback(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let release = lock_matches(ctx, w)?;
    ctx.p.finish()?;
    let r = running(w);
    w.sdn_zones = r.zones;
    w.sdn_vnets = r.vnets;
    w.sdn_subnets = r.subnets;
    if release {
        w.sdn_lock = None;
    }
    Ok(Reply::data(Value::Null))
}
