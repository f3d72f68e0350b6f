//! Tags: writing them PVE's way (lowercase, de-duplicated, sorted), and counting them.

use std::collections::BTreeMap;

use proxctl_client::Client;
use proxctl_client::endpoints::qemu::ConfigUpdate;
use proxctl_types::config::{LxcConfig, QemuConfig};
use proxctl_types::messages::GuestKind;
use proxctl_types::wire::{Digest, is_valid_tag};
use serde::Serialize;

use crate::output::Tabular;
use crate::views::GuestRow;
use crate::{GuestRef, OpsError};

/// Check tags against PVE's `pve-tag` format before anything is sent.
pub fn validate(tags: &[String]) -> Result<(), OpsError> {
    match tags.iter().find(|t| !is_valid_tag(t)) {
        Some(bad) => Err(OpsError::Invalid(format!(
            "'{}' is not a valid tag: letters, digits, '_', '-', '+' and '.', not starting with '-', '+' or '.'",
            proxctl_types::limits::escape(bad)
        ))),
        None => Ok(()),
    }
}

/// Replace a guest's tags (an empty list deletes the key), guarded by the config digest.
pub async fn write(client: &Client, g: &GuestRef, tags: Vec<String>) -> Result<(), OpsError> {
    validate(&tags)?;
    match g.kind {
        GuestKind::Qemu => {
            let cur = client.qemu_config(&g.node, g.vmid).await?;
            let digest = cur.get("digest").and_then(|d| d.as_str()).map(|d| Digest(d.into()));
            let u = if tags.is_empty() {
                ConfigUpdate { delete: vec!["tags".into()], digest, ..Default::default() }
            } else {
                ConfigUpdate {
                    set: QemuConfig { tags: Some(tags), ..Default::default() },
                    digest,
                    ..Default::default()
                }
            };
            client.qemu_update_config(&g.node, g.vmid, &u).await?;
        }
        GuestKind::Lxc => {
            let cur = client.lxc_config(&g.node, g.vmid).await?;
            let digest = cur.get("digest").and_then(|d| d.as_str()).map(|d| Digest(d.into()));
            let (set, delete) = if tags.is_empty() {
                (LxcConfig::default(), vec!["tags".to_string()])
            } else {
                (LxcConfig { tags: Some(tags), ..Default::default() }, Vec::new())
            };
            client.lxc_update_config(&g.node, g.vmid, &set, &delete, digest.as_ref()).await?;
        }
    }
    Ok(())
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub guests: usize,
    pub running: usize,
}

impl Tabular for TagCount {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["TAG", "GUESTS", "RUNNING"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![self.tag.clone(), self.guests.to_string(), self.running.to_string()]
    }
}

/// How many guests carry each tag, most used first.
pub fn stats(guests: &[GuestRow]) -> Vec<TagCount> {
    let mut m: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for g in guests {
        for t in &g.tags {
            let e = m.entry(t.as_str()).or_default();
            e.0 += 1;
            if g.status == "running" {
                e.1 += 1;
            }
        }
    }
    let mut out: Vec<TagCount> = m
        .into_iter()
        .map(|(t, (n, r))| TagCount { tag: t.into(), guests: n, running: r })
        .collect();
    out.sort_by(|a, b| b.guests.cmp(&a.guests).then_with(|| a.tag.cmp(&b.tag)));
    out
}
