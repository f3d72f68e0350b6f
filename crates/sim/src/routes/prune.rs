//! `prunebackups` (`/nodes/{node}/storage/{storage}/prunebackups`): what retention would keep
//! (GET, a dry run) and pruning (DELETE, a `prunebackups` task), with PVE's rules as
//! [`proxctl_types::retention`] implements them. The options come from the request, else from
//! the storage's `prune-backups`, else everything is kept. Backups are grouped by guest type
//! and VMID, reckoned in the node's time zone; protected ones are never removed and backups
//! whose names do not follow vzdump's scheme are left alone (`renamed`).

use std::collections::BTreeMap;

use proxctl_types::prop::PruneBackups;
use proxctl_types::retention::{Mark, PruneInput, prune_marks};
use serde_json::{Value, json};

use super::common::{node, remove_volume, user};
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::{Volume, World};
use crate::task::Plan;

/// One backup and what retention makes of it.
struct Marked {
    volid: String,
    ctime: u64,
    kind: &'static str,
    vmid: Option<u32>,
    mark: &'static str,
}

/// `qemu`/`lxc` and the VMID a vzdump archive's name carries, or `None` for another name.
fn parse_name(v: &Volume) -> Option<(&'static str, u32)> {
    let name = v.volname().strip_prefix("backup/").unwrap_or(v.volname());
    let rest = name.strip_prefix("vzdump-")?;
    let (kind, rest) = if let Some(r) = rest.strip_prefix("qemu-") {
        ("qemu", r)
    } else if let Some(r) = rest.strip_prefix("lxc-") {
        ("lxc", r)
    } else {
        return None;
    };
    let (vmid, stamp) = rest.split_once('-')?;
    // YYYY_MM_DD-HH_MM_SS, then the extension.
    let ok = stamp.len() > 19
        && stamp.as_bytes()[..19].iter().enumerate().all(|(i, b)| match i {
            4 | 7 | 13 | 16 => *b == b'_',
            10 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    ok.then_some(())?;
    Some((kind, vmid.parse().ok()?))
}

/// The backups on `storage` as `node` sees them, with their marks.
fn marked(ctx: &mut Ctx, w: &World) -> PveResult<(String, String, Vec<Marked>)> {
    let n = node(ctx, w)?;
    let s = ctx.p.str("storage");
    let given = ctx.p.opt_str("prune-backups");
    let kind = ctx.p.opt_enum("type", &["qemu", "lxc"]);
    let vmid = ctx.p.opt_vmid("vmid").map(|v| v.get());
    ctx.p.finish()?;
    let def = w
        .storages
        .get(&s)
        .cloned()
        .ok_or_else(|| PveError::die(format!("storage '{s}' does not exist")))?;
    if !def.supports("backup") {
        return Err(PveError::die(format!(
            "content type 'backup' is not available on storage '{s}'"
        )));
    }
    let opts: PruneBackups = match given.or_else(|| def.options.get("prune-backups").cloned()) {
        Some(text) => text
            .parse()
            .map_err(|e| PveError::param("prune-backups", format!("invalid format - {e}")))?,
        None => PruneBackups { keep_all: Some(true), ..PruneBackups::default() },
    };
    let tz = w
        .node(&n)
        .and_then(|nd| jiff::tz::TimeZone::get(&nd.timezone).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let scope = def.scope(&n);
    let mut out = Vec::new();
    let mut groups: BTreeMap<(&'static str, u32), Vec<&Volume>> = BTreeMap::new();
    for ((sc, _), v) in &w.volumes {
        if *sc != scope || v.storage != s || v.content != "backup" {
            continue;
        }
        match parse_name(v) {
            Some((k, id))
                if kind.as_deref().is_none_or(|want| want == k) && vmid.is_none_or(|x| x == id) =>
            {
                groups.entry((k, id)).or_default().push(v);
            }
            Some(_) => {}
            // Not vzdump's naming: never pruned, listed only when no guest filter applies.
            None if kind.is_none() && vmid.is_none() => out.push(Marked {
                volid: v.volid.clone(),
                ctime: v.ctime,
                kind: "unknown",
                vmid: v.vmid,
                mark: "renamed",
            }),
            None => {}
        }
    }
    for ((k, id), vols) in groups {
        let input: Vec<PruneInput> = vols
            .iter()
            .map(|v| PruneInput {
                ctime: i64::try_from(v.ctime).unwrap_or(i64::MAX),
                protected: v.protected,
            })
            .collect();
        for (v, m) in vols.iter().zip(prune_marks(&input, &opts, &tz)) {
            let mark = match m {
                Mark::Keep => "keep",
                Mark::Remove => "remove",
                Mark::Protected => "protected",
            };
            out.push(Marked {
                volid: v.volid.clone(),
                ctime: v.ctime,
                kind: k,
                vmid: Some(id),
                mark,
            });
        }
    }
    Ok((n, s, out))
}

fn entry(m: &Marked) -> Value {
    let mut v = json!({ "volid": m.volid, "ctime": m.ctime, "type": m.kind, "mark": m.mark });
    if let (Some(id), Some(o)) = (m.vmid, v.as_object_mut()) {
        o.insert("vmid".into(), json!(id));
    }
    v
}

/// GET: what pruning with these options would keep and remove.
pub fn dry_run(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (_, _, list) = marked(ctx, w)?;
    Ok(Reply::json(&list.iter().map(entry).collect::<Vec<_>>()))
}

/// DELETE: remove what retention marks `remove`, as a task.
pub fn prune(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let (n, s, list) = marked(ctx, w)?;
    let doomed: Vec<String> =
        list.iter().filter(|m| m.mark == "remove").map(|m| m.volid.clone()).collect();
    let nn = n.clone();
    let plan = Plan::new().sleep(200).act(move |w, task| {
        for volid in &doomed {
            if remove_volume(w, &nn, volid).is_some() {
                w.task_log(task, format!("removing backup '{volid}'"));
            }
        }
        Ok(())
    });
    let who = user(ctx);
    let upid = w.spawn(&n, "prunebackups", &s, &who, plan);
    Ok(Reply::data(upid.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vol(volid: &str) -> Volume {
        Volume {
            volid: volid.into(),
            storage: "local".into(),
            content: "backup".into(),
            format: "vma.zst".into(),
            size: 1,
            vmid: None,
            ctime: 0,
            notes: None,
            protected: false,
            parent: None,
            sha256: None,
            guest_conf: None,
        }
    }

    #[test]
    fn only_vzdump_names_belong_to_a_guest() {
        let ok = vol("local:backup/vzdump-qemu-100-2026_03_09-12_00_00.vma.zst");
        assert_eq!(parse_name(&ok), Some(("qemu", 100)));
        let ct = vol("local:backup/vzdump-lxc-205-2026_03_09-12_00_00.tar.zst");
        assert_eq!(parse_name(&ct), Some(("lxc", 205)));
        for other in [
            "local:backup/my-copy.vma.zst",
            "local:backup/vzdump-qemu-100-yesterday.vma.zst",
            "local:backup/vzdump-openvz-100-2026_03_09-12_00_00.tar",
        ] {
            assert_eq!(parse_name(&vol(other)), None, "{other}");
        }
    }
}
