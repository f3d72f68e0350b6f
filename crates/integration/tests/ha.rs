//! The HA stack in the simulator, as third-party tools drive it: resources written and read
//! back, power and migrate calls on HA-managed guests queued as `hastart`/`hastop`/`hamigrate`
//! requests that the CRM carries out on its 10 s rounds, rules and groups, fencing and
//! recovery when a node goes down, and arming and disarming.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_sim::faults::Faults;
use serde_json::Value;
use support::*;

const SCENARIO: &str = "guests:
  - {vmid: 100, node: pve1, running: false, config: {name: web-1, scsi0: \"shared:100/vm-100-disk-0.qcow2,size=4G\"}}
  - {vmid: 101, node: pve1, running: true, config: {name: web-2, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
  - {vmid: 200, node: pve2, kind: lxc, running: false, config: {hostname: ct-1, rootfs: \"local-lvm:vm-200-disk-0,size=2G\"}}
ha:
  - {sid: \"vm:100\", state: stopped}
";

async fn harness() -> Harness {
    let mut cfg = config(3);
    cfg.scenario = Some(proxctl_sim::scenario::Scenario::from_yaml(SCENARIO).unwrap());
    harness_with(cfg).await
}

/// The service entry of `vm:100`-style `sid` in the HA status.
async fn service(h: &Harness, sid: &str) -> Value {
    let (s, body) = form(h, "GET", "/cluster/ha/status/current", "").await;
    assert_eq!(s, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sid"] == sid)
        .cloned()
        .unwrap_or_else(|| panic!("no service {sid} in {body}"))
}

fn guest_node(h: &Harness, vmid: u32) -> (String, bool) {
    h.sim.with_world(|w| {
        let g = &w.guests[&vmid];
        (g.node.clone(), g.is_running())
    })
}

async fn task_types(h: &Harness) -> Vec<String> {
    let (_, body) = form(h, "GET", "/cluster/tasks", "").await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_start_on_an_ha_managed_vm_only_requests_it_and_the_crm_starts_it_on_its_round() {
    let h = harness().await;
    h.sim.settle();
    assert_eq!(service(&h, "vm:100").await["state"], "stopped");

    let (s, body) = form(&h, "POST", "/nodes/pve1/qemu/100/status/start", "").await;
    assert_eq!(s, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_string();
    assert!(upid.contains(":hastart:100:"), "{upid}");
    h.sim.advance(500);
    let (_, log) = form(&h, "GET", &format!("/nodes/pve1/tasks/{upid}/log"), "").await;
    assert_eq!(log["data"][0]["t"], "Requesting HA start for VM 100", "{log}");
    // The request is recorded, but nothing runs before the CRM's next round.
    let svc = service(&h, "vm:100").await;
    assert_eq!(
        (svc["request_state"].as_str(), svc["state"].as_str()),
        (Some("started"), Some("stopped")),
        "{svc}"
    );
    assert!(!guest_node(&h, 100).1);

    h.sim.advance(10_000);
    let svc = service(&h, "vm:100").await;
    assert_eq!(
        (svc["crm_state"].as_str(), svc["state"].as_str()),
        (Some("started"), Some("starting")),
        "{svc}"
    );
    h.sim.settle();
    assert_eq!(service(&h, "vm:100").await["state"], "started");
    assert!(guest_node(&h, 100).1, "the LRM started the guest");
    assert!(
        task_types(&h).await.contains(&"qmstart".to_string()),
        "the LRM's own start task is listed"
    );

    let (_, body) = form(&h, "POST", "/nodes/pve1/qemu/100/status/shutdown", "").await;
    assert!(body["data"].as_str().unwrap().contains(":hastop:100:"), "{body}");
    h.sim.settle();
    let svc = service(&h, "vm:100").await;
    assert_eq!(
        (svc["request_state"].as_str(), svc["state"].as_str()),
        (Some("stopped"), Some("stopped")),
        "{svc}"
    );
    assert!(!guest_node(&h, 100).1);

    let (_, cur) = form(&h, "GET", "/nodes/pve1/qemu/100/status/current", "").await;
    assert_eq!(cur["data"]["ha"]["managed"], 1, "{cur}");
}

#[tokio::test]
async fn ha_resources_are_written_read_back_changed_and_deleted_with_pves_errors() {
    let h = harness().await;
    let (s, body) = form(&h, "POST", "/cluster/ha/resources", "sid=999").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("no such VMID '999'"), "{body}");
    let (s, body) = form(&h, "POST", "/cluster/ha/resources", "sid=vm%3A100").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("resource ID 'vm:100' already defined"), "{body}");
    let (s, body) = form(&h, "POST", "/cluster/ha/resources", "sid=vm%3A101&group=nope").await;
    assert_eq!(s, 400, "{body}");

    // A bare ID of a container becomes `ct:`, as in PVE.
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/ha/resources",
        "sid=200&state=stopped&comment=edge&max_restart=3",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, one) = form(&h, "GET", "/cluster/ha/resources/ct%3A200", "").await;
    assert_eq!(one["data"]["type"], "ct", "{one}");
    assert_eq!(one["data"]["comment"], "edge");
    assert_eq!(one["data"]["max_restart"], 3);
    let digest = one["data"]["digest"].as_str().unwrap().to_string();

    let (s, _) = form(
        &h,
        "PUT",
        "/cluster/ha/resources/ct%3A200",
        &format!("delete=comment&digest={digest}"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) =
        form(&h, "PUT", "/cluster/ha/resources/ct%3A200", &format!("comment=x&digest={digest}"))
            .await;
    assert_eq!(s, 500, "a stale digest is refused");
    assert!(message(&body).contains("detected modified configuration"), "{body}");
    let (_, one) = form(&h, "GET", "/cluster/ha/resources/ct%3A200", "").await;
    assert!(one["data"].get("comment").is_none(), "{one}");
    // The digest covers every setting, so a stale one cannot overwrite a limit change.
    let before = one["data"]["digest"].clone();
    let (s, _) = form(&h, "PUT", "/cluster/ha/resources/ct%3A200", "max_restart=4").await;
    assert_eq!(s, 200);
    let (_, one) = form(&h, "GET", "/cluster/ha/resources/ct%3A200", "").await;
    assert_ne!(one["data"]["digest"], before, "{one}");

    let (_, cts) = form(&h, "GET", "/cluster/ha/resources?type=ct", "").await;
    assert_eq!(cts["data"].as_array().unwrap().len(), 1, "{cts}");
    assert_eq!(form(&h, "DELETE", "/cluster/ha/resources/ct%3A200", "").await.0, 200);
    let (s, body) = form(&h, "GET", "/cluster/ha/resources/ct%3A200", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("no such resource 'ct:200'"), "{body}");
}

#[tokio::test]
async fn a_migrate_request_moves_the_service_and_a_plain_migrate_call_becomes_hamigrate() {
    let h = harness().await;
    let (s, _) = form(&h, "PUT", "/cluster/ha/resources/vm%3A100", "state=started").await;
    assert_eq!(s, 200);
    h.sim.settle();
    assert_eq!(guest_node(&h, 100), ("pve1".into(), true));

    let (s, body) = form(&h, "POST", "/cluster/ha/resources/vm%3A100/migrate", "node=pve2").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["requested-node"], "pve2");
    h.sim.advance(10_000);
    assert_eq!(service(&h, "vm:100").await["state"], "migrate");
    h.sim.settle();
    assert_eq!(guest_node(&h, 100), ("pve2".into(), true), "migrated online, still running");
    assert_eq!(service(&h, "vm:100").await["state"], "started");

    let (_, body) = form(&h, "POST", "/nodes/pve2/qemu/100/migrate", "target=pve3&online=1").await;
    assert!(body["data"].as_str().unwrap().contains(":hamigrate:100:"), "{body}");
    h.sim.settle();
    assert_eq!(guest_node(&h, 100).0, "pve3");

    let (s, body) = form(&h, "POST", "/cluster/ha/resources/vm%3A101/migrate", "node=pve2").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("not managed by HA"), "{body}");
    let (s, _) = form(&h, "POST", "/cluster/ha/resources/vm%3A100/relocate", "node=nowhere").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn services_of_a_node_that_goes_down_are_fenced_and_recovered_where_a_rule_prefers() {
    let h = harness().await;
    let (s, _) = form(&h, "PUT", "/cluster/ha/resources/vm%3A100", "state=started").await;
    assert_eq!(s, 200);
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/ha/rules",
        "rule=prefer-3&type=node-affinity&resources=vm%3A100&nodes=pve3%3A2%2Cpve2%3A1",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    assert_eq!(guest_node(&h, 100), ("pve1".into(), true));

    h.sim.set_faults(Faults { offline_nodes: vec!["pve1".into()], ..Faults::default() });
    h.sim.advance(10_000);
    assert_eq!(service(&h, "vm:100").await["state"], "fence");
    h.sim.advance(10_000);
    assert_eq!(service(&h, "vm:100").await["state"], "recovery");
    h.sim.settle();
    assert_eq!(guest_node(&h, 100), ("pve3".into(), true), "recovered on the rule's first node");
    let (_, body) = form(&h, "GET", "/cluster/ha/status/current", "").await;
    let lrm =
        body["data"].as_array().unwrap().iter().find(|e| e["id"] == "lrm:pve1").cloned().unwrap();
    assert!(lrm["status"].as_str().unwrap().contains("dead?"), "{lrm}");
}

#[tokio::test]
async fn ha_rules_and_groups_are_written_read_back_and_checked() {
    let h = harness().await;
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/ha/rules",
        "rule=r1&type=node-affinity&resources=vm%3A101&nodes=pve2",
    )
    .await;
    assert_eq!(s, 400, "vm:101 is not an HA resource: {body}");
    let (s, body) =
        form(&h, "POST", "/cluster/ha/rules", "rule=r1&type=node-affinity&resources=vm%3A100")
            .await;
    assert_eq!(s, 400, "node affinity needs nodes: {body}");
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/ha/rules",
        "rule=r1&type=node-affinity&resources=vm%3A100&nodes=pve2%3A5&strict=1",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = form(
        &h,
        "POST",
        "/cluster/ha/rules",
        "rule=r1&type=node-affinity&resources=vm%3A100&nodes=pve2",
    )
    .await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("already defined"), "{body}");
    let (_, one) = form(&h, "GET", "/cluster/ha/rules/r1", "").await;
    assert_eq!(
        (one["data"]["nodes"].as_str(), one["data"]["strict"].as_i64()),
        (Some("pve2:5"), Some(1)),
        "{one}"
    );
    let (s, _) =
        form(&h, "PUT", "/cluster/ha/rules/r1", "type=node-affinity&comment=pin&delete=strict")
            .await;
    assert_eq!(s, 200);
    let (_, listed) = form(&h, "GET", "/cluster/ha/rules?resource=vm%3A100", "").await;
    assert_eq!(listed["data"][0]["comment"], "pin", "{listed}");
    assert!(listed["data"][0].get("strict").is_none());
    assert_eq!(form(&h, "DELETE", "/cluster/ha/rules/r1", "").await.0, 200);
    assert_eq!(form(&h, "GET", "/cluster/ha/rules/r1", "").await.0, 500);

    let (s, _) = form(&h, "POST", "/cluster/ha/groups", "group=g1&nodes=pve2%3A1%2Cpve9").await;
    assert_eq!(s, 400, "an unknown node is refused");
    let (s, body) =
        form(&h, "POST", "/cluster/ha/groups", "group=g1&nodes=pve2%3A1%2Cpve3&restricted=1").await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = form(&h, "PUT", "/cluster/ha/resources/vm%3A100", "group=g1").await;
    assert_eq!(s, 200);
    let (s, body) = form(&h, "DELETE", "/cluster/ha/groups/g1", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("used by resource 'vm:100'"), "{body}");
    let (_, g) = form(&h, "GET", "/cluster/ha/groups/g1", "").await;
    assert_eq!(g["data"]["restricted"], 1, "{g}");
}

#[tokio::test]
async fn disarming_ha_freezes_services_until_it_is_armed_again() {
    let h = harness().await;
    h.sim.settle();
    let (s, _) = form(&h, "POST", "/cluster/ha/status/disarm-ha", "resource-mode=freeze").await;
    assert_eq!(s, 200);
    let (s, _) = form(&h, "PUT", "/cluster/ha/resources/vm%3A100", "state=started").await;
    assert_eq!(s, 200);
    h.sim.settle();
    assert_eq!(service(&h, "vm:100").await["state"], "freeze");
    assert!(!guest_node(&h, 100).1, "a frozen service is not started");
    let (s, body) = form(&h, "POST", "/cluster/ha/status/disarm-ha", "resource-mode=ignore").await;
    assert_eq!(s, 500, "{body}");

    assert_eq!(form(&h, "POST", "/cluster/ha/status/arm-ha", "").await.0, 200);
    h.sim.settle();
    assert_eq!(service(&h, "vm:100").await["state"], "started");
    assert!(guest_node(&h, 100).1);
    let (_, raw) = form(&h, "GET", "/cluster/ha/status/manager_status", "").await;
    assert_eq!(
        raw["data"]["manager_status"]["service_status"]["vm:100"]["state"], "started",
        "{raw}"
    );
}
