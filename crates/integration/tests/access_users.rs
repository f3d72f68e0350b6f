//! Users, groups, roles, API tokens and ACLs in the simulator, driven as a third-party client
//! (Ansible's proxmox_user/proxmox_group/proxmox_access_acl, Terraform) drives them: what is
//! written reads back, deletes cascade, and PVE's errors come back for the wrong things.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

async fn ok(h: &Harness, method: &str, path: &str, body: &str) -> Value {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 200, "{method} {path} {body}: {v}");
    v["data"].clone()
}

#[tokio::test]
async fn users_and_groups_are_written_read_back_and_deleted_with_pve_errors() {
    let h = realtime("", 1).await;
    ok(&h, "POST", "/access/groups", "groupid=ops&comment=Operators").await;
    let (s, body) = form(&h, "POST", "/access/groups", "groupid=ops").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("group 'ops' already exists"), "{body}");

    ok(&h, "POST", "/access/users", "userid=alice%40pve&email=alice%40example.com&groups=ops")
        .await;
    let (s, body) = form(&h, "POST", "/access/users", "userid=alice%40pve").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("user 'alice@pve' already exists"), "{body}");
    let (s, body) = form(&h, "POST", "/access/users", "userid=bob%40ldap").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("domain 'ldap' does not exist"), "{body}");
    let (s, body) = form(&h, "POST", "/access/users", "userid=bob%40pve&groups=nope").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("no such group 'nope'"), "{body}");

    let users = ok(&h, "GET", "/access/users", "").await;
    let ids: Vec<&str> =
        users.as_array().unwrap().iter().map(|u| u["userid"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alice@pve", "root@pam"], "root@pam always exists");
    let alice = ok(&h, "GET", "/access/users/alice%40pve", "").await;
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["groups"], serde_json::json!(["ops"]));
    let group = ok(&h, "GET", "/access/groups/ops", "").await;
    assert_eq!(group["members"], serde_json::json!(["alice@pve"]));
    assert_eq!(group["comment"], "Operators");

    ok(&h, "PUT", "/access/users/alice%40pve", "enable=0&firstname=Alice").await;
    let alice = ok(&h, "GET", "/access/users/alice%40pve", "").await;
    assert_eq!((alice["enable"].as_u64(), alice["firstname"].as_str()), (Some(0), Some("Alice")));
    let enabled = ok(&h, "GET", "/access/users?enabled=1", "").await;
    assert_eq!(enabled.as_array().unwrap().len(), 1, "only root@pam: {enabled}");

    // Deleting the group takes it away from its members.
    ok(&h, "DELETE", "/access/groups/ops", "").await;
    let alice = ok(&h, "GET", "/access/users/alice%40pve", "").await;
    assert_eq!(alice["groups"], serde_json::json!([]));
    ok(&h, "DELETE", "/access/users/alice%40pve", "").await;
    let (s, body) = form(&h, "GET", "/access/users/alice%40pve", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("no such user"), "{body}");
    let (s, body) = form(&h, "DELETE", "/access/users/root%40pam", "").await;
    assert_eq!(s, 500, "{body}");
}

#[tokio::test]
async fn roles_tokens_and_acls_read_back_and_go_with_what_they_name() {
    let h = realtime("", 1).await;
    let roles = ok(&h, "GET", "/access/roles", "").await;
    let auditor = roles.as_array().unwrap().iter().find(|r| r["roleid"] == "PVEAuditor").unwrap();
    assert_eq!(auditor["special"], 1);
    assert!(auditor["privs"].as_str().unwrap().contains("VM.Audit"));
    let (s, body) = form(&h, "DELETE", "/access/roles/PVEAuditor", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("built-in role"), "{body}");

    ok(&h, "POST", "/access/roles", "roleid=Snapshotter&privs=VM.Audit%2CVM.Snapshot").await;
    let privs = ok(&h, "GET", "/access/roles/Snapshotter", "").await;
    assert_eq!(privs, serde_json::json!({"VM.Audit": 1, "VM.Snapshot": 1}));
    ok(&h, "PUT", "/access/roles/Snapshotter", "privs=VM.Snapshot.Rollback&append=1").await;
    let privs = ok(&h, "GET", "/access/roles/Snapshotter", "").await;
    assert_eq!(privs.as_object().unwrap().len(), 3);
    let (s, body) = form(&h, "POST", "/access/roles", "roleid=Bad&privs=VM.Fly").await;
    assert_eq!(s, 400, "{body}");

    ok(&h, "POST", "/access/users", "userid=ci%40pve").await;
    let made = ok(&h, "POST", "/access/users/ci%40pve/token/deploy", "comment=CI&privsep=1").await;
    assert_eq!(made["full-tokenid"], "ci@pve!deploy");
    let secret = made["value"].as_str().unwrap();
    assert_eq!(secret.len(), 36, "a UUID: {secret}");
    let (s, body) = form(&h, "POST", "/access/users/ci%40pve/token/deploy", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("Token already exists"), "{body}");
    let listed = ok(&h, "GET", "/access/users/ci%40pve/token", "").await;
    assert_eq!(listed[0]["tokenid"], "deploy");
    assert_eq!(listed[0]["privsep"], 1);
    let one = ok(&h, "GET", "/access/users/ci%40pve/token/deploy", "").await;
    assert_eq!(one["comment"], "CI");
    assert!(one.get("value").is_none(), "the secret is shown once only");

    // ACLs for a user, a group and the token; a role or subject that does not exist is refused.
    ok(&h, "POST", "/access/groups", "groupid=ops").await;
    ok(&h, "PUT", "/access/acl", "path=%2Fvms%2F100&roles=Snapshotter&users=ci%40pve").await;
    ok(&h, "PUT", "/access/acl", "path=%2Fpool%2Fweb&roles=PVEVMUser&groups=ops&propagate=0").await;
    ok(&h, "PUT", "/access/acl", "path=%2Fvms%2F100&roles=PVEAuditor&tokens=ci%40pve%21deploy")
        .await;
    let (s, body) = form(&h, "PUT", "/access/acl", "path=%2F&roles=Nope&users=ci%40pve").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("role 'Nope' does not exist"), "{body}");
    let (s, body) =
        form(&h, "PUT", "/access/acl", "path=%2F&roles=PVEAuditor&users=ghost%40pve").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("user 'ghost@pve' does not exist"), "{body}");
    let acl = ok(&h, "GET", "/access/acl", "").await;
    let rows: Vec<(String, String, String, u64)> = acl
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().into(),
                e["type"].as_str().unwrap().into(),
                e["roleid"].as_str().unwrap().into(),
                e["propagate"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3, "{acl}");
    assert!(rows.contains(&("/pool/web".into(), "group".into(), "PVEVMUser".into(), 0)));
    assert!(rows.contains(&("/vms/100".into(), "token".into(), "PVEAuditor".into(), 1)));

    // What an entry names takes the entry with it.
    ok(&h, "DELETE", "/access/roles/Snapshotter", "").await;
    ok(&h, "DELETE", "/access/users/ci%40pve/token/deploy", "").await;
    let acl = ok(&h, "GET", "/access/acl", "").await;
    assert_eq!(acl.as_array().unwrap().len(), 1, "only the group's entry is left: {acl}");
    ok(&h, "PUT", "/access/acl", "path=%2Fpool%2Fweb&roles=PVEVMUser&groups=ops&delete=1").await;
    assert_eq!(ok(&h, "GET", "/access/acl", "").await, serde_json::json!([]));
}
