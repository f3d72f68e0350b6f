//! Containers, storage (content, upload, download-url, notes and protection), vzdump, task
//! endpoints, determinism and state persistence, through the client against the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::Arc;

use proxctl_client::endpoints::guest::{DeleteOptions, PowerAction, SnapshotRequest};
use proxctl_client::endpoints::lxc::LxcCreate;
use proxctl_client::endpoints::qemu::{CloneRequest, CreateOptions};
use proxctl_client::endpoints::storage::{
    Checksum, ChecksumAlgorithm, DownloadUrlRequest, TransferContent, UploadRequest, VzdumpRequest,
    VzdumpStarted,
};
use proxctl_client::endpoints::tasks::TaskFilter;
use proxctl_client::{ApiErrorKind, ClientError, Started};
use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::prop::*;
use proxctl_types::{NodeName, SnapshotName, StorageId, Upid, VolumeId};
use sha2::Digest;
use support::*;

fn store(s: &str) -> StorageId {
    StorageId::new(s).unwrap()
}

fn upid(s: Started) -> Upid {
    match s {
        Started::Task(u) => u,
        Started::AlreadyDone => panic!("expected a task"),
    }
}

fn ct() -> LxcCreate {
    LxcCreate {
        ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
        config: LxcConfig {
            hostname: Some("ct-1".into()),
            memory: Some(512),
            rootfs: Some("local-lvm:8".parse().unwrap()),
            net: [(0, "name=eth0,bridge=vmbr0,ip=dhcp".parse().unwrap())].into(),
            unprivileged: Some(true),
            ..LxcConfig::default()
        },
        password: Some(proxctl_types::secret::Secret::new("hunter22")),
        ..LxcCreate::default()
    }
}

#[tokio::test]
async fn containers_have_their_own_lifecycle_and_synchronous_state_errors() {
    let h = harness().await;
    let n = node(&h);
    let t = h.client.lxc_create(&n, id(200), &ct()).await.unwrap();
    h.finish(&t).await.unwrap();
    let cfg = h.client.lxc_config(&n, id(200)).await.unwrap();
    assert_eq!(cfg["rootfs"], "local-lvm:vm-200-disk-0,size=8G");
    assert_eq!(cfg["memory"], 512, "LXC memory is an integer");
    assert!(cfg["net0"].as_str().unwrap().contains("hwaddr=BC:24:11:"));
    // Stopping a stopped container is a synchronous error, unlike QEMU.
    let e =
        h.client.lxc_power(&n, id(200), &PowerAction::Stop { timeout: None }).await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "CT 200 not running");
    let t = h.client.lxc_power(&n, id(200), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let e =
        h.client.lxc_power(&n, id(200), &PowerAction::Start { timeout: None }).await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "CT 200 already running");
    assert!(h.client.lxc_status(&n, id(200)).await.unwrap().is_running());
    assert!(matches!(
        h.client.lxc_power(&n, id(200), &PowerAction::Reset).await,
        Err(ClientError::Config(_))
    ));
    let s = SnapshotRequest {
        name: SnapshotName::new("s1").unwrap(),
        description: None,
        vmstate: false,
    };
    let t = h
        .client
        .snapshot_create(proxctl_types::messages::GuestKind::Lxc, &n, id(200), &s)
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    assert_eq!(
        h.client
            .snapshots(proxctl_types::messages::GuestKind::Lxc, &n, id(200))
            .await
            .unwrap()
            .len(),
        2
    );
    h.client
        .lxc_update_config(
            &n,
            id(200),
            &LxcConfig { cores: Some(2), ..Default::default() },
            &[],
            None,
        )
        .await
        .unwrap();
    let t = h
        .client
        .lxc_clone(
            &n,
            id(200),
            id(201),
            &proxctl_client::endpoints::lxc::LxcCloneRequest {
                hostname: Some("ct-2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let c2 = h.client.lxc_config(&n, id(201)).await.unwrap();
    assert_eq!(c2["hostname"], "ct-2");
    assert_ne!(c2["net0"], cfg["net0"], "a clone gets a new MAC");
    let grow = proxctl_types::wire::ResizeTo::Grow(proxctl_types::wire::DiskSize::gib(2));
    let t = h.client.lxc_resize(&n, id(201), "rootfs", grow, None).await.unwrap();
    h.finish(&t).await.unwrap();
    assert!(
        h.client.lxc_config(&n, id(201)).await.unwrap()["rootfs"]
            .as_str()
            .unwrap()
            .ends_with("size=10G")
    );
    let shrink = proxctl_types::wire::ResizeTo::Absolute(proxctl_types::wire::DiskSize::gib(1));
    let t = h.client.lxc_resize(&n, id(201), "rootfs", shrink, None).await.unwrap();
    assert!(h.finish(&t).await.unwrap_err().to_string().contains("unable to shrink disk size"));
    let e = h.client.lxc_delete(&n, id(200), &DeleteOptions::default()).await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "unable to destroy CT 200 - container is running");
    let t = h
        .client
        .lxc_delete(&n, id(200), &DeleteOptions { force: true, ..Default::default() })
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let left: Vec<u32> =
        h.client.lxc_list(&n).await.unwrap().iter().map(|g| g.vmid.get()).collect();
    assert_eq!(left, [201], "only the clone is left");
    h.client.lxc_termproxy(&n, id(200)).await.unwrap_err();
}

#[tokio::test]
async fn uploads_stream_with_a_content_length_and_verify_the_checksum() {
    let h = harness().await;
    let n = node(&h);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.qcow2");
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::File::create(&path).unwrap().write_all(&data).unwrap();
    let good = hex::encode(sha2::Sha256::digest(&data));
    let seen = Arc::new(std::sync::Mutex::new(0u64));
    let s2 = seen.clone();
    let progress: proxctl_client::endpoints::storage::UploadProgress =
        Arc::new(move |sent, _| *s2.lock().unwrap() = sent);
    let up = UploadRequest {
        content: TransferContent::Import,
        filename: "tiny.qcow2".into(),
        checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: good }),
        path: path.clone(),
    };
    let t = h.client.storage_upload(&n, &store("local"), &up, Some(progress)).await.unwrap();
    h.finish(&t).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), data.len() as u64);
    let content =
        h.client.storage_content(&n, &store("local"), Some("import"), None).await.unwrap();
    let item = content.iter().find(|c| c.volid == "local:import/tiny.qcow2").unwrap();
    assert_eq!(item.size, data.len() as u64);

    let bad = UploadRequest {
        checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: "00".repeat(32) }),
        ..up.clone()
    };
    let t = h.client.storage_upload(&n, &store("local"), &bad, None).await.unwrap();
    assert!(h.finish(&t).await.unwrap_err().to_string().contains("checksum mismatch: got '"));

    let wrong_ext = UploadRequest { filename: "tiny.exe".into(), checksum: None, ..up.clone() };
    let e = h.client.storage_upload(&n, &store("local"), &wrong_ext, None).await.unwrap_err();
    assert_eq!(e.api().unwrap().errors["filename"], "invalid filename or wrong extension");
    let lvm = h.client.storage_upload(&n, &store("local-lvm"), &up, None).await.unwrap_err();
    assert_eq!(lvm.api().unwrap().errors["filename"], "can't upload to storage type 'lvmthin'");
}

/// A one-file HTTP server on loopback for download-url.
async fn serve_once(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
    });
    format!("http://{addr}/images/cloud.qcow2")
}

#[tokio::test]
async fn download_url_really_fetches_and_checks_the_checksum() {
    let h = harness().await;
    let n = node(&h);
    let body: Vec<u8> =
        b"QFI\xfb".iter().copied().chain(std::iter::repeat_n(7u8, 100_000)).collect();
    let sum = hex::encode(sha2::Sha256::digest(&body));
    let url = serve_once(body.clone()).await;
    let req = DownloadUrlRequest {
        url,
        content: TransferContent::Import,
        filename: "cloud.qcow2".into(),
        checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: sum.clone() }),
        compression: None,
        verify_certificates: Some(false),
    };
    let t = h.client.storage_download_url(&n, &store("local"), &req).await.unwrap();
    h.finish(&t).await.unwrap();
    let content =
        h.client.storage_content(&n, &store("local"), Some("import"), None).await.unwrap();
    assert_eq!(
        content.iter().find(|c| c.volid == "local:import/cloud.qcow2").unwrap().size,
        body.len() as u64
    );
    // Same file again with the same checksum: nothing to download.
    let t = h.client.storage_download_url(&n, &store("local"), &req).await.unwrap();
    h.finish(&t).await.unwrap();
    let (log, _) = h.client.task_log(&n, &t, 0, 0).await.unwrap();
    assert!(log.iter().any(|l| l.t == "OK, got correct file already, no need to download"));
    // A wrong checksum fails.
    let bad = DownloadUrlRequest {
        filename: "other.qcow2".into(),
        checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: "11".repeat(32) }),
        ..req.clone()
    };
    let t = h.client.storage_download_url(&n, &store("local"), &bad).await.unwrap();
    assert!(h.finish(&t).await.unwrap_err().to_string().contains("checksum mismatch"));
    // local-lvm is not a file storage.
    let e = h.client.storage_download_url(&n, &store("local-lvm"), &req).await.unwrap_err();
    assert!(e.to_string().contains("not a file based storage"), "{e}");
}

#[tokio::test]
async fn vzdump_names_backups_applies_notes_and_protection_and_says_ok_when_idle() {
    let h = harness().await;
    let n = node(&h);
    let mut c = QemuConfig { name: Some("db-1".into()), ..Default::default() };
    c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
    let s = h.client.qemu_create(&n, id(100), &c, &CreateOptions::default()).await.unwrap();
    h.finish(&upid(s)).await.unwrap();
    let req = VzdumpRequest {
        vmids: vec![id(100)],
        storage: Some(store("local")),
        compress: Some("zstd".into()),
        notes_template: Some("{{guestname}} on {{node}}".into()),
        protected: true,
        ..Default::default()
    };
    let VzdumpStarted::Task(t) = h.client.vzdump(&n, &req).await.unwrap() else {
        panic!("no task")
    };
    assert_eq!(t.id, "100");
    h.finish(&t).await.unwrap();
    let backups =
        h.client.storage_content(&n, &store("local"), Some("backup"), Some(id(100))).await.unwrap();
    assert_eq!(backups.len(), 1);
    let b = &backups[0];
    assert!(
        b.volid.starts_with("local:backup/vzdump-qemu-100-2026_01_01-")
            && b.volid.ends_with(".vma.zst"),
        "{}",
        b.volid
    );
    assert_eq!(b.notes.as_deref(), Some("db-1 on pve"));
    assert_eq!(b.protected, Some(true));
    let vol = VolumeId::new(b.volid.clone()).unwrap();
    let t = h.client.storage_delete_content(&n, &vol, None).await.unwrap().unwrap();
    assert!(
        h.finish(&t).await.unwrap_err().to_string().contains("cannot remove protected archive")
    );
    h.client.storage_update_content(&n, &vol, Some("keep for audit"), Some(false)).await.unwrap();
    let t = h.client.storage_delete_content(&n, &vol, None).await.unwrap().unwrap();
    h.finish(&t).await.unwrap();
    // Nothing of ours on this node: the string "OK" and no task.
    let idle = VzdumpRequest { vmids: vec![id(555)], ..Default::default() };
    assert_eq!(h.client.vzdump(&n, &idle).await.unwrap(), VzdumpStarted::NothingToDo);
    let e = h
        .client
        .vzdump(
            &n,
            &VzdumpRequest {
                vmids: vec![id(100)],
                notes_template: Some("{{nope}}".into()),
                storage: Some(store("local")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.api().unwrap().errors["notes-template"].contains("variable 'nope'"));
}

#[tokio::test]
async fn task_lists_logs_and_stop_follow_pve() {
    let h = harness().await;
    let n = node(&h);
    let mut c = QemuConfig { name: Some("a".into()), ..Default::default() };
    c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
    let s = h.client.qemu_create(&n, id(100), &c, &CreateOptions::default()).await.unwrap();
    let t = upid(s);
    // Default source=archive lists finished tasks only.
    assert!(h.client.task_list(&n, &TaskFilter::default()).await.unwrap().is_empty());
    let active = h
        .client
        .task_list(&n, &TaskFilter { source: Some("active".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(active[0].status.as_deref(), Some("RUNNING"));
    let running = h.client.task_status(&n, &t).await.unwrap();
    assert!(running.is_running() && running.exitstatus.is_none());
    h.finish(&t).await.unwrap();
    let (log, total) = h.client.task_log(&n, &t, 0, 0).await.unwrap();
    assert_eq!(log[0].n, 1);
    assert_eq!(total, Some(log.len() as u64));
    assert_eq!(log.last().unwrap().t, "TASK OK");
    let done = h
        .client
        .task_list(&n, &TaskFilter { typefilter: Some("qmcreate".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(done[0].status.as_deref(), Some("OK"));
    assert!(h.client.cluster_tasks().await.unwrap().iter().any(|x| x.upid == t));
    // Stopping a running task ends it with "received interrupt".
    let t2 = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.client.task_stop(&n, &t2).await.unwrap();
    let e = h.finish(&t2).await.unwrap_err();
    assert!(e.to_string().contains("received interrupt"), "{e}");
    let bad: Upid = "UPID:pve:00000001:00000001:00000001:qmstart:1:root@pam:".parse().unwrap();
    let e = h.client.task_status(&n, &bad).await.unwrap_err();
    assert_eq!(e.api().unwrap().errors["upid"], "no such task");
}

async fn run_fixed_workload(seed: u64) -> (Vec<String>, Vec<String>) {
    let mut cfg = config(1);
    cfg.seed = seed;
    let h = harness_with(cfg).await;
    let n = node(&h);
    let mut c = QemuConfig { name: Some("tpl".into()), ..Default::default() };
    c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
    c.net.insert(0, NetDevice::new(NetModel::Virtio, "vmbr0"));
    let mut upids = Vec::new();
    let s = upid(h.client.qemu_create(&n, id(9000), &c, &CreateOptions::default()).await.unwrap());
    upids.push(s.to_string());
    h.finish(&s).await.unwrap();
    let t = h.client.qemu_template(&n, id(9000)).await.unwrap();
    upids.push(t.to_string());
    h.finish(&t).await.unwrap();
    let mut macs = Vec::new();
    for newid in 101..=103 {
        let s = upid(
            h.client.qemu_clone(&n, id(9000), id(newid), &CloneRequest::default()).await.unwrap(),
        );
        upids.push(s.to_string());
        h.finish(&s).await.unwrap();
        let cfg = h.client.qemu_config_typed(&n, id(newid)).await.unwrap();
        macs.push(cfg.net[&0].macaddr.unwrap().to_string());
    }
    (upids, macs)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_upids_and_macs() {
    let a = run_fixed_workload(7).await;
    let b = run_fixed_workload(7).await;
    assert_eq!(a, b);
    let c = run_fixed_workload(8).await;
    assert_ne!(a.1, c.1, "another seed gives other MACs");
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    let mut cfg = config(1);
    cfg.state_file = Some(state.clone());
    {
        let h = harness_with(cfg.clone()).await;
        let mut c = QemuConfig { name: Some("keeper".into()), ..Default::default() };
        c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
        let s =
            h.client.qemu_create(&node(&h), id(100), &c, &CreateOptions::default()).await.unwrap();
        h.finish(&upid(s)).await.unwrap();
        h.sim.shutdown().unwrap();
    }
    let h = harness_with(cfg).await;
    let cfg = h.client.qemu_config_typed(&node(&h), id(100)).await.unwrap();
    assert_eq!(cfg.name.as_deref(), Some("keeper"));
    assert_eq!(h.client.next_id(None).await.unwrap(), id(101));
}

#[tokio::test]
async fn a_scenario_seeds_a_template_that_clones_like_any_other() {
    let scenario = proxctl_sim::scenario::Scenario::from_yaml(
        r#"
guests:
  - vmid: 9000
    config:
      name: ubuntu-tpl
      template: true
      scsi0: "local-lvm:base-9000-disk-0,size=3G"
      net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"
  - vmid: 150
    config: {name: ha-guarded, scsi0: "local-lvm:vm-150-disk-0,size=1G"}
ha:
  - {sid: "vm:150", state: stopped}
"#,
    )
    .unwrap();
    let mut cfg = config(1);
    cfg.scenario = Some(scenario);
    let h = harness_with(cfg).await;
    let s = h
        .client
        .qemu_clone(
            &node(&h),
            id(9000),
            id(100),
            &CloneRequest { name: Some("u1".into()), ..Default::default() },
        )
        .await
        .unwrap();
    h.finish(&upid(s)).await.unwrap();
    let c = h.client.qemu_config_typed(&node(&h), id(100)).await.unwrap();
    assert_eq!(c.disks[&DriveSlot::Scsi(0)].file, "local-lvm:vm-100-disk-0");
    assert_eq!(
        h.client.qemu_config(&node(&h), id(555)).await.unwrap_err().api().unwrap().kind,
        ApiErrorKind::DoesNotExist
    );
    // HA-managed guests show in HA status and cannot be destroyed without purge.
    let ha = h.client.ha_status().await.unwrap();
    assert!(ha.iter().any(|i| i.sid.as_deref() == Some("vm:150")));
    let e = h.client.qemu_delete(&node(&h), id(150), &DeleteOptions::default()).await.unwrap_err();
    assert_eq!(
        e.api().unwrap().message,
        "unable to remove VM 150 - used in HA resources and purge parameter not set."
    );
    let t = h
        .client
        .qemu_delete(&node(&h), id(150), &DeleteOptions { purge: true, ..Default::default() })
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    assert!(h.client.ha_status().await.unwrap().iter().all(|i| i.sid.as_deref() != Some("vm:150")));
}

#[tokio::test]
async fn a_running_container_migrates_only_in_restart_mode() {
    let h = harness_with(config(2)).await;
    let n = node(&h);
    let other = NodeName::new(h.sim.nodes[1].as_str()).unwrap();
    let t = h.client.lxc_create(&n, id(200), &ct()).await.unwrap();
    h.finish(&t).await.unwrap();
    let t = h.client.lxc_power(&n, id(200), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    // Neither mode given: refused at once, as PVE's API does.
    let e = h.client.lxc_migrate(&n, id(200), &other, false, None).await.unwrap_err();
    assert!(
        e.api()
            .unwrap()
            .message
            .contains("can't migrate running container without --online or --restart"),
        "{e}"
    );
    let t = h.client.lxc_migrate(&n, id(200), &other, true, Some(30)).await.unwrap();
    h.finish(&t).await.unwrap();
    assert!(t.to_string().contains(":vzmigrate:"), "{t}");
    let status = h.client.lxc_status(&other, id(200)).await.unwrap();
    assert!(status.is_running(), "started again on the target");
    let cfg = h.client.lxc_config(&other, id(200)).await.unwrap();
    assert!(!cfg.contains_key("lock"), "{cfg:?}");
}
