//! The datacenter's storage configuration (`/storage`, PVE's `storage.cfg`): storages created,
//! read back, changed and deleted with PVE's errors. A new storage appears in every node's
//! storage list and in `/cluster/resources` (only on its `nodes`, and inactive while
//! `disable`d); deleting one removes its configuration and leaves its volumes, as PVE does.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;
use crate::state::{GIB, StorageDef};

/// Storage types, the keys each requires, and the content it holds by default.
const TYPES: &[(&str, &[&str], &[&str])] = &[
    ("dir", &["path"], &["images", "rootdir", "iso", "vztmpl", "backup", "snippets", "import"]),
    ("nfs", &["server", "export"], &["images", "rootdir", "iso", "vztmpl", "backup", "import"]),
    ("cifs", &["server", "share"], &["images", "rootdir", "iso", "vztmpl", "backup", "import"]),
    ("cephfs", &[], &["vztmpl", "iso", "backup", "snippets"]),
    ("btrfs", &["path"], &["images", "rootdir"]),
    ("lvm", &["vgname"], &["images", "rootdir"]),
    ("lvmthin", &["vgname", "thinpool"], &["images", "rootdir"]),
    ("zfspool", &["pool"], &["images", "rootdir"]),
    ("rbd", &["pool"], &["images", "rootdir"]),
    ("iscsi", &["portal", "target"], &["images"]),
    ("pbs", &["server", "datastore"], &["backup"]),
    ("esxi", &["server", "username"], &["import"]),
];

/// Options a storage may carry besides `type`, `content`, `path` and `shared`.
const OPTIONS: &[&str] = &[
    "server",
    "export",
    "share",
    "vgname",
    "thinpool",
    "pool",
    "portal",
    "target",
    "datastore",
    "username",
    "nodes",
    "disable",
    "prune-backups",
    "max-protected-backups",
    "mkdir",
    "create-base-path",
    "create-subdirs",
    "is_mountpoint",
    "options",
    "sparse",
    "krbd",
    "monhost",
    "fingerprint",
    "namespace",
    "domain",
    "subdir",
    "preallocation",
    "format",
    "saferemove",
    "bwlimit",
    "comment",
];
const SECRETS: &[&str] = &["password", "encryption-key", "keyring"];

fn view(d: &StorageDef) -> Value {
    let mut m = Map::new();
    m.insert("storage".into(), json!(d.id));
    m.insert("type".into(), json!(d.storage_type));
    m.insert("content".into(), json!(d.content.join(",")));
    if d.shared {
        m.insert("shared".into(), json!(1));
    }
    if let Some(p) = &d.path {
        m.insert("path".into(), json!(p));
    }
    for (k, v) in &d.options {
        m.insert(k.clone(), v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v)));
    }
    m.insert("digest".into(), json!(super::firewall::digest_of(&m)));
    Value::Object(m)
}

fn missing(id: &str) -> PveError {
    PveError::die(format!("storage '{id}' does not exist"))
}

/// `GET /storage`.
pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let only = ctx.p.opt_str("type");
    ctx.p.finish()?;
    let out = w
        .storages
        .values()
        .filter(|d| only.as_ref().is_none_or(|t| *t == d.storage_type))
        .map(view)
        .collect();
    Ok(Reply::data(Value::Array(out)))
}

/// `GET /storage/{storage}`.
pub fn get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("storage");
    ctx.p.finish()?;
    Ok(Reply::data(view(w.storages.get(&id).ok_or_else(|| missing(&id))?)))
}

/// The settings `POST` and `PUT` share.
fn settings(ctx: &mut Ctx, d: &mut StorageDef) {
    if let Some(c) = ctx.p.opt_str("content") {
        d.content = c.split([',', ';', ' ']).filter(|c| !c.is_empty()).map(String::from).collect();
    }
    if let Some(s) = ctx.p.opt_bool("shared") {
        d.shared = s;
    }
    if let Some(p) = ctx.p.opt_str("path") {
        d.path = Some(p);
    }
    for k in OPTIONS {
        if let Some(v) = ctx.p.opt_str(k) {
            d.options.insert((*k).to_string(), v);
        }
    }
    // Secrets are accepted and never shown again, as PVE keeps them outside storage.cfg.
    for k in SECRETS {
        let _ = ctx.p.opt_str(k);
    }
}

fn valid_id(id: &str) -> bool {
    id.len() >= 2
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id.chars().last().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// `POST /storage`.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("storage");
    let ty = ctx.p.str("type");
    if !valid_id(&id) {
        ctx.p.invalid(
            "storage",
            format!("invalid format - storage ID '{id}' contains illegal characters\n"),
        );
    }
    let known = TYPES.iter().find(|(t, _, _)| *t == ty);
    if known.is_none() {
        let all: Vec<&str> = TYPES.iter().map(|(t, _, _)| *t).collect();
        ctx.p.invalid(
            "type",
            format!("value '{ty}' does not have a value in the enumeration '{}'\n", all.join(", ")),
        );
    }
    let mut d = StorageDef {
        id: id.clone(),
        storage_type: ty.clone(),
        content: known
            .map(|(_, _, c)| c.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        shared: matches!(ty.as_str(), "nfs" | "cifs" | "cephfs" | "rbd" | "iscsi" | "pbs"),
        total: 1024 * GIB,
        path: None,
        alloc_ms: 50,
        options: BTreeMap::new(),
    };
    settings(ctx, &mut d);
    for need in known.map(|(_, n, _)| *n).unwrap_or_default() {
        let has = if *need == "path" { d.path.is_some() } else { d.options.contains_key(*need) };
        if !has {
            ctx.p.invalid(need, "property is missing and it is not optional\n");
        }
    }
    ctx.p.finish()?;
    if w.storages.contains_key(&id) {
        return Err(PveError::die(format!("storage ID '{id}' already defined")));
    }
    if d.path.is_none() && matches!(ty.as_str(), "nfs" | "cifs" | "cephfs") {
        d.path = Some(format!("/mnt/pve/{id}"));
    }
    w.storages.insert(id.clone(), d);
    Ok(Reply::data(json!({"storage": id, "type": ty})))
}

/// `PUT /storage/{storage}`: `type` and the keys that locate it cannot change.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("storage");
    let mut d = w.storages.get(&id).cloned().ok_or_else(|| missing(&id))?;
    for fixed in ["type", "server", "export", "vgname", "thinpool", "pool", "datastore"] {
        if ctx.p.opt_str(fixed).is_some() {
            ctx.p.invalid(fixed, "can't change value of fixed parameter\n");
        }
    }
    let digest = ctx.p.opt_str("digest");
    let delete = ctx.p.opt_str("delete");
    settings(ctx, &mut d);
    ctx.p.finish()?;
    if let Some(dg) = digest
        && view(&w.storages[&id])["digest"] != json!(dg)
    {
        return Err(PveError::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    for k in delete.iter().flat_map(|s| s.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        d.options.remove(k);
        if k == "shared" {
            d.shared = false;
        }
    }
    let ty = d.storage_type.clone();
    w.storages.insert(id.clone(), d);
    Ok(Reply::data(json!({"storage": id, "type": ty})))
}

/// `DELETE /storage/{storage}`: the configuration goes; volumes stay where they are.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("storage");
    ctx.p.finish()?;
    w.storages.remove(&id).ok_or_else(|| missing(&id))?;
    Ok(Reply::data(Value::Null))
}
