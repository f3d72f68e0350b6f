//! Datacenter backup jobs (`/cluster/backup`, PVE's `jobs.cfg` vzdump entries) and the
//! guests none of them covers (`/cluster/backup-info/not-backed-up`), which monitoring reads
//! (prometheus-pve-exporter's `pve_not_backed_up_*`) and proxctl's backup coverage counts.
//! The jobs are stored, not run: a simulated clock has no calendar daemon.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

/// Settings PVE returns as 0/1.
const BOOLEANS: &[&str] =
    &["all", "enabled", "protected", "quiet", "remove", "repeat-missed", "stdexcludes", "stop"];
/// Settings PVE returns as numbers, with their lower bound.
const INTEGERS: &[(&str, i64)] = &[
    ("bwlimit", 0),
    ("ionice", 0),
    ("lockwait", 0),
    ("maxfiles", 1),
    ("pigz", i64::MIN),
    ("stopwait", 0),
    ("zstd", i64::MIN),
];
/// Property strings PVE returns parsed, as objects.
const OBJECTS: &[&str] = &["fleecing", "performance", "prune-backups"];
/// The rest: strings kept as given.
const STRINGS: &[&str] = &[
    "comment",
    "compress",
    "dow",
    "dumpdir",
    "exclude",
    "exclude-path",
    "mailnotification",
    "mailto",
    "mode",
    "node",
    "notes-template",
    "notification-mode",
    "pbs-change-detection-mode",
    "pool",
    "schedule",
    "script",
    "starttime",
    "storage",
    "tmpdir",
    "vmid",
];

/// A VMID list (`100,101` or `100 101`), or why it is not one.
fn vmid_list(s: &str) -> Result<BTreeSet<u32>, String> {
    s.split([',', ' ', ';'])
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .ok()
                .filter(|n| (100..=999_999_999).contains(n))
                .ok_or_else(|| format!("value '{t}' does not look like a valid VM ID\n"))
        })
        .collect()
}

/// Read every job setting in `ctx` into `into`, checking types as PVE's schema does.
fn take_settings(ctx: &mut Ctx, into: &mut BTreeMap<String, String>) {
    for k in BOOLEANS {
        if let Some(b) = ctx.p.opt_bool(k) {
            into.insert(k.to_string(), if b { "1" } else { "0" }.into());
        }
    }
    for (k, min) in INTEGERS {
        if let Some(n) = ctx.p.opt_int(k, Some(*min), None) {
            into.insert(k.to_string(), n.to_string());
        }
    }
    for k in OBJECTS.iter().chain(STRINGS) {
        if let Some(v) = ctx.p.opt_str(k) {
            into.insert(k.to_string(), v);
        }
    }
    for k in ["vmid", "exclude"] {
        if let Some(v) = into.get(k)
            && let Err(e) = vmid_list(v)
        {
            ctx.p.invalid(k, e);
        }
    }
}

/// What PVE's `verify_vzdump_parameters` refuses: no selection, or two at once.
fn check_selection(job: &BTreeMap<String, String>) -> PveResult<()> {
    let all = job.get("all").is_some_and(|v| v == "1");
    if all && job.contains_key("vmid") {
        return Err(PveError::param("all", "option conflicts with option 'vmid'"));
    }
    if !all && !job.contains_key("vmid") && !job.contains_key("pool") {
        return Err(PveError::param("vmid", "property is missing and it is not optional"));
    }
    if !job.contains_key("schedule") && !job.contains_key("starttime") {
        return Err(PveError::param("schedule", "property is missing and it is not optional"));
    }
    Ok(())
}

/// `k=v,k=v` as an object, numbers as numbers.
fn property_object(s: &str) -> Value {
    let mut m = Map::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or(("enabled", part));
        let v = v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(v));
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// A job as `GET /cluster/backup` shows it.
fn view(id: &str, job: &BTreeMap<String, String>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("type".into(), json!("vzdump"));
    m.insert("enabled".into(), json!(1));
    for (k, v) in job {
        let value = if BOOLEANS.contains(&k.as_str()) || INTEGERS.iter().any(|(n, _)| n == k) {
            v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v))
        } else if OBJECTS.contains(&k.as_str()) {
            property_object(v)
        } else {
            json!(v)
        };
        m.insert(k.clone(), value);
    }
    Value::Object(m)
}

fn job_id(ctx: &mut Ctx) -> String {
    ctx.p.str("id")
}

fn missing(id: &str) -> PveError {
    PveError::die(format!("Job '{id}' does not exist"))
}

/// `GET /cluster/backup`.
pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let jobs: Vec<Value> = w.backup_jobs.iter().map(|(id, j)| view(id, j)).collect();
    Ok(Reply::data(Value::Array(jobs)))
}

/// `POST /cluster/backup`: ids are PVE's `backup-<hex>-<hex>` unless given.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let given = ctx.p.opt_str("id");
    let mut job = BTreeMap::new();
    take_settings(ctx, &mut job);
    if let Some(id) = &given {
        let ok = id.starts_with(|c: char| c.is_ascii_alphabetic())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            ctx.p.invalid("id", format!("invalid configuration ID '{id}'\n"));
        }
    }
    ctx.p.finish()?;
    check_selection(&job)?;
    let id = match given {
        Some(id) => id,
        None => format!("backup-{}-{}", w.random_hex(4), w.random_hex(2)),
    };
    if w.backup_jobs.contains_key(&id) {
        return Err(PveError::die(format!("Job '{id}' already exists")));
    }
    w.backup_jobs.insert(id, job);
    Ok(Reply::null())
}

/// `GET /cluster/backup/{id}`.
pub fn get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = job_id(ctx);
    ctx.p.finish()?;
    let job = w.backup_jobs.get(&id).ok_or_else(|| missing(&id))?;
    Ok(Reply::data(view(&id, job)))
}

/// `PUT /cluster/backup/{id}`: settings given replace, `delete` removes.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = job_id(ctx);
    let delete = ctx.p.opt_str("delete");
    let mut changes = BTreeMap::new();
    take_settings(ctx, &mut changes);
    ctx.p.finish()?;
    let job = w.backup_jobs.get(&id).ok_or_else(|| missing(&id))?;
    let mut next = job.clone();
    for k in delete.iter().flat_map(|d| d.split([',', ' ', ';'])).filter(|k| !k.is_empty()) {
        next.remove(k);
    }
    // Choosing one selection drops the others, as PVE's update does.
    if changes.get("all").is_some_and(|v| v == "1") {
        next.remove("vmid");
        next.remove("pool");
    } else if changes.contains_key("vmid") || changes.contains_key("pool") {
        next.remove("all");
    }
    next.extend(changes);
    check_selection(&next)?;
    w.backup_jobs.insert(id, next);
    Ok(Reply::null())
}

/// `DELETE /cluster/backup/{id}`.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = job_id(ctx);
    ctx.p.finish()?;
    w.backup_jobs.remove(&id).ok_or_else(|| missing(&id))?;
    Ok(Reply::null())
}

/// `GET /cluster/backup-info`.
pub fn info_index(ctx: &mut Ctx, _w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(json!([{ "subdir": "not-backed-up" }])))
}

/// The VMIDs a job backs up: its list, or every guest (on its node, if it names one) but
/// those it excludes. Pools are not simulated, so a pool job covers nothing.
fn covered(w: &World, job: &BTreeMap<String, String>) -> BTreeSet<u32> {
    let listed = |k: &str| job.get(k).and_then(|v| vmid_list(v).ok()).unwrap_or_default();
    if job.get("all").is_some_and(|v| v == "1") {
        let excluded = listed("exclude");
        w.guests
            .values()
            .filter(|g| job.get("node").is_none_or(|n| *n == g.node))
            .map(|g| g.vmid)
            .filter(|v| !excluded.contains(v))
            .collect()
    } else {
        listed("vmid")
    }
}

/// `GET /cluster/backup-info/not-backed-up`: guests no job covers, enabled or not (PVE asks
/// which guests a job would include, not whether it runs); templates count.
pub fn not_backed_up(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    let mut covered_all = BTreeSet::new();
    for job in w.backup_jobs.values() {
        covered_all.extend(covered(w, job));
    }
    let rows: Vec<Value> = w
        .guests
        .values()
        .filter(|g| !covered_all.contains(&g.vmid))
        .map(|g| {
            let mut m = Map::new();
            m.insert("vmid".into(), json!(g.vmid));
            m.insert("type".into(), json!(g.kind.as_str()));
            if let Some(n) = g.name() {
                m.insert("name".into(), json!(n));
            }
            Value::Object(m)
        })
        .collect();
    Ok(Reply::data(Value::Array(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid_lists_take_commas_and_spaces_and_refuse_junk() {
        assert_eq!(vmid_list("100,101 102").ok(), Some(BTreeSet::from([100, 101, 102])));
        assert!(vmid_list("100,abc").is_err());
        assert!(vmid_list("99").is_err());
    }

    #[test]
    fn property_strings_show_as_objects_with_numbers() {
        assert_eq!(
            property_object("keep-last=3,keep-daily=7"),
            json!({"keep-last": 3, "keep-daily": 7})
        );
        assert_eq!(property_object("1,storage=local"), json!({"enabled": 1, "storage": "local"}));
    }

    #[test]
    fn a_job_needs_one_selection_and_a_schedule() {
        let job = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(check_selection(&job(&[("all", "1"), ("schedule", "daily")])).is_ok());
        assert!(
            check_selection(&job(&[("all", "1"), ("vmid", "100"), ("schedule", "daily")])).is_err()
        );
        assert!(check_selection(&job(&[("schedule", "daily")])).is_err());
        assert!(check_selection(&job(&[("vmid", "100")])).is_err());
    }
}
