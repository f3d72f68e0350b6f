//! `/access/ticket` and `/access/domains` (§2.2).

use serde_json::{Value, json};

use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::state::World;

pub fn ticket_get(ctx: &mut Ctx, _w: &mut World) -> PveResult<Reply> {
    ctx.p.finish()?;
    Ok(Reply::null())
}

/// `POST /access/ticket`: a password, or a still-valid ticket (renewal), for a new ticket.
pub fn ticket_post(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let mut username = ctx.p.str("username");
    let password = ctx.p.str("password");
    if let Some(realm) = ctx.p.opt_str("realm")
        && !username.contains('@')
    {
        username = format!("{username}@{realm}");
    }
    let _otp = ctx.p.opt_str("otp");
    let challenge = ctx.p.opt_str("tfa-challenge");
    let _new_format = ctx.p.opt_bool("new-format");
    let _path = ctx.p.opt_str("path");
    let _privs = ctx.p.opt_str("privs");
    ctx.p.finish()?;
    let now = w.now_secs();
    let auth = &ctx.env.auth;
    let fail = || PveError::status(401, "authentication failure\n");
    if let Some(ch) = &challenge {
        // Step two of a TFA login: the half-ticket and a current code, for a full ticket.
        if !auth.check_tfa(&username, ch, &password, now) {
            return Err(fail());
        }
    } else {
        let renewing = auth
            .verify_ticket_within(&password, now, w.faults.ticket_lifetime())
            .is_some_and(|u| u == username);
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let known = auth.check_password(&username, &password)
            || super::passwords::login_ok(&w.access, &username, &password, now_i);
        if !renewing && !known {
            return Err(fail());
        }
        // A renewal already proved the second factor; a password alone has not.
        if !renewing && auth.needs_tfa(&username) {
            return Ok(Reply::data(json!({
                "username": username,
                "ticket": auth.issue_tfa_challenge(&username, now),
                "CSRFPreventionToken": auth.issue_csrf(&username, now),
                "NeedTFA": 1,
            })));
        }
    }
    let mut out = json!({
        "username": username,
        "ticket": auth.issue_ticket(&username, now),
        "CSRFPreventionToken": auth.issue_csrf(&username, now),
        "cap": caps(),
    });
    if w.nodes.len() > 1
        && let Some(m) = out.as_object_mut()
    {
        m.insert("clustername".into(), Value::from(w.cluster_name.clone()));
    }
    Ok(Reply::data(out))
}

fn caps() -> Value {
    let all = |privs: &[&str]| -> Value {
        privs.iter().map(|p| (p.to_string(), Value::from(1))).collect()
    };
    json!({
        "vms": all(&["VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU",
            "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network",
            "VM.Config.Options", "VM.Console", "VM.GuestAgent.Audit", "VM.Migrate", "VM.PowerMgmt", "VM.Snapshot",
            "VM.Snapshot.Rollback"]),
        "storage": all(&["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"]),
        "nodes": all(&["Sys.Audit", "Sys.Console", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog"]),
        "access": all(&["Group.Allocate", "User.Modify", "Permissions.Modify"]),
        "dc": all(&["Sys.Audit", "Sys.Modify"]),
        "sdn": all(&["SDN.Allocate", "SDN.Audit", "SDN.Use"]),
        "mapping": all(&["Mapping.Audit", "Mapping.Use"]),
    })
}

/// Privileges of the admin role (everything proxctl uses) and of the auditor role.
const ADMIN_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];
const AUDITOR_PRIVS: &[&str] =
    &["Datastore.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit"];

/// `GET /access/permissions`: the caller's effective privileges, as path → privilege → 1
/// (for a token made through `/access`: on the path asked, else on every path an ACL names).
pub fn permissions(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let path = ctx.p.opt_str("path");
    let _userid = ctx.p.opt_str("userid");
    ctx.p.finish()?;
    if ctx.who.role == crate::auth::Role::Acl {
        let paths: std::collections::BTreeSet<String> = match &path {
            Some(p) => [p.clone()].into(),
            None => std::iter::once("/".to_string())
                .chain(w.access.acl.iter().map(|e| e.path.clone()))
                .collect(),
        };
        let mut out = serde_json::Map::new();
        for p in paths {
            let set: serde_json::Map<String, Value> =
                crate::permissions::privileges(w, &ctx.who.user, &p)
                    .into_iter()
                    .map(|v| (v, Value::from(1)))
                    .collect();
            out.insert(p, Value::Object(set));
        }
        return Ok(Reply::data(Value::Object(out)));
    }
    let privs =
        if ctx.who.role == crate::auth::Role::Auditor { AUDITOR_PRIVS } else { ADMIN_PRIVS };
    let set: serde_json::Map<String, Value> =
        privs.iter().map(|p| (p.to_string(), Value::from(1))).collect();
    let mut out = serde_json::Map::new();
    out.insert(path.unwrap_or_else(|| "/".into()), Value::Object(set));
    Ok(Reply::data(Value::Object(out)))
}
