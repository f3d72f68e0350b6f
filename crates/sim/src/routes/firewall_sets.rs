//! The cluster firewall's security groups (`/cluster/firewall/groups`, whose rules the rule
//! handlers of `firewall.rs` serve under `groups/{group}`) and IP sets
//! (`/cluster/firewall/ipset`, and each guest's own under `…/{vmid}/firewall/ipset`): created,
//! read back and deleted with PVE's errors.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::firewall::{Firewall, IpSet, digest_of};
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

fn check_name(ctx: &mut Ctx, key: &str, name: &str) {
    let ok = name.len() >= 2
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        ctx.p.invalid(key, format!("value '{name}' does not match the regex pattern\n"));
    }
}

/// `GET /cluster/firewall/groups`.
pub fn groups(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let list: Vec<Value> = w
        .firewall
        .iter()
        .filter_map(|(k, fw)| {
            let name = k.strip_prefix("group/")?;
            let mut m = Map::new();
            m.insert("group".into(), json!(name));
            m.insert("digest".into(), json!(digest_of(&fw.rules)));
            if let Some(c) = &fw.comment {
                m.insert("comment".into(), json!(c));
            }
            Some(Value::Object(m))
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `POST /cluster/firewall/groups`: create, or with `rename` rename.
pub fn group_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("group");
    check_name(ctx, "group", &name);
    let comment = ctx.p.opt_str("comment");
    let rename = ctx.p.opt_str("rename");
    let _digest = ctx.p.opt_str("digest");
    ctx.p.finish()?;
    let key = format!("group/{name}");
    if let Some(old) = rename {
        let fw = w
            .firewall
            .remove(&format!("group/{old}"))
            .ok_or_else(|| PveError::die(format!("no such security group '{old}'")))?;
        w.firewall.insert(key, Firewall { comment: comment.or(fw.comment.clone()), ..fw });
        return Ok(Reply::data(Value::Null));
    }
    if w.firewall.contains_key(&key) {
        return Err(PveError::die(format!("security group '{name}' already exists")));
    }
    w.firewall.insert(key, Firewall { comment, ..Firewall::default() });
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/firewall/groups/{group}`: only an empty group.
pub fn group_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("group");
    ctx.p.finish()?;
    let key = format!("group/{name}");
    let fw = w
        .firewall
        .get(&key)
        .ok_or_else(|| PveError::die(format!("no such security group '{name}'")))?;
    if !fw.rules.is_empty() {
        return Err(PveError::die("security group is not empty"));
    }
    w.firewall.remove(&key);
    Ok(Reply::data(Value::Null))
}

fn sets(w: &World, scope: &str) -> BTreeMap<String, IpSet> {
    w.firewall.get(scope).map(|f| f.ipsets.clone()).unwrap_or_default()
}

fn no_set(name: &str) -> PveError {
    PveError::die(format!("no such IPSet '{name}'"))
}

/// `GET /cluster/firewall/ipset` (or a guest's).
pub fn ipsets(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = sets(w, &scope);
    let d = digest_of(&all);
    let list = all
        .iter()
        .map(|(n, s)| {
            let mut m = Map::new();
            m.insert("name".into(), json!(n));
            m.insert("digest".into(), json!(d));
            if let Some(c) = &s.comment {
                m.insert("comment".into(), json!(c));
            }
            Value::Object(m)
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

/// `POST /cluster/firewall/ipset`.
pub fn ipset_create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    check_name(ctx, "name", &name);
    let comment = ctx.p.opt_str("comment");
    let rename = ctx.p.opt_str("rename");
    let _digest = ctx.p.opt_str("digest");
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = &mut w.firewall.entry(scope).or_default().ipsets;
    if let Some(old) = rename {
        let mut s = all.remove(&old).ok_or_else(|| no_set(&old))?;
        if comment.is_some() {
            s.comment = comment;
        }
        all.insert(name, s);
        return Ok(Reply::data(Value::Null));
    }
    if all.contains_key(&name) {
        return Err(PveError::die(format!("IPSet '{name}' already exists")));
    }
    all.insert(name, IpSet { comment, cidrs: BTreeMap::new() });
    Ok(Reply::data(Value::Null))
}

/// `GET /cluster/firewall/ipset/{name}`: its CIDRs.
pub fn ipset(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = sets(w, &scope);
    let s = all.get(&name).ok_or_else(|| no_set(&name))?;
    let d = digest_of(s);
    let list = s
        .cidrs
        .iter()
        .map(|(cidr, props)| {
            let mut m: Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), if k == "nomatch" { json!(v == "1") } else { json!(v) }))
                .collect();
            m.insert("cidr".into(), json!(cidr));
            m.insert("digest".into(), json!(d));
            Value::Object(m)
        })
        .collect();
    Ok(Reply::data(Value::Array(list)))
}

fn cidr_props(ctx: &mut Ctx) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Some(c) = ctx.p.opt_str("comment") {
        m.insert("comment".into(), c);
    }
    if let Some(n) = ctx.p.opt_bool("nomatch") {
        m.insert("nomatch".into(), if n { "1" } else { "0" }.into());
    }
    m
}

/// `POST /cluster/firewall/ipset/{name}`: add a CIDR.
pub fn cidr_add(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let cidr = ctx.p.str("cidr");
    let props = cidr_props(ctx);
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = &mut w.firewall.entry(scope).or_default().ipsets;
    let s = all.get_mut(&name).ok_or_else(|| no_set(&name))?;
    if s.cidrs.contains_key(&cidr) {
        return Err(PveError::die(format!("entry '{cidr}' already exists")));
    }
    s.cidrs.insert(cidr, props);
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/firewall/ipset/{name}`: only an empty set (unless `force`).
pub fn ipset_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let force = ctx.p.opt_bool("force").unwrap_or(false);
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = &mut w.firewall.entry(scope).or_default().ipsets;
    let s = all.get(&name).ok_or_else(|| no_set(&name))?;
    if !s.cidrs.is_empty() && !force {
        return Err(PveError::die("IPSet is not empty"));
    }
    all.remove(&name);
    Ok(Reply::data(Value::Null))
}

/// `GET /cluster/firewall/ipset/{name}/{cidr}`.
pub fn cidr(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let cidr = ctx.p.str("cidr");
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = sets(w, &scope);
    let s = all.get(&name).ok_or_else(|| no_set(&name))?;
    let props = s.cidrs.get(&cidr).ok_or_else(|| PveError::die("no such IP/Network"))?;
    let mut m: Map<String, Value> = props.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("cidr".into(), json!(cidr));
    m.insert("digest".into(), json!(digest_of(s)));
    Ok(Reply::data(Value::Object(m)))
}

/// `PUT /cluster/firewall/ipset/{name}/{cidr}`.
pub fn cidr_update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let cidr = ctx.p.str("cidr");
    let props = cidr_props(ctx);
    let _digest = ctx.p.opt_str("digest");
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = &mut w.firewall.entry(scope).or_default().ipsets;
    let s = all.get_mut(&name).ok_or_else(|| no_set(&name))?;
    let entry = s.cidrs.get_mut(&cidr).ok_or_else(|| PveError::die("no such IP/Network"))?;
    entry.extend(props);
    Ok(Reply::data(Value::Null))
}

/// `DELETE /cluster/firewall/ipset/{name}/{cidr}`.
pub fn cidr_delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let name = ctx.p.str("name");
    let cidr = ctx.p.str("cidr");
    let _digest = ctx.p.opt_str("digest");
    let (scope, _) = super::firewall::scope(ctx, w)?;
    ctx.p.finish()?;
    let all = &mut w.firewall.entry(scope).or_default().ipsets;
    let s = all.get_mut(&name).ok_or_else(|| no_set(&name))?;
    s.cidrs.remove(&cidr).ok_or_else(|| PveError::die("no such IP/Network"))?;
    Ok(Reply::data(Value::Null))
}
