//! The project's client against the in-process simulator: every endpoint the client exposes,
//! with PVE's answers, in manual simulated time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::endpoints::guest::{DeleteOptions, PowerAction, SnapshotRequest};
use proxctl_client::endpoints::qemu::{
    CloneRequest, CloudInitSection, ConfigUpdate, CreateOptions, MigrateRequest,
};
use proxctl_client::{ApiErrorKind, ClientError, Started};
use proxctl_types::config::QemuConfig;
use proxctl_types::prop::*;
use proxctl_types::wire::{DiskSize, ResizeTo};
use proxctl_types::{SnapshotName, StorageId, Upid};
use support::*;

fn upid(s: Started) -> Upid {
    match s {
        Started::Task(u) => u,
        Started::AlreadyDone => panic!("expected a task"),
    }
}

fn vm_config(name: &str) -> QemuConfig {
    let mut c = QemuConfig {
        name: Some(name.into()),
        memory: Some(Memory::mib(2048)),
        cores: Some(2),
        scsihw: Some("virtio-scsi-single".into()),
        agent: Some(Agent::enabled()),
        serial: [(0, Serial::Socket)].into(),
        vga: Some(Vga::of_type("serial0")),
        ciuser: Some("admin".into()),
        sshkeys: Some("ssh-ed25519 AAAAC3Nza admin@laptop".into()),
        tags: Some(vec!["Demo".into(), "env-test".into()]),
        ..QemuConfig::default()
    };
    c.net.insert(0, NetDevice::new(NetModel::Virtio, "vmbr0"));
    let mut d = Drive::new("local-lvm:0");
    d.import_from = Some("local:import/debian-12-genericcloud-amd64.qcow2".into());
    c.disks.insert(DriveSlot::Scsi(0), d);
    let mut ci = Drive::new("local-lvm:cloudinit");
    ci.media = Some(Media::Cdrom);
    c.disks.insert(DriveSlot::Ide(2), ci);
    c.ipconfig.insert(
        0,
        IpConfig::static_v4("10.0.0.50/24".parse().unwrap(), Some("10.0.0.1".parse().unwrap())),
    );
    c
}

async fn create_vm(h: &Harness, vmid: u32, name: &str) {
    let s = h
        .client
        .qemu_create(&node(h), id(vmid), &vm_config(name), &CreateOptions::default())
        .await
        .unwrap();
    h.finish(&upid(s)).await.unwrap();
}

#[tokio::test]
async fn version_nodes_and_cluster_views_answer_with_pve_shapes() {
    let h = harness().await;
    let v = h.client.version().await.unwrap();
    assert_eq!(v.major_minor(), Some((9, 1)));
    let nodes = h.client.nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].ssl_fingerprint.as_deref(), Some(h.sim.fingerprint.as_str()));
    let st = h.client.node_status(&node(&h)).await.unwrap();
    assert_eq!(st.loadavg.len(), 3);
    let nets = h.client.node_network(&node(&h), Some("any_bridge")).await.unwrap();
    assert!(nets.iter().any(|n| n.iface == "vmbr0"));
    assert!(!h.client.cluster_status().await.unwrap().is_empty());
    assert!(h.client.ha_status().await.unwrap().iter().any(|i| i.item_type == "quorum"));
    assert!(!h.client.sdn_zones().await.unwrap().is_empty());
    assert!(!h.client.sdn_vnets().await.unwrap().is_empty());
    let storages = h.client.cluster_resources(Some(ResourceType::Storage)).await.unwrap();
    assert!(storages.iter().any(|r| r.storage.as_deref() == Some("local-lvm")));
    assert_eq!(h.client.next_id(None).await.unwrap(), id(100));
}

#[tokio::test]
async fn create_with_import_from_allocates_disks_and_fills_defaults() {
    let h = harness().await;
    create_vm(&h, 100, "web-1").await;
    let cfg = h.client.qemu_config_typed(&node(&h), id(100)).await.unwrap();
    let scsi0 = &cfg.disks[&DriveSlot::Scsi(0)];
    assert_eq!(scsi0.file, "local-lvm:vm-100-disk-0");
    assert_eq!(scsi0.size, Some(DiskSize::gib(2)));
    assert!(scsi0.import_from.is_none(), "import-from is not echoed back");
    assert!(cfg.disks[&DriveSlot::Ide(2)].is_cloudinit());
    assert!(cfg.net[&0].macaddr.unwrap().to_string().starts_with("BC:24:11:"));
    assert!(cfg.smbios1.as_ref().and_then(|s| s.uuid.as_ref()).is_some());
    assert_eq!(cfg.boot.unwrap().order.unwrap(), ["scsi0", "ide2", "net0"]);
    assert_eq!(cfg.tags.unwrap(), ["demo", "env-test"]);
    assert_eq!(cfg.sshkeys.as_deref(), Some("ssh-ed25519 AAAAC3Nza admin@laptop"));
    let list = h.client.qemu_list(&node(&h)).await.unwrap();
    assert_eq!(list[0].name.as_deref(), Some("web-1"));
}

#[tokio::test]
async fn a_vm_being_created_is_locked_until_the_task_ends() {
    let h = harness().await;
    let s = h
        .client
        .qemu_create(&node(&h), id(100), &vm_config("web-1"), &CreateOptions::default())
        .await
        .unwrap();
    let raw = h.client.qemu_config(&node(&h), id(100)).await.unwrap();
    assert_eq!(raw.get("lock").and_then(|v| v.as_str()), Some("create"));
    let mut u = ConfigUpdate::default();
    u.set.cores = Some(4);
    let e = h.client.qemu_update_config(&node(&h), id(100), &u).await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::Locked { lock: "create".into() });
    h.finish(&upid(s)).await.unwrap();
    h.client.qemu_update_config(&node(&h), id(100), &u).await.unwrap();
}

#[tokio::test]
async fn creating_an_existing_vmid_is_checked_against_what_was_asked() {
    let h = harness().await;
    create_vm(&h, 100, "web-1").await;
    let again = h
        .client
        .qemu_create(&node(&h), id(100), &vm_config("web-1"), &CreateOptions::default())
        .await
        .unwrap();
    assert_eq!(again, Started::AlreadyDone);
    let other = h
        .client
        .qemu_create(&node(&h), id(100), &vm_config("db-1"), &CreateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(other, ClientError::CreateConflict { .. }), "{other}");
}

#[tokio::test]
async fn config_digest_pending_and_delete_round_trip() {
    let h = harness().await;
    create_vm(&h, 100, "web-1").await;
    let n = node(&h);
    let before = h.client.qemu_config_typed(&n, id(100)).await.unwrap();
    let digest = proxctl_types::wire::Digest(before.digest.clone().unwrap());

    // Stopped VM: applied at once, so nothing is pending.
    let mut u = ConfigUpdate {
        digest: Some(digest.clone()),
        delete: vec!["serial0".into()],
        ..Default::default()
    };
    u.set.cores = Some(4);
    h.client.qemu_update_config(&n, id(100), &u).await.unwrap();
    let after = h.client.qemu_config_typed(&n, id(100)).await.unwrap();
    assert_eq!(after.cores, Some(4));
    assert!(after.serial.is_empty());
    assert_ne!(after.digest, before.digest);

    // Reusing the old digest is PVE's checksum mismatch.
    let stale = ConfigUpdate {
        digest: Some(digest),
        set: QemuConfig { cores: Some(8), ..Default::default() },
        ..Default::default()
    };
    let e = h.client.qemu_update_config(&n, id(100), &stale).await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::DigestMismatch);

    // Running VM: a cores change stays pending until restart.
    let up = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&up).await.unwrap();
    let mut u = ConfigUpdate::default();
    u.set.cores = Some(6);
    u.set.description = Some("live".into());
    h.client.qemu_update_config(&n, id(100), &u).await.unwrap();
    let pending = h.client.qemu_pending(&n, id(100)).await.unwrap();
    let cores = pending.iter().find(|p| p.key == "cores").unwrap();
    assert_eq!(cores.value, Some(serde_json::json!(4)));
    assert_eq!(cores.pending, Some(serde_json::json!(6)));
    let desc = pending.iter().find(|p| p.key == "description").unwrap();
    assert!(desc.pending.is_none(), "description applies live");

    // Async POST returns a UPID.
    let mut u = ConfigUpdate::default();
    u.set.onboot = Some(true);
    let task = h.client.qemu_update_config_async(&n, id(100), &u).await.unwrap().unwrap();
    h.finish(&task).await.unwrap();
}

#[tokio::test]
async fn unknown_and_conflicting_config_parameters_get_pves_400() {
    let h = harness().await;
    create_vm(&h, 100, "web-1").await;
    let mut u = ConfigUpdate { delete: vec!["cores".into()], ..Default::default() };
    u.set.cores = Some(2);
    let e = h.client.qemu_update_config(&node(&h), id(100), &u).await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 400);
    assert_eq!(api.errors["delete"], "you can't use '-cores' and -delete cores' at the same time");
    let e = h
        .client
        .qemu_update_config(&node(&h), id(100), &ConfigUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().message, "no options specified");
}

#[tokio::test]
async fn missing_vm_is_a_500_does_not_exist() {
    let h = harness().await;
    let e = h.client.qemu_config(&node(&h), id(999)).await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 500);
    assert_eq!(api.kind, ApiErrorKind::DoesNotExist);
    assert_eq!(api.message, "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist");
}

#[tokio::test]
async fn power_actions_follow_pves_sync_and_task_error_split() {
    let h = harness().await;
    create_vm(&h, 100, "web-1").await;
    let n = node(&h);
    // Stopping a stopped VM succeeds; reset of a stopped VM is a synchronous error.
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Stop { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let e = h.client.qemu_power(&n, id(100), &PowerAction::Reset).await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::WrongState);
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    assert!(h.client.qemu_status(&n, id(100)).await.unwrap().is_running());
    // Starting a running VM fails inside the task, with the log tail in the error.
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    let e = h.finish(&t).await.unwrap_err();
    let ClientError::TaskFailed { exitstatus, log_tail, .. } = &e else { panic!("{e}") };
    assert_eq!(exitstatus, "VM 100 already running");
    assert_eq!(log_tail.last().unwrap(), "TASK ERROR: VM 100 already running");
    for a in [
        PowerAction::Suspend { todisk: false },
        PowerAction::Resume,
        PowerAction::Reboot { timeout: None },
        PowerAction::Reset,
    ] {
        let t = h.client.qemu_power(&n, id(100), &a).await.unwrap();
        h.finish(&t).await.unwrap();
    }
    let t = h
        .client
        .qemu_power(&n, id(100), &PowerAction::Shutdown { timeout: Some(30), force_stop: false })
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let st = h.client.qemu_status(&n, id(100)).await.unwrap();
    assert_eq!(st.qmpstatus.as_deref(), Some("stopped"));
}

#[tokio::test]
async fn template_then_linked_clone_renames_disks_and_regenerates_identity() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 9000, "tpl").await;
    let t = h.client.qemu_template(&n, id(9000)).await.unwrap();
    h.finish(&t).await.unwrap();
    let tpl = h.client.qemu_config_typed(&n, id(9000)).await.unwrap();
    assert!(tpl.is_template());
    assert_eq!(tpl.disks[&DriveSlot::Scsi(0)].file, "local-lvm:base-9000-disk-0");
    assert!(tpl.disks[&DriveSlot::Ide(2)].is_cloudinit(), "cloud-init drive kept");

    let req = CloneRequest { name: Some("web-2".into()), ..Default::default() };
    let s = h.client.qemu_clone(&n, id(9000), id(101), &req).await.unwrap();
    let t = upid(s);
    assert_eq!(t.task_type, "qmclone");
    assert_eq!(t.id, "9000", "a clone task's id is the source VMID");
    // While the clone runs the new VMID is locked.
    let e = h
        .client
        .qemu_update_config(
            &n,
            id(101),
            &ConfigUpdate {
                set: QemuConfig { cores: Some(1), ..Default::default() },
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::Locked { lock: "clone".into() });
    h.finish(&t).await.unwrap();
    let c = h.client.qemu_config_typed(&n, id(101)).await.unwrap();
    assert_eq!(c.name.as_deref(), Some("web-2"));
    assert!(!c.is_template());
    assert_ne!(c.net[&0].macaddr, tpl.net[&0].macaddr, "new MAC");
    assert_ne!(c.smbios1, tpl.smbios1, "new smbios uuid");
    assert_eq!(c.disks[&DriveSlot::Scsi(0)].file, "local-lvm:vm-101-disk-0");
    // A linked clone of a non-template is refused synchronously.
    let e = h
        .client
        .qemu_clone(&n, id(101), id(102), &CloneRequest { full: Some(false), ..Default::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Linked clone feature is not supported"), "{e}");
    // A template with linked clones cannot be destroyed.
    let t = h.client.qemu_delete(&n, id(9000), &DeleteOptions::default()).await.unwrap();
    let e = h.finish(&t).await.unwrap_err();
    assert!(e.to_string().contains("is still in use by linked cloned"), "{e}");
}

#[tokio::test]
async fn resize_grows_only_and_sends_plus_encoded() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let t = h
        .client
        .qemu_resize(&n, id(100), DriveSlot::Scsi(0), ResizeTo::Grow(DiskSize::gib(8)), None)
        .await
        .unwrap()
        .unwrap();
    h.finish(&t).await.unwrap();
    let cfg = h.client.qemu_config_typed(&n, id(100)).await.unwrap();
    assert_eq!(cfg.disks[&DriveSlot::Scsi(0)].size, Some(DiskSize::gib(10)));
    let t = h
        .client
        .qemu_resize(&n, id(100), DriveSlot::Scsi(0), ResizeTo::Absolute(DiskSize::gib(4)), None)
        .await
        .unwrap()
        .unwrap();
    let e = h.finish(&t).await.unwrap_err();
    assert!(e.to_string().contains("shrinking disks is not supported"), "{e}");
    let t = h
        .client
        .qemu_resize(&n, id(100), DriveSlot::Scsi(5), ResizeTo::Grow(DiskSize::gib(1)), None)
        .await
        .unwrap()
        .unwrap();
    let e = h.finish(&t).await.unwrap_err();
    assert!(e.to_string().contains("disk 'scsi5' does not exist"), "{e}");
}

#[tokio::test]
async fn snapshots_form_a_tree_with_current_and_roll_back() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let s1 = SnapshotName::new("before").unwrap();
    let t = h
        .client
        .snapshot_create(
            proxctl_types::messages::GuestKind::Qemu,
            &n,
            id(100),
            &SnapshotRequest {
                name: s1.clone(),
                description: Some("first".into()),
                vmstate: false,
            },
        )
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let mut u = ConfigUpdate::default();
    u.set.cores = Some(8);
    h.client.qemu_update_config(&n, id(100), &u).await.unwrap();
    let s2 = SnapshotName::new("after").unwrap();
    let t = h
        .client
        .snapshot_create(
            proxctl_types::messages::GuestKind::Qemu,
            &n,
            id(100),
            &SnapshotRequest { name: s2.clone(), description: None, vmstate: false },
        )
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let list =
        h.client.snapshots(proxctl_types::messages::GuestKind::Qemu, &n, id(100)).await.unwrap();
    let last = list.last().unwrap();
    assert_eq!(last.name, "current");
    assert_eq!(last.parent.as_deref(), Some("after"));
    assert_eq!(list.iter().find(|s| s.name == "after").unwrap().parent.as_deref(), Some("before"));
    // A used name fails in the task; a reserved name fails at once.
    let t = h
        .client
        .snapshot_create(
            proxctl_types::messages::GuestKind::Qemu,
            &n,
            id(100),
            &SnapshotRequest { name: s1.clone(), description: None, vmstate: false },
        )
        .await
        .unwrap();
    assert!(
        h.finish(&t).await.unwrap_err().to_string().contains("snapshot name 'before' already used")
    );
    let e = h
        .client
        .snapshot_create(
            proxctl_types::messages::GuestKind::Qemu,
            &n,
            id(100),
            &SnapshotRequest {
                name: SnapshotName::new("current").unwrap(),
                description: None,
                vmstate: false,
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("reserved name"), "{e}");
    let t = h
        .client
        .snapshot_rollback(proxctl_types::messages::GuestKind::Qemu, &n, id(100), &s1, false)
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    assert_eq!(h.client.qemu_config_typed(&n, id(100)).await.unwrap().cores, Some(2));
    let t = h
        .client
        .snapshot_delete(proxctl_types::messages::GuestKind::Qemu, &n, id(100), &s2, false)
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    assert_eq!(
        h.client
            .snapshots(proxctl_types::messages::GuestKind::Qemu, &n, id(100))
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn cloudinit_dump_renders_user_network_and_meta() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let user = h.client.qemu_cloudinit_dump(&n, id(100), CloudInitSection::User).await.unwrap();
    assert!(user.starts_with("#cloud-config\nhostname: web-1\n"), "{user}");
    assert!(user.contains("user: admin\n"));
    assert!(user.contains("  - ssh-ed25519 AAAAC3Nza admin@laptop\n"));
    let net = h.client.qemu_cloudinit_dump(&n, id(100), CloudInitSection::Network).await.unwrap();
    assert!(
        net.contains("address: '10.0.0.50'")
            && net.contains("netmask: '255.255.255.0'")
            && net.contains("gateway: '10.0.0.1'"),
        "{net}"
    );
    let meta = h.client.qemu_cloudinit_dump(&n, id(100), CloudInitSection::Meta).await.unwrap();
    assert!(meta.starts_with("instance-id: "));
}

#[tokio::test]
async fn guest_agent_reports_addresses_and_answers_cloud_init_status() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let e = h.client.qemu_agent_ping(&n, id(100)).await.unwrap_err();
    assert!(e.to_string().contains("VM 100 is not running"), "{e}");
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    h.sim.advance(10_000);
    h.client.qemu_agent_ping(&n, id(100)).await.unwrap();
    let ifs = h.client.qemu_agent_network(&n, id(100)).await.unwrap();
    assert!(ifs.iter().any(|i| i.ip_addresses.iter().any(|a| a.ip_address == "10.0.0.50")));
    let cmd: Vec<String> =
        ["cloud-init", "status", "--wait", "--format", "json"].map(String::from).to_vec();
    let pid = h.client.qemu_agent_exec(&n, id(100), &cmd, None).await.unwrap().pid;
    let st = h.client.qemu_agent_exec_status(&n, id(100), pid).await.unwrap();
    assert!(st.exited);
    assert_eq!(st.exitcode, Some(0));
    assert!(st.out_data.unwrap().contains("\"done\""));
    h.sim.with_world(|w| w.cloud_init_ok = false);
    let pid = h.client.qemu_agent_exec(&n, id(100), &cmd, None).await.unwrap().pid;
    assert_eq!(h.client.qemu_agent_exec_status(&n, id(100), pid).await.unwrap().exitcode, Some(1));
}

#[tokio::test]
async fn consoles_return_tickets_of_pves_shape() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let v = h.client.qemu_vncproxy(&n, id(100)).await.unwrap();
    assert!(v.ticket.starts_with("PVEVNC:"));
    assert!(v.cert.unwrap().contains("BEGIN CERTIFICATE"));
    let t = h.client.qemu_termproxy(&n, id(100), Some(0)).await.unwrap();
    assert!(t.upid.starts_with("UPID:pve:"));
    let s = h.client.qemu_spiceproxy(&n, id(100), None).await.unwrap();
    assert_eq!(s["type"], "spice");
    h.client.node_termproxy(&n).await.unwrap();
}

#[tokio::test]
async fn migrate_checks_preconditions_and_moves_the_vm() {
    let h = harness_with(config(2)).await;
    let n = node(&h);
    let other = proxctl_types::NodeName::new(h.sim.nodes[1].as_str()).unwrap();
    create_vm(&h, 100, "web-1").await;
    let pre = h.client.qemu_migrate_preconditions(&n, id(100), Some(&other)).await.unwrap();
    assert!(!pre.running);
    assert_eq!(pre.allowed_nodes, [other.to_string()]);
    let e = h
        .client
        .qemu_migrate(
            &n,
            id(100),
            &MigrateRequest {
                target: n.clone(),
                online: false,
                with_local_disks: false,
                targetstorage: None,
                bwlimit: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().errors["target"], "target is local node.");
    let t = h
        .client
        .qemu_migrate(
            &n,
            id(100),
            &MigrateRequest {
                target: other.clone(),
                online: false,
                with_local_disks: true,
                targetstorage: None,
                bwlimit: None,
            },
        )
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let e = h.client.qemu_config(&n, id(100)).await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::DoesNotExist);
    assert!(h.client.qemu_config(&other, id(100)).await.is_ok());
}

#[tokio::test]
async fn delete_refuses_running_and_protected_vms_then_frees_disks() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let e = h.client.qemu_delete(&n, id(100), &DeleteOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("VM 100 is running - destroy failed"));
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Stop { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let t = h
        .client
        .qemu_delete(
            &n,
            id(100),
            &DeleteOptions { purge: true, destroy_unreferenced_disks: true, force: false },
        )
        .await
        .unwrap();
    h.finish(&t).await.unwrap();
    let content = h
        .client
        .storage_content(&n, &StorageId::new("local-lvm").unwrap(), None, None)
        .await
        .unwrap();
    assert!(content.is_empty(), "{content:?}");
}

#[tokio::test]
async fn a_shutdown_that_outlasts_its_timeout_fails_unless_forced() {
    let h = harness().await;
    let n = node(&h);
    create_vm(&h, 100, "web-1").await;
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let t = h
        .client
        .qemu_power(&n, id(100), &PowerAction::Shutdown { timeout: Some(1), force_stop: false })
        .await
        .unwrap();
    let e = h.finish(&t).await.unwrap_err();
    assert!(e.to_string().contains("VM quit/powerdown failed - got timeout"), "{e}");
    assert!(h.client.qemu_status(&n, id(100)).await.unwrap().is_running());
    let t = h
        .client
        .qemu_power(&n, id(100), &PowerAction::Shutdown { timeout: Some(1), force_stop: true })
        .await
        .unwrap();
    assert_eq!(h.finish(&t).await.unwrap().warnings, 1);
    assert!(!h.client.qemu_status(&n, id(100)).await.unwrap().is_running());
}
