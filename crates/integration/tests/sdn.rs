//! SDN in the simulator as PVE 9 has it: zones, vnets and subnets written as pending changes,
//! applied by `PUT /cluster/sdn` or thrown away by `rollback`, under the global lock whose
//! token every change must carry; `pending=1` and `running=1` views; PVE's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

async fn ok(h: &Harness, method: &str, path: &str, body: &str) -> Value {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 200, "{method} {path} {body}: {v}");
    v["data"].clone()
}

async fn refused(h: &Harness, method: &str, path: &str, body: &str, text: &str) {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 500, "{method} {path} {body}: {v}");
    assert!(message(&v).contains(text), "{method} {path}: {v}");
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn changes_are_pending_until_applied_and_rollback_throws_them_away() {
    let h = realtime("", 1).await;
    ok(&h, "POST", "/cluster/sdn/zones", "zone=lab&type=vlan&bridge=vmbr0").await;
    let pending = ok(&h, "GET", "/cluster/sdn/zones?pending=1", "").await;
    let lab = pending.as_array().unwrap().iter().find(|z| z["zone"] == "lab").unwrap();
    assert_eq!(lab["state"], "new");
    assert!(
        !names(&ok(&h, "GET", "/cluster/sdn/zones?running=1", "").await, "zone")
            .contains(&"lab".into())
    );
    let upid = ok(&h, "PUT", "/cluster/sdn", "").await;
    assert!(upid.as_str().unwrap().contains(":reloadnetworkall:"), "{upid}");
    assert!(
        names(&ok(&h, "GET", "/cluster/sdn/zones?running=1", "").await, "zone")
            .contains(&"lab".into())
    );

    // A VLAN zone's vnet needs a tag; subnets get PVE's ids; gateways must be inside.
    refused(&h, "POST", "/cluster/sdn/vnets", "vnet=net1&zone=lab", "missing vlan tag").await;
    ok(&h, "POST", "/cluster/sdn/vnets", "vnet=net1&zone=lab&tag=20").await;
    refused(
        &h,
        "POST",
        "/cluster/sdn/vnets/net1/subnets",
        "subnet=10.9.0.0%2F24&type=subnet&gateway=10.8.0.1",
        "not in subnet",
    )
    .await;
    ok(
        &h,
        "POST",
        "/cluster/sdn/vnets/net1/subnets",
        "subnet=10.9.0.0%2F24&type=subnet&gateway=10.9.0.1",
    )
    .await;
    let subnets = ok(&h, "GET", "/cluster/sdn/vnets/net1/subnets", "").await;
    assert_eq!(names(&subnets, "subnet"), ["lab-10.9.0.0-24"]);
    refused(&h, "DELETE", "/cluster/sdn/zones/lab", "", "vnet 'net1' uses it").await;

    // Rollback: back to what was applied.
    ok(&h, "POST", "/cluster/sdn/rollback", "").await;
    assert!(
        !names(&ok(&h, "GET", "/cluster/sdn/vnets", "").await, "vnet").contains(&"net1".into())
    );
    assert!(names(&ok(&h, "GET", "/cluster/sdn/zones", "").await, "zone").contains(&"lab".into()));
}

#[tokio::test]
async fn under_the_lock_every_change_carries_its_token() {
    let h = realtime("", 1).await;
    let token = ok(&h, "POST", "/cluster/sdn/lock", "").await.as_str().unwrap().to_string();
    refused(&h, "POST", "/cluster/sdn/lock", "", "it is locked").await;
    refused(&h, "POST", "/cluster/sdn/zones", "zone=z1&type=simple", "lock-token is required")
        .await;
    refused(
        &h,
        "POST",
        "/cluster/sdn/zones",
        "zone=z1&type=simple&lock-token=nope",
        "invalid lock token",
    )
    .await;
    ok(&h, "POST", "/cluster/sdn/zones", &format!("zone=z1&type=simple&lock-token={token}")).await;
    ok(&h, "PUT", "/cluster/sdn", &format!("lock-token={token}&release-lock=1")).await;
    // Released by the apply: changes need no token again, and a stale one is refused.
    refused(
        &h,
        "POST",
        "/cluster/sdn/zones",
        &format!("zone=z2&type=simple&lock-token={token}"),
        "not locked",
    )
    .await;
    ok(&h, "POST", "/cluster/sdn/zones", "zone=z2&type=simple").await;
    let t2 = ok(&h, "POST", "/cluster/sdn/lock", "").await.as_str().unwrap().to_string();
    refused(&h, "DELETE", "/cluster/sdn/lock?lock-token=nope", "", "invalid lock token").await;
    ok(&h, "DELETE", &format!("/cluster/sdn/lock?lock-token={t2}"), "").await;
}
