//! Existing guests to manifests (`export`), and taking them over (`adopt`): the exported
//! manifest states exactly what PVE has, and adopting records the guest in the state store and
//! marks it, so the next plan shows no changes.

use std::collections::BTreeMap;

use proxctl_client::{ApiRequest, Client, Endpoint};
use proxctl_state::{ResourceKey, ResourceRecord, StateStore};
use proxctl_types::config::QemuConfig;
use proxctl_types::managed::{MANAGED_TAG, RESOURCE_PREFIX, with_resource};
use proxctl_types::prop::{Ipv4Setting, Ipv6Setting};
use proxctl_types::wire::{FormParams, normalize_tags};
use proxctl_types::{NodeName, VmId};

use crate::EngineError;
use crate::manifest::{
    API_VERSION, Body, CloudInitSpec, Declared, DiskSpec, IpSpec, Metadata, NicSpec, Typed, VmSpec,
};
use crate::observe::ObservedGuest;
use crate::plan::spec_hash;

/// The manifest for one VM (its config must have been observed), or why not.
pub fn vm_manifest(g: &ObservedGuest, all: &[ObservedGuest]) -> Result<Typed<VmSpec>, String> {
    let raw = g.config.as_ref().ok_or_else(|| format!("VMID {}: config not read", g.vmid))?;
    let c = QemuConfig::from_api(raw).map_err(|e| format!("VMID {}: {e}", g.vmid))?;
    let text = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(String::from);
    // A linked clone's disks live on `base-<template>-disk-N/...`: that names the template.
    let template = c.disks.values().find_map(|d| {
        let base = d.file.split_once("base-")?.1;
        let id: u32 = base.split('-').next()?.parse().ok()?;
        all.iter().find(|t| t.template && t.vmid == id).map(|t| t.name.clone())
    });
    let disks: BTreeMap<String, DiskSpec> = c
        .disks
        .iter()
        .filter(|(_, d)| d.media.is_none() && d.size.is_some())
        .map(|(slot, d)| {
            let size = d.size.map(|s| s.to_string()).unwrap_or_default();
            (slot.to_string(), DiskSpec { size, storage: None })
        })
        .collect();
    let networks: BTreeMap<String, NicSpec> = c
        .net
        .iter()
        .filter_map(|(n, d)| {
            Some((
                format!("net{n}"),
                NicSpec {
                    bridge: d.bridge.clone()?,
                    vlan: d.tag,
                    model: Some(d.model.as_str().to_string()),
                    firewall: d.firewall,
                },
            ))
        })
        .collect();
    let ip: BTreeMap<String, IpSpec> = c
        .ipconfig
        .iter()
        .map(|(n, ipc)| {
            let spec = IpSpec {
                address: ipc.ip.as_ref().map(|i| match i {
                    Ipv4Setting::Dhcp => "dhcp".to_string(),
                    Ipv4Setting::Static(net) => net.to_string(),
                }),
                gateway: ipc.gw.map(|g| g.to_string()),
                pool: None,
                address6: ipc.ip6.as_ref().map(|i| match i {
                    Ipv6Setting::Dhcp => "dhcp".to_string(),
                    Ipv6Setting::Auto => "auto".to_string(),
                    Ipv6Setting::Static(net) => net.to_string(),
                }),
                gateway6: ipc.gw6.map(|g| g.to_string()),
            };
            (format!("net{n}"), spec)
        })
        .collect();
    let ssh_keys: Vec<String> = c
        .sshkeys
        .as_deref()
        .map(|k| k.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let cloud_init = CloudInitSpec {
        mode: None,
        iso_storage: None,
        user: c.ciuser.clone(),
        ssh_keys,
        ip,
        nameserver: c.nameserver.clone(),
        searchdomain: c.searchdomain.clone(),
        user_data: None,
    };
    let has_ci = cloud_init != CloudInitSpec::default();
    let description = text("description")
        .map(|d| {
            d.lines()
                .filter(|l| !l.trim().starts_with(RESOURCE_PREFIX))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .map(|d| d.trim_end().to_string())
        .filter(|d| !d.is_empty());
    let spec = VmSpec {
        template,
        node: Some(g.node.clone()),
        cores: c.cores,
        sockets: c.sockets,
        cpu: text("cpu"),
        memory: c.memory.as_ref().map(|m| m.current),
        balloon: c.balloon,
        disks,
        networks,
        cloud_init: has_ci.then_some(cloud_init),
        tags: g.tags.iter().filter(|t| *t != MANAGED_TAG).cloned().collect(),
        onboot: c.onboot,
        protection: c.protection,
        description,
        ..VmSpec::default()
    };
    Ok(Typed {
        api_version: API_VERSION.into(),
        kind: "VirtualMachine".into(),
        metadata: Metadata { name: g.name.clone() },
        spec,
    })
}

/// Multi-document YAML for `docs`.
pub fn to_yaml(docs: &[Typed<VmSpec>]) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml_ng::to_string(d)?);
    }
    Ok(out)
}

/// Take over the guests `declared` names that proxctl does not manage yet: one unmanaged VM
/// of that name must exist. Records each in the store first (so safe mode sees it as managed),
/// then marks it in PVE. Returns (key, VMID) for each adopted guest.
pub async fn adopt(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
    observed: &crate::observe::Observed,
) -> Result<Vec<(String, u32)>, EngineError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for d in declared {
        let Body::VirtualMachine { metadata, .. } = &d.body else { continue };
        let key = d.key();
        if store.resources().await?.iter().any(|r| r.key.to_string() == key) {
            continue;
        }
        let marked = |g: &&ObservedGuest| {
            g.text("description").and_then(proxctl_types::managed::resource_of)
                == Some(key.as_str())
        };
        if observed.guests.iter().any(|g| marked(&g)) {
            continue;
        }
        let matches: Vec<&ObservedGuest> = observed
            .guests
            .iter()
            .filter(|g| g.kind == "qemu" && !g.template && g.name == metadata.name)
            .collect();
        let g = match matches.as_slice() {
            [g] => *g,
            [] => {
                problems.push(format!("{key}: no VM named {} to adopt", metadata.name));
                continue;
            }
            many => {
                let ids: Vec<String> = many.iter().map(|g| g.vmid.to_string()).collect();
                problems.push(format!(
                    "{key}: several VMs are named {} ({}); rename all but one first",
                    metadata.name,
                    ids.join(", ")
                ));
                continue;
            }
        };
        let (Ok(vmid), Ok(node), Ok(rkey)) =
            (VmId::new(g.vmid), NodeName::new(g.node.as_str()), key.parse::<ResourceKey>())
        else {
            continue;
        };
        store
            .put_resource(&ResourceRecord {
                key: rkey,
                spec_hash: spec_hash(&d.body),
                vmid: Some(vmid),
                node: Some(node.clone()),
                updated_at: jiff::Timestamp::now(),
            })
            .await?;
        let mut tags: Vec<&str> = g.tags.iter().map(String::as_str).collect();
        tags.push(MANAGED_TAG);
        let mut p = FormParams::new();
        p.push("tags", normalize_tags(tags));
        p.push("description", with_resource(g.text("description").unwrap_or(""), &key));
        let vs = vmid.to_string();
        client.send(&ApiRequest::new(Endpoint::QemuConfigPut, &[node.as_str(), &vs], p)).await?;
        out.push((key, g.vmid));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(EngineError::Plan(crate::PlanError { problems }))
    }
}

/// Manifests for the VMs `sel` picks (all non-templates without one), and why any were skipped.
pub async fn export_vms(
    client: &Client,
    sel: Option<&proxctl_types::selector::Selector>,
) -> Result<(Vec<Typed<VmSpec>>, Vec<String>), EngineError> {
    let rows = proxctl_ops::views::guests(client, None, false)
        .await
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    let chosen: std::collections::BTreeSet<u32> = rows
        .iter()
        .filter(|g| !g.template && g.kind == "qemu" && sel.is_none_or(|s| g.selected_by(s)))
        .map(|g| g.vmid)
        .collect();
    let mut observed = crate::observe::observe(client, &[], &chosen).await?;
    observed.guests.retain(|g| g.template || chosen.contains(&g.vmid));
    let (mut docs, mut skipped) = (Vec::new(), Vec::new());
    for g in observed.guests.iter().filter(|g| !g.template) {
        match vm_manifest(g, &observed.guests) {
            Ok(d) => docs.push(d),
            Err(e) => skipped.push(e),
        }
    }
    Ok((docs, skipped))
}

/// Observe what `declared` names, then [`adopt`] it.
pub async fn adopt_declared(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
) -> Result<Vec<(String, u32)>, EngineError> {
    let known = store.resources().await?.iter().filter_map(|r| r.vmid.map(|v| v.get())).collect();
    let observed = crate::observe::observe(client, declared, &known).await?;
    adopt(client, store, declared, &observed).await
}
