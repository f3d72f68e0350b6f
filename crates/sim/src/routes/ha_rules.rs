//! HA rules (`/cluster/ha/rules`, PVE 9: node affinity and resource affinity) and the older HA
//! groups (`/cluster/ha/groups`): made, read back, changed and deleted; the CRM places
//! services by them (`crate::ha::pick_node`).

use serde_json::{Value, json};

use super::ha::sha1_hex;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{HaGroup, HaRule, World};

const RULE_TYPES: &[&str] = &["node-affinity", "resource-affinity"];

fn rule_json(r: &HaRule) -> Value {
    let mut v = json!({"rule": r.rule, "type": r.rule_type, "resources": r.resources,
                       "digest": sha1_hex(&format!("{r:?}"))});
    if let Some(n) = &r.nodes {
        v["nodes"] = json!(n);
    }
    if let Some(a) = &r.affinity {
        v["affinity"] = json!(a);
    }
    if let Some(c) = &r.comment {
        v["comment"] = json!(c);
    }
    if r.strict {
        v["strict"] = json!(1);
    }
    if r.disable {
        v["disable"] = json!(1);
    }
    v
}

fn no_rule(id: &str) -> PveError {
    PveError::die(format!("no such ha rule '{id}'"))
}

/// Every named service must be an HA resource; every named node a cluster node.
fn check_rule(w: &World, r: &HaRule) -> PveResult<()> {
    for sid in r.resources.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !w.ha.contains_key(sid) {
            return Err(PveError::param(
                "resources",
                format!("resource '{sid}' is not HA managed"),
            ));
        }
    }
    if r.rule_type == "node-affinity" {
        let nodes = r.nodes.as_deref().unwrap_or("");
        if nodes.is_empty() {
            return Err(PveError::param("nodes", "property is missing and it is not optional"));
        }
        for (n, _) in crate::state::node_priorities(nodes) {
            if !w.nodes.contains_key(&n) {
                return Err(PveError::param("nodes", format!("no such cluster node '{n}'")));
            }
        }
    } else if r.affinity.is_none() {
        return Err(PveError::param("affinity", "property is missing and it is not optional"));
    }
    Ok(())
}

/// `GET /cluster/ha/rules`.
pub fn rules(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let resource = ctx.p.opt_str("resource");
    let kind = ctx.p.opt_enum("type", RULE_TYPES);
    ctx.p.finish()?;
    let out: Vec<Value> = w
        .ha_config
        .rules
        .iter()
        .filter(|r| kind.as_deref().is_none_or(|k| r.rule_type == k))
        .filter(|r| resource.as_deref().is_none_or(|s| r.resources.split(',').any(|x| x == s)))
        .map(rule_json)
        .collect();
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /cluster/ha/rules/{rule}`.
pub fn rule(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("rule");
    ctx.p.finish()?;
    let r = w.ha_config.rules.iter().find(|r| r.rule == id).ok_or_else(|| no_rule(&id))?;
    Ok(Reply::data(rule_json(r)))
}

fn read_rule(ctx: &mut Ctx, r: &mut HaRule) {
    if let Some(v) = ctx.p.opt_str("resources") {
        r.resources = v;
    }
    if let Some(v) = ctx.p.opt_str("nodes") {
        r.nodes = Some(v);
    }
    if let Some(v) = ctx.p.opt_enum("affinity", &["positive", "negative"]) {
        r.affinity = Some(v);
    }
    if let Some(v) = ctx.p.opt_str("comment") {
        r.comment = Some(v);
    }
    if let Some(v) = ctx.p.opt_bool("strict") {
        r.strict = v;
    }
    if let Some(v) = ctx.p.opt_bool("disable") {
        r.disable = v;
    }
}

/// `POST /cluster/ha/rules`.
pub fn rule_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("rule");
    let rule_type = ctx.p.opt_enum("type", RULE_TYPES).unwrap_or_default();
    let mut r = HaRule::new(id.clone(), rule_type);
    read_rule(ctx, &mut r);
    ctx.p.finish()?;
    if r.resources.is_empty() {
        return Err(PveError::param("resources", "property is missing and it is not optional"));
    }
    if w.ha_config.rules.iter().any(|x| x.rule == id) {
        return Err(PveError::die(format!("ha rule '{id}' already defined")));
    }
    check_rule(w, &r)?;
    w.ha_config.rules.push(r);
    crate::ha::wake(w);
    Ok(Reply::null())
}

/// `PUT /cluster/ha/rules/{rule}`.
pub fn rule_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("rule");
    let rule_type = ctx.p.opt_enum("type", RULE_TYPES);
    let delete = ctx.p.opt_str("delete");
    let digest = ctx.p.opt_str("digest");
    let i = w.ha_config.rules.iter().position(|r| r.rule == id);
    let mut r = i
        .map(|i| w.ha_config.rules[i].clone())
        .unwrap_or_else(|| HaRule::new(id.clone(), String::new()));
    read_rule(ctx, &mut r);
    ctx.p.finish()?;
    let i = i.ok_or_else(|| no_rule(&id))?;
    if digest.is_some_and(|d| d != sha1_hex(&format!("{:?}", w.ha_config.rules[i]))) {
        return Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    if rule_type.is_some_and(|t| t != r.rule_type) {
        return Err(PveError::param("type", "rule type cannot be changed"));
    }
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "comment" => r.comment = None,
            "strict" => r.strict = false,
            "disable" => r.disable = false,
            other => return Err(PveError::param("delete", format!("cannot delete '{other}'"))),
        }
    }
    check_rule(w, &r)?;
    w.ha_config.rules[i] = r;
    crate::ha::wake(w);
    Ok(Reply::null())
}

/// `DELETE /cluster/ha/rules/{rule}`.
pub fn rule_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("rule");
    ctx.p.finish()?;
    let before = w.ha_config.rules.len();
    w.ha_config.rules.retain(|r| r.rule != id);
    if w.ha_config.rules.len() == before {
        return Err(no_rule(&id));
    }
    Ok(Reply::null())
}

// ---- groups ----

fn group_json(g: &HaGroup) -> Value {
    let mut v = json!({"group": g.group, "type": "group", "nodes": g.nodes,
                       "digest": sha1_hex(&format!("{g:?}"))});
    if g.restricted {
        v["restricted"] = json!(1);
    }
    if g.nofailback {
        v["nofailback"] = json!(1);
    }
    if let Some(c) = &g.comment {
        v["comment"] = json!(c);
    }
    v
}

fn no_group(id: &str) -> PveError {
    PveError::die(format!("no such ha group '{id}'"))
}

fn read_group(ctx: &mut Ctx, g: &mut HaGroup) {
    if let Some(v) = ctx.p.opt_str("nodes") {
        g.nodes = v;
    }
    if let Some(v) = ctx.p.opt_bool("restricted") {
        g.restricted = v;
    }
    if let Some(v) = ctx.p.opt_bool("nofailback") {
        g.nofailback = v;
    }
    if let Some(v) = ctx.p.opt_str("comment") {
        g.comment = Some(v);
    }
}

fn check_group_nodes(w: &World, g: &HaGroup) -> PveResult<()> {
    if g.nodes.is_empty() {
        return Err(PveError::param("nodes", "property is missing and it is not optional"));
    }
    for (n, _) in crate::state::node_priorities(&g.nodes) {
        if !w.nodes.contains_key(&n) {
            return Err(PveError::param("nodes", format!("no such cluster node '{n}'")));
        }
    }
    Ok(())
}

/// `GET /cluster/ha/groups`.
pub fn groups(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(Value::Array(w.ha_config.groups.iter().map(group_json).collect())))
}

/// `GET /cluster/ha/groups/{group}`.
pub fn group(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("group");
    ctx.p.finish()?;
    let g = w.ha_config.groups.iter().find(|g| g.group == id).ok_or_else(|| no_group(&id))?;
    Ok(Reply::data(group_json(g)))
}

/// `POST /cluster/ha/groups`.
pub fn group_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("group");
    let _ = ctx.p.opt_enum("type", &["group"]);
    let mut g = HaGroup::new(id.clone());
    read_group(ctx, &mut g);
    ctx.p.finish()?;
    if w.ha_config.groups.iter().any(|x| x.group == id) {
        return Err(PveError::die(format!("ha group '{id}' already defined")));
    }
    check_group_nodes(w, &g)?;
    w.ha_config.groups.push(g);
    Ok(Reply::null())
}

/// `PUT /cluster/ha/groups/{group}`.
pub fn group_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("group");
    let delete = ctx.p.opt_str("delete");
    let _ = ctx.p.opt_str("digest");
    let i = w.ha_config.groups.iter().position(|g| g.group == id);
    let mut g =
        i.map(|i| w.ha_config.groups[i].clone()).unwrap_or_else(|| HaGroup::new(id.clone()));
    read_group(ctx, &mut g);
    ctx.p.finish()?;
    let i = i.ok_or_else(|| no_group(&id))?;
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "comment" => g.comment = None,
            "restricted" => g.restricted = false,
            "nofailback" => g.nofailback = false,
            other => return Err(PveError::param("delete", format!("cannot delete '{other}'"))),
        }
    }
    check_group_nodes(w, &g)?;
    w.ha_config.groups[i] = g;
    Ok(Reply::null())
}

/// `DELETE /cluster/ha/groups/{group}`: refused while a resource uses it.
pub fn group_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("group");
    ctx.p.finish()?;
    if !w.ha_config.groups.iter().any(|g| g.group == id) {
        return Err(no_group(&id));
    }
    if let Some(r) = w.ha.values().find(|r| r.group.as_deref() == Some(id.as_str())) {
        return Err(PveError::die(format!("ha group '{id}' is used by resource '{}'", r.sid)));
    }
    w.ha_config.groups.retain(|g| g.group != id);
    Ok(Reply::null())
}
