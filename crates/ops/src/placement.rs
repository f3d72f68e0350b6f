//! Where a new guest goes when the command line does not say: the online node with the most
//! memory not yet given to running guests (among those it fits on), and that node's active
//! storage for the content with the most room. The choice is said back to the user, and only
//! when nothing fits is the command refused, with every option and why it does not fit.

use proxctl_client::Client;
use proxctl_types::{NodeName, StorageId};

use crate::OpsError;
use crate::choices::{self, NodeChoice};

/// The node and storage to use, and what was chosen (for the user to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node: NodeName,
    pub storage: StorageId,
    /// One line per choice proxctl made, e.g. "node pve2: the most free memory (30 GiB)".
    pub chosen: Vec<String>,
}

/// Fill in what `node` and `storage` leave out for a guest of `cores` and `memory_mib` whose
/// disk needs `content` (`images` for VMs, `rootdir` for containers).
pub async fn place(
    client: &Client,
    node: Option<NodeName>,
    storage: Option<StorageId>,
    content: &str,
    cores: u32,
    memory_mib: u64,
) -> Result<Placement, OpsError> {
    let mut chosen = Vec::new();
    let node = match node {
        Some(n) => n,
        None => {
            let nodes = choices::nodes(client).await?;
            let fits: Vec<&NodeChoice> = nodes
                .iter()
                .filter(|n| choices::check_capacity(n, cores, memory_mib).is_ok())
                .collect();
            let Some(best) = fits
                .iter()
                .max_by_key(|n| (n.mem_unpromised, std::cmp::Reverse(n.node.to_string())))
            else {
                let why: Vec<String> = nodes
                    .iter()
                    .map(|n| match choices::check_capacity(n, cores, memory_mib) {
                        Err(e) if e.contains(n.node.as_str()) => e,
                        Err(e) => format!("{}: {e}", n.node),
                        Ok(_) => format!("{}: fits", n.node),
                    })
                    .collect();
                return Err(OpsError::Invalid(format!(
                    "no online node fits {cores} core(s) and {memory_mib} MiB: {}; pick one with \
                     --node, or ask for less",
                    if why.is_empty() { "no node is online".into() } else { why.join("; ") }
                )));
            };
            if nodes.len() > 1 {
                chosen.push(format!(
                    "node {}: the most memory not yet given to running guests ({} MiB)",
                    best.node,
                    best.mem_unpromised / 1024 / 1024
                ));
            }
            best.node.clone()
        }
    };
    let storage = match storage {
        Some(s) => s,
        None => {
            let stores = choices::storages(client, &node, content).await?;
            let Some(best) = stores.first() else {
                return Err(OpsError::Invalid(format!(
                    "no active storage on {node} takes `{content}` content; pick one with \
                     --storage (see `proxctl get storage`)"
                )));
            };
            chosen.push(format!(
                "storage {}: the most room for {content} on {node} ({} GiB free)",
                best.storage,
                best.avail / 1024 / 1024 / 1024
            ));
            best.storage.clone()
        }
    };
    Ok(Placement { node, storage, chosen })
}
