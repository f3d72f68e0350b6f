//! PVE's datacenter backup jobs in the simulator, as a third-party client makes them (form
//! posts to `/cluster/backup`), read back by proxctl's client: the jobs list, the guests no
//! job covers (`/cluster/backup-info/not-backed-up`, which counts disabled jobs as PVE does),
//! parameter errors as PVE words them, and backup coverage naming the PVE jobs (`pve:<id>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_ops::coverage;
use proxctl_types::selector::Selector;
use support::*;

const GUESTS: &str = "nodes: [{name: pve1}, {name: pve2}]
guests:
  - {vmid: 100, node: pve1, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, node: pve2, config: {name: web-2, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
  - {vmid: 200, node: pve1, kind: lxc, config: {hostname: db-1, rootfs: \"local-lvm:vm-200-disk-0,size=4G\"}}
";

/// A form request as a third-party client sends it; the status and the JSON answer.
async fn form(h: &Harness, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let path = format!("/api2/json{path}");
    raw_json(h, method, &path, Some("application/x-www-form-urlencoded"), body).await
}

async fn uncovered(h: &Harness) -> Vec<(u32, String)> {
    h.client.not_backed_up().await.unwrap().into_iter().map(|g| (g.vmid, g.guest_type)).collect()
}

async fn jobs_of(h: &Harness, vmid: u32) -> Vec<String> {
    let all: Selector = "all".parse().unwrap();
    let rows = coverage::coverage(&h.client, &[], &all, 86_400, 0).await.unwrap();
    rows.into_iter().find(|r| r.vmid == vmid).unwrap().jobs
}

#[tokio::test]
async fn backup_jobs_decide_which_guests_pve_reports_as_not_backed_up() {
    let h = realtime(GUESTS, 2).await;
    assert_eq!(
        uncovered(&h).await,
        [(100, "qemu".into()), (101, "qemu".into()), (200, "lxc".into())],
        "no job: nothing is covered"
    );

    let (s, body) = form(&h, "POST", "/cluster/backup", "schedule=daily&storage=local").await;
    assert_eq!(s, 400, "a job must select guests: {body}");
    assert!(body["errors"]["vmid"].as_str().unwrap().contains("property is missing"), "{body}");
    let (s, body) = form(&h, "POST", "/cluster/backup", "all=1&vmid=100&schedule=daily").await;
    assert_eq!(s, 400, "{body}");
    assert!(body["errors"]["all"].as_str().unwrap().contains("conflicts with option 'vmid'"));

    let (s, body) =
        form(&h, "POST", "/cluster/backup", "id=web&vmid=100&schedule=daily&storage=local").await;
    assert_eq!((s, &body["data"]), (200, &serde_json::Value::Null), "{body}");
    let (s, _) = form(&h, "POST", "/cluster/backup", "id=web&vmid=101&schedule=daily").await;
    assert_eq!(s, 500, "an id is taken once");
    // PVE makes up an id when none is given.
    let (s, _) = form(&h, "POST", "/cluster/backup", "all=1&node=pve2&schedule=sun 01:00").await;
    assert_eq!(s, 200);

    let jobs = h.client.backup_jobs().await.unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let made = jobs.iter().find(|j| j.id != "web").unwrap();
    assert!(made.id.starts_with("backup-"), "{made:?}");
    assert_eq!(made.node.as_deref(), Some("pve2"));
    assert!(jobs.iter().all(|j| j.is_enabled()), "enabled unless switched off");
    assert_eq!(uncovered(&h).await, [(200, "lxc".into())]);
    assert_eq!(jobs_of(&h, 100).await, ["pve:web"]);
    assert_eq!(jobs_of(&h, 101).await, [format!("pve:{}", made.id)]);

    // Switched off, a job still counts for PVE's list (it asks what a job would include) but
    // no longer protects anything in proxctl's coverage.
    let (s, body) = form(&h, "PUT", "/cluster/backup/web", "enabled=0").await;
    assert_eq!(s, 200, "{body}");
    let (s, web) = form(&h, "GET", "/cluster/backup/web", "").await;
    assert_eq!((s, web["data"]["enabled"].as_i64()), (200, Some(0)), "{web}");
    assert_eq!(web["data"]["type"], "vzdump");
    assert_eq!(uncovered(&h).await, [(200, "lxc".into())]);
    assert!(jobs_of(&h, 100).await.is_empty());

    let (s, _) = form(&h, "DELETE", "/cluster/backup/web", "").await;
    assert_eq!(s, 200);
    let (s, body) = form(&h, "DELETE", "/cluster/backup/web", "").await;
    assert_eq!(s, 500, "{body}");
    assert_eq!(uncovered(&h).await, [(100, "qemu".into()), (200, "lxc".into())]);
}
