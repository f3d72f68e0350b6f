//! Container operations beyond power: create, validated before any call.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use proxctl_client::Client;
use proxctl_client::endpoints::lxc::LxcCreate;
use proxctl_types::config::LxcConfig;
use proxctl_types::prop::{Ipv4Setting, LxcMount, LxcNet};
use proxctl_types::secret::Secret;
use proxctl_types::{NodeName, StorageId, Upid, VmId, ids};

use crate::OpsError;

#[derive(Debug, Clone)]
pub struct CtSpec {
    pub hostname: String,
    pub vmid: Option<VmId>,
    pub node: Option<NodeName>,
    /// e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub template: String,
    pub storage: Option<StorageId>,
    pub disk_gib: u32,
    pub memory_mib: u64,
    pub cores: u32,
    pub bridge: Option<String>,
    pub ip: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub password: Option<Secret>,
    pub ssh_public_keys: Option<String>,
    pub unprivileged: bool,
    pub start: bool,
}

fn invalid(msg: impl Into<String>) -> OpsError {
    OpsError::Invalid(msg.into())
}

/// Validate against PVE's rules and the node, then create; returns the VMID and the task.
/// A container create that has started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtCreated {
    pub node: NodeName,
    pub vmid: VmId,
    pub upid: Upid,
    /// What proxctl chose because the command did not say (node, storage).
    pub chosen: Vec<String>,
}

pub async fn create(
    client: &Client,
    state: Option<&crate::state::StateHandle>,
    spec: &CtSpec,
) -> Result<CtCreated, OpsError> {
    if !ids::is_dns_name(&spec.hostname) {
        return Err(invalid(format!(
            "'{}' is not a valid hostname: use letters, digits and '-'",
            spec.hostname
        )));
    }
    crate::checks::lxc(&LxcConfig {
        memory: Some(spec.memory_mib),
        cores: Some(spec.cores),
        ..LxcConfig::default()
    })?;
    if spec.disk_gib == 0 {
        return Err(invalid("--disk: a disk must be larger than 0"));
    }
    if let Some(b) = &spec.bridge {
        proxctl_types::limits::bridge(b).map_err(|e| invalid(format!("--bridge: {e}")))?;
    }
    if spec.password.as_ref().is_some_and(|p| p.expose().len() < 5) {
        return Err(invalid("the root password must be at least 5 characters (PVE's rule)"));
    }
    if spec.password.is_none() && spec.ssh_public_keys.is_none() {
        return Err(invalid(
            "give the container a way in: a root password (PROXCTL_CT_PASSWORD) or --ssh-keys FILE",
        ));
    }
    match (spec.ip, spec.gateway) {
        (Some(ip), Some(gw)) if !ip.contains(&gw) => {
            return Err(invalid(format!(
                "gateway {gw} is not inside {ip}; pick an address in {}",
                ip.trunc()
            )));
        }
        (None, Some(_)) => return Err(invalid("--gateway needs --ip")),
        _ => {}
    }
    let placed = crate::placement::place(
        client,
        spec.node.clone(),
        spec.storage.clone(),
        "rootdir",
        spec.cores,
        spec.memory_mib,
    )
    .await?;
    let node = placed.node.clone();
    let status = client.node_status(&node).await?;
    if spec.cores == 0 || spec.cores > status.cpuinfo.cpus {
        return Err(invalid(format!(
            "--cores must be between 1 and {} on {node}",
            status.cpuinfo.cpus
        )));
    }
    if spec.memory_mib * 1024 * 1024 > status.memory.total {
        return Err(invalid(format!(
            "--memory {} MiB is more than node {node} has",
            spec.memory_mib
        )));
    }
    let storage = placed.storage.clone();
    let stores = client.storage_list(&node, None).await?;
    match stores.iter().find(|s| s.storage == storage.as_str()) {
        Some(s) if s.supports("rootdir") => {}
        Some(s) => {
            return Err(invalid(format!(
                "storage '{storage}' cannot hold container disks (content: {})",
                s.content
            )));
        }
        None => return Err(invalid(format!("storage '{storage}' does not exist on {node}"))),
    }
    let (tstore, _) = spec.template.split_once(':').ok_or_else(|| {
        invalid(format!(
            "--template '{}' is not a volume ID like local:vztmpl/x.tar.zst",
            spec.template
        ))
    })?;
    let tsid = StorageId::new(tstore).map_err(|e| invalid(e.to_string()))?;
    let templates = client.storage_content(&node, &tsid, Some("vztmpl"), None).await?;
    if !templates.iter().any(|t| t.volid == spec.template) {
        let have: Vec<&str> = templates.iter().map(|t| t.volid.as_str()).collect();
        return Err(invalid(format!(
            "template '{}' is not on {node}; there: {}",
            spec.template,
            have.join(", ")
        )));
    }
    let bridge = spec.bridge.clone().unwrap_or_else(|| "vmbr0".into());
    crate::vm::require_bridges(client, &node, &[bridge.as_str()]).await?;
    if let Some(v) = spec.vmid {
        client.next_id(Some(v)).await?; // a given VMID must be free: say so before creating
    }
    let net = LxcNet {
        name: "eth0".into(),
        bridge: Some(bridge),
        ip: Some(spec.ip.map_or(Ipv4Setting::Dhcp, Ipv4Setting::Static)),
        gw: spec.gateway,
        ..LxcNet::default()
    };
    let config = LxcConfig {
        hostname: Some(spec.hostname.clone()),
        // proxctl's from its creating call, so safe mode lets proxctl start and change it.
        tags: Some(vec![proxctl_types::managed::MANAGED_TAG.to_string()]),
        memory: Some(spec.memory_mib),
        cores: Some(spec.cores),
        unprivileged: Some(spec.unprivileged),
        rootfs: Some(LxcMount::new(format!("{storage}:{}", spec.disk_gib))),
        net: [(0, net)].into(),
        ..LxcConfig::default()
    };
    let req = LxcCreate {
        ostemplate: spec.template.clone(),
        config,
        password: spec.password.clone(),
        ssh_public_keys: spec.ssh_public_keys.clone(),
        storage: Some(storage),
        start: spec.start,
        pool: None,
    };
    let (node_ref, req) = (&node, &req);
    let (vmid, upid) =
        crate::vmid::with_new_vmid(client, state, spec.vmid, &spec.hostname, |v| async move {
            Ok(client.lxc_create(node_ref, v, req).await?)
        })
        .await?;
    Ok(CtCreated { node, vmid, upid, chosen: placed.chosen })
}

/// Clone container `src` as `hostname`; the new VMID comes from `/cluster/nextid`.
pub async fn clone(
    client: &Client,
    state: Option<&crate::state::StateHandle>,
    src: &crate::GuestRef,
    hostname: &str,
    newid: Option<VmId>,
    full: Option<bool>,
) -> Result<(VmId, Upid), OpsError> {
    if !ids::is_dns_name(hostname) {
        return Err(invalid(format!(
            "'{hostname}' is not a valid hostname: use letters, digits and '-'"
        )));
    }
    crate::guest::expect_kind(src, proxctl_types::messages::GuestKind::Lxc)?;
    if let Some(v) = newid {
        client.next_id(Some(v)).await?;
    }
    let source = client.lxc_config(&src.node, src.vmid).await?;
    let text = source.get("description").and_then(|d| d.as_str()).unwrap_or("");
    let req = proxctl_client::endpoints::lxc::LxcCloneRequest {
        hostname: Some(hostname.into()),
        description: Some(proxctl_types::managed::owned_copy_description(text)),
        full,
        ..Default::default()
    };
    let req = &req;
    crate::vmid::with_new_vmid(client, state, newid, hostname, |v| async move {
        Ok(client.lxc_clone(&src.node, src.vmid, v, req).await?)
    })
    .await
}

/// Grow `rootfs` or an `mpN`; shrinking is refused before PVE refuses it.
pub async fn resize(
    client: &Client,
    g: &crate::GuestRef,
    disk: &str,
    size: proxctl_types::wire::ResizeTo,
) -> Result<Upid, OpsError> {
    crate::guest::expect_kind(g, proxctl_types::messages::GuestKind::Lxc)?;
    let raw = client.lxc_config(&g.node, g.vmid).await?;
    let cfg = LxcConfig::from_api(&raw).map_err(|e| invalid(e.to_string()))?;
    let mount = if disk == "rootfs" {
        cfg.rootfs.clone()
    } else {
        disk.strip_prefix("mp")
            .and_then(|i| i.parse::<u8>().ok())
            .and_then(|i| cfg.mp.get(&i).cloned())
    };
    let mount = mount.ok_or_else(|| {
        let mut have: Vec<String> = cfg.mp.keys().map(|i| format!("mp{i}")).collect();
        have.insert(0, "rootfs".into());
        invalid(format!("{} has no volume {disk}; its volumes: {}", g.label(), have.join(", ")))
    })?;
    if let (proxctl_types::wire::ResizeTo::Absolute(want), Some(now)) = (size, mount.size)
        && want < now
    {
        return Err(invalid(format!("{disk} is {now}; volumes can only grow (use +SIZE to add)")));
    }
    let digest = cfg.digest.map(proxctl_types::wire::Digest);
    Ok(client.lxc_resize(&g.node, g.vmid, disk, size, digest.as_ref()).await?)
}

/// Change container config keys, guarded by the digest read just before.
pub async fn set(
    client: &Client,
    g: &crate::GuestRef,
    set: LxcConfig,
    delete: Vec<String>,
) -> Result<(), OpsError> {
    crate::guest::expect_kind(g, proxctl_types::messages::GuestKind::Lxc)?;
    crate::checks::lxc(&set)?;
    crate::checks::lxc(&set)?;
    let raw = client.lxc_config(&g.node, g.vmid).await?;
    let digest = raw
        .get("digest")
        .and_then(|d| d.as_str())
        .map(|d| proxctl_types::wire::Digest(d.to_string()));
    client.lxc_update_config(&g.node, g.vmid, &set, &delete, digest.as_ref()).await?;
    Ok(())
}
