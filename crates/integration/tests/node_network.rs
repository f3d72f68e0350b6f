//! A node's network in the simulator, as the GUI and Ansible edit it: interfaces made,
//! changed and deleted as pending changes with PVE's diff, applied as a `srvreload` task (the
//! new bridge then becomes active) or reverted, with PVE's checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["iface"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_new_bridge_is_pending_until_applied_and_then_active() {
    let h = harness().await;
    let n = h.sim.nodes[0].clone();
    let base = format!("/nodes/{n}/network");
    let (_, before) = form(&h, "GET", &base, "").await;
    assert_eq!(names(&before), ["eno1", "vmbr0", "vmbr1"], "{before}");
    assert!(before.get("changes").is_none(), "nothing pending: {before}");
    assert_eq!(before["data"][1]["address"].as_str().map(|a| a.starts_with("10.")), Some(true));

    let (s, body) = form(
        &h,
        "POST",
        &base,
        "iface=vmbr7&type=bridge&address=10.9.0.2&netmask=255.255.255.0&bridge_vlan_aware=1&autostart=1&comments=lab",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, pending) = form(&h, "GET", &base, "").await;
    assert_eq!(names(&pending), ["eno1", "vmbr0", "vmbr1", "vmbr7"]);
    let changes = pending["changes"].as_str().unwrap();
    assert!(
        changes.contains("+iface vmbr7 inet static") && changes.contains("+\taddress 10.9.0.2/24"),
        "{changes}"
    );
    let (_, one) = form(&h, "GET", &format!("{base}/vmbr7"), "").await;
    assert_eq!(one["data"]["cidr"], "10.9.0.2/24", "{one}");
    assert_eq!(one["data"]["netmask"], "255.255.255.0");
    assert_eq!(one["data"]["active"], 0, "not active before the apply");

    let (s, body) = form(&h, "PUT", &base, "").await;
    assert_eq!(s, 200, "{body}");
    let upid: proxctl_types::Upid = body["data"].as_str().unwrap().parse().unwrap();
    assert_eq!(upid.task_type, "srvreload");
    h.finish(&upid).await.unwrap();
    let (_, after) = form(&h, "GET", &base, "").await;
    assert!(after.get("changes").is_none(), "{after}");
    let (_, one) = form(&h, "GET", &format!("{base}/vmbr7"), "").await;
    assert_eq!(one["data"]["active"], 1, "{one}");
    let (_, bridges) = form(&h, "GET", &format!("{base}?type=any_bridge"), "").await;
    assert_eq!(names(&bridges), ["vmbr0", "vmbr1", "vmbr7"]);
}

#[tokio::test]
async fn pending_network_changes_can_be_reverted_and_bad_ones_are_refused() {
    let h = harness().await;
    let n = h.sim.nodes[0].clone();
    let base = format!("/nodes/{n}/network");
    let (s, body) = form(&h, "POST", &base, "iface=vmbr0&type=bridge").await;
    assert_eq!(s, 400, "{body}");
    assert!(body["errors"]["iface"].as_str().unwrap().contains("already exists"), "{body}");
    let (s, body) = form(&h, "POST", &base, "iface=vmbr2&type=bridge&bridge_ports=eno1").await;
    assert_eq!(s, 400);
    assert!(
        body["errors"]["bridge_ports"]
            .as_str()
            .unwrap()
            .contains("already used on interface 'vmbr0'"),
        "{body}"
    );
    let (s, body) = form(&h, "POST", &base, "iface=vmbr2&type=bridge&bridge_ports=eno9").await;
    assert_eq!(s, 400);
    assert!(
        body["errors"]["bridge_ports"].as_str().unwrap().contains("'eno9' does not exist"),
        "{body}"
    );
    let (s, body) =
        form(&h, "POST", &base, "iface=vmbr2&type=bridge&cidr=10.8.0.1%2F24&gateway=10.8.0.254")
            .await;
    assert_eq!(s, 400);
    assert!(
        body["errors"]["gateway"]
            .as_str()
            .unwrap()
            .contains("Default gateway already exists on interface 'vmbr0'"),
        "{body}"
    );
    let (s, _) = form(&h, "POST", &base, "iface=eno2&type=eth").await;
    assert_eq!(s, 400, "physical interfaces cannot be made");
    let (s, body) = form(&h, "POST", &base, "iface=mgmt&type=vlan").await;
    assert_eq!(s, 400, "{body}");

    let (s, body) = form(&h, "POST", &base, "iface=vmbr0.20&type=vlan&comments=storage").await;
    assert_eq!(s, 200, "{body}");
    let (s, _) =
        form(&h, "PUT", &format!("{base}/vmbr0.20"), "type=vlan&mtu=9000&delete=comments").await;
    assert_eq!(s, 200);
    let (_, one) = form(&h, "GET", &format!("{base}/vmbr0.20"), "").await;
    assert_eq!(one["data"]["mtu"], 9000, "{one}");
    assert!(one["data"].get("comments").is_none());
    let (s, _) = form(&h, "PUT", &format!("{base}/vmbr0.20"), "type=bridge").await;
    assert_eq!(s, 400, "the type cannot change");

    assert_eq!(form(&h, "DELETE", &base, "").await.0, 200);
    let (_, listed) = form(&h, "GET", &base, "").await;
    assert_eq!(names(&listed), ["eno1", "vmbr0", "vmbr1"], "reverted: {listed}");
    let (s, _) = form(&h, "DELETE", &format!("{base}/vmbr0.20"), "").await;
    assert_eq!(s, 400, "gone with the revert");
}
