//! An Ansible dynamic inventory of the cluster's guests (`proxctl inventory --list|--host`):
//! groups from tags, nodes, pools, guest types, power state and proxctl's manifests, and for
//! each host its VMID, node and tags, with `ansible_host` from the guest agent (a running VM
//! that has one) or else the static cloud-init address. One `/cluster/resources` read, then one
//! config read per guest (and one agent call per running VM with an agent), a few at a time.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use proxctl_client::Client;
use proxctl_types::selector::Selector;
use serde_json::{Value, json};

use crate::OpsError;
use crate::views::GuestRow;

/// Config and agent reads in flight at once.
const PARALLEL: usize = 8;

/// The inventory, as Ansible's script protocol wants it.
#[derive(Debug, Default)]
pub struct Inventory {
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub hostvars: BTreeMap<String, serde_json::Map<String, Value>>,
}

/// A group name Ansible accepts without warnings: letters, digits and underscores.
pub fn group_name(prefix: &str, raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    format!("{prefix}_{clean}")
}

/// The address in a `ipconfigN`/`netN` value's `ip=` (a static one; not `dhcp`), without prefix.
pub fn static_ip(value: &str) -> Option<String> {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix("ip="))
        .filter(|ip| !matches!(*ip, "dhcp" | "manual" | "auto"))
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

/// The first global address the guest agent reports (IPv4 first, then IPv6).
async fn agent_address(client: &Client, g: &crate::GuestRef) -> Option<String> {
    let ifaces = client.qemu_agent_network(&g.node, g.vmid).await.ok()?;
    let addrs: Vec<(String, String)> = ifaces
        .into_iter()
        .filter(|i| i.name != "lo")
        .flat_map(|i| i.ip_addresses)
        .map(|a| (a.ip_address_type, a.ip_address))
        .filter(|(_, ip)| !ip.starts_with("127.") && !ip.starts_with("fe80") && ip != "::1")
        .collect();
    addrs.iter().find(|(t, _)| t == "ipv4").or_else(|| addrs.first()).map(|(_, ip)| ip.clone())
}

/// What one guest contributes: its host name, vars and groups.
async fn host(client: &Client, row: &GuestRow) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut vars = serde_json::Map::new();
    vars.insert("proxmox_vmid".into(), json!(row.vmid));
    vars.insert("proxmox_node".into(), json!(row.node));
    vars.insert("proxmox_type".into(), json!(row.kind));
    vars.insert("proxmox_status".into(), json!(row.status));
    vars.insert("proxmox_tags".into(), json!(row.tags));
    if let Some(p) = &row.pool {
        vars.insert("proxmox_pool".into(), json!(p));
    }
    let mut groups = vec![row.kind.clone(), row.status.clone(), group_name("node", &row.node)];
    groups.extend(row.tags.iter().map(|t| group_name("tag", t)));
    groups.extend(row.pool.iter().map(|p| group_name("pool", p)));
    let Ok(g) = row.guest_ref() else { return (vars, groups) };
    let config = match g.kind {
        proxctl_types::messages::GuestKind::Qemu => client.qemu_config(&g.node, g.vmid).await,
        proxctl_types::messages::GuestKind::Lxc => client.lxc_config(&g.node, g.vmid).await,
    }
    .unwrap_or_default();
    let text = |k: &str| config.get(k).and_then(|v| v.as_str()).map(String::from);
    if let Some(key) = text("description").as_deref().and_then(proxctl_types::managed::resource_of)
    {
        groups.push("proxctl_managed".into());
        vars.insert("proxctl_resource".into(), json!(key));
    }
    let agent_on = text("agent").is_some_and(|a| a.starts_with('1') || a.contains("enabled=1"));
    let mut address = None;
    if row.kind == "qemu" && row.status == "running" && agent_on {
        address = agent_address(client, &g).await;
    }
    if address.is_none() {
        let key = if row.kind == "qemu" { "ipconfig0" } else { "net0" };
        address = text(key).as_deref().and_then(static_ip);
    }
    if let Some(a) = address {
        vars.insert("ansible_host".into(), json!(a));
    }
    (vars, groups)
}

/// The inventory of the guests `sel` picks (all but templates by default).
pub async fn build(client: &Client, sel: Option<&Selector>) -> Result<Inventory, OpsError> {
    let rows: Vec<GuestRow> = crate::views::guests(client, None, false)
        .await?
        .into_iter()
        .filter(|g| !g.template && sel.is_none_or(|s| g.selected_by(s)))
        .collect();
    // Names are hosts; a name two guests share gets each one's VMID appended.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *seen.entry(r.name.as_str()).or_default() += 1;
    }
    let names: Vec<String> = rows
        .iter()
        .map(|r| {
            if r.name.is_empty() || seen.get(r.name.as_str()).copied().unwrap_or(0) > 1 {
                format!("{}-{}", if r.name.is_empty() { "guest" } else { &r.name }, r.vmid)
            } else {
                r.name.clone()
            }
        })
        .collect();
    let hosts: Vec<_> = futures_util::stream::iter(rows.iter().map(|r| host(client, r)))
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut inv = Inventory::default();
    for (name, (vars, groups)) in names.into_iter().zip(hosts) {
        for g in groups {
            inv.groups.entry(g).or_default().insert(name.clone());
        }
        inv.hostvars.insert(name, vars);
    }
    Ok(inv)
}

impl Inventory {
    /// `--list`: every group with its hosts, `all` with every group as a child, and `_meta`
    /// with every host's vars (so Ansible does not call `--host` per host).
    pub fn list(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (g, hosts) in &self.groups {
            out.insert(g.clone(), json!({ "hosts": hosts }));
        }
        let children: Vec<&String> = self.groups.keys().collect();
        out.insert("all".into(), json!({ "children": children }));
        out.insert("_meta".into(), json!({ "hostvars": self.hostvars }));
        Value::Object(out)
    }

    /// `--host NAME`: that host's vars; `{}` for a host it does not know, as Ansible expects.
    pub fn host(&self, name: &str) -> Value {
        self.hostvars.get(name).cloned().map(Value::Object).unwrap_or_else(|| json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_addresses_come_from_ip_and_lose_their_prefix() {
        assert_eq!(static_ip("ip=10.0.0.5/24,gw=10.0.0.1").as_deref(), Some("10.0.0.5"));
        assert_eq!(
            static_ip("name=eth0,bridge=vmbr0,ip=192.168.1.9/24").as_deref(),
            Some("192.168.1.9")
        );
        assert_eq!(static_ip("ip=dhcp"), None);
        assert_eq!(static_ip("ip6=auto"), None);
    }

    #[test]
    fn group_names_are_safe_for_ansible() {
        assert_eq!(group_name("tag", "env-prod"), "tag_env_prod");
        assert_eq!(group_name("node", "PVE1.lab"), "node_pve1_lab");
    }
}
