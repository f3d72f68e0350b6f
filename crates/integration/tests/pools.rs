//! Resource pools in the simulator, driven as a third-party client drives them: made, given
//! guests (moved between pools only with `allow-move`), emptied and deleted, with PVE's
//! errors; clones made with `pool` join it and leave it when destroyed, and
//! `/cluster/resources` shows each guest's pool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const SCENARIO: &str = "guests:
  - {vmid: 9000, config: {name: tpl, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}
  - {vmid: 100, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
";

async fn members(h: &Harness, pool: &str) -> Vec<String> {
    let (s, body) = form(h, "GET", &format!("/pools/{pool}"), "").await;
    assert_eq!(s, 200, "{body}");
    body["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

async fn pool_of(h: &Harness, vmid: u32) -> Option<String> {
    let all = h.client.cluster_resources(None).await.unwrap();
    all.into_iter().find(|r| r.vmid.map(|v| v.get()) == Some(vmid)).and_then(|r| r.pool)
}

#[tokio::test]
async fn pools_hold_guests_move_them_only_when_allowed_and_delete_only_when_empty() {
    let h = realtime(SCENARIO, 1).await;
    let node = h.sim.nodes[0].clone();
    assert_eq!(form(&h, "POST", "/pools", "poolid=web&comment=Web%20tier").await.0, 200);
    let (s, body) = form(&h, "POST", "/pools", "poolid=web").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("pool 'web' already exists"), "{body}");
    let (s, body) = form(&h, "GET", "/pools/nope", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("pool 'nope' does not exist"), "{body}");

    assert_eq!(form(&h, "PUT", "/pools", "poolid=web&vms=100").await.0, 200);
    assert_eq!(members(&h, "web").await, ["qemu/100"]);
    assert_eq!(pool_of(&h, 100).await.as_deref(), Some("web"));
    let (_, listed) = form(&h, "GET", "/pools", "").await;
    assert_eq!(listed["data"][0]["comment"], "Web tier", "{listed}");

    assert_eq!(form(&h, "POST", "/pools", "poolid=db").await.0, 200);
    let (s, body) = form(&h, "PUT", "/pools/db", "vms=100").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("VM 100 is already a pool member"), "{body}");
    assert_eq!(form(&h, "PUT", "/pools/db", "vms=100&allow-move=1").await.0, 200);
    assert_eq!(members(&h, "db").await, ["qemu/100"]);
    assert!(members(&h, "web").await.is_empty());

    let (s, body) = form(&h, "DELETE", "/pools/db", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("pool 'db' is not empty"), "{body}");
    assert_eq!(form(&h, "PUT", "/pools", "poolid=db&vms=100&delete=1").await.0, 200);
    assert_eq!(form(&h, "DELETE", "/pools/db", "").await.0, 200);
    assert_eq!(pool_of(&h, 100).await, None);

    // A clone made into a pool joins it; destroyed, it leaves.
    let clone = format!("/nodes/{node}/qemu/9000/clone");
    let (s, body) = form(&h, "POST", &clone, "newid=150&pool=nope").await;
    assert_eq!(s, 500, "a pool must exist before the clone: {body}");
    let (s, body) = form(&h, "POST", &clone, "newid=150&name=web-2&pool=web").await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    assert_eq!(members(&h, "web").await, ["qemu/150"]);
    assert_eq!(pool_of(&h, 150).await.as_deref(), Some("web"));
    let (s, body) = form(&h, "DELETE", &format!("/nodes/{node}/qemu/150"), "").await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    assert!(members(&h, "web").await.is_empty());
    assert_eq!(form(&h, "DELETE", "/pools/web", "").await.0, 200);
}
