//! One scrape: each remote read with three calls at once (`/cluster/resources`,
//! `/cluster/status`, `/version`), remotes in parallel; a remote that fails is
//! `proxctl_remote_up 0` and leaves the rest of the scrape whole.

use std::collections::BTreeMap;

use proxctl_client::Client;

use super::{Family, own, pve};
use crate::OpsError;
use crate::state::StateHandle;

/// What one remote shows now.
pub async fn observe(client: &Client) -> Result<pve::Observed, OpsError> {
    let (resources, status, version) =
        tokio::join!(client.cluster_resources(None), client.cluster_status(), client.version());
    Ok(pve::Observed { resources: resources?, status: status?, version: Some(version?) })
}

/// Families of the same name from several remotes as one.
fn merge(all: Vec<Family>) -> Vec<Family> {
    let mut by: BTreeMap<String, Family> = BTreeMap::new();
    let mut order = Vec::new();
    for f in all {
        match by.get_mut(&f.name) {
            Some(have) => have.samples.extend(f.samples),
            None => {
                order.push(f.name.clone());
                by.insert(f.name.clone(), f);
            }
        }
    }
    order.into_iter().filter_map(|n| by.remove(&n)).collect()
}

/// Every remote's exporter-compatible series (with a `remote` label) and proxctl's own.
pub async fn all(remotes: &[(String, Client)], state: &StateHandle) -> Vec<Family> {
    let reads = remotes.iter().map(|(name, client)| async move {
        let started = std::time::Instant::now();
        let o = observe(client).await;
        (name.clone(), o, started.elapsed().as_secs_f64())
    });
    let results = futures_util::future::join_all(reads).await;
    let mut families = Vec::new();
    let mut ups = Vec::new();
    let mut resources = Vec::new();
    for (name, o, took) in results {
        match o {
            Ok(o) => {
                families
                    .extend(pve::families(&o).into_iter().map(|f| f.with_label("remote", &name)));
                resources.extend(o.resources);
                ups.push((name, true, took));
            }
            Err(e) => {
                tracing::warn!(remote = %name, error = %e, "metrics: the remote did not answer");
                ups.push((name, false, took));
            }
        }
    }
    families.extend(own::remotes(&ups));
    families.extend(own::families(state, &resources, jiff::Timestamp::now()).await);
    merge(families)
}

/// One remote's series exactly as prometheus-pve-exporter writes them (no `remote` label),
/// for scrape configs written for the exporter (`/pve?target=...`).
pub async fn exporter(client: &Client) -> Result<Vec<Family>, OpsError> {
    Ok(pve::families(&observe(client).await?))
}
