//! Notification endpoints and matchers in the simulator, as the GUI and Terraform manage them:
//! made, read back without their secrets, changed and deleted with PVE's checks, test sends,
//! and backups routed to targets by the matchers (`GET /_sim/notifications` shows what went).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

const EP: &str = "/cluster/notifications/endpoints";

async fn sent(h: &Harness) -> Vec<Value> {
    let (s, body) = raw_json(h, "GET", "/_sim/notifications", None, "").await;
    assert_eq!(s, 200, "{body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn endpoints_are_written_read_back_without_secrets_changed_and_deleted() {
    let h = harness().await;
    let (_, targets) = form(&h, "GET", "/cluster/notifications/targets", "").await;
    assert_eq!(targets["data"][0]["name"], "mail-to-root", "{targets}");
    assert_eq!(targets["data"][0]["origin"], "builtin");

    let (s, body) = form(
        &h,
        "POST",
        &format!("{EP}/gotify"),
        "name=phone&server=https%3A%2F%2Fgotify.example&token=s3cret&comment=on-call",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) =
        form(&h, "POST", &format!("{EP}/smtp"), "name=phone&server=mx&from-address=a%40b.c").await;
    assert_eq!(s, 500, "names are unique across kinds: {body}");
    assert!(message(&body).contains("already exists"), "{body}");

    let (_, one) = form(&h, "GET", &format!("{EP}/gotify/phone"), "").await;
    assert_eq!(one["data"]["server"], "https://gotify.example", "{one}");
    assert!(one["data"].get("token").is_none(), "the token is never read back: {one}");
    assert!(!one.to_string().contains("s3cret"));
    let digest = one["data"]["digest"].as_str().unwrap().to_string();
    let (s, _) = form(
        &h,
        "PUT",
        &format!("{EP}/gotify/phone"),
        &format!("delete=comment&disable=1&digest={digest}"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) =
        form(&h, "PUT", &format!("{EP}/gotify/phone"), &format!("comment=x&digest={digest}")).await;
    assert_eq!(s, 500, "a stale digest is refused");
    let (_, listed) = form(&h, "GET", &format!("{EP}/gotify"), "").await;
    assert_eq!(listed["data"][0]["disable"], 1, "{listed}");
    assert!(listed["data"][0].get("comment").is_none());

    let (s, body) = form(
        &h,
        "POST",
        &format!("{EP}/webhook"),
        "name=hook&url=https%3A%2F%2Fhooks.example%2Fpve&method=post&header=name%3DX-Token%2Cvalue%3DYWJj&secret=name%3Dkey%2Cvalue%3DeHl6",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, hook) = form(&h, "GET", &format!("{EP}/webhook/hook"), "").await;
    assert_eq!(hook["data"]["secret"], serde_json::json!(["name=key"]), "{hook}");

    assert_eq!(form(&h, "DELETE", &format!("{EP}/gotify/phone"), "").await.0, 200);
    let (s, _) = form(&h, "GET", &format!("{EP}/gotify/phone"), "").await;
    assert_eq!(s, 404);
    let (s, body) = form(&h, "DELETE", &format!("{EP}/sendmail/mail-to-root"), "").await;
    assert_eq!(s, 500, "the built-in endpoint stays: {body}");
}

#[tokio::test]
async fn matchers_route_backup_notifications_to_their_targets() {
    let h = harness().await;
    let node = h.sim.nodes[0].clone();
    let (s, body) = form(
        &h,
        "POST",
        &format!("{EP}/gotify"),
        "name=ops&server=https%3A%2F%2Fg.example&token=t",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) =
        form(&h, "POST", "/cluster/notifications/matchers", "name=failures&target=nowhere").await;
    assert_eq!(s, 400, "an unknown target is refused: {body}");
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/notifications/matchers",
        "name=failures&target=ops&match-field=type%3Dvzdump",
    )
    .await;
    assert_eq!(s, 400, "a match-field needs exact: or regex: {body}");
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/notifications/matchers",
        "name=failures&target=ops&match-severity=error&match-field=exact%3Atype%3Dvzdump&mode=all",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = form(&h, "DELETE", &format!("{EP}/gotify/ops"), "").await;
    assert_eq!(s, 500, "a target a matcher uses cannot go: {body}");
    assert!(message(&body).contains("matcher 'failures'"), "{body}");

    // A backup that works reaches only the default matcher's target.
    let (s, body) =
        form(&h, "POST", &format!("/nodes/{node}/qemu"), "vmid=120&name=web&scsi0=local-lvm%3A1")
            .await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    let (_, body) =
        form(&h, "POST", &format!("/nodes/{node}/vzdump"), "vmid=120&storage=local").await;
    let upid: proxctl_types::Upid = body["data"].as_str().unwrap().parse().unwrap();
    h.finish(&upid).await.unwrap();
    let got = sent(&h).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["target"], "mail-to-root");
    assert_eq!(got[0]["severity"], "info");

    // A backup that fails (a full storage) also reaches the failures matcher's target.
    let (s, _) = raw_json(&h, "PUT", "/_sim/faults", None, r#"{"full_storages":["local"]}"#).await;
    assert_eq!(s, 200);
    let (_, body) =
        form(&h, "POST", &format!("/nodes/{node}/vzdump"), "vmid=120&storage=local").await;
    let upid: proxctl_types::Upid = body["data"].as_str().unwrap().parse().unwrap();
    assert!(h.finish(&upid).await.is_err());
    let got = sent(&h).await;
    let targets: Vec<&str> = got[1..].iter().map(|n| n["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["mail-to-root", "ops"], "{got:?}");
    assert!(got[2]["title"].as_str().unwrap().contains("backup failed"), "{got:?}");

    assert_eq!(form(&h, "POST", "/cluster/notifications/targets/ops/test", "").await.0, 200);
    assert_eq!(sent(&h).await.len(), 4);
    let (s, _) = form(&h, "POST", "/cluster/notifications/targets/nope/test", "").await;
    assert_eq!(s, 404);
    let (_, values) = form(&h, "GET", "/cluster/notifications/matcher-field-values", "").await;
    assert!(
        values["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["field"] == "hostname" && v["value"] == node.as_str()),
        "{values}"
    );
}
