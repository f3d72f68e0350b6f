//! `proxctl demo`: a visible tour on an in-process simulator. It uploads a locally generated
//! image, builds a template from it, creates three VMs with cloud-init, snapshots one, and
//! lists everything; then it keeps the simulator running (or exits with `--exit`).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use proxctl_client::endpoints::qemu::{CloneRequest, ConfigUpdate, CreateOptions};
use proxctl_client::endpoints::storage::{
    Checksum, ChecksumAlgorithm, TransferContent, UploadRequest,
};
use proxctl_client::{
    Client, ClientSettings, Credentials, PowerAction, SnapshotRequest, Started, TlsMode,
    WaitOptions,
};
use proxctl_sim::{ClockMode, SimConfig};
use proxctl_types::config::QemuConfig;
use proxctl_types::prop::*;
use proxctl_types::wire::{DiskSize, ResizeTo};
use proxctl_types::{NodeName, SnapshotName, StorageId, Upid, VmId};
use sha2::Digest;

use crate::flags::DemoArgs;

const TEMPLATE_ID: u32 = 9000;

fn step(msg: &str) -> anyhow::Result<()> {
    outln!("==> {msg}");
    Ok(())
}

async fn wait(c: &Client, upid: &Upid) -> anyhow::Result<()> {
    let opts = WaitOptions { timeout: Some(Duration::from_secs(120)), ..WaitOptions::default() };
    c.wait_task(upid, &opts).await.map(drop).with_context(|| format!("waiting for task {upid}"))
}

async fn wait_started(c: &Client, s: Started) -> anyhow::Result<()> {
    match s {
        Started::Task(u) => wait(c, &u).await,
        Started::AlreadyDone => Ok(()),
    }
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    step("starting an in-process Proxmox VE simulator")?;
    let cfg = SimConfig {
        clock: ClockMode::Realtime,
        time_scale: a.time_scale,
        auth_failure_delay_ms: 0,
        ..SimConfig::default()
    };
    let sim =
        proxctl_sim::start(cfg, "127.0.0.1:0".parse()?).await.context("starting the simulator")?;
    let mut settings = ClientSettings::new(&sim.url)?;
    settings.tls = TlsMode::Pin(sim.fingerprint.parse()?);
    settings.credentials = Some(Credentials::from_full_token(sim.token.expose())?);
    let c = Client::new(settings)?;
    let node = NodeName::new(sim.nodes[0].as_str())?;
    let v = c.version().await?;
    outln!("    PVE {} at {} (fingerprint {})", v.version, sim.url, sim.fingerprint);

    step("generating a cloud image locally and uploading it to local:import (sha256 verified)")?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let image = dir.path().join("proxctl-demo-cloud.qcow2");
    let mut bytes = b"QFI\xfb".to_vec();
    bytes.extend((0..4 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::File::create(&image)
        .and_then(|mut f| f.write_all(&bytes))
        .context("writing the demo image")?;
    let sum = hex::encode(sha2::Sha256::digest(&bytes));
    let up = UploadRequest {
        content: TransferContent::Import,
        filename: "proxctl-demo-cloud.qcow2".into(),
        checksum: Some(Checksum { algorithm: ChecksumAlgorithm::Sha256, hex: sum }),
        path: image,
    };
    let local = StorageId::new("local")?;
    let t = c.storage_upload(&node, &local, &up, None).await?;
    wait(&c, &t).await?;

    step(&format!(
        "building template {TEMPLATE_ID} from the image: import-from, cloud-init drive, serial console, agent"
    ))?;
    let mut tpl = QemuConfig {
        name: Some("demo-template".into()),
        memory: Some(Memory::mib(1024)),
        cores: Some(1),
        scsihw: Some("virtio-scsi-single".into()),
        agent: Some(Agent::enabled()),
        vga: Some(Vga::of_type("serial0")),
        boot: Some(Boot::order(["scsi0"])),
        tags: Some(vec!["proxctl-demo".into(), "template".into()]),
        description: Some("built by proxctl demo".into()),
        ..QemuConfig::default()
    };
    tpl.serial.insert(0, Serial::Socket);
    tpl.net.insert(0, NetDevice::new(NetModel::Virtio, "vmbr0"));
    let mut disk = Drive::new("local-lvm:0");
    disk.import_from = Some("local:import/proxctl-demo-cloud.qcow2".into());
    disk.iothread = Some(true);
    tpl.disks.insert(DriveSlot::Scsi(0), disk);
    let mut ci = Drive::new("local-lvm:cloudinit");
    ci.media = Some(Media::Cdrom);
    tpl.disks.insert(DriveSlot::Ide(2), ci);
    let tid = VmId::new(TEMPLATE_ID)?;
    wait_started(&c, c.qemu_create(&node, tid, &tpl, &CreateOptions::default()).await?).await?;
    if let Some(t) = c
        .qemu_resize(&node, tid, DriveSlot::Scsi(0), ResizeTo::Absolute(DiskSize::gib(8)), None)
        .await?
    {
        wait(&c, &t).await?;
    }
    wait(&c, &c.qemu_template(&node, tid).await?).await?;

    let mut names = Vec::new();
    for (i, name) in ["web-1", "web-2", "db-1"].iter().enumerate() {
        step(&format!("creating {name}: linked clone, cloud-init user and static IP, start"))?;
        let id = c.next_id(None).await?;
        let req = CloneRequest { name: Some((*name).into()), ..CloneRequest::default() };
        wait_started(&c, c.qemu_clone(&node, tid, id, &req).await?).await?;
        let mut u = ConfigUpdate::default();
        u.set.ciuser = Some("admin".into());
        u.set.tags = Some(vec!["proxctl-demo".into()]);
        u.set.sshkeys =
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnlyForTheTour demo@proxctl".into());
        u.set.ipconfig.insert(
            0,
            IpConfig::static_v4(
                format!("10.0.0.{}/24", 21 + i).parse()?,
                Some("10.0.0.1".parse()?),
            ),
        );
        c.qemu_update_config(&node, id, &u).await?;
        wait(&c, &c.qemu_power(&node, id, &PowerAction::Start { timeout: None }).await?).await?;
        names.push(id);
    }

    step("snapshotting web-1 as before-upgrade")?;
    let snap = SnapshotRequest {
        name: SnapshotName::new("before-upgrade")?,
        description: Some("demo".into()),
        vmstate: false,
    };
    wait(
        &c,
        &c.snapshot_create(proxctl_types::messages::GuestKind::Qemu, &node, names[0], &snap)
            .await?,
    )
    .await?;

    step("declaring two more VMs in a manifest: plan, apply, plan again")?;
    let manifest = format!(
        "apiVersion: proxctl.io/v1\nkind: IPPool\nmetadata: {{name: demo}}\n\
         spec: {{cidr: 10.0.0.0/24, gateway: 10.0.0.1, range: {{start: 10.0.0.50, end: 10.0.0.99}}}}\n\
         {}",
        ["app-1", "app-2"]
            .iter()
            .map(|n| format!(
                "---\napiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: {n}}}\n\
                 spec: {{template: {TEMPLATE_ID}, cores: 2, memory: 1024, tags: [app], start: true, \
                 networks: {{net0: {{bridge: vmbr0}}}}, cloudInit: {{user: admin, ip: {{net0: {{pool: demo}}}}}}}}\n"
            ))
            .collect::<String>()
    );
    let declared = proxctl_engine::manifest::parse(std::path::Path::new("demo.yaml"), &manifest)
        .map_err(proxctl_engine::EngineError::Manifest)?;
    let state_dir = tempfile::tempdir().context("creating a temporary state store")?;
    let store: std::sync::Arc<dyn proxctl_state::StateStore> = std::sync::Arc::new(
        proxctl_state_sqlite::SqliteStore::open(&state_dir.path().join("state.db")).await?,
    );
    let opts = proxctl_engine::ApplyOptions::new("demo");
    let mut session = proxctl_engine::Session::for_manifests(
        &c,
        std::sync::Arc::clone(&store),
        &declared,
        false,
        &opts,
        "apply",
    )
    .await?;
    let plan = session.plan(&declared, false).await?;
    for line in proxctl_engine::render::text(&plan, false, false).lines() {
        if line.is_empty() {
            outln!();
        } else {
            outln!("    {line}");
        }
    }
    let report = session.apply(&plan).await;
    session.end().await;
    let report = report?;
    outln!("    applied: {} resource(s), {} failed", report.results.len(), report.failed());
    let again = proxctl_engine::make_plan(&c, store.as_ref(), &declared, false).await?;
    outln!(
        "    plan again: {}",
        if again.has_changes() { "changes pending (unexpected)" } else { "no changes" }
    );

    step("listing guests")?;
    let mut list = c.qemu_list(&node).await?;
    list.sort_by_key(|g| g.vmid);
    outln!("    {:<6} {:<14} {:<8} {:<9} TAGS", "VMID", "NAME", "STATUS", "TEMPLATE");
    for g in &list {
        outln!(
            "    {:<6} {:<14} {:<8} {:<9} {}",
            g.vmid,
            g.name.as_deref().unwrap_or(""),
            g.status,
            if g.is_template() { "yes" } else { "" },
            g.tags.as_deref().unwrap_or("")
        );
    }
    let snaps = c.snapshots(proxctl_types::messages::GuestKind::Qemu, &node, names[0]).await?;
    outln!(
        "    snapshots of web-1: {}",
        snaps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" -> ")
    );
    outln!("    tour finished in {:.1}s", started.elapsed().as_secs_f64());

    if a.exit {
        return Ok(());
    }
    outln!();
    outln!("The simulator keeps running. Try it with any PVE client:");
    outln!("  PROXCTL_URL={} PROXCTL_FINGERPRINT={}", sim.url, sim.fingerprint);
    outln!("  PROXCTL_TOKEN='{}'", sim.token.expose());
    outln!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}
