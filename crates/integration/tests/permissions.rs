//! Permissions as PVE checks them, through the client with tokens users made under /access:
//! an auditor reads and is refused changes with PVE's text, a privilege-separated token holds
//! only what both it and its user hold, a pool-scoped role reaches the pool's guests only (and
//! lists show nothing else), an ACL reaches children only when it propagates, and users made
//! there log in with a password for a ticket that carries the same rights.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::{Client, ClientError, Credentials, PowerAction};
use proxctl_types::VmId;
use proxctl_types::secret::Secret;
use serde_json::Value;
use support::*;

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: dev-1, scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, config: {name: prod-1, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
"#;

async fn ok(h: &Harness, method: &str, path: &str, body: &str) -> Value {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 200, "{method} {path} {body}: {v}");
    v["data"].clone()
}

/// A user with a token (privilege-separated or not), and a client that uses it.
async fn user_token(h: &Harness, user: &str, token: &str, privsep: bool) -> Client {
    Client::new(settings(
        &h.sim,
        Credentials::from_full_token(&user_secret(h, user, token, privsep).await).unwrap(),
    ))
    .unwrap()
}

/// A user with a token: its full `user@realm!id=secret`.
async fn user_secret(h: &Harness, user: &str, token: &str, privsep: bool) -> String {
    let enc = user.replace('@', "%40");
    let (s, _) = form(h, "GET", &format!("/access/users/{enc}"), "").await;
    if s != 200 {
        ok(h, "POST", "/access/users", &format!("userid={enc}")).await;
    }
    let made = ok(
        h,
        "POST",
        &format!("/access/users/{enc}/token/{token}"),
        &format!("privsep={}", u8::from(privsep)),
    )
    .await;
    format!("{}={}", made["full-tokenid"].as_str().unwrap(), made["value"].as_str().unwrap())
}

async fn acl(h: &Harness, path: &str, role: &str, who: &str, propagate: bool) {
    let who = who.replace('@', "%40").replace('!', "%21");
    let kind = if who.contains("%21") { "tokens" } else { "users" };
    ok(
        h,
        "PUT",
        "/access/acl",
        &format!("path={path}&roles={role}&{kind}={who}&propagate={}", u8::from(propagate)),
    )
    .await;
}

async fn start(c: &Client, h: &Harness, vmid: u32) -> Result<(), ClientError> {
    c.qemu_power(&node(h), VmId::new(vmid).unwrap(), &PowerAction::Start { timeout: None })
        .await
        .map(|_| ())
}

fn refused(r: Result<(), ClientError>, path: &str, privilege: &str) {
    let e = r.expect_err("refused");
    let ClientError::Api(a) = &e else { panic!("{e}") };
    assert_eq!(a.status, 403, "{e}");
    assert_eq!(a.message, format!("Permission check failed ({path}, {privilege})"), "{e}");
}

fn vmids(resources: &[proxctl_types::api::ClusterResource]) -> Vec<u32> {
    resources.iter().filter_map(|r| r.vmid.map(|v| v.get())).collect()
}

#[tokio::test]
async fn an_auditor_reads_everything_and_changes_nothing() {
    let h = realtime(CLUSTER, 1).await;
    let c = user_token(&h, "audit@pve", "ro", false).await;
    acl(&h, "/", "PVEAuditor", "audit@pve", true).await;
    assert_eq!(vmids(&c.cluster_resources(None).await.unwrap()), [100, 101]);
    c.qemu_status(&node(&h), VmId::new(100).unwrap()).await.unwrap();
    refused(start(&c, &h, 100).await, "/vms/100", "VM.PowerMgmt");
}

#[tokio::test]
async fn a_privilege_separated_token_holds_only_what_it_and_its_user_both_hold() {
    let h = realtime(CLUSTER, 1).await;
    let sep = user_token(&h, "alice@pve", "sep", true).await;
    let full = user_token(&h, "alice@pve", "full", false).await;
    acl(&h, "/", "PVEVMAdmin", "alice@pve", true).await;
    // With no ACL of its own, a separated token sees and may do nothing.
    assert!(vmids(&sep.cluster_resources(None).await.unwrap()).is_empty());
    refused(start(&sep, &h, 100).await, "/vms/100", "VM.PowerMgmt");
    acl(&h, "/vms/100", "PVEVMUser", "alice@pve!sep", true).await;
    start(&sep, &h, 100).await.unwrap();
    assert_eq!(vmids(&sep.cluster_resources(None).await.unwrap()), [100]);
    refused(start(&sep, &h, 101).await, "/vms/101", "VM.PowerMgmt");
    // The token without separation has its user's rights.
    start(&full, &h, 101).await.unwrap();
    let perms = full.permissions(Some("/vms/101")).await.unwrap();
    let perms = serde_json::to_value(&perms).unwrap();
    assert!(
        perms["/vms/101"]["VM.Clone"].as_bool().unwrap_or(false)
            || perms["/vms/101"]["VM.Clone"] == 1,
        "{perms}"
    );
    let sep_perms = serde_json::to_value(sep.permissions(Some("/vms/101")).await.unwrap()).unwrap();
    assert!(sep_perms["/vms/101"].get("VM.PowerMgmt").is_none(), "{sep_perms}");
}

#[tokio::test]
async fn a_pool_scoped_role_reaches_the_pools_guests_and_nothing_else() {
    let h = realtime(CLUSTER, 1).await;
    ok(&h, "POST", "/pools", "poolid=dev").await;
    ok(&h, "PUT", "/pools/dev", "vms=100").await;
    let c = user_token(&h, "bob@pve", "tk", false).await;
    acl(&h, "/pool/dev", "PVEVMUser", "bob@pve", true).await;
    assert_eq!(vmids(&c.cluster_resources(None).await.unwrap()), [100]);
    // The task a start returns can be followed to its end.
    let upid = c
        .qemu_power(&node(&h), VmId::new(100).unwrap(), &PowerAction::Start { timeout: None })
        .await
        .unwrap();
    c.wait_task(&upid, &proxctl_client::task::WaitOptions::default()).await.unwrap();
    refused(start(&c, &h, 101).await, "/vms/101", "VM.PowerMgmt");
    let list = c.qemu_list(&node(&h)).await.unwrap();
    assert_eq!(list.iter().map(|g| g.vmid.get()).collect::<Vec<_>>(), [100]);
}

#[tokio::test]
async fn an_acl_reaches_children_only_when_it_propagates() {
    let h = realtime(CLUSTER, 1).await;
    let c = user_token(&h, "carol@pve", "tk", false).await;
    acl(&h, "/vms", "PVEVMUser", "carol@pve", false).await;
    refused(start(&c, &h, 100).await, "/vms/100", "VM.PowerMgmt");
    acl(&h, "/vms", "PVEVMUser", "carol@pve", true).await;
    start(&c, &h, 100).await.unwrap();
}

#[tokio::test]
async fn a_wrong_secret_or_a_disabled_user_does_not_authenticate() {
    let h = realtime(CLUSTER, 1).await;
    let _ = user_token(&h, "dave@pve", "tk", false).await;
    let bad =
        Client::new(settings(&h.sim, Credentials::from_full_token("dave@pve!tk=wrong").unwrap()))
            .unwrap();
    let e = bad.cluster_resources(None).await.unwrap_err();
    assert!(
        e.to_string().contains("401") || e.to_string().contains("Authentication failed"),
        "{e}"
    );
    let c = user_token(&h, "dave@pve", "uk", false).await;
    acl(&h, "/", "PVEAuditor", "dave@pve", true).await;
    c.cluster_resources(None).await.unwrap();
    ok(&h, "PUT", "/access/users/dave%40pve", "enable=0").await;
    assert!(c.cluster_resources(None).await.is_err(), "a disabled user's tokens stop working");
}

fn password_client(h: &Harness, user: &str, pw: &str) -> Client {
    Client::new(settings(&h.sim, Credentials::password(user, Secret::new(pw), None).unwrap()))
        .unwrap()
}

async fn raw_login(h: &Harness, user: &str, pw: &str) -> (u16, Value) {
    let body = format!("username={}&password={pw}", user.replace('@', "%40"));
    anonymous_form(h, "POST", "/access/ticket", &body).await
}

#[tokio::test]
async fn a_user_logs_in_with_a_password_and_acts_within_their_acls() {
    let h = realtime(CLUSTER, 1).await;
    let (s, body) =
        form(&h, "POST", "/access/users", "userid=alice%40pve&password=first-pw-1").await;
    assert_eq!(s, 200, "{body}");
    let (s, _) =
        form(&h, "PUT", "/access/acl", "path=%2Fvms%2F100&roles=PVEVMUser&users=alice%40pve").await;
    assert_eq!(s, 200);

    let wrong = password_client(&h, "alice@pve", "not-her-pw");
    assert!(wrong.qemu_list(&node(&h)).await.is_err(), "a wrong password gets no ticket");

    let alice = password_client(&h, "alice@pve", "first-pw-1");
    let seen: Vec<u32> =
        alice.qemu_list(&node(&h)).await.unwrap().iter().map(|g| g.vmid.get()).collect();
    assert_eq!(seen, [100], "the list shows only what she may audit");
    start(&alice, &h, 100).await.unwrap();
    let err = start(&alice, &h, 101).await.unwrap_err();
    assert!(err.to_string().contains("Permission check failed (/vms/101, VM.PowerMgmt)"), "{err}");

    // Her own password: she must give the current one.
    let (s, body) = raw_login(&h, "alice@pve", "first-pw-1").await;
    assert_eq!(s, 200, "{body}");
    let (ticket, csrf) = (
        body["data"]["ticket"].as_str().unwrap().to_string(),
        body["data"]["CSRFPreventionToken"].as_str().unwrap().to_string(),
    );
    let change = |confirm: &str| {
        format!(
            "PUT /api2/json/access/password HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={ticket}\r\nCSRFPreventionToken: {csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\nuserid=alice%40pve&password=second-pw-2&confirmation-password={confirm}",
            "userid=alice%40pve&password=second-pw-2&confirmation-password=".len() + confirm.len()
        )
    };
    let refused = raw_https(&h, &change("guessed-pw")).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let done = raw_https(&h, &change("first-pw-1")).await;
    assert!(done.starts_with("HTTP/1.1 200"), "{done}");
    assert_eq!(raw_login(&h, "alice@pve", "first-pw-1").await.0, 401);
    assert_eq!(raw_login(&h, "alice@pve", "second-pw-2").await.0, 200);

    // Disabled: the ticket she holds stops working at once.
    let (s, _) = form(&h, "PUT", "/access/users/alice%40pve", "enable=0").await;
    assert_eq!(s, 200);
    assert!(alice.qemu_list(&node(&h)).await.is_err());
}

#[tokio::test]
async fn each_methods_schema_permissions_decide_including_methods_answered_generically() {
    let h = realtime(CLUSTER, 1).await;
    let tok = user_secret(&h, "bob@pve", "t", false).await;
    acl(&h, "/vms/100", "PVEVMUser", "bob@pve", true).await;
    let n = node(&h).to_string();
    let get = |path: String| {
        let tok = tok.clone();
        let h = &h;
        async move { raw_json_as(h, &tok, "GET", &format!("/api2/json{path}"), None, "").await }
    };
    // `user: all`: any authenticated caller.
    assert_eq!(get("/version".into()).await.0, 200);
    // The schema asks Sys.Audit on / for the HA resource list.
    let (s, body) = get("/cluster/ha/resources".into()).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(message(&body).trim_end(), "Permission check failed (/, Sys.Audit)");
    // A method only the generic layer answers is checked by its schema entry too.
    let (s, body) = get(format!("/nodes/{n}/apt/versions")).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        message(&body).trim_end(),
        format!("Permission check failed (/nodes/{n}, Sys.Audit)")
    );
    acl(&h, &format!("/nodes/{n}"), "PVEAuditor", "bob@pve", true).await;
    assert_eq!(get(format!("/nodes/{n}/apt/versions")).await.0, 200);
}
