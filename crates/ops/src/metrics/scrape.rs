//! One scrape: each remote read at once with a fixed handful of calls (`/cluster/resources`,
//! `/cluster/status`, `/version`, `/cluster/backup-info/not-backed-up`, `/cluster/tasks`,
//! `/cluster/config/qdevice`, and per online node its subscription and replication jobs),
//! remotes in parallel, plus a bounded refresh of the [`Details`] kept between scrapes. A
//! remote that fails is `proxctl_remote_up 0` and leaves the rest of the scrape whole.

use std::collections::BTreeMap;

use proxctl_client::Client;
use proxctl_types::NodeName;

use super::details::Details;
use super::fleet::{self, Policy};
use super::{Family, own, pve};
use crate::OpsError;
use crate::state::StateHandle;
use crate::views::GuestRow;

/// What one remote shows now. Beside the fixed reads, one subscription and one replication
/// list per online node (bounded by the node count, not the guests). The optional reads
/// (not-backed-up, subscriptions, replication, QDevice) may fail for a token without
/// `Sys.Audit`, or a PVE without the feature, without failing the scrape.
pub async fn observe(client: &Client) -> Result<pve::Observed, OpsError> {
    let (resources, status, version, not_backed_up, qdevice) = tokio::join!(
        client.cluster_resources(None),
        client.cluster_status(),
        client.version(),
        client.not_backed_up(),
        client.qdevice()
    );
    let status = status?;
    let nodes: Vec<NodeName> = status
        .iter()
        .filter(|s| s.item_type == "node" && s.online == Some(true))
        .filter_map(|s| NodeName::new(s.name.as_str()).ok())
        .collect();
    let per_node = futures_util::future::join_all(nodes.iter().map(|n| async move {
        let (sub, repl) = tokio::join!(client.node_subscription(n), client.node_replication(n));
        (n.to_string(), optional("subscription", sub), optional("replication", repl))
    }))
    .await;
    let mut subscriptions = Vec::new();
    let mut replication = Vec::new();
    for (n, sub, repl) in per_node {
        subscriptions.extend(sub.map(|s| (n, s)));
        replication.extend(repl.unwrap_or_default());
    }
    Ok(pve::Observed {
        resources: resources?,
        status,
        version: Some(version?),
        not_backed_up: optional("not-backed-up", not_backed_up),
        subscriptions,
        replication,
        qdevice: optional("qdevice", qdevice),
    })
}

fn optional<T>(what: &str, r: Result<T, proxctl_client::ClientError>) -> Option<T> {
    r.inspect_err(|e| tracing::debug!(error = %e, "metrics: {what} not read")).ok()
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

/// What a scrape keeps between runs and judges by.
#[derive(Debug, Default)]
pub struct Scraper {
    pub details: Details,
    pub policy: Policy,
}

impl Scraper {
    pub fn new(details: Details, policy: Policy) -> Scraper {
        Scraper { details, policy }
    }

    /// One remote's families (without the `remote` label) and its resources.
    async fn remote(
        &self,
        name: &str,
        client: &Client,
        jobs: &[crate::jobs::Job],
        now: i64,
    ) -> Result<(Vec<Family>, Vec<proxctl_types::api::ClusterResource>), OpsError> {
        let (o, tasks) = tokio::join!(observe(client), client.cluster_tasks());
        let o = o?;
        let guests: Vec<GuestRow> =
            o.resources.iter().cloned().filter_map(GuestRow::from_resource).collect();
        self.details.refresh(name, client, &guests).await;
        let details = self.details.guests(name);
        let mut families = pve::families(&o);
        families.push(pve::onboot(&details));
        families.extend(fleet::snapshots(&details));
        families.extend(fleet::templates(&details));
        if let Some(b) = self.details.backups(name) {
            families.extend(fleet::backups(&guests, &b, jobs, self.policy, now));
        }
        match tasks {
            Ok(t) => families.push(fleet::tasks(&t)),
            Err(e) => tracing::debug!(remote = name, error = %e, "metrics: tasks not read"),
        }
        Ok((families, o.resources))
    }

    /// Every remote's series (each with a `remote` label) and proxctl's own.
    pub async fn all(&self, remotes: &[(String, Client)], state: &StateHandle) -> Vec<Family> {
        let now = jiff::Timestamp::now();
        let jobs = crate::jobs::list(state).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "metrics: jobs cannot be read");
            Vec::new()
        });
        let reads = remotes.iter().map(|(name, client)| {
            let jobs = &jobs;
            async move {
                let started = std::time::Instant::now();
                let o = self.remote(name, client, jobs, now.as_second()).await;
                (name.clone(), o, started.elapsed().as_secs_f64())
            }
        });
        let results = futures_util::future::join_all(reads).await;
        let mut families = Vec::new();
        let mut ups = Vec::new();
        let mut resources = Vec::new();
        for (name, o, took) in results {
            match o {
                Ok((fs, rs)) => {
                    families.extend(fs.into_iter().map(|f| f.with_label("remote", &name)));
                    resources.extend(rs);
                    ups.push((name, true, took));
                }
                Err(e) => {
                    tracing::warn!(remote = %name, error = %e, "metrics: the remote did not answer");
                    ups.push((name, false, took));
                }
            }
        }
        families.extend(own::remotes(&ups));
        families.extend(own::families(state, &resources, now).await);
        merge(families)
    }

    /// One remote's series exactly as prometheus-pve-exporter writes them (no `remote`
    /// label), for scrape configs written for the exporter (`/pve?target=...`).
    pub async fn exporter(&self, name: &str, client: &Client) -> Result<Vec<Family>, OpsError> {
        let o = observe(client).await?;
        let guests: Vec<GuestRow> =
            o.resources.iter().cloned().filter_map(GuestRow::from_resource).collect();
        self.details.refresh(name, client, &guests).await;
        let mut families = pve::families(&o);
        families.push(pve::onboot(&self.details.guests(name)));
        Ok(families)
    }
}
