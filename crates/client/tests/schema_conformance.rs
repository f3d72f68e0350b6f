//! Every request the client can build, with every parameter it can send, validates against the
//! real PVE 9.1 API schema (../shared/pve-api-schema.json). `samples` matches exhaustively on
//! `Endpoint`, so adding an endpoint without a case here does not compile, and the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use std::collections::BTreeMap;
use std::path::PathBuf;

use proxctl_client::endpoints::guest::{DeleteOptions, PowerAction, SnapshotRequest};
use proxctl_client::endpoints::lxc::LxcCreate;
use proxctl_client::endpoints::qemu::{
    CloneRequest, CloudInitSection, ConfigUpdate, CreateOptions, MigrateRequest,
};
use proxctl_client::endpoints::rrd::Timeframe;
use proxctl_client::endpoints::storage::{
    Checksum, ChecksumAlgorithm, DownloadUrlRequest, TransferContent, UploadRequest, VzdumpRequest,
};
use proxctl_client::endpoints::tasks::TaskFilter;
use proxctl_client::endpoints::{access, cluster, lxc, nodes, qemu, rrd, snapshot, storage, tasks};
use proxctl_client::{ApiRequest, Endpoint};
use proxctl_schema::{Violation, load_shared_schema_for_tests};
use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::messages::GuestKind;
use proxctl_types::prop::*;
use proxctl_types::secret::Secret;
use proxctl_types::wire::{Digest, DiskSize, FormParams, ResizeTo};
use proxctl_types::{NodeName, SnapshotName, StorageId, Upid, VmId, VolumeId};

fn node() -> NodeName {
    NodeName::new("pve").unwrap()
}
fn id(n: u32) -> VmId {
    VmId::new(n).unwrap()
}
fn store(s: &str) -> StorageId {
    StorageId::new(s).unwrap()
}
fn snap() -> SnapshotName {
    SnapshotName::new("before-upgrade").unwrap()
}
fn upid() -> Upid {
    "UPID:pve:0003A1F2:0112C3D4:6788ABCD:qmstart:100:root@pam:".parse().unwrap()
}

/// A VM config that sets every key the client models.
fn full_qemu_config() -> QemuConfig {
    let mut c = QemuConfig {
        name: Some("web-1".into()),
        description: Some("managed by proxctl".into()),
        tags: Some(vec!["env-prod".into(), "Web".into()]),
        memory: Some(Memory::mib(2048)),
        balloon: Some(1024),
        cores: Some(2),
        sockets: Some(1),
        cpu: Some(Cpu::of_type("x86-64-v2-AES")),
        cpulimit: Some(1.5),
        numa: Some(false),
        ostype: Some("l26".into()),
        bios: Some("ovmf".into()),
        machine: Some("q35".into()),
        scsihw: Some("virtio-scsi-single".into()),
        boot: Some(Boot::order(["scsi0", "ide2", "net0"])),
        agent: Some(Agent { fstrim_cloned_disks: Some(true), ..Agent::enabled() }),
        onboot: Some(true),
        protection: Some(false),
        template: None,
        vga: Some(Vga::of_type("serial0")),
        efidisk0: Some("local-lvm:1,efitype=4m,pre-enrolled-keys=1".parse().unwrap()),
        tpmstate0: Some("local-lvm:1,version=v2.0".parse().unwrap()),
        ciuser: Some("admin".into()),
        cipassword: Some(Secret::new("s3cret!")),
        citype: Some("nocloud".into()),
        cicustom: Some("user=local:snippets/user.yaml".into()),
        sshkeys: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+/= admin@laptop\n".into()),
        nameserver: Some("10.0.0.1".into()),
        searchdomain: Some("example.com".into()),
        ciupgrade: Some(false),
        smbios1: Some(Smbios1::with_uuid("5b2b0f3e-1c1a-4d6b-8d1a-7a1f9b6c0e11")),
        hotplug: Some("network,disk,usb".into()),
        ..QemuConfig::default()
    };
    c.serial.insert(0, Serial::Socket);
    let mut nic = NetDevice::new(NetModel::Virtio, "vmbr0");
    nic.macaddr = Some("BC:24:11:00:00:01".parse().unwrap());
    nic.tag = Some(10);
    nic.firewall = Some(true);
    nic.mtu = Some(1500);
    nic.queues = Some(2);
    c.net.insert(0, nic);
    let mut d = Drive::new("local-lvm:0");
    d.import_from = Some("local:import/debian-12.qcow2".into());
    d.iothread = Some(true);
    d.discard = Some("on".into());
    d.ssd = Some(true);
    d.cache = Some("none".into());
    d.backup = Some(true);
    c.disks.insert(DriveSlot::Scsi(0), d);
    let mut ci = Drive::new("local-lvm:cloudinit");
    ci.media = Some(Media::Cdrom);
    c.disks.insert(DriveSlot::Ide(2), ci);
    let mut data = Drive::new("local-lvm:32");
    data.format = Some("raw".into());
    data.size = Some(DiskSize::gib(32));
    c.disks.insert(DriveSlot::Virtio(1), data);
    c.ipconfig.insert(
        0,
        IpConfig::static_v4("10.0.0.5/24".parse().unwrap(), Some("10.0.0.1".parse().unwrap())),
    );
    c.ipconfig.insert(1, "ip=dhcp,ip6=auto".parse().unwrap());
    c
}

fn full_lxc_config() -> LxcConfig {
    let mut c = LxcConfig {
        hostname: Some("ct-1".into()),
        description: Some("managed".into()),
        tags: Some(vec!["ct".into()]),
        memory: Some(512),
        swap: Some(512),
        cores: Some(1),
        onboot: Some(true),
        protection: Some(false),
        unprivileged: Some(true),
        ostype: Some("debian".into()),
        arch: Some("amd64".into()),
        rootfs: Some("local-lvm:8".parse().unwrap()),
        nameserver: Some("10.0.0.1".into()),
        searchdomain: Some("example.com".into()),
        features: Some("nesting=1".into()),
        ..LxcConfig::default()
    };
    c.mp.insert(0, "local-lvm:1,mp=/data,backup=1".parse().unwrap());
    c.net
        .insert(0, "name=eth0,bridge=vmbr0,ip=10.0.0.6/24,gw=10.0.0.1,firewall=1".parse().unwrap());
    c
}

fn samples(ep: Endpoint) -> Vec<ApiRequest> {
    let n = node();
    let vol: VolumeId = "local:backup/vzdump-qemu-100-2025_01_01-00_00_00.vma.zst".parse().unwrap();
    match ep {
        Endpoint::AccessTicket => {
            let mut p = FormParams::new();
            p.push("username", "root@pam").push("password", "x").push("otp", "123456");
            let mut t = FormParams::new();
            t.push("username", "root@pam").push("tfa-challenge", "PVE:!tfa!x::sig").push("password", "totp:123456");
            vec![ApiRequest::new(ep, &[], p), ApiRequest::new(ep, &[], t)]
        }
        Endpoint::AccessPermissions => vec![access::permissions(None), access::permissions(Some("/vms"))],
        Endpoint::Version => vec![nodes::version()],
        Endpoint::Nodes => vec![nodes::nodes()],
        Endpoint::NodeStatus => vec![nodes::status(&n)],
        Endpoint::NodeTime => vec![nodes::time(&n)],
        Endpoint::NodeNetwork => vec![nodes::network(&n, None), nodes::network(&n, Some("any_bridge"))],
        Endpoint::NodeTermproxy => vec![nodes::termproxy(&n)],
        Endpoint::NodeSubscription => vec![nodes::subscription(&n)],
        Endpoint::NodeReplication => vec![nodes::replication(&n)],
        Endpoint::QDevice => vec![nodes::qdevice()],
        Endpoint::ClusterResources => vec![
            cluster::resources(None),
            cluster::resources(Some(cluster::ResourceType::Vm)),
            cluster::resources(Some(cluster::ResourceType::Sdn)),
        ],
        Endpoint::ClusterStatus => vec![cluster::status()],
        Endpoint::ClusterNextId => vec![cluster::nextid(None), cluster::nextid(Some(id(123)))],
        Endpoint::ClusterTasks => vec![cluster::tasks()],
        Endpoint::BackupJobs => vec![cluster::backup_jobs()],
        Endpoint::NotBackedUp => vec![cluster::not_backed_up()],
        Endpoint::HaStatus => vec![cluster::ha_status()],
        Endpoint::HaResources => vec![cluster::ha_resources()],
        Endpoint::HaResourceCreate => vec![cluster::ha_resource_create("vm:100", "started")],
        Endpoint::HaResourceUpdate => vec![cluster::ha_resource_update("vm:100", "stopped")],
        Endpoint::HaResourceDelete => vec![cluster::ha_resource_delete("vm:100")],
        Endpoint::SdnZones => vec![cluster::sdn_zones()],
        Endpoint::SdnVnets => vec![cluster::sdn_vnets()],
        Endpoint::QemuList => vec![qemu::list(&n)],
        Endpoint::QemuCreate => vec![qemu::create(
            &n,
            id(100),
            &full_qemu_config(),
            &CreateOptions { start: true, pool: Some("prod".into()), storage: Some(store("local-lvm")) },
        ), qemu::restore(
            &n,
            id(101),
            &proxctl_types::VolumeId::new("local:backup/vzdump-qemu-100-2025_01_01-00_00_00.vma.zst").unwrap(),
            Some(&store("local-lvm")),
            true,
        )],
        Endpoint::QemuDelete => vec![qemu::delete(
            &n,
            id(100),
            &DeleteOptions { purge: true, destroy_unreferenced_disks: true, force: true },
        )],
        Endpoint::QemuConfigGet => vec![qemu::config(&n, id(100), false), qemu::config(&n, id(100), true)],
        Endpoint::QemuConfigPut | Endpoint::QemuConfigPost => {
            let u = ConfigUpdate {
                set: QemuConfig { cores: Some(4), ..full_qemu_config() },
                delete: vec!["serial1".into(), "net1".into()],
                revert: vec!["cores".into()],
                digest: Some(Digest("0123456789abcdef0123456789abcdef01234567".into())),
                force: true,
                background_delay: Some(5),
            };
            if ep == Endpoint::QemuConfigPut {
                vec![qemu::update_config_sync(&n, id(100), &u)]
            } else {
                vec![qemu::update_config_async(&n, id(100), &u)]
            }
        }
        Endpoint::QemuPending => vec![qemu::pending(&n, id(100))],
        Endpoint::QemuStatusCurrent => vec![qemu::status(&n, id(100))],
        Endpoint::QemuStart => vec![qemu::power(&n, id(100), &PowerAction::Start { timeout: Some(30) })],
        Endpoint::QemuStop => vec![qemu::power(&n, id(100), &PowerAction::Stop { timeout: Some(30) })],
        Endpoint::QemuShutdown => {
            vec![qemu::power(&n, id(100), &PowerAction::Shutdown { timeout: Some(60), force_stop: true })]
        }
        Endpoint::QemuReboot => vec![qemu::power(&n, id(100), &PowerAction::Reboot { timeout: Some(60) })],
        Endpoint::QemuReset => vec![qemu::power(&n, id(100), &PowerAction::Reset)],
        Endpoint::QemuSuspend => vec![qemu::power(&n, id(100), &PowerAction::Suspend { todisk: true })],
        Endpoint::QemuResume => vec![qemu::power(&n, id(100), &PowerAction::Resume)],
        Endpoint::QemuClone => vec![
            qemu::clone(
                &n,
                id(9000),
                id(101),
                &CloneRequest {
                    name: Some("web-2".into()),
                    description: Some("clone".into()),
                    pool: Some("prod".into()),
                    snapname: Some(snap()),
                    storage: Some(store("local-lvm")),
                    format: Some("qcow2".into()),
                    full: Some(true),
                    target: Some(NodeName::new("pve2").unwrap()),
                    bwlimit: Some(10240),
                    newid: None,
                },
            ),
            qemu::clone(&n, id(9000), id(102), &CloneRequest { full: Some(false), ..CloneRequest::default() }),
        ],
        Endpoint::QemuTemplate => vec![qemu::template(&n, id(100), None), qemu::template(&n, id(100), Some(DriveSlot::Scsi(0)))],
        Endpoint::QemuResize => vec![
            qemu::resize(&n, id(100), DriveSlot::Scsi(0), ResizeTo::Grow(DiskSize::gib(10)), Some(&Digest("ab".into()))),
            qemu::resize(&n, id(100), DriveSlot::Virtio(1), ResizeTo::Absolute(DiskSize::gib(64)), None),
        ],
        Endpoint::QemuMigrate => vec![qemu::migrate(
            &n,
            id(100),
            &MigrateRequest {
                target: NodeName::new("pve2").unwrap(),
                online: true,
                with_local_disks: true,
                targetstorage: Some("local-lvm:local-lvm".into()),
                bwlimit: Some(10240),
            },
        )],
        Endpoint::QemuMigratePrecondition => vec![qemu::migrate_preconditions(&n, id(100), Some(&NodeName::new("pve2").unwrap()))],
        Endpoint::QemuSnapshotList => vec![snapshot::list(GuestKind::Qemu, &n, id(100))],
        Endpoint::QemuSnapshotCreate => vec![snapshot::create(
            GuestKind::Qemu,
            &n,
            id(100),
            &SnapshotRequest { name: snap(), description: Some("before apt upgrade".into()), vmstate: true },
        )],
        Endpoint::QemuSnapshotDelete => vec![snapshot::delete(GuestKind::Qemu, &n, id(100), &snap(), true)],
        Endpoint::QemuSnapshotRollback => vec![snapshot::rollback(GuestKind::Qemu, &n, id(100), &snap(), true)],
        Endpoint::QemuCloudinitDump => [CloudInitSection::User, CloudInitSection::Network, CloudInitSection::Meta]
            .into_iter()
            .map(|s| qemu::cloudinit_dump(&n, id(100), s))
            .collect(),
        Endpoint::QemuRrddata => [Timeframe::Hour, Timeframe::Day, Timeframe::Week, Timeframe::Month, Timeframe::Year]
            .into_iter()
            .map(|t| rrd::guest(GuestKind::Qemu, &n, id(100), t))
            .collect(),
        Endpoint::LxcRrddata => vec![rrd::guest(GuestKind::Lxc, &n, id(200), Timeframe::Week)],
        Endpoint::QemuAgentPing => vec![qemu::agent_ping(&n, id(100))],
        Endpoint::QemuAgentNetwork => vec![qemu::agent_network(&n, id(100))],
        Endpoint::QemuAgentExec => vec![qemu::agent_exec(
            &n,
            id(100),
            &["cloud-init".into(), "status".into(), "--wait".into()],
            Some("stdin"),
        )],
        Endpoint::QemuAgentExecStatus => vec![qemu::agent_exec_status(&n, id(100), 4242)],
        Endpoint::QemuVncproxy => vec![qemu::vncproxy(&n, id(100), true, true)],
        Endpoint::QemuTermproxy => vec![qemu::termproxy(&n, id(100), Some(0)), qemu::termproxy(&n, id(100), None)],
        Endpoint::QemuSpiceproxy => vec![qemu::spiceproxy(&n, id(100), Some("10.0.0.2"))],
        Endpoint::LxcList => vec![lxc::list(&n)],
        Endpoint::LxcCreate => vec![lxc::create(
            &n,
            id(200),
            &LxcCreate {
                ostemplate: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
                config: full_lxc_config(),
                password: Some(Secret::new("hunter22")),
                ssh_public_keys: Some("ssh-ed25519 AAAA admin@laptop".into()),
                storage: Some(store("local-lvm")),
                start: true,
                pool: Some("prod".into()),
            },
        ), lxc::restore(
            &n,
            id(201),
            &proxctl_types::VolumeId::new("local:backup/vzdump-lxc-200-2025_01_01-00_00_00.tar.zst").unwrap(),
            Some(&store("local-lvm")),
        )],
        Endpoint::LxcDelete => vec![lxc::delete(
            &n,
            id(200),
            &DeleteOptions { purge: true, destroy_unreferenced_disks: true, force: true },
        )],
        Endpoint::LxcConfigGet => vec![lxc::config(&n, id(200))],
        Endpoint::LxcConfigPut => vec![lxc::update_config(
            &n,
            id(200),
            &full_lxc_config(),
            &["mp1".into()],
            Some(&Digest("ab".into())),
        )],
        Endpoint::LxcStatusCurrent => vec![lxc::status(&n, id(200))],
        Endpoint::LxcStart => vec![lxc::power(&n, id(200), &PowerAction::Start { timeout: Some(30) }).unwrap()],
        Endpoint::LxcStop => vec![lxc::power(&n, id(200), &PowerAction::Stop { timeout: Some(30) }).unwrap()],
        Endpoint::LxcShutdown => {
            vec![lxc::power(&n, id(200), &PowerAction::Shutdown { timeout: Some(60), force_stop: true }).unwrap()]
        }
        Endpoint::LxcReboot => vec![lxc::power(&n, id(200), &PowerAction::Reboot { timeout: Some(60) }).unwrap()],
        Endpoint::LxcSuspend => vec![lxc::power(&n, id(200), &PowerAction::Suspend { todisk: true }).unwrap()],
        Endpoint::LxcResume => vec![lxc::power(&n, id(200), &PowerAction::Resume).unwrap()],
        Endpoint::LxcSnapshotList => vec![snapshot::list(GuestKind::Lxc, &n, id(200))],
        Endpoint::LxcSnapshotCreate => vec![snapshot::create(
            GuestKind::Lxc,
            &n,
            id(200),
            &SnapshotRequest { name: snap(), description: Some("d".into()), vmstate: true },
        )],
        Endpoint::LxcSnapshotDelete => vec![snapshot::delete(GuestKind::Lxc, &n, id(200), &snap(), true)],
        Endpoint::LxcSnapshotRollback => vec![snapshot::rollback(GuestKind::Lxc, &n, id(200), &snap(), true)],
        Endpoint::LxcTermproxy => vec![lxc::termproxy(&n, id(200))],
        Endpoint::LxcClone => vec![lxc::clone(
            &n,
            id(200),
            id(201),
            &lxc::LxcCloneRequest {
                hostname: Some("ct-2".into()),
                description: Some("copy".into()),
                pool: Some("prod".into()),
                snapname: Some(snap()),
                storage: Some(store("local-lvm")),
                full: Some(true),
                target: Some(NodeName::new("pve2").unwrap()),
            },
        )],
        Endpoint::LxcMigrate => vec![
            lxc::migrate(&n, id(101), &NodeName::new("pve2").unwrap(), true, Some(60)),
            lxc::migrate(&n, id(101), &NodeName::new("pve2").unwrap(), false, None),
        ],
        Endpoint::LxcResize => vec![
            lxc::resize(&n, id(200), "rootfs", ResizeTo::Grow(DiskSize::gib(2)), Some(&Digest("ab".into()))),
            lxc::resize(&n, id(200), "mp3", ResizeTo::Absolute(DiskSize::gib(20)), None),
        ],
        Endpoint::StorageList => vec![storage::list(&n, Some("images,iso"), true), storage::list(&n, None, false)],
        Endpoint::StorageStatus => vec![storage::status(&n, &store("local"))],
        Endpoint::StorageContent => vec![storage::content(&n, &store("local"), Some("backup"), Some(id(100)))],
        Endpoint::StorageContentUpdate => vec![storage::update_content(&n, &vol, Some("weekly"), Some(true))],
        Endpoint::StorageContentDelete => vec![storage::delete_content(&n, &vol, Some(5))],
        Endpoint::StorageUpload => vec![storage::upload(
            &n,
            &store("local"),
            &UploadRequest {
                content: TransferContent::Import,
                filename: "debian-12.qcow2".into(),
                checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha512, hex: "ab".repeat(64) }),
                path: PathBuf::from("/tmp/debian-12.qcow2"),
            },
        )],
        Endpoint::StorageDownloadUrl => vec![storage::download_url(
            &n,
            &store("local"),
            &DownloadUrlRequest {
                url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2".into(),
                content: TransferContent::Iso,
                filename: "debian-12.iso".into(),
                checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: "ab".repeat(32) }),
                compression: Some("zst".into()),
                verify_certificates: Some(true),
            },
        )],
        Endpoint::Vzdump => vec![storage::vzdump(
            &n,
            &VzdumpRequest {
                vmids: vec![id(100), id(101)],
                all: false,
                storage: Some(store("local")),
                mode: Some("snapshot".into()),
                compress: Some("zstd".into()),
                notes_template: Some("{{guestname}} on {{node}}".into()),
                protected: true,
                remove: Some(false),
                prune_backups: Some("keep-last=3,keep-weekly=2".into()),
            },
        )],
        Endpoint::TaskStatus => vec![tasks::status(&n, &upid())],
        Endpoint::TaskLog => vec![tasks::log(&n, &upid(), 0, 50)],
        Endpoint::TaskList => vec![tasks::list(
            &n,
            &TaskFilter {
                start: Some(0),
                limit: Some(50),
                userfilter: Some("root".into()),
                typefilter: Some("qmclone".into()),
                vmid: Some(id(100)),
                errors: true,
                source: Some("all".into()),
                since: Some(1_700_000_000),
                until: Some(1_800_000_000),
            },
        )],
        Endpoint::TaskStop => vec![tasks::stop(&n, &upid())],
    }
}

/// PVE's server sees form values decoded; the sample params are already the decoded values.
fn wire_params(req: &ApiRequest) -> Vec<(String, String)> {
    FormParams::decode(&req.params.encode()).into_vec()
}

#[test]
fn every_client_request_validates_against_the_pve_schema() {
    let Some(schema) = load_shared_schema_for_tests() else {
        return;
    };
    let mut failures = Vec::new();
    let mut endpoints = 0;
    let mut params = 0;
    let mut requests = 0;
    for &ep in Endpoint::ALL {
        let reqs = samples(ep);
        assert!(!reqs.is_empty(), "{ep:?} has no conformance sample");
        endpoints += 1;
        for req in reqs {
            assert_eq!(req.endpoint, ep, "sample for {ep:?} builds a request for another endpoint");
            requests += 1;
            let path = req.decoded_path();
            match schema.match_path(&path) {
                Some((template, _)) if template == ep.template() => {}
                other => failures.push(format!(
                    "{ep:?}: {path} matched {:?}, expected {}",
                    other.map(|o| o.0),
                    ep.template()
                )),
            }
            match schema.validate(req.method().as_str(), &path, &wire_params(&req)) {
                Ok(c) => params += c.params,
                Err(Violation::NoRoute { .. }) => {
                    failures.push(format!("{ep:?}: {} {path} is not in the schema", req.method()))
                }
                Err(Violation::Params(e)) => {
                    let e: BTreeMap<_, _> = e.into_iter().collect();
                    failures.push(format!("{ep:?}: {req}\n    {e:?}"));
                }
            }
        }
    }
    println!(
        "schema conformance: {endpoints} endpoints, {requests} requests, {params} parameters checked"
    );
    assert!(failures.is_empty(), "requests the PVE schema rejects:\n{}", failures.join("\n"));
    assert_eq!(endpoints, Endpoint::ALL.len());
}
