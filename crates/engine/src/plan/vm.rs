//! The VirtualMachine planner: the config a VM should have (cloud-init natively or as a
//! NoCloud seed ISO), disks, and the steps that create or update it.

use super::*;

/// The config a VM should end up with, as PVE wire values, for the keys the spec sets.
pub(super) struct Desired {
    pub(super) values: BTreeMap<String, (String, bool)>,
    pub(super) allocations: Vec<(String, IpAddr)>,
    /// ISO mode: where the seed goes and what it holds.
    pub(super) seed: Option<SeedIso>,
}

pub(super) struct SeedIso {
    pub(super) storage: String,
    pub(super) filename: String,
    pub(super) files: BTreeMap<String, String>,
}

/// Replace the native cloud-init keys with a NoCloud seed ISO holding the same settings.
pub(super) fn into_seed(
    v: &mut BTreeMap<String, (String, bool)>,
    name: &str,
    vmid: u32,
    ci: &crate::manifest::CloudInitSpec,
) -> SeedIso {
    let take = |v: &mut BTreeMap<String, (String, bool)>, k: &str| v.remove(k).map(|(x, _)| x);
    let ipc = take(v, "ipconfig0").and_then(|t| t.parse::<IpConfig>().ok());
    for k in ["ciuser", "sshkeys", "nameserver", "searchdomain"] {
        v.remove(k);
    }
    v.retain(|k, _| !k.starts_with("ipconfig"));
    let seed = proxctl_images::nocloud::Seed {
        hostname: name.to_string(),
        user: ci.user.clone(),
        ssh_keys: ci.ssh_keys.clone(),
        ipv4: ipc.as_ref().and_then(|c| c.ip.as_ref()).map(|i| i.to_string()),
        gateway4: ipc.as_ref().and_then(|c| c.gw).map(|g| g.to_string()),
        ipv6: ipc.as_ref().and_then(|c| c.ip6.as_ref()).map(|i| i.to_string()),
        gateway6: ipc.as_ref().and_then(|c| c.gw6).map(|g| g.to_string()),
        nameservers: ci.nameserver.iter().cloned().collect(),
        search: ci.searchdomain.iter().cloned().collect(),
        mac: None,
        user_data: ci.user_data.clone(),
    };
    let storage = ci.iso_storage.clone().unwrap_or_else(|| "local".into());
    let filename = format!("proxctl-{vmid}-{}.iso", seed.instance_id());
    v.insert("ide2".into(), (format!("{storage}:iso/{filename},media=cdrom"), true));
    SeedIso {
        storage,
        filename,
        files: seed.files().into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
    }
}

/// `observed` is the guest's config (for updates); `inherited` the NIC slots the guest has or
/// will have without the spec (its own, or the template's for a clone), which an address in
/// `cloudInit.ip` may use without a `networks` entry.
#[allow(clippy::too_many_arguments)]
pub(super) fn desired_config(
    key: &str,
    name: &str,
    vmid: u32,
    spec: &VmSpec,
    observed: Option<&QemuConfig>,
    inherited: &[u8],
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Desired, String> {
    let mut v: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut set = |k: &str, val: String, reboot: bool| {
        v.insert(k.to_string(), (val, reboot));
    };
    set("name", name.to_string(), false);
    if let Some(c) = spec.cores {
        set("cores", c.to_string(), true);
    }
    if let Some(s) = spec.sockets {
        set("sockets", s.to_string(), true);
    }
    if let Some(c) = &spec.cpu {
        set("cpu", c.clone(), true);
    }
    if let Some(m) = spec.memory {
        set("memory", m.to_string(), true);
    }
    if let Some(b) = spec.balloon {
        set("balloon", b.to_string(), false);
    }
    for (k, b) in [("onboot", spec.onboot), ("protection", spec.protection)] {
        if let Some(b) = b {
            set(k, if b { "1" } else { "0" }.into(), false);
        }
    }
    let mut tags: Vec<&str> = spec.tags.iter().map(String::as_str).collect();
    tags.push(MANAGED_TAG);
    set("tags", normalize_tags(tags), false);
    set("description", with_resource(spec.description.as_deref().unwrap_or(""), key), false);
    for (slot, nic) in &spec.networks {
        let model = match nic.model.as_deref().unwrap_or("virtio") {
            "e1000" => NetModel::E1000,
            "e1000e" => NetModel::E1000e,
            "rtl8139" => NetModel::Rtl8139,
            "vmxnet3" => NetModel::Vmxnet3,
            _ => NetModel::Virtio,
        };
        // Keep what PVE has (the MAC above all) and change only what the spec names.
        let have: Option<NetDevice> = observed.and_then(|c| {
            let n: u8 = slot.strip_prefix("net")?.parse().ok()?;
            c.net.get(&n).cloned()
        });
        let mut dev =
            have.clone().unwrap_or_else(|| NetDevice::new(model.clone(), nic.bridge.clone()));
        let model_changed = have.as_ref().is_some_and(|h| h.model != model);
        dev.model = model;
        dev.bridge = Some(nic.bridge.clone());
        dev.tag = nic.vlan;
        if let Some(fw) = nic.firewall {
            dev.firewall = Some(fw);
        }
        set(slot, dev.to_string(), model_changed);
    }
    if let Some(ci) = &spec.cloud_init {
        if let Some(u) = &ci.user {
            set("ciuser", u.clone(), true);
        }
        if !ci.ssh_keys.is_empty() {
            set("sshkeys", encode_sshkeys(&ci.ssh_keys.join("\n")), true);
        }
        if let Some(n) = &ci.nameserver {
            set("nameserver", n.clone(), true);
        }
        if let Some(s) = &ci.searchdomain {
            set("searchdomain", s.clone(), true);
        }
        let mut allocations = Vec::new();
        for (nic, ip) in &ci.ip {
            let n = nic.trim_start_matches("net");
            let has_nic = spec.networks.contains_key(nic)
                || n.parse::<u8>().is_ok_and(|i| inherited.contains(&i));
            if !has_nic {
                return Err(format!(
                    "cloudInit.ip.{nic} gives an address, but the VM has no {nic}: declare it \
                     under spec.networks (the template does not have it either)"
                ));
            }
            let mut parts = Vec::new();
            match (&ip.pool, &ip.address) {
                (Some(p), _) => {
                    let pool = pools.get(p.as_str()).ok_or_else(|| format!("no IPPool {p}"))?;
                    let (addr, prefix, _) = ipam.address(p, pool, key)?;
                    allocations.push((p.clone(), addr));
                    parts.push(format!("ip={addr}/{prefix}"));
                    parts.push(format!("gw={}", ip.gateway.as_deref().unwrap_or(&pool.gateway)));
                }
                (None, Some(a)) => {
                    parts.push(format!("ip={a}"));
                    if let Some(g) = &ip.gateway {
                        parts.push(format!("gw={g}"));
                    }
                }
                (None, None) => {}
            }
            if let Some(a6) = &ip.address6 {
                parts.push(format!("ip6={a6}"));
                if let Some(g6) = &ip.gateway6 {
                    parts.push(format!("gw6={g6}"));
                }
            }
            // Normalise through the typed parser so the text compares equal to PVE's.
            let text = parts.join(",");
            let text = text.parse::<IpConfig>().map(|c| c.to_string()).unwrap_or(text);
            set(&format!("ipconfig{n}"), text, true);
        }
        let seed = (ci.mode.as_deref() == Some("iso")).then(|| into_seed(&mut v, name, vmid, ci));
        return Ok(Desired { values: v, allocations, seed });
    }
    Ok(Desired { values: v, allocations: Vec::new(), seed: None })
}

/// PVE's value for a key, normalised the way `desired_config` writes it.
pub(super) fn observed_value(key: &str, g: &ObservedGuest, cfg: &QemuConfig) -> Option<String> {
    let raw = g.config.as_ref()?.get(key)?;
    let text = match raw {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match key {
        "tags" => normalize_tags(proxctl_types::wire::split_tags(&text)),
        k if k.starts_with("net") => {
            let n: u8 = k[3..].parse().ok()?;
            cfg.net.get(&n).map(|d| d.to_string()).unwrap_or(text)
        }
        k if k.starts_with("ipconfig") => {
            text.parse::<IpConfig>().map(|c| c.to_string()).unwrap_or(text)
        }
        "memory" => cfg.memory.as_ref().map(|m| m.current.to_string()).unwrap_or(text),
        "description" => text.trim_end().to_string(),
        _ => text,
    })
}

/// A wire value as a person reads it (`sshkeys` travels percent-encoded).
pub(super) fn shown_value(key: &str, v: &str) -> String {
    if key == "sshkeys" {
        proxctl_types::wire::decode_sshkeys(v).unwrap_or_else(|_| v.to_string())
    } else {
        v.to_string()
    }
}

pub(super) fn disk_steps(
    spec: &VmSpec,
    cfg: Option<&QemuConfig>,
    node: &str,
    vmid: u32,
    diffs: &mut Vec<FieldDiff>,
    set: &mut BTreeMap<String, String>,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (slot, d) in &spec.disks {
        let want: DiskSize = d.size.parse().map_err(|_| format!("bad size {}", d.size))?;
        let s: DriveSlot = slot.parse().map_err(|_| format!("bad disk slot {slot}"))?;
        let have = cfg.and_then(|c| c.disks.get(&s));
        match have.and_then(|h| h.size) {
            Some(cur) if cur.bytes() > want.bytes() => {
                return Err(format!(
                    "disk {slot} is {cur} and cannot shrink to {want}; raise the size or replace the VM"
                ));
            }
            Some(cur) if cur.bytes() == want.bytes() => {}
            Some(cur) => {
                diffs.push(FieldDiff {
                    field: format!("disks.{slot}.size"),
                    from: Some(cur.to_string()),
                    to: Some(want.to_string()),
                    reboot: false,
                });
                steps.push(Step::Resize {
                    node: node.into(),
                    vmid,
                    disk: slot.clone(),
                    size: want.to_string(),
                    lxc: false,
                });
            }
            None if have.is_some() => {}
            None => {
                // A disk the template lacks: allocate it on the named (or first disk's) storage.
                let storage = d.storage.clone().or_else(|| {
                    cfg.and_then(|c| {
                        c.disks
                            .values()
                            .find_map(|dr| dr.file.split_once(':').map(|(s, _)| s.to_string()))
                    })
                });
                let Some(storage) = storage else {
                    return Err(format!("disk {slot}: name a storage for it"));
                };
                let gib = want.bytes().div_ceil(1 << 30);
                diffs.push(FieldDiff {
                    field: format!("disks.{slot}"),
                    from: None,
                    to: Some(format!("{storage}, {want}")),
                    reboot: false,
                });
                set.insert(slot.clone(), format!("{storage}:{gib}"));
            }
        }
    }
    Ok(steps)
}

pub(super) fn allowed_nodes(spec: &VmSpec) -> Vec<String> {
    if !spec.allowed_nodes.is_empty() {
        spec.allowed_nodes.clone()
    } else {
        spec.node.iter().cloned().collect()
    }
}

pub(super) fn update_vm(
    key: &str,
    name: &str,
    spec: &VmSpec,
    g: &ObservedGuest,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    let cfg = g
        .config
        .as_ref()
        .map(QemuConfig::from_api)
        .transpose()
        .map_err(|e| format!("cannot read the config of VMID {}: {e}", g.vmid))?
        .unwrap_or_default();
    let own: Vec<u8> = cfg.net.keys().copied().collect();
    let want = desired_config(key, name, g.vmid, spec, Some(&cfg), &own, pools, ipam)?;
    let mut diffs = Vec::new();
    let mut set = BTreeMap::new();
    for (k, (val, reboot)) in &want.values {
        let have = observed_value(k, g, &cfg);
        if have.as_deref() != Some(val.as_str()) {
            let shown = |v: &str| shown_value(k, v);
            diffs.push(FieldDiff {
                field: k.clone(),
                from: have.as_deref().map(shown),
                to: Some(shown(val)),
                reboot: *reboot,
            });
            set.insert(k.clone(), val.clone());
        }
    }
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    let resize = disk_steps(spec, Some(&cfg), &g.node, g.vmid, &mut diffs, &mut set)?;
    let mut node = g.node.clone();
    let allowed = allowed_nodes(spec);
    let mut migrate = None;
    if !allowed.is_empty() && !allowed.contains(&g.node) {
        let to = spec.node.clone().unwrap_or_else(|| allowed[0].clone());
        diffs.push(FieldDiff {
            field: "node".into(),
            from: Some(g.node.clone()),
            to: Some(to.clone()),
            reboot: false,
        });
        migrate = Some(Step::Migrate {
            node: g.node.clone(),
            vmid: g.vmid,
            to: to.clone(),
            online: g.running,
        });
        node = to;
    }
    if let Some(m) = migrate {
        steps.push(m);
    }
    // A changed seed: upload the new ISO before pointing ide2 at it, drop the old one after.
    let old_seed = proxctl_types::managed::seed_iso_of(g.text("ide2"), g.vmid);
    let new_seed = want.seed.filter(|_| set.contains_key("ide2"));
    if let Some(sd) = &new_seed {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid: g.vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    if let (Some(_), Some(volid)) = (&new_seed, old_seed) {
        steps.push(Step::DeleteVolume { node: node.clone(), volid });
    }
    steps.extend(resize.into_iter().map(|s| match s {
        Step::Resize { vmid, disk, size, lxc, .. } => {
            Step::Resize { node: node.clone(), vmid, disk, size, lxc }
        }
        other => other,
    }));
    power_state(spec.start, g, &node, false, &mut diffs, &mut steps);
    if let Some(h) = &spec.ha
        && g.ha_state.as_deref() != Some(h.state.as_str())
    {
        diffs.push(FieldDiff {
            field: "ha.state".into(),
            from: g.ha_state.clone(),
            to: Some(h.state.clone()),
            reboot: false,
        });
        let sid = format!("vm:{}", g.vmid);
        steps.push(Step::HaSet { sid, state: h.state.clone(), exists: g.ha_state.is_some() });
    }
    let action = if diffs.is_empty() { Action::Noop } else { Action::Update };
    // Even with nothing to change in PVE the record is refreshed: a guest re-adopted by its
    // marker, or one that moved node, is written back to the store.
    steps.push(Step::Record {
        vmid: Some(g.vmid),
        node: Some(node.clone()),
        spec_hash: hash.into(),
        expect_running: spec.start == Some(true),
        spec: None,
    });
    Ok(Change {
        key: key.into(),
        action,
        vmid: Some(g.vmid),
        node: Some(node),
        summary: String::new(),
        diffs,
        steps,
    })
}

#[allow(clippy::too_many_arguments)] // each input is one independent fact the plan needs
pub(super) fn create_vm(
    key: &str,
    name: &str,
    spec: &VmSpec,
    vmid: u32,
    obs: &Observed,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    if let Some(image) = &spec.image {
        return create_vm_from_image(key, name, spec, image, vmid, obs, hash, pools, ipam);
    }
    let wanted = spec.template.as_deref().ok_or_else(|| {
        "it does not exist yet and names no template or image to create it from; add spec.template"
            .to_string()
    })?;
    // A template by its name or VMID; else a versioned template's stable name, which means
    // its newest version (on the target node if there is one there).
    let templates = || obs.guests.iter().filter(|g| g.template && g.kind == "qemu");
    let versioned_tag = format!("tpl-{wanted}");
    let want_node = spec.node.as_deref().or(spec.allowed_nodes.first().map(String::as_str));
    let template = templates()
        .find(|g| g.name == wanted || g.vmid.to_string() == wanted)
        .or_else(|| {
            let versions: Vec<&ObservedGuest> =
                templates().filter(|g| g.tags.contains(&versioned_tag)).collect();
            // A version pinned by `template rollback` wins; else the newest (on the node).
            let rank =
                |g: &&&ObservedGuest| (g.tags.iter().any(|t| t == "tpl-pinned"), g.name.clone());
            let on_node =
                versions.iter().filter(|g| Some(g.node.as_str()) == want_node).max_by_key(rank);
            on_node.or_else(|| versions.iter().max_by_key(rank)).copied()
        })
        .ok_or_else(|| format!("no template named or numbered '{wanted}' in the cluster"))?;
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .unwrap_or_else(|| template.node.clone());
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    // Disks are sized against the template's, and its NICs are the clone's too.
    let tcfg = template.config.as_ref().and_then(|c| QemuConfig::from_api(c).ok());
    let template_nics: Vec<u8> = tcfg.iter().flat_map(|c| c.net.keys().copied()).collect();
    let want = desired_config(key, name, vmid, spec, None, &template_nics, pools, ipam)?;
    let mut diffs: Vec<FieldDiff> = want
        .values
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(shown_value(k, v)),
            reboot: false,
        })
        .collect();
    let mut set: BTreeMap<String, String> = want
        .values
        .into_iter()
        .filter(|(k, _)| k != "name" && k != "description")
        .map(|(k, (v, _))| (k, v))
        .collect();
    let resize = disk_steps(spec, tcfg.as_ref(), &node, vmid, &mut diffs, &mut set)?;
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    steps.push(Step::Clone {
        source: template.vmid,
        source_node: template.node.clone(),
        vmid,
        node: node.clone(),
        name: name.into(),
        full: spec.full_clone,
        storage: spec.storage.clone(),
        pool: spec.pool.clone(),
        description: with_resource(spec.description.as_deref().unwrap_or(""), key),
    });
    steps.push(Step::Record {
        vmid: Some(vmid),
        node: Some(node.clone()),
        spec_hash: hash.into(),
        expect_running: spec.start == Some(true),
        spec: None,
    });
    if let Some(sd) = &want.seed {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    steps.extend(resize);
    let summary = format!("clone of {} ({})", template.name, template.vmid);
    Ok(finish_create(key, spec, node, vmid, diffs, steps, summary))
}

/// The end of every VM create: start it if asked, put it under HA if asked.
pub(super) fn finish_create(
    key: &str,
    spec: &VmSpec,
    node: String,
    vmid: u32,
    mut diffs: Vec<FieldDiff>,
    mut steps: Vec<Step>,
    summary: String,
) -> Change {
    if spec.start == Some(true) {
        steps.push(Step::Start { node: node.clone(), vmid, lxc: false });
    }
    if let Some(h) = &spec.ha {
        diffs.push(FieldDiff {
            field: "ha.state".into(),
            from: None,
            to: Some(h.state.clone()),
            reboot: false,
        });
        steps.push(Step::HaSet {
            sid: format!("vm:{vmid}"),
            state: h.state.clone(),
            exists: false,
        });
    }
    Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(node),
        summary,
        diffs,
        steps,
    }
}
