//! The firewall (`/cluster/firewall`, `/nodes/{node}/firewall`, and each guest's
//! `/nodes/{node}/qemu|lxc/{vmid}/firewall`): rules by position (insert at `pos`, update with
//! `moveto`, delete, each with a digest), options, and aliases at cluster and guest level.
//! What is written reads back, with PVE's errors; nothing filters packets.

use std::collections::BTreeMap;

use proxctl_types::messages::GuestKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::routes::common;
use crate::state::World;

/// One scope's firewall: the cluster's, a node's or a guest's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Firewall {
    /// Rules in order; each as its properties (`type`, `action`, `proto`, `dport`, ...).
    #[serde(default)]
    pub rules: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Aliases by name: `cidr` and optional `comment`.
    #[serde(default)]
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// IP sets by name (cluster level): a comment and CIDRs with their properties.
    #[serde(default)]
    pub ipsets: BTreeMap<String, IpSet>,
    /// A security group's comment (scope `group/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IpSet {
    pub comment: Option<String>,
    /// By CIDR: `comment`, `nomatch`.
    pub cidrs: BTreeMap<String, BTreeMap<String, String>>,
}

/// The properties a rule may have.
const RULE_KEYS: &[&str] = &[
    "type",
    "action",
    "macro",
    "iface",
    "source",
    "dest",
    "proto",
    "dport",
    "sport",
    "log",
    "enable",
    "comment",
    "icmp-type",
];
/// Options a firewall may have, by scope.
const CLUSTER_OPTIONS: &[&str] =
    &["enable", "policy_in", "policy_out", "policy_forward", "ebtables", "log_ratelimit"];
const HOST_OPTIONS: &[&str] = &[
    "enable",
    "log_level_in",
    "log_level_out",
    "log_level_forward",
    "nftables",
    "nosmurfs",
    "tcpflags",
    "ndp",
    "smurf_log_level",
    "tcp_flags_log_level",
];
const VNET_OPTIONS: &[&str] = &["enable", "log_level_forward", "policy_forward"];
const GUEST_OPTIONS: &[&str] = &[
    "enable",
    "dhcp",
    "ipfilter",
    "log_level_in",
    "log_level_out",
    "macfilter",
    "ndp",
    "policy_in",
    "policy_out",
    "radv",
];

/// The scope a request addresses, checking the guest or node exists.
pub(super) fn scope(ctx: &mut Ctx, w: &World) -> PveResult<(String, &'static [&'static str])> {
    let t = ctx.template;
    if t.starts_with("/cluster/firewall/groups/{group}") {
        let g = ctx.p.str("group");
        let key = format!("group/{g}");
        if !w.firewall.contains_key(&key) {
            return Err(PveError::die(format!("no such security group '{g}'")));
        }
        return Ok((key, &[]));
    }
    if t.starts_with("/cluster/sdn/vnets/{vnet}/firewall") {
        // A vnet's firewall (PVE 9) filters forwarded traffic only.
        let v = ctx.p.str("vnet");
        if !w.sdn_vnets.iter().any(|x| x.vnet == v) {
            return Err(PveError::die(format!("sdn vnet '{v}' does not exist")));
        }
        return Ok((format!("vnet/{v}"), VNET_OPTIONS));
    }
    if t.starts_with("/cluster/") {
        return Ok(("cluster".into(), CLUSTER_OPTIONS));
    }
    let node = common::node(ctx, w)?;
    if t.contains("/qemu/") || t.contains("/lxc/") {
        let kind = if t.contains("/qemu/") { GuestKind::Qemu } else { GuestKind::Lxc };
        let vmid = common::vmid(ctx)?;
        common::guest(w, &node, vmid, kind)?;
        return Ok((format!("guest/{vmid}"), GUEST_OPTIONS));
    }
    Ok((format!("node/{node}"), HOST_OPTIONS))
}

pub(super) fn digest_of(v: &impl Serialize) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))[..40].to_string()
}

fn rule_view(pos: usize, r: &BTreeMap<String, String>, digest: &str) -> Value {
    let mut m = Map::new();
    m.insert("pos".into(), json!(pos));
    m.insert("digest".into(), json!(digest));
    for (k, v) in r {
        let val = match (k.as_str(), v.parse::<u64>()) {
            ("enable", Ok(n)) => json!(n),
            _ => json!(v),
        };
        m.insert(k.clone(), val);
    }
    m.entry("enable").or_insert(json!(0));
    m.entry("ipversion").or_insert(json!(4));
    Value::Object(m)
}

/// A digest given must match the current one (someone else changed the rules meanwhile).
fn check_digest(ctx: &mut Ctx, current: &str) -> PveResult<()> {
    match ctx.p.opt_str("digest") {
        Some(d) if d != current => Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        )),
        _ => Ok(()),
    }
}

fn rule_fields(ctx: &mut Ctx, r: &mut BTreeMap<String, String>) {
    for k in RULE_KEYS {
        if let Some(v) = ctx.p.opt_str(k) {
            r.insert((*k).to_string(), v);
        }
    }
    if let Some(del) = ctx.p.opt_str("delete") {
        for k in del.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            r.remove(k);
        }
    }
    if let Some(t) = r.get("type").cloned()
        && !["in", "out", "forward", "group"].contains(&t.as_str())
    {
        ctx.p.invalid(
            "type",
            format!(
                "value '{t}' does not have a value in the enumeration 'in, out, forward, group'\n"
            ),
        );
    }
    if let Some(a) = r.get("action").cloned()
        && !(["ACCEPT", "DROP", "REJECT"].contains(&a.as_str())
            || r.get("type").is_some_and(|t| t == "group"))
    {
        ctx.p.invalid("action", format!("value '{a}' does not match the regex pattern\n"));
    }
}

/// `GET …/firewall/rules`.
pub fn rules(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    ctx.p.finish()?;
    let fw = w.firewall.get(&s).cloned().unwrap_or_default();
    let d = digest_of(&fw.rules);
    Ok(Reply::data(Value::Array(
        fw.rules.iter().enumerate().map(|(i, r)| rule_view(i, r, &d)).collect(),
    )))
}

fn pos_param(ctx: &mut Ctx, key: &str) -> Option<usize> {
    let raw = ctx.p.opt_str(key)?;
    match raw.parse() {
        Ok(p) => Some(p),
        Err(_) => {
            ctx.p.invalid(key, "type check ('integer') failed - got '".to_string() + &raw + "'\n");
            None
        }
    }
}

/// `POST …/firewall/rules`: insert at `pos` (default the top).
pub fn rule_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let pos = pos_param(ctx, "pos");
    let mut r = BTreeMap::new();
    rule_fields(ctx, &mut r);
    if !r.contains_key("type") {
        ctx.p.invalid("type", "property is missing and it is not optional\n");
    }
    if !r.contains_key("action") {
        ctx.p.invalid("action", "property is missing and it is not optional\n");
    }
    if s.starts_with("vnet/") && r.get("type").is_some_and(|t| t != "forward") {
        ctx.p.invalid("type", "a vnet's firewall only has 'forward' rules\n");
    }
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.rules);
    check_digest(ctx, &current)?;
    ctx.p.finish()?;
    let at = pos.unwrap_or(0).min(fw.rules.len());
    fw.rules.insert(at, r);
    Ok(Reply::data(Value::Null))
}

fn no_rule(pos: usize) -> PveError {
    PveError::die(format!("no rule at position {pos}"))
}

/// `GET …/firewall/rules/{pos}`.
pub fn rule(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let pos = pos_param(ctx, "pos").unwrap_or(usize::MAX);
    ctx.p.finish()?;
    let fw = w.firewall.get(&s).cloned().unwrap_or_default();
    let r = fw.rules.get(pos).ok_or_else(|| no_rule(pos))?;
    Ok(Reply::data(rule_view(pos, r, &digest_of(&fw.rules))))
}

/// `PUT …/firewall/rules/{pos}`: change it, or move it with `moveto`.
pub fn rule_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let pos = pos_param(ctx, "pos").unwrap_or(usize::MAX);
    let moveto = pos_param(ctx, "moveto");
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.rules);
    check_digest(ctx, &current)?;
    let mut r = fw.rules.get(pos).cloned().ok_or_else(|| no_rule(pos))?;
    rule_fields(ctx, &mut r);
    ctx.p.finish()?;
    match moveto {
        Some(to) => {
            let moved = fw.rules.remove(pos);
            let to = if to > pos { to - 1 } else { to }.min(fw.rules.len());
            fw.rules.insert(to, moved);
        }
        None => fw.rules[pos] = r,
    }
    Ok(Reply::data(Value::Null))
}

/// `DELETE …/firewall/rules/{pos}`.
pub fn rule_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let pos = pos_param(ctx, "pos").unwrap_or(usize::MAX);
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.rules);
    check_digest(ctx, &current)?;
    ctx.p.finish()?;
    if pos >= fw.rules.len() {
        return Err(no_rule(pos));
    }
    fw.rules.remove(pos);
    Ok(Reply::data(Value::Null))
}

/// `GET …/firewall/options`.
pub fn options(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    ctx.p.finish()?;
    let fw = w.firewall.get(&s).cloned().unwrap_or_default();
    let mut m: Map<String, Value> = fw
        .options
        .iter()
        .map(|(k, v)| (k.clone(), v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v))))
        .collect();
    m.insert("digest".into(), json!(digest_of(&fw.options)));
    Ok(Reply::data(Value::Object(m)))
}

/// `PUT …/firewall/options`.
pub fn options_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, allowed) = scope(ctx, w)?;
    let mut set = BTreeMap::new();
    for k in allowed {
        if let Some(v) = ctx.p.opt_str(k) {
            set.insert((*k).to_string(), v);
        }
    }
    let delete = ctx.p.opt_str("delete");
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.options);
    check_digest(ctx, &current)?;
    ctx.p.finish()?;
    fw.options.extend(set);
    for k in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        fw.options.remove(k);
    }
    Ok(Reply::data(Value::Null))
}

fn alias_view(name: &str, a: &BTreeMap<String, String>, digest: &str) -> Value {
    let mut m: Map<String, Value> = a.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("name".into(), json!(name));
    m.insert("digest".into(), json!(digest));
    m.entry("ipversion").or_insert(json!(4));
    Value::Object(m)
}

/// `GET …/firewall/aliases`.
pub fn aliases(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    ctx.p.finish()?;
    let fw = w.firewall.get(&s).cloned().unwrap_or_default();
    let d = digest_of(&fw.aliases);
    Ok(Reply::data(Value::Array(fw.aliases.iter().map(|(n, a)| alias_view(n, a, &d)).collect())))
}

fn alias_fields(ctx: &mut Ctx) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    for k in ["cidr", "comment"] {
        if let Some(v) = ctx.p.opt_str(k) {
            a.insert(k.to_string(), v);
        }
    }
    a
}

fn no_alias(name: &str) -> PveError {
    PveError::die(format!("no such alias '{name}'"))
}

/// `POST …/firewall/aliases`.
pub fn alias_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let name = ctx.p.str("name");
    let a = alias_fields(ctx);
    if !a.contains_key("cidr") {
        ctx.p.invalid("cidr", "property is missing and it is not optional\n");
    }
    ctx.p.finish()?;
    let fw = w.firewall.entry(s).or_default();
    if fw.aliases.contains_key(&name.to_lowercase()) {
        return Err(PveError::die(format!("alias '{name}' already exists")));
    }
    fw.aliases.insert(name.to_lowercase(), a);
    Ok(Reply::data(Value::Null))
}

/// `GET …/firewall/aliases/{name}`.
pub fn alias(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let name = ctx.p.str("name").to_lowercase();
    ctx.p.finish()?;
    let fw = w.firewall.get(&s).cloned().unwrap_or_default();
    let a = fw.aliases.get(&name).ok_or_else(|| no_alias(&name))?;
    Ok(Reply::data(alias_view(&name, a, &digest_of(&fw.aliases))))
}

/// `PUT …/firewall/aliases/{name}`.
pub fn alias_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let name = ctx.p.str("name").to_lowercase();
    let a = alias_fields(ctx);
    let rename = ctx.p.opt_str("rename");
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.aliases);
    check_digest(ctx, &current)?;
    ctx.p.finish()?;
    let mut old = fw.aliases.remove(&name).ok_or_else(|| no_alias(&name))?;
    old.extend(a);
    fw.aliases.insert(rename.map(|r| r.to_lowercase()).unwrap_or(name), old);
    Ok(Reply::data(Value::Null))
}

/// `DELETE …/firewall/aliases/{name}`.
pub fn alias_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (s, _) = scope(ctx, w)?;
    let name = ctx.p.str("name").to_lowercase();
    let fw = w.firewall.entry(s).or_default();
    let current = digest_of(&fw.aliases);
    check_digest(ctx, &current)?;
    ctx.p.finish()?;
    fw.aliases.remove(&name).ok_or_else(|| no_alias(&name))?;
    Ok(Reply::data(Value::Null))
}
