//! Permissions as PVE checks them, for identities made through `/access` (users' API tokens):
//! ACL entries on paths with roles and propagation, user entries over group entries on one
//! path, deeper paths over shallower ones, `NoAccess`, pools as parents of their guests, and
//! privilege-separated tokens holding the intersection of their own and their user's
//! privileges. A refusal is PVE's `Permission check failed (/vms/100, VM.PowerMgmt)`, and
//! lists show only what the caller may audit. (The simulator's own admin and auditor tokens
//! keep their fixed roles.)

use std::collections::BTreeSet;

use serde_json::Value;

use crate::routes::users::{Access, role_privileges};
use crate::state::World;

/// The ACL path a request is checked on.
pub fn acl_path(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["nodes", _, "qemu" | "lxc", vmid, ..] => format!("/vms/{vmid}"),
        ["nodes", _, "storage", s, ..] => format!("/storage/{s}"),
        ["nodes", n, ..] => format!("/nodes/{n}"),
        ["pools", id, ..] => format!("/pool/{id}"),
        ["cluster", "sdn", ..] => "/sdn".to_string(),
        ["access", ..] => "/access".to_string(),
        ["storage", s, ..] => format!("/storage/{s}"),
        _ => "/".to_string(),
    }
}

/// The privilege a change needs (the auditor check and [`check`] share it).
pub fn write_privilege(template: &str) -> &'static str {
    if template.starts_with("/access/domains") {
        "Realm.Allocate"
    } else if template.starts_with("/cluster/sdn") {
        "SDN.Allocate"
    } else if template == "/storage" || template.starts_with("/storage/") {
        "Datastore.Allocate"
    } else if template.contains("/{vmid}/firewall") {
        "VM.Config.Network"
    } else if template.contains("/status/") {
        "VM.PowerMgmt"
    } else if template.contains("/snapshot/{snapname}/rollback") {
        "VM.Snapshot.Rollback"
    } else if template.contains("/snapshot") {
        "VM.Snapshot"
    } else if template.ends_with("/clone") {
        "VM.Clone"
    } else if template.ends_with("/config") || template.ends_with("/resize") {
        "VM.Config.Options"
    } else if template.starts_with("/access/acl") {
        "Permissions.Modify"
    } else if template.starts_with("/access") {
        "User.Modify"
    } else if template.starts_with("/pools") {
        "Pool.Allocate"
    } else if template.contains("/storage/") {
        "Datastore.AllocateSpace"
    } else if template.ends_with("/qemu")
        || template.ends_with("/lxc")
        || template.ends_with("/{vmid}")
    {
        "VM.Allocate"
    } else if template.ends_with("/migrate") {
        "VM.Migrate"
    } else if template.ends_with("/vzdump") {
        "VM.Backup"
    } else {
        "Sys.Modify"
    }
}

/// What a request needs: `None` for reads everyone may make (lists are filtered instead).
pub fn required(method: &str, template: &str, path: &str) -> Option<(String, &'static str)> {
    let at = acl_path(path);
    // Tasks: PVE lets a user follow the tasks they started (we do not record owners, so any
    // authenticated caller may read task status and logs).
    if method == "GET" && template.contains("/tasks") {
        return None;
    }
    // Everyone may change their own password; the handler checks the rest.
    if template == "/access/password" {
        return None;
    }
    if method != "GET" {
        return Some((at, write_privilege(template)));
    }
    let read = if at.starts_with("/vms/") {
        "VM.Audit"
    } else if at.starts_with("/storage/") {
        "Datastore.Audit"
    } else if (at.starts_with("/nodes/")
        && template != "/nodes/{node}/qemu"
        && template != "/nodes/{node}/lxc")
        || (at == "/access" && template.starts_with("/access/acl"))
    {
        "Sys.Audit"
    } else {
        return None;
    };
    Some((at, read))
}

/// An identity `/access` made: `user@realm` or `user@realm!token`.
fn split(who: &str) -> (&str, Option<&str>) {
    match who.split_once('!') {
        Some((u, t)) => (u, Some(t)),
        None => (who, None),
    }
}

/// The roles ACL entries give `subject` on `path` (None: no entry reaches it). `token`: the
/// entries of kind `token` for that full id; else the user's and their groups'.
fn roles_on(access: &Access, user: &str, token: Option<&str>, path: &str) -> Option<Vec<String>> {
    let groups = access.users.get(user).map(|u| u.groups.clone()).unwrap_or_default();
    let mut prefixes = vec!["/".to_string()];
    let mut acc = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        acc.push('/');
        acc.push_str(seg);
        prefixes.push(acc.clone());
    }
    let mut current = None;
    for p in &prefixes {
        let exact = p == path;
        let here = access.acl.iter().filter(|e| e.path == *p && (exact || e.propagate));
        let (mut own, mut grp) = (Vec::new(), Vec::new());
        for e in here {
            match (e.kind.as_str(), token) {
                ("token", Some(t)) if e.ugid == format!("{user}!{t}") => own.push(e.roleid.clone()),
                ("user", None) if e.ugid == user => own.push(e.roleid.clone()),
                ("group", None) if groups.contains(&e.ugid) => grp.push(e.roleid.clone()),
                _ => {}
            }
        }
        // On one path a user's own entries win over their groups'; deeper paths win over
        // shallower ones.
        if !own.is_empty() {
            current = Some(own);
        } else if !grp.is_empty() {
            current = Some(grp);
        }
    }
    current
}

fn privileges_of(access: &Access, roles: Option<Vec<String>>) -> BTreeSet<String> {
    let Some(roles) = roles else { return BTreeSet::new() };
    if roles.iter().any(|r| r == "NoAccess") {
        return BTreeSet::new();
    }
    roles.iter().flat_map(|r| role_privileges(access, r)).collect()
}

/// The paths whose ACLs reach `path`: itself, and for a guest in a pool, the pool too.
fn reaching(w: &World, path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    if let Some(id) = path.strip_prefix("/vms/").and_then(|v| v.parse::<u32>().ok()) {
        for (pool, p) in &w.pools {
            if p.vms.contains(&id) {
                out.push(format!("/pool/{pool}/{id}"));
            }
        }
    }
    if let Some(s) = path.strip_prefix("/storage/") {
        for (pool, p) in &w.pools {
            if p.storage.contains(s) {
                out.push(format!("/pool/{pool}/{s}"));
            }
        }
    }
    out
}

/// `who`'s privileges on `path`.
pub fn privileges(w: &World, who: &str, path: &str) -> BTreeSet<String> {
    let (user, token) = split(who);
    if user == "root@pam" && token.is_none() {
        return role_privileges(&w.access, "Administrator").into_iter().collect();
    }
    let of = |tok: Option<&str>| -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for p in reaching(w, path) {
            set.extend(privileges_of(&w.access, roles_on(&w.access, user, tok, &p)));
        }
        set
    };
    let users = if user == "root@pam" {
        role_privileges(&w.access, "Administrator").into_iter().collect()
    } else {
        of(None)
    };
    match token {
        None => users,
        Some(t) => {
            let privsep =
                w.access.users.get(user).and_then(|u| u.tokens.get(t)).is_none_or(|t| t.privsep);
            if privsep { users.intersection(&of(Some(t))).cloned().collect() } else { users }
        }
    }
}

/// Whether `who` holds `privilege` on `path`.
pub fn allowed(w: &World, who: &str, path: &str, privilege: &str) -> bool {
    privileges(w, who, path).contains(privilege)
}

/// Keep only the list entries `who` may audit (PVE filters lists this way, without errors).
pub fn filter_list(w: &World, who: &str, template: &str, data: &mut Value) {
    let Some(items) = data.as_array_mut() else { return };
    let visible = |item: &Value| -> bool {
        let vmid = item.get("vmid").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        if let Some(id) = vmid {
            return allowed(w, who, &format!("/vms/{id}"), "VM.Audit");
        }
        match template {
            "/cluster/resources" => match item.get("type").and_then(Value::as_str) {
                Some("storage") => item
                    .get("storage")
                    .and_then(Value::as_str)
                    .is_some_and(|s| allowed(w, who, &format!("/storage/{s}"), "Datastore.Audit")),
                Some("node") => item
                    .get("node")
                    .and_then(Value::as_str)
                    .is_some_and(|n| allowed(w, who, &format!("/nodes/{n}"), "Sys.Audit")),
                Some("pool") => item
                    .get("pool")
                    .and_then(Value::as_str)
                    .is_some_and(|p| allowed(w, who, &format!("/pool/{p}"), "Pool.Audit")),
                _ => true,
            },
            "/nodes/{node}/storage" | "/storage" => item
                .get("storage")
                .and_then(Value::as_str)
                .is_some_and(|s| allowed(w, who, &format!("/storage/{s}"), "Datastore.Audit")),
            "/pools" => item
                .get("poolid")
                .and_then(Value::as_str)
                .is_some_and(|p| allowed(w, who, &format!("/pool/{p}"), "Pool.Audit")),
            _ => true,
        }
    };
    items.retain(visible);
}

/// The lists [`filter_list`] filters.
pub fn is_filtered_list(template: &str) -> bool {
    matches!(
        template,
        "/cluster/resources"
            | "/nodes/{node}/qemu"
            | "/nodes/{node}/lxc"
            | "/nodes/{node}/storage"
            | "/storage"
            | "/pools"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::users::{AclEntry, Token, User};

    #[test]
    fn each_family_needs_the_privilege_pve_asks_for() {
        let need = |m: &str, t: &str, p: &str| required(m, t, p).map(|(a, v)| format!("{a} {v}"));
        let cases = [
            (
                "POST",
                "/nodes/{node}/qemu/{vmid}/status/start",
                "/nodes/pve/qemu/100/status/start",
                "/vms/100 VM.PowerMgmt",
            ),
            (
                "POST",
                "/nodes/{node}/qemu/{vmid}/firewall/rules",
                "/nodes/pve/qemu/100/firewall/rules",
                "/vms/100 VM.Config.Network",
            ),
            ("POST", "/storage", "/storage", "/ Datastore.Allocate"),
            ("PUT", "/storage/{storage}", "/storage/nfs1", "/storage/nfs1 Datastore.Allocate"),
            ("POST", "/cluster/sdn/zones", "/cluster/sdn/zones", "/sdn SDN.Allocate"),
            ("POST", "/access/domains", "/access/domains", "/access Realm.Allocate"),
            ("PUT", "/access/acl", "/access/acl", "/access Permissions.Modify"),
            (
                "GET",
                "/nodes/{node}/qemu/{vmid}/config",
                "/nodes/pve/qemu/100/config",
                "/vms/100 VM.Audit",
            ),
        ];
        for (m, t, p, want) in cases {
            assert_eq!(need(m, t, p).as_deref(), Some(want), "{m} {t}");
        }
        assert_eq!(
            need("GET", "/cluster/resources", "/cluster/resources"),
            None,
            "filtered instead"
        );
    }

    fn entry(path: &str, kind: &str, ugid: &str, role: &str, propagate: bool) -> AclEntry {
        AclEntry {
            path: path.into(),
            kind: kind.into(),
            ugid: ugid.into(),
            roleid: role.into(),
            propagate,
        }
    }

    fn world() -> World {
        let mut w = World::new(1, 1, crate::MANUAL_EPOCH_MS);
        let mut alice = User::default();
        alice.groups.insert("ops".into());
        alice.tokens.insert(
            "sep".into(),
            Token { comment: None, expire: 0, privsep: true, secret_sha256: None },
        );
        alice.tokens.insert(
            "full".into(),
            Token { comment: None, expire: 0, privsep: false, secret_sha256: None },
        );
        w.access.users.insert("alice@pve".into(), alice);
        w
    }

    #[test]
    fn propagation_decides_whether_a_parent_entry_reaches_a_child() {
        let mut w = world();
        w.access.acl.push(entry("/vms", "user", "alice@pve", "PVEVMUser", false));
        assert!(!allowed(&w, "alice@pve", "/vms/100", "VM.PowerMgmt"));
        assert!(allowed(&w, "alice@pve", "/vms", "VM.PowerMgmt"));
        w.access.acl[0].propagate = true;
        assert!(allowed(&w, "alice@pve", "/vms/100", "VM.PowerMgmt"));
    }

    #[test]
    fn deeper_entries_and_user_entries_win() {
        let mut w = world();
        w.access.acl.push(entry("/", "group", "ops", "PVEAdmin", true));
        w.access.acl.push(entry("/vms/100", "user", "alice@pve", "PVEAuditor", true));
        assert!(allowed(&w, "alice@pve", "/vms/101", "VM.PowerMgmt"));
        assert!(!allowed(&w, "alice@pve", "/vms/100", "VM.PowerMgmt"));
        assert!(allowed(&w, "alice@pve", "/vms/100", "VM.Audit"));
        w.access.acl.push(entry("/vms/101", "user", "alice@pve", "NoAccess", true));
        assert!(privileges(&w, "alice@pve", "/vms/101").is_empty());
    }

    #[test]
    fn a_privilege_separated_token_holds_the_intersection() {
        let mut w = world();
        w.access.acl.push(entry("/", "user", "alice@pve", "PVEVMAdmin", true));
        assert!(privileges(&w, "alice@pve!sep", "/vms/100").is_empty());
        assert!(allowed(&w, "alice@pve!full", "/vms/100", "VM.Clone"));
        w.access.acl.push(entry("/vms/100", "token", "alice@pve!sep", "PVEAdmin", true));
        let p = privileges(&w, "alice@pve!sep", "/vms/100");
        assert!(p.contains("VM.PowerMgmt") && !p.contains("Sys.Audit"), "{p:?}");
    }

    #[test]
    fn a_pool_role_reaches_the_pools_guests_only() {
        let mut w = world();
        w.pools.insert(
            "dev".into(),
            crate::routes::pools::Pool { vms: [100].into(), ..Default::default() },
        );
        w.access.acl.push(entry("/pool/dev", "user", "alice@pve", "PVEVMUser", true));
        assert!(allowed(&w, "alice@pve", "/vms/100", "VM.PowerMgmt"));
        assert!(!allowed(&w, "alice@pve", "/vms/101", "VM.PowerMgmt"));
    }
}
