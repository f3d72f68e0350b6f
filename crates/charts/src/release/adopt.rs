//! Rebuilding releases from PVE after a lost state store: every guest a release made carries
//! the `release-<name>` tag and a `proxctl:release=<name>` description line beside its resource
//! marker, so `release adopt` finds each release's resources and records the release again
//! (revision 1, "adopted"). The engine re-adopts the guests themselves by their markers.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use proxctl_client::Client;
use proxctl_state::StateStore;
use proxctl_types::managed::{release_of, resource_of};
use proxctl_types::{NodeName, VmId};

use super::{Release, Revision, Status, find, save};
use crate::release::ReleaseError;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AdoptReport {
    /// Releases recorded again, with the resources they own.
    pub adopted: BTreeMap<String, BTreeSet<String>>,
    /// Releases the store already had (their missing resources added).
    pub known: BTreeMap<String, BTreeSet<String>>,
}

/// Find release markers in PVE and record what the store lacks (`only`: one release).
pub async fn adopt(
    client: &Client,
    store: &dyn StateStore,
    only: Option<&str>,
    actor: &str,
) -> Result<AdoptReport, ReleaseError> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in client.cluster_resources(None).await? {
        let kind = r.res_type.as_str();
        if kind != "qemu" && kind != "lxc" {
            continue;
        }
        let tagged = r
            .tags
            .as_deref()
            .is_some_and(|t| proxctl_types::wire::split_tags(t).any(|t| t.starts_with("release-")));
        let (Some(vmid), Some(node), true) = (r.vmid, r.node, tagged) else { continue };
        let (Ok(node), Ok(vmid)) = (NodeName::new(node.to_string()), VmId::new(vmid.get())) else {
            continue;
        };
        let cfg = if kind == "lxc" {
            client.lxc_config(&node, vmid).await?
        } else {
            client.qemu_config(&node, vmid).await?
        };
        let Some(desc) = cfg.get("description").and_then(|d| d.as_str()) else { continue };
        let (Some(release), Some(key)) = (release_of(desc), resource_of(desc)) else { continue };
        if only.is_some_and(|o| o != release) {
            continue;
        }
        found.entry(release.to_string()).or_default().insert(key.to_string());
    }
    let mut report = AdoptReport::default();
    for (name, keys) in found {
        match find(store, &name).await? {
            Some(mut r) => {
                let missing: BTreeSet<String> = keys.difference(&r.owned).cloned().collect();
                if !missing.is_empty() {
                    r.owned.extend(missing.iter().cloned());
                    save(store, &r).await?;
                }
                report.known.insert(name, missing);
            }
            None => {
                let r = Release {
                    name: name.clone(),
                    revisions: vec![Revision {
                        revision: 1,
                        chart: "unknown".into(),
                        chart_version: String::new(),
                        values: serde_json::json!({}),
                        manifest: String::new(),
                        notes: None,
                        status: Status::Deployed,
                        description: "adopted from the markers in PVE".into(),
                        by: actor.to_string(),
                        at: Timestamp::now(),
                        chart_package: None,
                    }],
                    owned: keys.clone(),
                    secrets: Default::default(),
                    remote: None,
                };
                save(store, &r).await?;
                report.adopted.insert(name, keys);
            }
        }
    }
    Ok(report)
}
