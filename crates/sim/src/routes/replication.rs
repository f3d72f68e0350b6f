//! Storage replication jobs (`/cluster/replication`): created, read back, changed and deleted
//! with PVE's errors; a job replicates from its guest's node, and the node's replication list
//! (`/nodes/{node}/replication`) shows it. Deleting removes the job at once (PVE marks it and
//! its runner removes it within a minute).

use proxctl_types::api::ReplicationJob;
use serde_json::{Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

fn missing(id: &str) -> PveError {
    PveError::die(format!("replication job '{id}' does not exist"))
}

/// `GUEST-JOBNUM`, as PVE's `pve-replication-job-id` wants it.
fn parse_id(id: &str) -> Option<(u32, u64)> {
    let (g, n) = id.split_once('-')?;
    let guest: u32 = g.parse().ok().filter(|g| (100..=999_999_999).contains(g))?;
    Some((guest, n.parse().ok()?))
}

fn config(j: &ReplicationJob) -> Value {
    let mut v = json!({
        "id": j.id, "type": "local", "guest": j.guest, "target": j.target, "source": j.source,
        "jobnum": parse_id(&j.id).map(|(_, n)| n).unwrap_or(0),
    });
    if let Some(m) = v.as_object_mut() {
        for (k, val) in [
            ("schedule", j.schedule.as_ref().map(|s| json!(s))),
            ("comment", j.comment.as_ref().map(|s| json!(s))),
            ("disable", j.disable.map(|d| json!(d as u8))),
            ("rate", j.rate.map(|r| json!(r))),
        ] {
            if let Some(val) = val {
                m.insert(k.into(), val);
            }
        }
    }
    v
}

/// `GET /cluster/replication`.
pub fn list(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::data(Value::Array(w.replication.iter().map(config).collect())))
}

/// `GET /cluster/replication/{id}`.
pub fn get(ctx: &mut Ctx, w: &World) -> PveResult<Reply> {
    let id = ctx.p.str("id");
    ctx.p.finish()?;
    let j = w.replication.iter().find(|j| j.id == id).ok_or_else(|| missing(&id))?;
    Ok(Reply::data(config(j)))
}

/// The settings `POST` and `PUT` share.
fn settings(ctx: &mut Ctx, j: &mut ReplicationJob) {
    if let Some(s) = ctx.p.opt_str("schedule") {
        j.schedule = Some(s);
    }
    if let Some(c) = ctx.p.opt_str("comment") {
        j.comment = Some(c);
    }
    if let Some(d) = ctx.p.opt_bool("disable") {
        j.disable = Some(d);
    }
    if let Some(r) = ctx.p.opt_str("rate") {
        match r.parse::<f64>() {
            Ok(v) if v >= 1.0 => j.rate = Some(v),
            _ => ctx.p.invalid("rate", format!("value '{r}' is not a number of at least 1\n")),
        }
    }
}

/// `POST /cluster/replication`: one job per guest and target, never to the guest's own node.
pub fn create(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("id");
    let target = ctx.p.str("target");
    let _kind = ctx.p.opt_enum("type", &["local"]);
    let _remove = ctx.p.opt_enum("remove_job", &["local", "full"]);
    let _source = ctx.p.opt_str("source");
    let mut j = ReplicationJob { id: id.clone(), job_type: "local".into(), ..Default::default() };
    settings(ctx, &mut j);
    let parsed = parse_id(&id);
    if parsed.is_none() {
        ctx.p.invalid(
            "id",
            format!("invalid format - replication job id '{id}' is not GUEST-JOBNUM\n"),
        );
    }
    ctx.p.finish()?;
    let Some((guest, _)) = parsed else { return Err(missing(&id)) };
    if w.replication.iter().any(|j| j.id == id) {
        return Err(PveError::die(format!("replication job '{id}' already exists")));
    }
    let g = w
        .guests
        .get(&guest)
        .ok_or_else(|| PveError::die(format!("guest '{guest}' does not exist")))?;
    if !w.nodes.contains_key(&target) {
        return Err(PveError::die(format!("no such cluster node '{target}'")));
    }
    if g.node == target {
        return Err(PveError::die(format!("unable to replicate to local node '{target}'")));
    }
    if w.replication.iter().any(|o| o.guest == guest && o.target == target) {
        return Err(PveError::die(format!(
            "replication job for guest '{guest}' to target '{target}' already exists"
        )));
    }
    j.guest = guest;
    j.source = g.node.clone();
    j.target = target;
    j.vmtype = g.kind.as_str().into();
    w.replication.push(j);
    Ok(Reply::null())
}

/// `PUT /cluster/replication/{id}`: settings, and `delete` of optional ones.
pub fn update(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("id");
    let delete = ctx.p.opt_str("delete");
    let _digest = ctx.p.opt_str("digest");
    let _remove = ctx.p.opt_enum("remove_job", &["local", "full"]);
    let _source = ctx.p.opt_str("source");
    let mut j = w.replication.iter().find(|j| j.id == id).cloned().unwrap_or_default();
    settings(ctx, &mut j);
    ctx.p.finish()?;
    let slot = w.replication.iter_mut().find(|j| j.id == id).ok_or_else(|| missing(&id))?;
    for key in delete.iter().flat_map(|d| d.split([',', ';', ' '])).filter(|k| !k.is_empty()) {
        match key {
            "schedule" => j.schedule = None,
            "comment" => j.comment = None,
            "disable" => j.disable = None,
            "rate" => j.rate = None,
            other => return Err(PveError::param("delete", format!("unknown option '{other}'"))),
        }
    }
    *slot = j;
    Ok(Reply::null())
}

/// `DELETE /cluster/replication/{id}`.
pub fn delete(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let id = ctx.p.str("id");
    let _force = ctx.p.opt_bool("force");
    let _keep = ctx.p.opt_bool("keep");
    ctx.p.finish()?;
    let before = w.replication.len();
    w.replication.retain(|j| j.id != id);
    if w.replication.len() == before {
        return Err(missing(&id));
    }
    Ok(Reply::null())
}
