//! Authentication realms (`/access/domains`): `pam` and `pve` always exist and cannot be
//! deleted; LDAP, Active Directory and OpenID realms are created with the keys their type
//! requires, read back, changed and deleted, and users may then be made in them. (Nobody logs
//! in through them: the simulator checks no directory.)

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

/// Types a realm may be created with, and the keys each requires.
const TYPES: &[(&str, &[&str])] = &[
    ("ldap", &["server1", "base_dn", "user_attr"]),
    ("ad", &["server1", "domain"]),
    ("openid", &["issuer-url", "client-id"]),
];
const OPTIONS: &[&str] = &[
    "comment",
    "default",
    "server1",
    "server2",
    "port",
    "base_dn",
    "user_attr",
    "bind_dn",
    "domain",
    "mode",
    "verify",
    "case-sensitive",
    "filter",
    "group_dn",
    "group_filter",
    "group_name_attr",
    "sync-defaults-options",
    "sync_attributes",
    "user_classes",
    "group_classes",
    "issuer-url",
    "client-id",
    "autocreate",
    "username-claim",
    "scopes",
    "prompt",
    "acr-values",
    "tfa",
];
/// Accepted and never shown again.
const SECRETS: &[&str] = &["password", "client-key"];

const BUILT_IN: &[(&str, &str)] =
    &[("pam", "Linux PAM standard authentication"), ("pve", "Proxmox VE authentication server")];

/// Whether users may be made in `realm`.
pub fn exists(w: &World, realm: &str) -> bool {
    BUILT_IN.iter().any(|(r, _)| *r == realm) || w.access.realms.contains_key(realm)
}

fn view(realm: &str, o: &BTreeMap<String, String>) -> Value {
    let mut m = Map::new();
    m.insert("realm".into(), json!(realm));
    for (k, v) in o {
        m.insert(k.clone(), v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v)));
    }
    m.insert("digest".into(), json!(super::firewall::digest_of(o)));
    Value::Object(m)
}

/// `GET /access/domains`.
pub fn list(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut out: Vec<Value> =
        BUILT_IN.iter().map(|(r, c)| json!({"realm": r, "type": r, "comment": c})).collect();
    for (r, o) in &w.access.realms {
        let mut v = view(r, o);
        if let Some(m) = v.as_object_mut() {
            m.remove("digest");
        }
        out.push(v);
    }
    Ok(Reply::data(Value::Array(out)))
}

fn missing(realm: &str) -> PveError {
    PveError::die(format!("domain '{realm}' does not exist"))
}

/// `GET /access/domains/{realm}`.
pub fn get(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let realm = ctx.p.str("realm");
    ctx.p.finish()?;
    if let Some((r, c)) = BUILT_IN.iter().find(|(r, _)| *r == realm) {
        return Ok(Reply::data(json!({"realm": r, "type": r, "comment": c})));
    }
    let o = w.access.realms.get(&realm).ok_or_else(|| missing(&realm))?;
    Ok(Reply::data(view(&realm, o)))
}

fn options(ctx: &mut Ctx, o: &mut BTreeMap<String, String>) {
    for k in OPTIONS {
        if let Some(v) = ctx.p.opt_str(k) {
            o.insert((*k).to_string(), v);
        }
    }
    for k in SECRETS {
        let _ = ctx.p.opt_str(k);
    }
    if let Some(del) = ctx.p.opt_str("delete") {
        for k in del.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            o.remove(k);
        }
    }
}

/// `POST /access/domains`.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let realm = ctx.p.str("realm");
    let ty = ctx.p.str("type");
    let ok_id = realm.len() >= 2
        && realm.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && realm.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if !ok_id {
        ctx.p.invalid("realm", format!("value '{realm}' does not look like a valid realm\n"));
    }
    let mut o = BTreeMap::from([("type".to_string(), ty.clone())]);
    options(ctx, &mut o);
    match TYPES.iter().find(|(t, _)| *t == ty) {
        Some((_, need)) => {
            for k in *need {
                if !o.contains_key(*k) {
                    ctx.p.invalid(k, "property is missing and it is not optional\n");
                }
            }
        }
        None if ty == "pam" || ty == "pve" => {
            ctx.p.finish()?;
            return Err(PveError::die(format!("unable to create builtin type '{ty}'")));
        }
        None => {
            ctx.p.invalid("type", format!("value '{ty}' does not have a value in the enumeration 'ad, ldap, openid, pam, pve'\n"));
        }
    }
    ctx.p.finish()?;
    if exists(w, &realm) {
        return Err(PveError::die(format!("domain '{realm}' already exists")));
    }
    w.access.realms.insert(realm, o);
    Ok(Reply::data(Value::Null))
}

/// `PUT /access/domains/{realm}`.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let realm = ctx.p.str("realm");
    let digest = ctx.p.opt_str("digest");
    let mut o = w.access.realms.get(&realm).cloned().unwrap_or_default();
    options(ctx, &mut o);
    ctx.p.finish()?;
    let current = w.access.realms.get(&realm).ok_or_else(|| missing(&realm))?;
    if digest.is_some_and(|d| d != super::firewall::digest_of(current)) {
        return Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    w.access.realms.insert(realm, o);
    Ok(Reply::data(Value::Null))
}

/// `DELETE /access/domains/{realm}`: never `pam` or `pve`.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let realm = ctx.p.str("realm");
    ctx.p.finish()?;
    if BUILT_IN.iter().any(|(r, _)| *r == realm) {
        return Err(PveError::die(format!("can't delete builtin domain '{realm}'")));
    }
    w.access.realms.remove(&realm).ok_or_else(|| missing(&realm))?;
    Ok(Reply::data(Value::Null))
}
