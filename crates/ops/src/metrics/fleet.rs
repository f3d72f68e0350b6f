//! proxctl's per-guest series, from one remote's scrape and the [`details`](super::details)
//! kept between scrapes: snapshot counts and ages, last backups and backup policy, template
//! versions, the cluster's recent PVE tasks, and whether guests declared `start: true` run.

use std::collections::BTreeMap;

use proxctl_types::api::TaskListItem;

use super::Family;
use super::details::{Backups, Detail};
use crate::coverage::{self, Coverage};
use crate::jobs::Job;
use crate::views::GuestRow;

/// The backup policy series are judged against.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Seconds a guest's newest backup may be old.
    pub backup_max_age: i64,
}

impl Policy {
    /// [`crate::coverage::DEFAULT_MAX_AGE`] in seconds: a nightly backup and two hours' slack.
    pub const DEFAULT_BACKUP_MAX_AGE: i64 = 26 * 3600;
}

impl Default for Policy {
    fn default() -> Self {
        Policy { backup_max_age: Policy::DEFAULT_BACKUP_MAX_AGE }
    }
}

fn id(kind: &str, vmid: u32) -> String {
    format!("{kind}/{vmid}")
}

/// Snapshot counts and the oldest snapshot's time, per guest as last read.
pub fn snapshots(details: &BTreeMap<u32, Detail>) -> Vec<Family> {
    let mut count = Family::gauge(
        "proxctl_snapshots",
        "Snapshots the guest has (as last read; see docs/monitoring.md for how fresh)",
        &["id"],
    );
    let mut oldest = Family::gauge(
        "proxctl_snapshot_oldest_timestamp_seconds",
        "When the guest's oldest snapshot was taken",
        &["id"],
    );
    for (vmid, d) in details {
        // Only guests read at least once: an unread guest's count is unknown, not zero.
        if !d.is_read() {
            continue;
        }
        count.add(vec![id(&d.kind, *vmid)], d.snapshots.len() as f64);
        if let Some(t) = d.snapshots.iter().filter_map(|(_, t)| *t).min() {
            oldest.add(vec![id(&d.kind, *vmid)], t as f64);
        }
    }
    vec![count, oldest]
}

/// Template versions proxctl built, with their build times.
pub fn templates(details: &BTreeMap<u32, Detail>) -> Vec<Family> {
    let mut versions =
        Family::gauge("proxctl_template_versions", "Versions kept of the template", &["template"]);
    let mut built = Family::gauge(
        "proxctl_template_built_timestamp_seconds",
        "When the template version was built",
        &["template", "version", "id"],
    );
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for (vmid, d) in details {
        let Some((name, version, at)) = &d.template else { continue };
        *per.entry(name).or_default() += 1;
        let secs = at.parse::<jiff::Timestamp>().map(|t| t.as_second() as f64).unwrap_or(0.0);
        built.add(vec![name.clone(), version.clone(), id(&d.kind, *vmid)], secs);
    }
    for (name, n) in per {
        versions.add(vec![name.to_string()], n as f64);
    }
    vec![versions, built]
}

/// Last backups and where each guest stands against the policy (templates left out).
pub fn backups(
    guests: &[GuestRow],
    backups: &Backups,
    jobs: &[Job],
    policy: Policy,
    now: i64,
) -> Vec<Family> {
    let mut last = Family::gauge(
        "proxctl_backup_last_timestamp_seconds",
        "When the guest's newest backup was made",
        &["id"],
    );
    let mut status = Family::gauge(
        "proxctl_backup_status",
        "1 for where the guest stands against the backup policy: ok, too-old or none",
        &["id", "status"],
    );
    let mut covered = Family::gauge(
        "proxctl_backup_covered",
        "Whether an enabled proxctl or PVE backup job selects the guest",
        &["id"],
    );
    let mut outside = Family::gauge(
        "proxctl_backup_out_of_policy_guests",
        "Guests outside the backup policy",
        &[],
    );
    let guests: Vec<GuestRow> = guests.iter().filter(|g| !g.template).cloned().collect();
    let rows = coverage::assess(
        &guests,
        &backups.rows,
        jobs,
        &backups.pve_jobs,
        policy.backup_max_age,
        now,
    );
    let mut out_of_policy = 0;
    for r in &rows {
        let gid = id(&r.kind, r.vmid);
        if let Some(t) = r.last_backup {
            last.add(vec![gid.clone()], t as f64);
        }
        for s in [Coverage::Ok, Coverage::TooOld, Coverage::None] {
            status.add(vec![gid.clone(), s.as_str().into()], if r.status == s { 1.0 } else { 0.0 });
        }
        covered.add(vec![gid], if r.jobs.is_empty() { 0.0 } else { 1.0 });
        if r.status != Coverage::Ok {
            out_of_policy += 1;
        }
    }
    outside.add(Vec::new(), out_of_policy as f64);
    vec![last, status, covered, outside]
}

/// What a task's status says: `running`, `ok`, `warning` or `error`.
fn task_status(t: &TaskListItem) -> &'static str {
    match t.status.as_deref() {
        None => "running",
        Some("OK") => "ok",
        Some(s) if s.starts_with("WARNINGS") => "warning",
        Some(_) => "error",
    }
}

/// The cluster's recent tasks (PVE's `/cluster/tasks` list) by type and status.
pub fn tasks(list: &[TaskListItem]) -> Family {
    let mut f = Family::gauge(
        "proxctl_pve_tasks",
        "Tasks in PVE's recent task list (/cluster/tasks) by type and status",
        &["type", "status"],
    );
    let mut by: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for t in list {
        *by.entry((t.task_type.as_str(), task_status(t))).or_default() += 1;
    }
    for ((ty, st), n) in by {
        f.add(vec![ty.to_string(), st.to_string()], n as f64);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_coverage_default() {
        let secs = crate::snapshot::parse_ttl(crate::coverage::DEFAULT_MAX_AGE).unwrap_or(0);
        assert_eq!(secs, Policy::DEFAULT_BACKUP_MAX_AGE);
    }

    fn task(ty: &str, status: Option<&str>) -> TaskListItem {
        serde_json::from_value(serde_json::json!({
            "upid": "UPID:pve:0000AAAA:00000001:6700AAAA:qmstart:100:root@pam:",
            "node": "pve", "starttime": 1, "type": ty, "id": "100", "user": "root@pam",
            "status": status,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tasks_are_counted_by_type_and_what_their_status_says() {
        let f = tasks(&[
            task("qmstart", Some("OK")),
            task("qmstart", Some("OK")),
            task("vzdump", Some("job errors")),
            task("vzdump", Some("WARNINGS: 1")),
            task("qmclone", None),
        ]);
        let get = |ty: &str, st: &str| {
            f.samples.iter().find(|(l, _)| l[0] == ty && l[1] == st).map(|(_, v)| *v)
        };
        assert_eq!(get("qmstart", "ok"), Some(2.0));
        assert_eq!(get("vzdump", "error"), Some(1.0));
        assert_eq!(get("vzdump", "warning"), Some(1.0));
        assert_eq!(get("qmclone", "running"), Some(1.0));
    }
}
