//! VM operations beyond power: create (validated before any call), clone, set, resize, and
//! console access.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use proxctl_client::endpoints::qemu::{CloneRequest, ConfigUpdate, CreateOptions};
use proxctl_client::{Client, Started};
use proxctl_types::config::QemuConfig;
use proxctl_types::messages::GuestKind;
use proxctl_types::prop::{
    Agent, Drive, DriveSlot, IpConfig, Ipv6Setting, Media, Memory, NetDevice, NetModel, Serial, Vga,
};
use proxctl_types::wire::{DiskSize, ResizeTo};
use proxctl_types::{NodeName, StorageId, Upid, VmId, ids};

use crate::{GuestRef, OpsError};

/// `vm create`'s defaults, for every face that offers them.
pub const DEFAULT_CORES: u32 = 2;
pub const DEFAULT_MEMORY_MIB: u64 = 2048;
pub const DEFAULT_DISK_GIB: u64 = 32;

/// Refuses, listing what the node has, unless every one of `bridges` exists on `node`.
pub(crate) async fn require_bridges(
    client: &Client,
    node: &NodeName,
    bridges: &[&str],
) -> Result<(), OpsError> {
    let have = client.node_network(node, Some("any_bridge")).await?;
    for b in bridges {
        if !have.iter().any(|h| h.iface == *b) {
            let names: Vec<&str> = have.iter().map(|h| h.iface.as_str()).collect();
            return Err(invalid(format!(
                "bridge '{b}' does not exist on {node}; bridges there: {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// What `vm create` asks for. Defaults come from the profile (node, storage, bridge).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSpec {
    pub name: String,
    pub vmid: Option<VmId>,
    pub node: Option<NodeName>,
    pub cores: u32,
    pub memory_mib: u64,
    pub storage: Option<StorageId>,
    pub disk: DiskSize,
    /// Import the boot disk from this volume (e.g. `local:import/debian-12.qcow2`).
    pub image: Option<String>,
    /// net0, net1, ...; none means one virtio NIC on vmbr0.
    pub nics: Vec<crate::nic::NicRequest>,
    pub ip: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// A static IPv6 address with prefix; without it the guest uses SLAAC.
    pub ip6: Option<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
    pub tags: Vec<String>,
    pub start: bool,
}

/// A create that passed validation: where, which id, what config, and warnings to show.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    pub node: NodeName,
    /// The VMID given, or the first candidate; [`create`] may move past a candidate someone
    /// else takes first, and sets the one used here.
    pub vmid: VmId,
    /// Whether the user gave the VMID (then it is never changed).
    pub vmid_given: bool,
    /// What proxctl chose because the command did not say (node, storage), for the user.
    pub chosen: Vec<String>,
    pub config: QemuConfig,
    pub start: bool,
    pub warnings: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> OpsError {
    OpsError::Invalid(msg.into())
}

/// Check the request against PVE's rules and the target node before sending anything.
pub async fn plan_create(client: &Client, spec: &CreateSpec) -> Result<CreatePlan, OpsError> {
    if !ids::is_dns_name(&spec.name) {
        return Err(invalid(format!(
            "'{}' is not a valid VM name: use letters, digits and '-' (a DNS name), e.g. web-1",
            spec.name
        )));
    }
    crate::checks::qemu(&QemuConfig {
        memory: Some(Memory::mib(spec.memory_mib)),
        cores: Some(spec.cores),
        tags: Some(spec.tags.clone()),
        ..QemuConfig::default()
    })?;
    if spec.image.is_none() {
        proxctl_types::limits::disk_size(spec.disk).map_err(|e| invalid(format!("--disk: {e}")))?;
    }
    for n in &spec.nics {
        proxctl_types::limits::bridge(&n.bridge).map_err(|e| invalid(format!("--net: {e}")))?;
    }
    if let (Some(gw), Some(ip)) = (spec.gateway, spec.ip) {
        if !ip.contains(&gw) {
            return Err(invalid(format!(
                "gateway {gw} is not inside {ip}; pick an address in {}",
                ip.trunc()
            )));
        }
    } else if spec.gateway.is_some() {
        return Err(invalid("--gateway needs --ip"));
    }
    match (spec.ip6, spec.gateway6) {
        (Some(ip6), Some(gw6)) if !ip6.contains(&gw6) => {
            return Err(invalid(format!(
                "gateway {gw6} is not inside {ip6}; pick an address in {}",
                ip6.trunc()
            )));
        }
        (None, Some(_)) => return Err(invalid("--gateway6 needs --ip6")),
        _ => {}
    }
    // An image lives on one node's storage: the VM goes where the image is, unless told.
    let image_node = match (&spec.node, &spec.image) {
        (None, Some(img)) => node_with_volume(client, img).await?,
        _ => None,
    };
    let placed = crate::placement::place(
        client,
        spec.node.clone().or(image_node),
        spec.storage.clone(),
        "images",
        spec.cores,
        spec.memory_mib,
    )
    .await?;
    let node = placed.node.clone();
    let status = client.node_status(&node).await?;
    let mut warnings = Vec::new();
    if spec.cores > status.cpuinfo.cpus {
        return Err(invalid(format!(
            "--cores {} is more than node {node} has ({})",
            spec.cores, status.cpuinfo.cpus
        )));
    }
    let mem = spec.memory_mib * 1024 * 1024;
    if mem > status.memory.total {
        return Err(invalid(format!(
            "--memory {} MiB is more than node {node} has ({} MiB)",
            spec.memory_mib,
            status.memory.total / 1024 / 1024
        )));
    }
    let committed: u64 = client
        .qemu_list(&node)
        .await?
        .iter()
        .chain(client.lxc_list(&node).await?.iter())
        .filter(|g| g.is_running())
        .filter_map(|g| g.maxmem)
        .sum();
    if committed + mem > status.memory.total {
        warnings.push(format!(
            "memory overcommit on {node}: running guests have {} MiB, this adds {} MiB, the node has {} MiB",
            committed / 1024 / 1024,
            spec.memory_mib,
            status.memory.total / 1024 / 1024
        ));
    }
    let storage = placed.storage.clone();
    let stores = client.storage_list(&node, None).await?;
    let store = stores.iter().find(|s| s.storage == storage.as_str()).ok_or_else(|| {
        let names: Vec<&str> =
            stores.iter().filter(|s| s.supports("images")).map(|s| s.storage.as_str()).collect();
        invalid(format!(
            "storage '{storage}' does not exist on {node}; storages for disks there: {}",
            names.join(", ")
        ))
    })?;
    if !store.supports("images") {
        return Err(invalid(format!(
            "storage '{storage}' on {node} cannot hold VM disks (content: {})",
            store.content
        )));
    }
    let nics = if spec.nics.is_empty() {
        vec![crate::nic::NicRequest::on("vmbr0", None)]
    } else {
        spec.nics.clone()
    };
    let bridges: Vec<&str> = nics.iter().map(|n| n.bridge.as_str()).collect();
    require_bridges(client, &node, &bridges).await?;
    if let Some(img) = &spec.image {
        let (img_store, _) = img.split_once(':').ok_or_else(|| {
            invalid(format!("--image '{img}' is not a volume ID like local:import/x.qcow2"))
        })?;
        let sid = StorageId::new(img_store).map_err(|e| invalid(e.to_string()))?;
        let content = client.storage_content(&node, &sid, None, None).await?;
        if !content.iter().any(|c| c.volid == *img) {
            return Err(invalid(format!(
                "image '{img}' is not on {node}; upload it first (proxctl image pull) or check the name"
            )));
        }
    }
    let vmid = match spec.vmid {
        Some(v) => client.next_id(Some(v)).await?,
        None => client.next_id(None).await?,
    };

    let mut cfg = QemuConfig {
        name: Some(spec.name.clone()),
        cores: Some(spec.cores),
        memory: Some(Memory::mib(spec.memory_mib)),
        scsihw: Some("virtio-scsi-single".into()),
        agent: Some(Agent::enabled()),
        vga: Some(Vga::of_type("serial0")),
        // Marked as proxctl's from its creating call, so safe mode never refuses the next step.
        tags: Some(
            spec.tags
                .iter()
                .cloned()
                .chain([proxctl_types::managed::MANAGED_TAG.to_string()])
                .collect(),
        ),
        ..QemuConfig::default()
    };
    cfg.serial.insert(0, Serial::Socket);
    for (i, n) in (0u8..).zip(&nics) {
        let model = NetModel::from_name(n.model.as_deref().unwrap_or("virtio"));
        let mut nic = NetDevice::new(model, n.bridge.clone());
        nic.tag = n.vlan;
        nic.firewall = n.firewall;
        cfg.net.insert(i, nic);
    }
    let mut disk = match &spec.image {
        Some(img) => {
            let mut d = Drive::new(format!("{storage}:0"));
            d.import_from = Some(img.clone());
            d
        }
        // Exactly the size asked for (1.5G is 1.5 GiB), never rounded up to whole GiB.
        None => Drive::new(format!("{storage}:{}", proxctl_types::wire::new_disk_gib(spec.disk))),
    };
    disk.iothread = Some(true);
    cfg.disks.insert(DriveSlot::Scsi(0), disk);
    let mut ci = Drive::new(format!("{storage}:cloudinit"));
    ci.media = Some(Media::Cdrom);
    cfg.disks.insert(DriveSlot::Ide(2), ci);
    let mut ipc = match spec.ip {
        Some(ip) => IpConfig::static_v4(ip, spec.gateway),
        None => IpConfig::dhcp(),
    };
    ipc.ip6 = Some(spec.ip6.map_or(Ipv6Setting::Auto, Ipv6Setting::Static));
    ipc.gw6 = spec.gateway6;
    cfg.ipconfig.insert(0, ipc);
    Ok(CreatePlan {
        node,
        vmid,
        vmid_given: spec.vmid.is_some(),
        config: cfg,
        start: spec.start,
        warnings,
        chosen: placed.chosen,
    })
}

/// The node whose storage holds `volid` (for a node-local one, the only node it can be used
/// on); `None` when it is on several (shared storage) or none.
async fn node_with_volume(client: &Client, volid: &str) -> Result<Option<NodeName>, OpsError> {
    let Some((store, _)) = volid.split_once(':') else { return Ok(None) };
    let Ok(sid) = StorageId::new(store) else { return Ok(None) };
    let mut holders = Vec::new();
    for n in client.nodes().await?.into_iter().filter(|n| n.status == "online") {
        let content = client.storage_content(&n.node, &sid, None, None).await.unwrap_or_default();
        if content.iter().any(|c| c.volid == volid) {
            holders.push(n.node);
        }
    }
    Ok(if holders.len() == 1 { holders.pop() } else { None })
}

/// Send a validated create. Without a VMID from the user, the VMID is chosen race-free
/// ([`crate::vmid`]) and `plan.vmid` set to the one used.
pub async fn create(
    client: &Client,
    state: Option<&crate::state::StateHandle>,
    plan: &mut CreatePlan,
) -> Result<Started, OpsError> {
    let given = plan.vmid_given.then_some(plan.vmid);
    let label = plan.config.name.clone().unwrap_or_else(|| "vm".into());
    let (node, config) = (&plan.node, &plan.config);
    let (vmid, started) =
        crate::vmid::with_new_vmid(client, state, given, &label, |v| async move {
            Ok(client.qemu_create(node, v, config, &CreateOptions::default()).await?)
        })
        .await?;
    plan.vmid = vmid;
    Ok(started)
}

/// After an import, grow the boot disk to the requested size (an image is usually smaller).
pub async fn grow_boot_disk(
    client: &Client,
    plan: &CreatePlan,
    size: DiskSize,
) -> Result<Option<Upid>, OpsError> {
    let cfg = client.qemu_config_typed(&plan.node, plan.vmid).await?;
    let now = cfg.disks.get(&DriveSlot::Scsi(0)).and_then(|d| d.size);
    if now.is_some_and(|n| n >= size) {
        return Ok(None);
    }
    Ok(client
        .qemu_resize(&plan.node, plan.vmid, DriveSlot::Scsi(0), ResizeTo::Absolute(size), None)
        .await?)
}

/// Clone `src` (usually a template) as `name`; the new VMID comes from `/cluster/nextid`.
pub async fn clone(
    client: &Client,
    state: Option<&crate::state::StateHandle>,
    src: &GuestRef,
    name: &str,
    newid: Option<VmId>,
    full: Option<bool>,
    target: Option<NodeName>,
) -> Result<(VmId, Started), OpsError> {
    if !ids::is_dns_name(name) {
        return Err(invalid(format!(
            "'{name}' is not a valid VM name: use letters, digits and '-'"
        )));
    }
    crate::guest::expect_kind(src, GuestKind::Qemu)?;
    if let Some(v) = newid {
        client.next_id(Some(v)).await?; // a given VMID must be free: say so before cloning
    }
    // The copy is proxctl's from its creating call (safe mode lets proxctl's next steps
    // through), and does not inherit the source's resource marker.
    let source = client.qemu_config(&src.node, src.vmid).await?;
    let text = source.get("description").and_then(|d| d.as_str()).unwrap_or("");
    let req = CloneRequest {
        name: Some(name.into()),
        description: Some(proxctl_types::managed::owned_copy_description(text)),
        full,
        target,
        ..CloneRequest::default()
    };
    let req = &req;
    crate::vmid::with_new_vmid(client, state, newid, name, |v| async move {
        Ok(client.qemu_clone(&src.node, src.vmid, v, req).await?)
    })
    .await
}

/// Change config keys, guarded by the digest read just before, so a concurrent edit is not lost.
pub async fn set(
    client: &Client,
    g: &GuestRef,
    set: QemuConfig,
    delete: Vec<String>,
) -> Result<(), OpsError> {
    crate::guest::expect_kind(g, GuestKind::Qemu)?;
    crate::checks::qemu(&set)?;
    let current = client.qemu_config_typed(&g.node, g.vmid).await?;
    let u = ConfigUpdate {
        set,
        delete,
        digest: current.digest.map(proxctl_types::wire::Digest),
        ..ConfigUpdate::default()
    };
    client.qemu_update_config(&g.node, g.vmid, &u).await?;
    Ok(())
}

/// Grow a disk; shrinking is refused here, as PVE would refuse it later.
pub async fn resize(
    client: &Client,
    g: &GuestRef,
    disk: DriveSlot,
    size: ResizeTo,
) -> Result<Option<Upid>, OpsError> {
    crate::guest::expect_kind(g, GuestKind::Qemu)?;
    let cfg = client.qemu_config_typed(&g.node, g.vmid).await?;
    let current = cfg.disks.get(&disk).ok_or_else(|| {
        let have: Vec<String> =
            cfg.disks.iter().filter(|(_, d)| !d.is_cdrom()).map(|(s, _)| s.to_string()).collect();
        invalid(format!("{} has no disk {disk}; its disks: {}", g.label(), have.join(", ")))
    })?;
    if let (ResizeTo::Absolute(want), Some(now)) = (size, current.size)
        && want < now
    {
        return Err(invalid(format!("{disk} is {now}; disks can only grow (use +SIZE to add)")));
    }
    Ok(client
        .qemu_resize(
            &g.node,
            g.vmid,
            disk,
            size,
            cfg.digest.map(proxctl_types::wire::Digest).as_ref(),
        )
        .await?)
}

/// The noVNC console URL of a guest on the node's web UI.
pub fn console_url(base_url: &str, g: &GuestRef) -> String {
    let console = if g.kind == GuestKind::Qemu { "kvm" } else { "lxc" };
    let name = g.name.as_deref().unwrap_or("");
    format!(
        "{base_url}/?console={console}&novnc=1&vmid={}&vmname={name}&node={}&resize=off&cmd=",
        g.vmid, g.node
    )
}

/// The remote-viewer (`.vv`) file for a SPICE console.
pub async fn spice_file(client: &Client, g: &GuestRef) -> Result<String, OpsError> {
    crate::guest::expect_kind(g, GuestKind::Qemu)?;
    let m = client.qemu_spiceproxy(&g.node, g.vmid, None).await?;
    let mut out = String::from("[virt-viewer]\n");
    for (k, v) in m {
        let v = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!("{k}={v}\n"));
    }
    Ok(out)
}

/// What `cloud-init status --wait --format json` reported inside a guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloudInitStatus {
    pub status: String,
    pub errors: Vec<String>,
}

/// Run `cloud-init status --wait --format json` through the guest agent and return its
/// verdict; `done` is success, anything else fails with cloud-init's own errors. The agent is
/// retried until it answers (the guest may still be booting), up to `timeout`.
pub async fn wait_cloud_init(
    client: &Client,
    node: &NodeName,
    vmid: VmId,
    timeout: std::time::Duration,
) -> Result<CloudInitStatus, OpsError> {
    // Without an enabled agent nobody inside will ever answer: say so now, not at the timeout.
    let cfg = client.qemu_config(node, vmid).await?;
    let agent =
        cfg.get("agent").map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    if !agent.as_deref().is_some_and(|a| a.starts_with('1') || a.contains("enabled=1")) {
        return Err(OpsError::Invalid(format!(
            "VM {vmid} has no guest agent enabled (agent: 1), so proxctl cannot ask cloud-init; enable it in the template, or drop --wait-cloud-init"
        )));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let cmd: Vec<String> = ["cloud-init", "status", "--wait", "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut pause = std::time::Duration::from_millis(200);
    let too_late = |what: &str| OpsError::CloudInit {
        vmid: vmid.get(),
        detail: format!("{what} within {}s", timeout.as_secs()),
    };
    let pid = loop {
        match client.qemu_agent_exec(node, vmid, &cmd, None).await {
            Ok(e) => break e.pid,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => {
                return Err(too_late(&format!("the guest agent did not answer ({e})")));
            }
        }
    };
    loop {
        let s = client.qemu_agent_exec_status(node, vmid, pid).await?;
        if s.exited {
            let out = s.out_data.unwrap_or_default();
            let v: serde_json::Value =
                serde_json::from_str(out.trim()).map_err(|_| OpsError::CloudInit {
                    vmid: vmid.get(),
                    detail: format!("cloud-init status printed no JSON: {out:?}"),
                })?;
            let status = v.get("status").and_then(|x| x.as_str()).unwrap_or("unknown").to_string();
            let errors: Vec<String> = v
                .get("errors")
                .and_then(|e| e.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default();
            if status != "done" {
                return Err(OpsError::CloudInit {
                    vmid: vmid.get(),
                    detail: format!(
                        "status {status}: {}",
                        if errors.is_empty() { "no detail".into() } else { errors.join("; ") }
                    ),
                });
            }
            return Ok(CloudInitStatus { status, errors });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(too_late("cloud-init did not finish"));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
    }
}
