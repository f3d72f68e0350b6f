//! What the planner sees of the cluster: one `/cluster/resources` listing, `nextid`, and the
//! config of just the guests that can matter (managed ones and name matches), so an unchanged
//! plan of N resources costs N + 2 requests, plus one per template cloned from.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, TryStreamExt};
use proxctl_client::Client;
use proxctl_types::api::GuestConfig;
use proxctl_types::managed::MANAGED_TAG;
use proxctl_types::wire::split_tags;
use proxctl_types::{NodeName, VmId};
use serde::{Deserialize, Serialize};

use crate::manifest::{Body, Declared};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub guests: Vec<ObservedGuest>,
    /// Nodes that are online.
    pub nodes: Vec<String>,
    /// What `/cluster/nextid` answered: the lowest VMID PVE considers free.
    pub next_vmid: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedGuest {
    pub vmid: u32,
    pub node: String,
    /// `qemu` or `lxc`.
    pub kind: String,
    pub name: String,
    pub template: bool,
    pub running: bool,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    /// The HA manager's state for it, if it is an HA resource (from `/cluster/resources`).
    #[serde(default)]
    pub ha_state: Option<String>,
    /// The config, for guests the plan may touch; `None` for the rest.
    pub config: Option<GuestConfig>,
}

impl ObservedGuest {
    /// The release (`proxctl release`) the guest belongs to: its description's marker, or
    /// (config not read) its `release-<name>` tag.
    pub fn release(&self) -> Option<&str> {
        match self.text("description") {
            Some(d) => proxctl_types::managed::release_of(d),
            None if self.config.is_none() => {
                self.tags.iter().find_map(|t| t.strip_prefix("release-"))
            }
            None => None,
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.config.as_ref()?.get(key)?.as_str()
    }
    pub fn digest(&self) -> Option<&str> {
        self.text("digest")
    }
    pub fn is_tagged_managed(&self) -> bool {
        self.tags.iter().any(|t| t == MANAGED_TAG)
    }
}

/// Read what a plan over `declared` needs. `known_vmids` are the VMIDs the state store holds.
pub async fn observe(
    client: &Client,
    declared: &[Declared],
    known_vmids: &BTreeSet<u32>,
) -> Result<Observed, proxctl_client::ClientError> {
    let resources = client.cluster_resources(None).await?;
    let names: BTreeSet<(&str, &str)> = declared
        .iter()
        .filter_map(|d| match &d.body {
            Body::VirtualMachine { .. } => Some(("qemu", d.name())),
            Body::Container { .. } => Some(("lxc", d.name())),
            Body::IpPool { .. } | Body::Template { .. } | Body::Job { .. } => None,
        })
        .collect();
    // Templates the manifests clone from: their disks size the clones.
    let templates: BTreeSet<&str> = declared
        .iter()
        .filter_map(|d| match &d.body {
            Body::VirtualMachine { spec, .. } => spec.template.as_deref(),
            Body::Template { metadata, .. } => Some(metadata.name.as_str()),
            _ => None,
        })
        .collect();
    let mut nodes = Vec::new();
    let mut guests = Vec::new();
    for r in resources {
        match r.res_type.as_str() {
            "node" if r.status.as_deref() == Some("online") => {
                if let Some(n) = r.node {
                    nodes.push(n.to_string());
                }
            }
            kind @ ("qemu" | "lxc") => {
                let (Some(vmid), Some(node)) = (r.vmid, r.node) else { continue };
                guests.push(ObservedGuest {
                    vmid: vmid.get(),
                    node: node.to_string(),
                    kind: kind.to_string(),
                    name: r.name.unwrap_or_default(),
                    template: r.template.unwrap_or(false),
                    running: r.status.as_deref() == Some("running"),
                    tags: r
                        .tags
                        .as_deref()
                        .map(|t| split_tags(t).map(String::from).collect())
                        .unwrap_or_default(),
                    pool: r.pool,
                    ha_state: r.hastate,
                    config: None,
                });
            }
            _ => {}
        }
    }
    nodes.sort();
    guests.sort_by_key(|g| g.vmid);
    let wanted: BTreeMap<usize, (String, u32, String)> = guests
        .iter()
        .enumerate()
        .filter(|(_, g)| {
            if g.template {
                return templates.contains(g.name.as_str())
                    || templates.contains(g.vmid.to_string().as_str())
                    || g.tags
                        .iter()
                        .any(|t| t.strip_prefix("tpl-").is_some_and(|n| templates.contains(n)));
            }
            g.is_tagged_managed()
                || known_vmids.contains(&g.vmid)
                || names.contains(&(g.kind.as_str(), g.name.as_str()))
        })
        .map(|(i, g)| (i, (g.node.clone(), g.vmid, g.kind.clone())))
        .collect();
    let configs: Vec<(usize, GuestConfig)> = futures_util::stream::iter(wanted)
        .map(|(i, (node, vmid, kind))| async move {
            let (Ok(node), Ok(vmid)) = (NodeName::new(node), VmId::new(vmid)) else {
                return Ok((i, GuestConfig::new()));
            };
            let cfg = if kind == "lxc" {
                client.lxc_config(&node, vmid).await?
            } else {
                client.qemu_config(&node, vmid).await?
            };
            Ok::<_, proxctl_client::ClientError>((i, cfg))
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    for (i, cfg) in configs {
        guests[i].config = Some(cfg);
    }
    // The next free VMID matters only when something will be created: a plan over guests
    // that all exist costs /cluster/resources and their configs, nothing more.
    let next_vmid = if may_create(declared, &guests, known_vmids) {
        client.next_id(None).await?.get()
    } else {
        0
    };
    Ok(Observed { guests, nodes, next_vmid })
}

/// Whether planning `declared` may create a guest: a template build, or a VM or container no
/// observed guest already is (by its marker, or by a recorded VMID with the same name).
fn may_create(declared: &[Declared], guests: &[ObservedGuest], known: &BTreeSet<u32>) -> bool {
    declared.iter().any(|d| {
        let kind = match &d.body {
            Body::VirtualMachine { .. } => "qemu",
            Body::Container { .. } => "lxc",
            Body::Template { .. } => return true,
            Body::IpPool { .. } | Body::Job { .. } => return false,
        };
        let key = d.key();
        !guests.iter().any(|g| {
            g.text("description").and_then(proxctl_types::managed::resource_of)
                == Some(key.as_str())
                || (known.contains(&g.vmid) && g.kind == kind && g.name == d.name())
        })
    })
}
