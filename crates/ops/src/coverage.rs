//! Backup coverage, the view admins ask monitoring for most: every selected guest with its
//! newest backup, the proxctl and PVE jobs that back it up, and whether it is within its
//! policy.

use std::collections::BTreeMap;

use proxctl_client::Client;
use proxctl_types::selector::Selector;
use serde::Serialize;

use crate::OpsError;
use crate::jobs::{Action, Job};
use crate::output::{Tabular, human_duration};
use crate::views::{BackupRow, GuestRow};
use proxctl_types::api::BackupJob;

/// The policy when a face is not told one: a nightly backup plus two hours' slack.
pub const DEFAULT_MAX_AGE: &str = "26h";

/// Where a guest stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// Its newest backup is within the policy.
    Ok,
    /// Its newest backup is older than the policy allows.
    TooOld,
    /// It has no backup at all.
    None,
}

impl Coverage {
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Ok => "ok",
            Coverage::TooOld => "too-old",
            Coverage::None => "none",
        }
    }
}

/// One guest's coverage.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    /// `qemu` or `lxc`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip)]
    pub tags: Vec<String>,
    /// When its newest backup was made (Unix seconds).
    pub last_backup: Option<u64>,
    pub age_seconds: Option<u64>,
    pub volid: Option<String>,
    /// Enabled proxctl backup jobs whose selector picks it, and enabled PVE datacenter
    /// backup jobs that include it (`pve:<id>`).
    pub jobs: Vec<String>,
    pub status: Coverage,
}

impl Tabular for CoverageRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["VMID", "NAME", "NODE", "LAST BACKUP", "JOBS", "STATUS"];
        if wide {
            h.push("VOLUME");
        }
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let mut c = vec![
            self.vmid.to_string(),
            self.name.clone(),
            self.node.clone(),
            self.age_seconds.map(|a| format!("{} ago", human_duration(a))).unwrap_or("-".into()),
            if self.jobs.is_empty() { "-".into() } else { self.jobs.join(",") },
            self.status.as_str().into(),
        ];
        if wide {
            c.push(self.volid.clone().unwrap_or_default());
        }
        c
    }
}

/// Coverage of the guests `sel` picks (templates left out), measured at `now` against
/// `max_age` seconds; `jobs` are the stored jobs (their backup jobs name the guests they
/// cover). PVE's own datacenter backup jobs count too.
pub async fn coverage(
    client: &Client,
    jobs: &[Job],
    sel: &Selector,
    max_age: i64,
    now: i64,
) -> Result<Vec<CoverageRow>, OpsError> {
    let guests = crate::bulk::targets(client, sel).await?;
    let backups = crate::views::backups(client).await?;
    let pve_jobs = pve_backup_jobs(client).await;
    Ok(assess(&guests, &backups, jobs, &pve_jobs, max_age, now))
}

/// PVE's datacenter backup jobs, or none when they cannot be read: a token without
/// `Sys.Audit` on `/` still gets coverage, judged by proxctl's jobs alone.
pub async fn pve_backup_jobs(client: &Client) -> Vec<BackupJob> {
    match client.backup_jobs().await {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "PVE backup jobs cannot be read; coverage shows proxctl's");
            Vec::new()
        }
    }
}

/// Coverage from what was read: each guest's newest backup in `backups`, the enabled
/// proxctl backup jobs that select it, and the enabled PVE jobs (`pve:<id>`) that do.
pub fn assess(
    guests: &[GuestRow],
    backups: &[BackupRow],
    jobs: &[Job],
    pve_jobs: &[BackupJob],
    max_age: i64,
    now: i64,
) -> Vec<CoverageRow> {
    let mut newest: BTreeMap<u32, (u64, String)> = BTreeMap::new();
    for b in backups {
        let (Some(vmid), Some(ctime)) = (b.vmid, b.ctime) else { continue };
        let e = newest.entry(vmid).or_insert((0, String::new()));
        if ctime >= e.0 {
            *e = (ctime, b.volid.clone());
        }
    }
    let backup_jobs: Vec<(&str, Selector)> = jobs
        .iter()
        .filter(|j| j.enabled && matches!(j.action, Action::Backup { .. }))
        .filter_map(|j| j.selector.parse().ok().map(|s| (j.name.as_str(), s)))
        .collect();
    let pve_jobs: Vec<&BackupJob> = pve_jobs.iter().filter(|j| j.is_enabled()).collect();
    let now = u64::try_from(now).unwrap_or(0);
    let max_age = u64::try_from(max_age).unwrap_or(0);
    guests
        .iter()
        .map(|g| {
            let last = newest.get(&g.vmid);
            let age = last.map(|(t, _)| now.saturating_sub(*t));
            let status = match age {
                None => Coverage::None,
                Some(a) if a > max_age => Coverage::TooOld,
                Some(_) => Coverage::Ok,
            };
            let mut covering: Vec<String> = backup_jobs
                .iter()
                .filter(|(_, s)| g.selected_by(s))
                .map(|(n, _)| n.to_string())
                .collect();
            covering.extend(
                pve_jobs
                    .iter()
                    .filter(|j| j.selects(g.vmid, &g.node))
                    .map(|j| format!("pve:{}", j.id)),
            );
            CoverageRow {
                vmid: g.vmid,
                name: g.name.clone(),
                node: g.node.clone(),
                kind: g.kind.clone(),
                tags: g.tags.clone(),
                last_backup: last.map(|(t, _)| *t),
                age_seconds: age,
                volid: last.map(|(_, v)| v.clone()),
                jobs: covering,
                status,
            }
        })
        .collect()
}
