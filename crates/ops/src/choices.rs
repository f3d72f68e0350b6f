//! What an interactive face can offer its user to pick from: online nodes with their capacity,
//! storages with free space and content types, bridges, templates by the name a clone takes,
//! and the checks that go with them. The CLI wizard shows these; a web dashboard would too.

use proxctl_client::Client;
use proxctl_types::{NodeName, StorageId};
use serde::Serialize;

use crate::OpsError;

/// An online node and what it has room for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChoice {
    pub node: NodeName,
    pub cpus: u32,
    pub mem_total: u64,
    /// Not yet promised to running guests (their configured memory, not their use).
    pub mem_unpromised: u64,
}

/// Online nodes, by name, with CPU count and memory from their status.
pub async fn nodes(client: &Client) -> Result<Vec<NodeChoice>, OpsError> {
    let mut out = Vec::new();
    for n in client.nodes().await?.into_iter().filter(|n| n.status == "online") {
        let status = client.node_status(&n.node).await?;
        let promised: u64 = client
            .qemu_list(&n.node)
            .await?
            .iter()
            .chain(client.lxc_list(&n.node).await?.iter())
            .filter(|g| g.is_running())
            .filter_map(|g| g.maxmem)
            .sum();
        out.push(NodeChoice {
            node: n.node,
            cpus: status.cpuinfo.cpus,
            mem_total: status.memory.total,
            mem_unpromised: status.memory.total.saturating_sub(promised),
        });
    }
    out.sort_by(|a, b| a.node.as_str().cmp(b.node.as_str()));
    Ok(out)
}

/// What a guest of `cores` and `memory_mib` means for `node`: `Err` when it cannot fit at
/// all, `Ok(Some(warning))` when it overcommits memory, `Ok(None)` when it fits.
pub fn check_capacity(
    node: &NodeChoice,
    cores: u32,
    memory_mib: u64,
) -> Result<Option<String>, String> {
    let mib = |b: u64| b / 1024 / 1024;
    if cores == 0 {
        return Err("at least 1 core".into());
    }
    if cores > node.cpus {
        return Err(format!("{} has {} CPUs; pick at most {}", node.node, node.cpus, node.cpus));
    }
    if memory_mib < 16 {
        return Err("at least 16 MiB".into());
    }
    let bytes = memory_mib.saturating_mul(1024 * 1024);
    if bytes > node.mem_total {
        return Err(format!("{} has {} MiB in all", node.node, mib(node.mem_total)));
    }
    Ok((bytes > node.mem_unpromised).then(|| {
        format!(
            "overcommits memory on {}: {} MiB are not yet given to running guests",
            node.node,
            mib(node.mem_unpromised)
        )
    }))
}

/// A storage on one node that holds a given content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageChoice {
    pub storage: StorageId,
    pub kind: String,
    pub content: Vec<String>,
    pub avail: u64,
    pub total: u64,
    pub shared: bool,
}

/// Active storages on `node` that take `content` (`images`, `import`, `iso`), most free first.
pub async fn storages(
    client: &Client,
    node: &NodeName,
    content: &str,
) -> Result<Vec<StorageChoice>, OpsError> {
    let mut out: Vec<StorageChoice> = client
        .storage_list(node, None)
        .await?
        .into_iter()
        .filter(|s| s.active && s.enabled && s.supports(content))
        .filter_map(|s| {
            let mut content: Vec<String> = s.content.split(',').map(String::from).collect();
            content.sort();
            Some(StorageChoice {
                storage: StorageId::new(&s.storage).ok()?,
                kind: s.storage_type,
                content,
                avail: s.avail,
                total: s.total,
                shared: s.shared,
            })
        })
        .collect();
    out.sort_by(|a, b| b.avail.cmp(&a.avail).then_with(|| a.storage.cmp(&b.storage)));
    Ok(out)
}

/// A Linux bridge or OVS bridge on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeChoice {
    pub bridge: String,
    pub vlan_aware: bool,
    pub comment: Option<String>,
}

pub async fn bridges(client: &Client, node: &NodeName) -> Result<Vec<BridgeChoice>, OpsError> {
    let mut out: Vec<BridgeChoice> = client
        .node_network(node, Some("any_bridge"))
        .await?
        .into_iter()
        .map(|i| BridgeChoice {
            bridge: i.iface,
            vlan_aware: i.bridge_vlan_aware == Some(1) || i.iface_type == "OVSBridge",
            comment: i.comments.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
        })
        .collect();
    out.sort_by(|a, b| a.bridge.cmp(&b.bridge));
    Ok(out)
}

/// A template a VM can be cloned from, by the name `vm create --from-template` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateChoice {
    /// A versioned template's stable name, or a plain template's name.
    pub name: String,
    pub vmid: u32,
    pub node: String,
    /// `debian-12@20261122`, or empty for a template proxctl did not build.
    pub version: String,
    /// The catalog entry it was built from, whose default user the guest will have.
    pub catalog: Option<String>,
}

/// Versioned templates (their current version) first, then other VM templates.
pub async fn templates(client: &Client) -> Result<Vec<TemplateChoice>, OpsError> {
    let versions = crate::template::versions(client, None).await?;
    let mut out: Vec<TemplateChoice> = versions
        .iter()
        .filter(|v| v.current)
        .map(|v| TemplateChoice {
            name: v.name.clone(),
            vmid: v.vmid,
            node: v.node.clone(),
            version: format!("{}@{}", v.name, v.version),
            catalog: v.catalog.clone(),
        })
        .collect();
    let versioned: Vec<u32> = versions.iter().map(|v| v.vmid).collect();
    for g in crate::views::guests(client, Some("qemu"), true).await? {
        if !versioned.contains(&g.vmid) && !g.name.is_empty() {
            out.push(TemplateChoice {
                name: g.name,
                vmid: g.vmid,
                node: g.node,
                version: String::new(),
                catalog: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cpus: u32, total_mib: u64, unpromised_mib: u64) -> NodeChoice {
        NodeChoice {
            node: NodeName::new("pve1").unwrap(),
            cpus,
            mem_total: total_mib << 20,
            mem_unpromised: unpromised_mib << 20,
        }
    }

    #[test]
    fn capacity_refuses_what_cannot_fit_and_warns_on_overcommit() {
        let n = node(4, 8192, 2048);
        assert_eq!(check_capacity(&n, 2, 1024), Ok(None));
        assert!(
            check_capacity(&n, 2, 4096)
                .unwrap_or_default()
                .unwrap_or_default()
                .contains("overcommits")
        );
        assert!(check_capacity(&n, 8, 1024).unwrap_err().contains("has 4 CPUs"));
        assert!(check_capacity(&n, 2, 16384).unwrap_err().contains("8192 MiB in all"));
        assert!(check_capacity(&n, 0, 1024).is_err());
        assert!(check_capacity(&n, 1, 8).is_err());
    }
}
