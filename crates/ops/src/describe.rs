//! `describe`: a guest or node as a person reads it, in sections (summary and placement,
//! hardware, disks, NICs with the guest agent's addresses, cloud-init, snapshots with their
//! TTLs, backups, recent tasks, ownership, HA). Every face renders the same [`Description`];
//! the raw config and status stay available as JSON or YAML. Sections that need something
//! optional (the agent, a backup storage) say why they are empty instead of failing the view.

use proxctl_client::Client;
use proxctl_client::endpoints::tasks::TaskFilter;
use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::managed::{MANAGED_LINE, resource_of, seed_iso_of};
use proxctl_types::messages::GuestKind;
use serde::Serialize;

use crate::output::{human_bytes, human_duration};
use crate::{GuestRef, OpsError};

/// A titled list of `label: value` lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: String,
    pub lines: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Description {
    pub sections: Vec<Section>,
}

impl Description {
    /// As text: section titles flush left, `label: value` lines indented and aligned, every
    /// value escaped (it may come from the cluster).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push_str(&s.title);
            out.push_str(":\n");
            if s.lines.is_empty() {
                out.push_str("  (none)\n");
            }
            let width = s.lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
            for (label, value) in &s.lines {
                let value = proxctl_types::limits::escape(value);
                if label.is_empty() {
                    out.push_str(&format!("  {value}\n"));
                } else {
                    out.push_str(&format!("  {label:<width$}  {value}\n"));
                }
            }
        }
        out
    }
}

fn section(title: &str, lines: Vec<(String, String)>) -> Section {
    Section { title: title.into(), lines }
}

fn line(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_string(), value.into())
}

fn time_text(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// Describe a VM or container.
pub async fn guest(client: &Client, g: &GuestRef) -> Result<Description, OpsError> {
    let (raw, status) = match g.kind {
        GuestKind::Qemu => {
            (client.qemu_config(&g.node, g.vmid).await?, client.qemu_status(&g.node, g.vmid).await?)
        }
        GuestKind::Lxc => {
            (client.lxc_config(&g.node, g.vmid).await?, client.lxc_status(&g.node, g.vmid).await?)
        }
    };
    let text = |k: &str| raw.get(k).and_then(|v| v.as_str()).map(String::from);
    let running = status.status == "running";
    let mut summary = vec![
        line("Name", g.name.clone().unwrap_or_default()),
        line("VMID", g.vmid.to_string()),
        line("Kind", if g.kind == GuestKind::Qemu { "VM" } else { "container" }),
        line("Node", g.node.to_string()),
        line(
            "Status",
            match status.uptime.filter(|_| running) {
                Some(u) => format!("running for {}", human_duration(u)),
                None => status.status.clone(),
            },
        ),
    ];
    if status.template == Some(true) {
        summary.push(line("Template", "yes"));
    }
    if let Some(t) = text("tags") {
        summary.push(line("Tags", t.replace(';', ", ")));
    }
    if let Some(l) = text("lock") {
        summary.push(line("Lock", l));
    }
    let mut sections = vec![section("Summary", summary)];
    match g.kind {
        GuestKind::Qemu => {
            let cfg = QemuConfig::from_api(&raw).map_err(|e| OpsError::Invalid(e.to_string()))?;
            sections.extend(qemu_sections(client, g, &cfg, running).await);
        }
        GuestKind::Lxc => {
            let cfg = LxcConfig::from_api(&raw).map_err(|e| OpsError::Invalid(e.to_string()))?;
            sections.extend(lxc_sections(&cfg));
        }
    }
    sections.push(snapshots(client, g).await);
    sections.push(backups(client, g).await);
    sections.push(tasks(client, g).await);
    sections.push(ownership(text("description").as_deref().unwrap_or("")));
    sections.push(ha(client, g).await);
    Ok(Description { sections })
}

async fn qemu_sections(
    client: &Client,
    g: &GuestRef,
    c: &QemuConfig,
    running: bool,
) -> Vec<Section> {
    let mut hw = vec![line(
        "CPU",
        format!(
            "{} core(s) x {} socket(s){}",
            c.cores.unwrap_or(1),
            c.sockets.unwrap_or(1),
            c.cpu.as_ref().map(|t| format!(", type {t}")).unwrap_or_default()
        ),
    )];
    let memory = c.memory.as_ref().map_or(512, |m| m.current);
    hw.push(line(
        "Memory",
        match c.balloon {
            Some(b) if b > 0 => format!("{memory} MiB (balloon down to {b} MiB)"),
            _ => format!("{memory} MiB"),
        },
    ));
    for (label, v) in [("Machine", &c.machine), ("BIOS", &c.bios), ("OS type", &c.ostype)] {
        if let Some(v) = v {
            hw.push(line(label, v.clone()));
        }
    }
    hw.push(line(
        "Guest agent",
        if c.agent.as_ref().is_some_and(|a| a.enabled) { "enabled" } else { "off" },
    ));
    let disks = c
        .disks
        .iter()
        .map(|(slot, d)| {
            let what = if d.is_cdrom() {
                "cdrom".to_string()
            } else {
                d.size.map(|s| s.to_string()).unwrap_or_default()
            };
            line(&slot.to_string(), format!("{} {what}", d.file).trim_end().to_string())
        })
        .collect();
    // Addresses come from the guest agent, when the VM runs one and answers.
    let agent_ips: Vec<(String, String)> = if running && c.agent.as_ref().is_some_and(|a| a.enabled)
    {
        match client.qemu_agent_network(&g.node, g.vmid).await {
            Ok(ifaces) => ifaces
                .into_iter()
                .filter(|i| i.name != "lo")
                .map(|i| {
                    let ips: Vec<String> = i
                        .ip_addresses
                        .iter()
                        .map(|a| format!("{}/{}", a.ip_address, a.prefix))
                        .collect();
                    (
                        i.hardware_address.unwrap_or_default().to_lowercase(),
                        format!("{} {}", i.name, ips.join(" ")),
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let nics = c
        .net
        .iter()
        .map(|(i, n)| {
            let mac = n.macaddr.as_ref().map(|m| m.to_string()).unwrap_or_default();
            let model = format!("{:?}", n.model).to_lowercase();
            let mut v = format!("{model} {mac}");
            if let Some(b) = &n.bridge {
                v.push_str(&format!(" on {b}"));
            }
            if let Some(t) = n.tag {
                v.push_str(&format!(" VLAN {t}"));
            }
            if n.firewall == Some(true) {
                v.push_str(" firewall");
            }
            if let Some((_, ips)) =
                agent_ips.iter().find(|(m, _)| !m.is_empty() && *m == mac.to_lowercase())
            {
                v.push_str(&format!(" — {ips}"));
            }
            line(&format!("net{i}"), v)
        })
        .collect();
    let mut ci = Vec::new();
    if let Some(u) = &c.ciuser {
        ci.push(line("User", u.clone()));
    }
    for (i, ip) in &c.ipconfig {
        ci.push(line(&format!("ipconfig{i}"), ip.to_string()));
    }
    for (label, v) in [("Nameserver", &c.nameserver), ("Search domain", &c.searchdomain)] {
        if let Some(v) = v {
            ci.push(line(label, v.clone()));
        }
    }
    let ide2 = c.disks.iter().find(|(s, _)| s.to_string() == "ide2").map(|(_, d)| d.file.clone());
    if let Some(seed) = seed_iso_of(ide2.as_deref(), g.vmid.get()) {
        ci.push(line("Seed ISO", seed));
    }
    vec![
        section("Hardware", hw),
        section("Disks", disks),
        section("NICs", nics),
        section("Cloud-init", ci),
    ]
}

fn lxc_sections(c: &LxcConfig) -> Vec<Section> {
    let mut hw = vec![
        line("CPU", format!("{} core(s)", c.cores.unwrap_or(1))),
        line(
            "Memory",
            format!("{} MiB, swap {} MiB", c.memory.unwrap_or(512), c.swap.unwrap_or(512)),
        ),
        line("Unprivileged", if c.unprivileged == Some(true) { "yes" } else { "no" }),
    ];
    if let Some(h) = &c.hostname {
        hw.insert(0, line("Hostname", h.clone()));
    }
    let mut disks: Vec<(String, String)> = c
        .rootfs
        .iter()
        .map(|r| {
            line(
                "rootfs",
                format!("{} {}", r.volume, r.size.map(|s| s.to_string()).unwrap_or_default())
                    .trim_end()
                    .to_string(),
            )
        })
        .collect();
    for (i, m) in &c.mp {
        disks.push(line(
            &format!("mp{i}"),
            format!("{} at {}", m.volume, m.mp.clone().unwrap_or_default()),
        ));
    }
    let nics = c
        .net
        .iter()
        .map(|(i, n)| {
            let ip = n.ip.as_ref().map(|ip| ip.to_string()).unwrap_or_default();
            let bridge = n.bridge.clone().unwrap_or_default();
            line(&format!("net{i}"), format!("{} on {bridge} {ip}", n.name).trim_end().to_string())
        })
        .collect();
    vec![section("Hardware", hw), section("Disks", disks), section("NICs", nics)]
}

async fn snapshots(client: &Client, g: &GuestRef) -> Section {
    let lines = match crate::views::snapshots(client, g).await {
        Ok(rows) => rows
            .into_iter()
            .map(|s| {
                let when = s.snaptime.map(time_text).unwrap_or_default();
                let ttl = crate::snapshot::expiry_of(&s.description)
                    .and_then(|e| u64::try_from(e).ok())
                    .map(|e| format!(", expires {}", time_text(e)))
                    .unwrap_or_default();
                line(&s.name, format!("{when}{ttl}"))
            })
            .collect(),
        Err(e) => vec![line("", format!("unavailable: {e}"))],
    };
    section("Snapshots", lines)
}

async fn backups(client: &Client, g: &GuestRef) -> Section {
    let lines = match crate::views::backups(client).await {
        Ok(rows) => rows
            .into_iter()
            .filter(|b| b.vmid == Some(g.vmid.get()))
            .map(|b| {
                let when = b.ctime.map(time_text).unwrap_or_default();
                let lock = if b.protected { ", protected" } else { "" };
                line("", format!("{} ({when}, {}{lock})", b.volid, human_bytes(b.size)))
            })
            .collect(),
        Err(e) => vec![line("", format!("unavailable: {e}"))],
    };
    section("Backups", lines)
}

async fn tasks(client: &Client, g: &GuestRef) -> Section {
    let filter = TaskFilter {
        vmid: Some(g.vmid),
        limit: Some(5),
        source: Some("all".into()),
        ..Default::default()
    };
    let lines = match client.task_list(&g.node, &filter).await {
        Ok(list) => list
            .into_iter()
            .map(|t| {
                let state = t.status.clone().unwrap_or_else(|| "running".into());
                line(&t.task_type, format!("{} {state}", time_text(t.starttime)))
            })
            .collect(),
        Err(e) => vec![line("", format!("unavailable: {e}"))],
    };
    section("Recent tasks", lines)
}

/// Who owns it: a manifest's resource, a command of proxctl's, a template version.
fn ownership(description: &str) -> Section {
    let mut lines = Vec::new();
    if let Some(key) = resource_of(description) {
        lines.push(line("Resource", key.to_string()));
    }
    if description.lines().any(|l| l.trim() == MANAGED_LINE) {
        lines.push(line("Made by", "a proxctl command"));
    }
    for (prefix, label) in [
        ("proxctl:template=", "Template"),
        ("proxctl:version=", "Version"),
        ("proxctl:catalog=", "Catalog image"),
    ] {
        if let Some(v) = description.lines().find_map(|l| l.trim().strip_prefix(prefix)) {
            lines.push(line(label, v.to_string()));
        }
    }
    if lines.is_empty() {
        lines.push(line("", "not managed by proxctl"));
    }
    section("Ownership", lines)
}

async fn ha(client: &Client, g: &GuestRef) -> Section {
    let state = client
        .cluster_resources(Some(proxctl_client::endpoints::cluster::ResourceType::Vm))
        .await
        .ok()
        .and_then(|r| r.into_iter().find(|x| x.vmid == Some(g.vmid)))
        .and_then(|x| x.hastate);
    section("HA", vec![line("State", state.unwrap_or_else(|| "not HA-managed".into()))])
}

/// Describe a node: what it runs, its load, its storages and bridges.
pub async fn node(
    client: &Client,
    node: &proxctl_types::NodeName,
) -> Result<Description, OpsError> {
    let st = client.node_status(node).await?;
    let summary = vec![
        line("Node", node.to_string()),
        line("Up", human_duration(st.uptime)),
        line("Version", st.pveversion.clone()),
        line("Kernel", st.kversion.clone()),
        line(
            "CPU",
            format!("{} x {} ({:.0} % busy)", st.cpuinfo.cpus, st.cpuinfo.model, st.cpu * 100.0),
        ),
        line(
            "Memory",
            format!("{} of {} used", human_bytes(st.memory.used), human_bytes(st.memory.total)),
        ),
        line("Load", st.loadavg.join(" ")),
    ];
    let storages = client
        .storage_list(node, None)
        .await?
        .into_iter()
        .map(|s| {
            let state = if s.active { "" } else { ", inactive" };
            line(
                &s.storage,
                format!(
                    "{} [{}] {} free of {}{state}",
                    s.storage_type,
                    s.content,
                    human_bytes(s.avail),
                    human_bytes(s.total)
                ),
            )
        })
        .collect();
    let bridges = crate::choices::bridges(client, node)
        .await?
        .into_iter()
        .map(|b| line(&b.bridge, if b.vlan_aware { "VLAN-aware" } else { "" }))
        .collect();
    Ok(Description {
        sections: vec![
            section("Summary", summary),
            section("Storage", storages),
            section("Bridges", bridges),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_aligns_labels_marks_empty_sections_and_escapes_values() {
        let d = Description {
            sections: vec![
                section("Summary", vec![line("Name", "web-1"), line("Status", "running\u{1b}[2J")]),
                section("Snapshots", vec![]),
            ],
        };
        assert_eq!(
            d.text(),
            "Summary:\n  Name    web-1\n  Status  running\\u{1b}[2J\nSnapshots:\n  (none)\n"
        );
    }
}
