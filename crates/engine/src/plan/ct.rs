//! The Container planner: the config a container should have, and the steps that create,
//! update or replace it.

use super::*;

/// The container config the spec asks for, as wire values, for the keys it sets.
pub(super) fn desired_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    observed: Option<&proxctl_types::config::LxcConfig>,
) -> BTreeMap<String, (String, bool)> {
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_string(), (val, false));
    };
    set("hostname", name.to_string());
    if let Some(c) = spec.cores {
        set("cores", c.to_string());
    }
    if let Some(m) = spec.memory {
        set("memory", m.to_string());
    }
    if let Some(m) = spec.swap {
        set("swap", m.to_string());
    }
    for (k, b) in [("onboot", spec.onboot), ("protection", spec.protection)] {
        if let Some(b) = b {
            set(k, if b { "1" } else { "0" }.into());
        }
    }
    let mut tags: Vec<&str> = spec.tags.iter().map(String::as_str).collect();
    tags.push(MANAGED_TAG);
    set("tags", normalize_tags(tags));
    set("description", with_resource(spec.description.as_deref().unwrap_or(""), key));
    if spec.bridge.is_some() || spec.ip.is_some() || spec.vlan.is_some() || observed.is_none() {
        // Keep what PVE has (the MAC above all) and change only what the spec names.
        let fresh = format!("name=eth0,bridge={}", spec.bridge.as_deref().unwrap_or("vmbr0"));
        let mut net = observed
            .and_then(|c| c.net.get(&0).cloned())
            .or_else(|| fresh.parse::<proxctl_types::prop::LxcNet>().ok());
        if let Some(net) = net.as_mut() {
            if let Some(b) = &spec.bridge {
                net.bridge = Some(b.clone());
            }
            if spec.vlan.is_some() {
                net.tag = spec.vlan;
            }
            if let Some(ip) = &spec.ip {
                net.ip = ip.parse().ok();
                net.gw = spec.gateway.as_deref().and_then(|g| g.parse().ok());
            }
            set("net0", net.to_string());
        }
    }
    v
}

pub(super) fn observed_ct_value(
    key: &str,
    g: &ObservedGuest,
    cfg: &proxctl_types::config::LxcConfig,
) -> Option<String> {
    let raw = g.config.as_ref()?.get(key)?;
    let text = match raw {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match key {
        "tags" => normalize_tags(proxctl_types::wire::split_tags(&text)),
        "net0" => cfg.net.get(&0).map(|n| n.to_string()).unwrap_or(text),
        "description" => text.trim_end().to_string(),
        _ => text,
    })
}

pub(super) fn create_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    vmid: u32,
    obs: &Observed,
    hash: &str,
) -> Result<Change, String> {
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .or_else(|| obs.nodes.first().cloned())
        .ok_or("no online node to create it on")?;
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    let storage =
        spec.storage.clone().ok_or("a new container needs spec.storage for its root disk")?;
    let size: DiskSize = spec
        .disk_size
        .as_deref()
        .unwrap_or("8G")
        .parse()
        .map_err(|_| "bad diskSize".to_string())?;
    let want = desired_ct(key, name, spec, None);
    let diffs: Vec<FieldDiff> = want
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(v.clone()),
            reboot: false,
        })
        .collect();
    let mut params: BTreeMap<String, String> = want.into_iter().map(|(k, (v, _))| (k, v)).collect();
    params.insert("ostemplate".into(), spec.ostemplate.clone());
    params.insert("rootfs".into(), format!("{storage}:{}", size.bytes().div_ceil(1 << 30)));
    let unprivileged = if spec.unprivileged.unwrap_or(true) { "1" } else { "0" };
    params.insert("unprivileged".into(), unprivileged.into());
    let mut steps = vec![
        Step::CreateCt { node: node.clone(), vmid, params },
        Step::Record {
            vmid: Some(vmid),
            node: Some(node.clone()),
            spec_hash: hash.into(),
            expect_running: spec.start == Some(true),
            spec: None,
        },
    ];
    if spec.start == Some(true) {
        steps.push(Step::Start { node: node.clone(), vmid, lxc: true });
    }
    Ok(Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(node),
        summary: format!("from {}", spec.ostemplate),
        diffs,
        steps,
    })
}

pub(super) fn update_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    g: &ObservedGuest,
    hash: &str,
) -> Result<Change, String> {
    let cfg = g
        .config
        .as_ref()
        .map(proxctl_types::config::LxcConfig::from_api)
        .transpose()
        .map_err(|e| format!("cannot read the config of CT {}: {e}", g.vmid))?
        .unwrap_or_default();
    // Privileged or not is fixed at creation: changing it means a new container.
    let have_unpriv = cfg.unprivileged.unwrap_or(false);
    if let Some(want) = spec.unprivileged.filter(|w| *w != have_unpriv) {
        return replace_ct(key, name, spec, g, hash, have_unpriv, want);
    }
    let mut diffs = Vec::new();
    let mut set = BTreeMap::new();
    for (k, (val, reboot)) in desired_ct(key, name, spec, Some(&cfg)) {
        let have = observed_ct_value(&k, g, &cfg);
        if have.as_deref() != Some(val.as_str()) {
            diffs.push(FieldDiff { field: k.clone(), from: have, to: Some(val.clone()), reboot });
            set.insert(k, val);
        }
    }
    let node = g.node.clone();
    let mut steps = Vec::new();
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid: g.vmid,
            set,
            delete: Vec::new(),
            lxc: true,
        });
    }
    if let Some(want) = spec.disk_size.as_deref() {
        let want: DiskSize = want.parse().map_err(|_| format!("bad diskSize {want}"))?;
        match cfg.rootfs.as_ref().and_then(|r| r.size) {
            Some(cur) if cur.bytes() > want.bytes() => {
                return Err(format!("rootfs is {cur} and cannot shrink to {want}"));
            }
            Some(cur) if cur.bytes() < want.bytes() => {
                diffs.push(FieldDiff {
                    field: "diskSize".into(),
                    from: Some(cur.to_string()),
                    to: Some(want.to_string()),
                    reboot: false,
                });
                steps.push(Step::Resize {
                    node: node.clone(),
                    vmid: g.vmid,
                    disk: "rootfs".into(),
                    size: want.to_string(),
                    lxc: true,
                });
            }
            _ => {}
        }
    }
    power_state(spec.start, g, &node, true, &mut diffs, &mut steps);
    let action = if diffs.is_empty() { Action::Noop } else { Action::Update };
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

/// Destroy and recreate a container under the same VMID, for a change PVE cannot make in
/// place. Its data is lost, which the plan says (`-/+ replace`) and apply confirms.
pub(super) fn replace_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    g: &ObservedGuest,
    hash: &str,
    from: bool,
    to: bool,
) -> Result<Change, String> {
    let obs = Observed { guests: Vec::new(), nodes: vec![g.node.clone()], next_vmid: 0 };
    let mut create = create_ct(key, name, spec, g.vmid, &obs, hash)?;
    let mut steps = Vec::new();
    if g.running {
        steps.push(Step::Shutdown { node: g.node.clone(), vmid: g.vmid, lxc: true });
    }
    steps.push(Step::Destroy { node: g.node.clone(), vmid: g.vmid, lxc: true });
    steps.append(&mut create.steps);
    Ok(Change {
        key: key.into(),
        action: Action::Replace,
        vmid: Some(g.vmid),
        node: Some(g.node.clone()),
        summary: "unprivileged is fixed at creation; the container is destroyed and created again (its data is lost)".into(),
        diffs: vec![FieldDiff {
            field: "unprivileged".into(),
            from: Some(u8::from(from).to_string()),
            to: Some(u8::from(to).to_string()),
            reboot: false,
        }],
        steps,
    })
}
