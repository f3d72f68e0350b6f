//! `proxctl get vms` with a node down (a scenario node with `online: false`): that node's
//! guests are listed as unknown, and the others as they are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

const SCENARIO: &str = "\
nodes:
  - {name: pve1}
  - {name: pve2}
  - {name: pve3, online: false}
guests:
  - {vmid: 100, node: pve1, running: true, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 300, node: pve3, running: true, config: {name: db-1, scsi0: \"local-lvm:vm-300-disk-0,size=4G\"}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_vms_lists_the_guests_of_a_node_that_is_down_as_unknown() {
    let sim = support::start_with(SCENARIO).await;
    let run = support::proxctl(&sim, &["get", "vms", "-o", "json"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let status = |vmid: u64| {
        rows.iter().find(|r| r["vmid"] == vmid).map(|r| r["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status(100).as_deref(), Some("running"));
    assert_eq!(status(300).as_deref(), Some("unknown"));
    let run = support::proxctl(&sim, &["get", "vms"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let db = run.stdout.lines().find(|l| l.contains("db-1")).unwrap();
    assert!(db.contains("unknown") && db.contains("pve3"), "{}", run.stdout);
}
