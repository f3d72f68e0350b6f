//! Resource pools (`/pools`): made, listed, given guests and storages, emptied and deleted,
//! with PVE's errors; a guest created or cloned with `pool` joins it, a destroyed one leaves
//! it, and `/cluster/resources` shows each member's pool.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

/// One pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub vms: BTreeSet<u32>,
    #[serde(default)]
    pub storage: BTreeSet<String>,
}

fn missing(id: &str) -> PveError {
    PveError::die(format!("pool '{id}' does not exist"))
}

/// PVE's pool ids: letters, digits, `-` and `_` (and `/` for nested pools).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// The members as `GET /pools/{id}` lists them, of one `type` if asked.
fn members(w: &World, p: &Pool, only: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for vmid in &p.vms {
        let Some(g) = w.guests.get(vmid) else { continue };
        let kind = g.kind.as_str();
        if only.is_some_and(|t| t != kind) {
            continue;
        }
        let mut m = Map::new();
        m.insert("id".into(), json!(format!("{kind}/{vmid}")));
        m.insert("node".into(), json!(g.node));
        m.insert("type".into(), json!(kind));
        m.insert("vmid".into(), json!(vmid));
        m.insert("status".into(), json!(if g.is_running() { "running" } else { "stopped" }));
        if let Some(n) = g.name() {
            m.insert("name".into(), json!(n));
        }
        out.push(Value::Object(m));
    }
    if only.is_none_or(|t| t == "storage") {
        for s in &p.storage {
            for n in w.nodes.keys() {
                out.push(json!({"id": format!("storage/{n}/{s}"), "node": n, "type": "storage", "storage": s}));
            }
        }
    }
    out
}

fn view(w: &World, id: &str, p: &Pool, only: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("poolid".into(), json!(id));
    if let Some(c) = &p.comment {
        m.insert("comment".into(), json!(c));
    }
    m.insert("members".into(), Value::Array(members(w, p, only)));
    Value::Object(m)
}

const TYPES: &[&str] = &["qemu", "lxc", "storage"];

/// `GET /pools`, optionally one pool.
pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let want = ctx.p.opt_str("poolid");
    let only = ctx.p.opt_enum("type", TYPES);
    ctx.p.finish()?;
    if let Some(id) = &want
        && !w.pools.contains_key(id)
    {
        return Err(missing(id));
    }
    let rows: Vec<Value> = w
        .pools
        .iter()
        .filter(|(id, _)| want.as_ref().is_none_or(|w| w == *id))
        .map(|(id, p)| view(w, id, p, only.as_deref()))
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

/// `GET /pools/{poolid}` (deprecated in PVE 8, still served).
pub fn get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("poolid");
    let only = ctx.p.opt_enum("type", TYPES);
    ctx.p.finish()?;
    let p = w.pools.get(&id).ok_or_else(|| missing(&id))?;
    let mut v = view(w, &id, p, only.as_deref());
    if let Value::Object(m) = &mut v {
        m.remove("poolid");
    }
    Ok(Reply::data(v))
}

/// `POST /pools`.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("poolid");
    let comment = ctx.p.opt_str("comment");
    if !valid_id(&id) {
        ctx.p.invalid("poolid", format!("invalid pool ID '{id}'\n"));
    }
    ctx.p.finish()?;
    if w.pools.contains_key(&id) {
        return Err(PveError::die(format!("pool '{id}' already exists")));
    }
    w.pools.insert(id, Pool { comment, ..Pool::default() });
    Ok(Reply::null())
}

/// `PUT /pools` and `PUT /pools/{poolid}`: the comment, and guests or storages added (or,
/// with `delete`, removed). A guest in another pool moves only with `allow-move`.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("poolid");
    let comment = ctx.p.opt_str("comment");
    let vms = ctx.p.opt_str("vms");
    let storage = ctx.p.opt_str("storage");
    let delete = ctx.p.opt_bool("delete").unwrap_or(false);
    let allow_move = ctx.p.opt_bool("allow-move").unwrap_or(false);
    ctx.p.finish()?;
    if !w.pools.contains_key(&id) {
        return Err(missing(&id));
    }
    let list = |s: &Option<String>| -> Vec<String> {
        s.iter()
            .flat_map(|v| v.split([',', ' ', ';']))
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    };
    let mut vmids = Vec::new();
    for v in list(&vms) {
        let n: u32 =
            v.parse().map_err(|_| PveError::param("vms", format!("invalid VM ID '{v}'")))?;
        if !delete && !w.guests.contains_key(&n) {
            return Err(PveError::die(format!("VM {n} does not exist")));
        }
        if !delete {
            let elsewhere = w.pools.iter().find(|(pid, p)| **pid != id && p.vms.contains(&n));
            if let Some((other, _)) = elsewhere {
                if !allow_move {
                    return Err(PveError::die(format!("VM {n} is already a pool member")));
                }
                let other = other.clone();
                if let Some(p) = w.pools.get_mut(&other) {
                    p.vms.remove(&n);
                }
            }
        }
        vmids.push(n);
    }
    let storages = list(&storage);
    for s in &storages {
        if !delete && !w.storages.contains_key(s) {
            return Err(PveError::die(format!("storage '{s}' does not exist")));
        }
    }
    let p = w.pools.get_mut(&id).ok_or_else(|| missing(&id))?;
    if let Some(c) = comment {
        p.comment = Some(c);
    }
    for n in vmids {
        if delete {
            p.vms.remove(&n);
        } else {
            p.vms.insert(n);
        }
    }
    for s in storages {
        if delete {
            p.storage.remove(&s);
        } else {
            p.storage.insert(s);
        }
    }
    Ok(Reply::null())
}

/// `DELETE /pools` and `DELETE /pools/{poolid}`: only an empty pool.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("poolid");
    ctx.p.finish()?;
    let p = w.pools.get(&id).ok_or_else(|| missing(&id))?;
    let live = p.vms.iter().any(|v| w.guests.contains_key(v));
    if live || !p.storage.is_empty() {
        return Err(PveError::die(format!("pool '{id}' is not empty")));
    }
    w.pools.remove(&id);
    Ok(Reply::null())
}

/// A create or clone naming `pool`: the pool must exist (checked before anything is made).
pub fn check_pool(w: &World, pool: Option<&str>) -> PveResult<()> {
    match pool {
        Some(p) if !w.pools.contains_key(p) => Err(missing(p)),
        _ => Ok(()),
    }
}

impl World {
    /// Put a new guest in `pool` (a create or clone that named one).
    pub fn pool_join(&mut self, pool: Option<&str>, vmid: u32) {
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.vms.insert(vmid);
        }
    }

    /// A destroyed guest leaves its pool.
    pub fn pool_forget(&mut self, vmid: u32) {
        for p in self.pools.values_mut() {
            p.vms.remove(&vmid);
        }
    }

    /// The pool a guest is in.
    pub fn pool_of(&self, vmid: u32) -> Option<&str> {
        self.pools.iter().find(|(_, p)| p.vms.contains(&vmid)).map(|(id, _)| id.as_str())
    }
}
