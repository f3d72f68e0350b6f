//! Resolving a duplicate: when two guests carry the same resource's marker (left by a race
//! that the resource locks now prevent, or by a hand-made copy), the plan refuses to guess.
//! `resolve` keeps the guest the user names, records it as the resource, and deletes the
//! others (stopping them first) or releases them (drops their marker, so they become
//! ordinary unmanaged guests).

use std::collections::BTreeSet;
use std::sync::Arc;

use proxctl_client::{Client, DeleteOptions, PowerAction, WaitOptions};
use proxctl_ops::guest::GuestRef;
use proxctl_state::{ResourceKey, ResourceRecord, StateStore};
use proxctl_types::managed::{RESOURCE_PREFIX, resource_of};
use proxctl_types::messages::GuestKind;
use proxctl_types::wire::FormParams;
use proxctl_types::{NodeName, VmId};

use crate::EngineError;
use crate::apply::{ApplyError, ApplyOptions};
use crate::locks::Locks;
use crate::observe::ObservedGuest;

/// What happens to the guests not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Stop and destroy them, with their disks and seed ISOs.
    Delete,
    /// Remove their marker; they stay, unmanaged.
    Release,
}

/// A guest carrying the marker, for the confirmation a face shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Carrier {
    pub vmid: u32,
    pub node: String,
    pub name: String,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    pub key: String,
    pub kept: u32,
    pub deleted: Vec<u32>,
    pub released: Vec<u32>,
}

/// The guests (not templates) whose marker names `key`.
pub async fn carriers(client: &Client, key: &str) -> Result<Vec<Carrier>, EngineError> {
    let observed = crate::observe::observe(client, &[], &BTreeSet::new()).await?;
    Ok(observed
        .guests
        .iter()
        .filter(|g| !g.template && g.text("description").and_then(resource_of) == Some(key))
        .map(|g: &ObservedGuest| Carrier {
            vmid: g.vmid,
            node: g.node.clone(),
            name: g.name.clone(),
            running: g.running,
        })
        .collect())
}

/// The carrier to keep and the others, or why `keep` cannot be kept (it does not carry `key`).
/// What a face shows before it asks for confirmation, and what [`resolve`] acts on.
pub async fn split(
    client: &Client,
    key: &str,
    keep: u32,
) -> Result<(Carrier, Vec<Carrier>), EngineError> {
    let (kept, others): (Vec<Carrier>, Vec<Carrier>) =
        carriers(client, key).await?.into_iter().partition(|c| c.vmid == keep);
    match kept.into_iter().next() {
        Some(k) => Ok((k, others)),
        None => {
            let list: Vec<String> = others.iter().map(|c| c.vmid.to_string()).collect();
            Err(EngineError::Invalid(format!(
                "VMID {keep} does not carry {key}; the guests that do are: {}",
                if list.is_empty() { "none".to_string() } else { list.join(", ") }
            )))
        }
    }
}

/// Keep `keep` as `key` and delete or release every other carrier, under the key's lock.
pub async fn resolve(
    client: &Client,
    store: Arc<dyn StateStore>,
    key: &str,
    keep: u32,
    others: Others,
    opts: &ApplyOptions,
) -> Result<Resolution, EngineError> {
    let rkey: ResourceKey = key.parse().map_err(|e| EngineError::Invalid(format!("{e}")))?;
    let purpose = format!("resolve by {}", opts.actor);
    let locks = Locks::acquire(
        Arc::clone(&store),
        &opts.holder,
        &purpose,
        [key.to_string()],
        opts.locks,
        opts.progress.as_ref(),
    )
    .await
    .map_err(ApplyError::from)?;
    let result = resolve_locked(client, store.as_ref(), &rkey, keep, others).await;
    locks.release().await;
    result
}

async fn resolve_locked(
    client: &Client,
    store: &dyn StateStore,
    key: &ResourceKey,
    keep: u32,
    others: Others,
) -> Result<Resolution, EngineError> {
    let (kept, rest) = split(client, &key.to_string(), keep).await?;
    let bad = |e: proxctl_types::IdError| EngineError::Invalid(e.to_string());
    let mut out =
        Resolution { key: key.to_string(), kept: keep, deleted: Vec::new(), released: Vec::new() };
    for c in &rest {
        let g = guest_ref(client, c).await?;
        match others {
            Others::Delete => {
                if c.running {
                    let u =
                        proxctl_ops::guest::power(client, &g, &PowerAction::Stop { timeout: None })
                            .await
                            .map_err(EngineError::Ops)?;
                    client.wait_task(&u, &WaitOptions::default()).await?;
                }
                let seed =
                    proxctl_ops::guest::seed_of(client, &g).await.map_err(EngineError::Ops)?;
                let del = DeleteOptions {
                    purge: true,
                    destroy_unreferenced_disks: true,
                    force: g.kind == GuestKind::Lxc,
                };
                let u =
                    proxctl_ops::guest::delete(client, &g, &del).await.map_err(EngineError::Ops)?;
                client.wait_task(&u, &WaitOptions::default()).await?;
                if let Some(seed) = seed {
                    proxctl_ops::guest::delete_seed(client, &g.node, &seed)
                        .await
                        .map_err(EngineError::Ops)?;
                }
                out.deleted.push(c.vmid);
            }
            Others::Release => {
                let cfg = match g.kind {
                    GuestKind::Qemu => client.qemu_config(&g.node, g.vmid).await?,
                    GuestKind::Lxc => client.lxc_config(&g.node, g.vmid).await?,
                };
                let description = cfg.get("description").and_then(|d| d.as_str()).unwrap_or("");
                let kept_lines: Vec<&str> = description
                    .lines()
                    .filter(|l| !l.trim().starts_with(RESOURCE_PREFIX))
                    .collect();
                let mut p = FormParams::new();
                p.push("description", kept_lines.join("\n"));
                let vs = g.vmid.to_string();
                let endpoint = match g.kind {
                    GuestKind::Qemu => proxctl_client::Endpoint::QemuConfigPut,
                    GuestKind::Lxc => proxctl_client::Endpoint::LxcConfigPut,
                };
                client
                    .send(&proxctl_client::ApiRequest::new(endpoint, &[g.node.as_str(), &vs], p))
                    .await?;
                out.released.push(c.vmid);
            }
        }
    }
    let spec_hash = store.resource(key).await?.map(|r| r.spec_hash).unwrap_or_default();
    store
        .put_resource(&ResourceRecord {
            key: key.clone(),
            spec_hash,
            vmid: Some(VmId::new(kept.vmid).map_err(bad)?),
            node: Some(NodeName::new(kept.node.as_str()).map_err(bad)?),
            updated_at: jiff::Timestamp::now(),
        })
        .await?;
    Ok(out)
}

async fn guest_ref(client: &Client, c: &Carrier) -> Result<GuestRef, EngineError> {
    proxctl_ops::guest::resolve_guest(client, &c.vmid.to_string())
        .await
        .map_err(|e| EngineError::Invalid(e.to_string()))
}
