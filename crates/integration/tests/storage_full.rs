//! A full storage, as users rehearse it: backups to it and disks allocated on it fail with
//! `No space left on device` (in the task, as PVE's do), the cluster view shows it used up, and
//! other storages keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::ClientError;
use proxctl_client::endpoints::storage::{VzdumpRequest, VzdumpStarted};
use proxctl_sim::faults::Faults;
use proxctl_types::{NodeName, StorageId, VmId};
use support::*;

const SCENARIO: &str = "guests:
  - {vmid: 100, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
";

/// A new 1 GiB disk on local-lvm for VM 100 (an asynchronous config change: a task).
async fn add_disk(h: &Harness, node: &NodeName) -> (u16, serde_json::Value) {
    let path = format!("/api2/json/nodes/{node}/qemu/100/config");
    raw_json(h, "POST", &path, Some("application/x-www-form-urlencoded"), "scsi1=local-lvm%3A1")
        .await
}

#[tokio::test]
async fn a_full_storage_fails_backups_and_allocations_with_no_space_left() {
    let h = realtime(SCENARIO, 1).await;
    let node = NodeName::new(&h.sim.nodes[0]).unwrap();
    h.sim.set_faults(Faults { full_storages: vec!["local".into()], ..Faults::default() });

    let all = h.client.cluster_resources(None).await.unwrap();
    let local = all.iter().find(|r| r.storage.as_deref() == Some("local")).unwrap();
    assert_eq!(local.disk, local.maxdisk, "shown used up");

    let req = VzdumpRequest {
        vmids: vec![VmId::new(100).unwrap()],
        storage: Some(StorageId::new("local").unwrap()),
        ..Default::default()
    };
    let VzdumpStarted::Task(upid) = h.client.vzdump(&node, &req).await.unwrap() else {
        panic!("a backup task");
    };
    let err = h.client.wait_task(&upid, &Default::default()).await.unwrap_err();
    match &err {
        ClientError::TaskFailed { log_tail, exitstatus, .. } => {
            let text = format!("{exitstatus} {}", log_tail.join("\n"));
            assert!(text.contains("No space left on device"), "{text}");
        }
        other => panic!("expected a failed task, got {other:?}"),
    }
    // The guest is not left locked by the failed backup.
    let cfg = h.client.qemu_config(&node, VmId::new(100).unwrap()).await.unwrap();
    assert!(!cfg.contains_key("lock"), "{cfg:?}");

    // A disk on the full storage fails; once it has room again, the same works.
    h.sim.set_faults(Faults { full_storages: vec!["local-lvm".into()], ..Faults::default() });
    let (s, body) = add_disk(&h, &node).await;
    let upid = body["data"].as_str().map(String::from);
    let failed = match upid {
        Some(u) => h
            .client
            .wait_task(&u.parse().unwrap(), &Default::default())
            .await
            .unwrap_err()
            .to_string(),
        None => format!("{s} {body}"),
    };
    assert!(failed.contains("No space left on device"), "{failed}");
    h.sim.set_faults(Faults::default());
    let (s, body) = add_disk(&h, &node).await;
    assert_eq!(s, 200, "{body}");
    if let Some(u) = body["data"].as_str() {
        h.client.wait_task(&u.parse().unwrap(), &Default::default()).await.unwrap();
    }
}
