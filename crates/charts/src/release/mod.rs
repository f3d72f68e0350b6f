//! Releases: installed copies of a chart, kept in the state store (one document per release)
//! with every revision's chart version, values and rendered manifests, its status and who made
//! it. A release owns the resources its deployed revision declares; no resource belongs to two.
//! `run.rs` carries out install, upgrade, rollback and uninstall through the engine;
//! `adopt.rs` rebuilds releases from the markers their guests carry in PVE.

mod adopt;
mod run;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use jiff::Timestamp;
use proxctl_state::{Document, StateStore};
use serde::{Deserialize, Serialize};

use crate::chart::Chart;
use crate::render::Secrets;

pub use adopt::{AdoptReport, adopt};
pub use run::{Change, Outcome, ReleaseError, Request, deploy, plan_uninstall, uninstall};

/// The state store document kind of releases (id: the release name).
pub const DOCUMENT_KIND: &str = proxctl_state::document::kind::RELEASE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Being applied (or the applier stopped; the next change to the release settles it).
    Pending,
    Deployed,
    Failed,
    /// A later revision was deployed.
    Superseded,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Deployed => "deployed",
            Status::Failed => "failed",
            Status::Superseded => "superseded",
        })
    }
}

/// One revision: what was applied and how it ended. Its `Debug` leaves out the manifests
/// and the chart, which may hold generated secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub revision: u32,
    pub chart: String,
    pub chart_version: String,
    /// The values given (not the chart's defaults).
    pub values: serde_json::Value,
    /// The rendered manifests (multi-document YAML), re-applied by a rollback to this revision.
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub status: Status,
    /// `install`, `upgrade`, `rollback to 2`, with the error when it failed.
    pub description: String,
    /// Who made it (the audit log's actor).
    pub by: String,
    pub at: Timestamp,
    /// The chart as a package (base64), so an upgrade without a chart and a rollback never
    /// depend on where the chart came from. Absent for adopted releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_package: Option<String>,
}

impl std::fmt::Debug for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revision")
            .field("revision", &self.revision)
            .field("chart", &self.chart)
            .field("chart_version", &self.chart_version)
            .field("status", &self.status)
            .field("description", &self.description)
            .field("by", &self.by)
            .field("at", &self.at)
            .field("manifest", &format_args!("({} bytes)", self.manifest.len()))
            .finish_non_exhaustive()
    }
}

impl Revision {
    /// The chart this revision used.
    pub fn chart(&self) -> Option<Chart> {
        let b64 = self.chart_package.as_deref()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Chart::from_package(&bytes).ok()
    }
}

/// A chart as kept in a revision.
pub(crate) fn packed(chart: &Chart) -> Option<String> {
    crate::package::package(chart).ok().map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// A release as the state store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub name: String,
    /// Oldest first.
    pub revisions: Vec<Revision>,
    /// The resources (`kind/name`) the release owns.
    pub owned: BTreeSet<String>,
    /// Values of `secret(name)`, generated once, kept for upgrades.
    #[serde(default)]
    pub secrets: Secrets,
    /// The remote of `proxctl serve` the release lives on (absent: the CLI's cluster, or the
    /// server's default remote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl Release {
    pub fn latest(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// The revision deployed now, if any.
    pub fn deployed(&self) -> Option<&Revision> {
        self.revisions.iter().rev().find(|r| r.status == Status::Deployed)
    }

    pub fn revision(&self, n: u32) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.revision == n)
    }

    pub fn next_revision(&self) -> u32 {
        self.latest().map_or(1, |r| r.revision + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_holds_a_releases_secrets() {
        let mut secrets = Secrets::default();
        secrets.0.insert("k3s-token".into(), "s3cr3t-token-value".into());
        let r = Release {
            name: "kube".into(),
            revisions: vec![Revision {
                revision: 1,
                chart: "k3s-cluster".into(),
                chart_version: "1.0.0".into(),
                values: serde_json::json!({}),
                manifest: "token: s3cr3t-token-value".into(),
                notes: None,
                status: Status::Deployed,
                description: "install".into(),
                by: "admin".into(),
                at: Timestamp::UNIX_EPOCH,
                chart_package: None,
            }],
            owned: BTreeSet::new(),
            secrets,
            remote: None,
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("k3s-token"));
    }
}

/// One line of `release list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub name: String,
    pub revision: u32,
    pub status: Status,
    pub chart: String,
    pub chart_version: String,
    pub resources: usize,
    pub updated: Timestamp,
}

impl Summary {
    pub fn of(r: &Release) -> Option<Summary> {
        let last = r.latest()?;
        Some(Summary {
            name: r.name.clone(),
            revision: last.revision,
            status: last.status,
            chart: last.chart.clone(),
            chart_version: last.chart_version.clone(),
            resources: r.owned.len(),
            updated: last.at,
        })
    }
}

impl proxctl_ops::output::Tabular for Summary {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NAME", "REVISION", "STATUS", "CHART", "RESOURCES", "UPDATED"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.name.clone(),
            self.revision.to_string(),
            self.status.to_string(),
            format!("{}-{}", self.chart, self.chart_version).trim_end_matches('-').to_string(),
            self.resources.to_string(),
            self.updated.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        ]
    }
}

impl proxctl_ops::output::Tabular for Revision {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["REVISION", "UPDATED", "STATUS", "CHART", "BY", "DESCRIPTION"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.revision.to_string(),
            self.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            self.status.to_string(),
            format!("{}-{}", self.chart, self.chart_version).trim_end_matches('-').to_string(),
            self.by.clone(),
            self.description.clone(),
        ]
    }
}

/// The releases in the store.
pub async fn list(store: &dyn StateStore) -> Result<Vec<Release>, ReleaseError> {
    let docs = store.documents(DOCUMENT_KIND, 100_000).await?;
    let mut out: Vec<Release> =
        docs.iter().filter_map(|d| serde_json::from_str(&d.body).ok()).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One release, or `NotFound` naming what exists.
pub async fn get(store: &dyn StateStore, name: &str) -> Result<Release, ReleaseError> {
    find(store, name).await?.ok_or_else(|| {
        ReleaseError::NotFound(format!(
            "no release named {name}; `proxctl release list` shows the installed ones"
        ))
    })
}

pub(crate) async fn find(
    store: &dyn StateStore,
    name: &str,
) -> Result<Option<Release>, ReleaseError> {
    match store.document(DOCUMENT_KIND, name).await? {
        Some(d) => serde_json::from_str(&d.body)
            .map(Some)
            .map_err(|e| ReleaseError::Corrupt(format!("release {name}: {e}"))),
        None => Ok(None),
    }
}

pub(crate) async fn save(store: &dyn StateStore, r: &Release) -> Result<(), ReleaseError> {
    let now = Timestamp::now();
    let body = serde_json::to_string(r).map_err(|e| ReleaseError::Corrupt(e.to_string()))?;
    store
        .put_document(&Document {
            kind: DOCUMENT_KIND.into(),
            id: r.name.clone(),
            body,
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok(())
}

/// Which release owns each resource key.
pub async fn owners(store: &dyn StateStore) -> Result<BTreeMap<String, String>, ReleaseError> {
    let mut out = BTreeMap::new();
    for r in list(store).await? {
        for k in &r.owned {
            out.insert(k.clone(), r.name.clone());
        }
    }
    Ok(out)
}
