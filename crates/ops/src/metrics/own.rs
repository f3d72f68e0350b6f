//! proxctl's own series from the state store, `proxctl_*`: what the exporter cannot know.
//! Remotes reachable, the state store, jobs (last outcome and time, runs kept, next run),
//! drift as drift-check jobs found it, snapshot expiries from the TTLs proxctl keeps, applies
//! by result, and guests declared `start: true`. Nothing here asks PVE anything; the
//! per-guest series read from PVE are in [`fleet`](super::fleet).

use std::collections::BTreeMap;

use jiff::Timestamp;
use proxctl_types::api::ClusterResource;

use super::Family;
use crate::jobs::{self, Run};
use crate::state::StateHandle;

/// Whether each remote answered this scrape, and how long its reads took.
pub fn remotes(results: &[(String, bool, f64)]) -> Vec<Family> {
    let mut up =
        Family::gauge("proxctl_remote_up", "Whether the remote answered this scrape", &["remote"]);
    let mut took = Family::gauge(
        "proxctl_remote_scrape_duration_seconds",
        "How long this scrape's reads of the remote took",
        &["remote"],
    );
    for (name, ok, secs) in results {
        up.add(vec![name.clone()], if *ok { 1.0 } else { 0.0 });
        took.add(vec![name.clone()], *secs);
    }
    vec![up, took]
}

fn secs(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

/// Jobs: enabled, next run, last run's outcome and time, and the runs the history keeps.
fn job_families(list: &[jobs::Job], runs: &[Run], now: Timestamp) -> Vec<Family> {
    let mut enabled =
        Family::gauge("proxctl_job_enabled", "Whether the job's schedule runs it", &["job"]);
    let mut next =
        Family::gauge("proxctl_job_next_run_timestamp_seconds", "When the job runs next", &["job"]);
    let mut last = Family::gauge(
        "proxctl_job_last_outcome",
        "1 for how the job's newest run stands: running, succeeded, partial, failed, skipped or interrupted",
        &["job", "outcome"],
    );
    let mut last_at = Family::gauge(
        "proxctl_job_last_run_timestamp_seconds",
        "When the job's newest run with this outcome started",
        &["job", "outcome"],
    );
    let mut kept = Family::gauge(
        "proxctl_job_runs",
        "Runs of the job its history keeps, by outcome",
        &["job", "outcome"],
    );
    for j in list {
        enabled.add(vec![j.name.clone()], if j.enabled { 1.0 } else { 0.0 });
        if let Ok(Some(t)) = j.next_after(now) {
            next.add(vec![j.name.clone()], secs(t));
        }
    }
    let mut newest: BTreeMap<&str, &Run> = BTreeMap::new();
    let mut newest_by: BTreeMap<(&str, &str), Timestamp> = BTreeMap::new();
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    // Newest first: the first seen is the newest.
    for r in runs {
        newest.entry(&r.job).or_insert(r);
        newest_by.entry((&r.job, r.outcome.as_str())).or_insert(r.started_at);
        *counts.entry((&r.job, r.outcome.as_str())).or_default() += 1;
    }
    for (job, r) in newest {
        last.add(vec![job.to_string(), r.outcome.as_str().to_string()], 1.0);
    }
    for ((job, outcome), t) in newest_by {
        last_at.add(vec![job.to_string(), outcome.to_string()], secs(t));
    }
    for ((job, outcome), n) in counts {
        kept.add(vec![job.to_string(), outcome.to_string()], n as f64);
    }
    let mut out = vec![enabled, next, last, last_at, kept];
    out.extend(drift(list, runs));
    out
}

/// Drift as each drift-check job's newest finished run found it.
fn drift(list: &[jobs::Job], runs: &[Run]) -> Vec<Family> {
    let mut found = Family::gauge(
        "proxctl_drift_resources",
        "Declared resources that differ from the cluster, as the job's newest check found",
        &["job"],
    );
    let mut checked = Family::gauge(
        "proxctl_drift_checked_timestamp_seconds",
        "When the job's newest finished drift check started",
        &["job"],
    );
    for j in list.iter().filter(|j| matches!(j.action, jobs::Action::DriftCheck { .. })) {
        // Newest first; a run still going has found nothing yet.
        let newest =
            runs.iter().find(|r| r.job == j.name && r.outcome != jobs::runs::RunOutcome::Running);
        if let Some(r) = newest {
            let n = r.items.iter().filter(|i| i.outcome == crate::bulk::Outcome::Found).count();
            found.add(vec![j.name.clone()], n as f64);
            checked.add(vec![j.name.clone()], secs(r.started_at));
        }
    }
    vec![found, checked]
}

/// Guests a manifest declares `start: true`: 1 while running, 0 while not (or gone).
async fn declared_running(
    store: &dyn proxctl_state::StateStore,
    resources: &[ClusterResource],
) -> Result<Family, proxctl_state::StateError> {
    let mut f = Family::gauge(
        "proxctl_guest_declared_running",
        "1 if the guest, declared start: true in its manifest, is running, else 0",
        &["id", "resource"],
    );
    let running: std::collections::BTreeSet<&str> = resources
        .iter()
        .filter(|r| r.status.as_deref() == Some("running"))
        .map(|r| r.id.as_str())
        .collect();
    let kind = proxctl_state::document::kind::EXPECTED_RUNNING;
    for d in store.documents(kind, 100_000).await? {
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
        let Some(vmid) = body.get("vmid").and_then(serde_json::Value::as_u64) else { continue };
        let ty = if d.id.starts_with("Container/") { "lxc" } else { "qemu" };
        let id = format!("{ty}/{vmid}");
        let up = if running.contains(id.as_str()) { 1.0 } else { 0.0 };
        f.add(vec![id, d.id.clone()], up);
    }
    Ok(f)
}

/// Everything the state store tells; `resources` name the guests (`qemu/100`) TTLs are kept
/// for by VMID.
pub async fn families(
    state: &StateHandle,
    resources: &[ClusterResource],
    now: Timestamp,
) -> Vec<Family> {
    let mut store_up =
        Family::gauge("proxctl_state_store_up", "Whether the state store answered", &[]);
    let store = match state.get().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the state store cannot be read");
            store_up.add(Vec::new(), 0.0);
            return vec![store_up];
        }
    };
    let mut ok = true;
    let mut out = Vec::new();
    match (jobs::list(state).await, jobs::runs::history(state, None, jobs::runs::KEEP_RUNS).await) {
        (Ok(list), Ok(runs)) => out.extend(job_families(&list, &runs, now)),
        _ => ok = false,
    }
    let ids: BTreeMap<u32, &str> = resources
        .iter()
        .filter(|r| r.res_type == "qemu" || r.res_type == "lxc")
        .filter_map(|r| r.vmid.map(|v| (v.get(), r.id.as_str())))
        .collect();
    let mut expiry = Family::gauge(
        "proxctl_snapshot_expiry_timestamp_seconds",
        "When a snapshot with a TTL expires (the sweeper deletes it after)",
        &["id", "snapshot"],
    );
    match store.snapshot_ttls().await {
        Ok(ttls) => {
            for t in ttls {
                let vmid = t.vmid.get();
                let id = ids.get(&vmid).map(|s| s.to_string()).unwrap_or(format!("qemu/{vmid}"));
                expiry.add(vec![id, t.snapshot.to_string()], secs(t.expires_at));
            }
        }
        Err(_) => ok = false,
    }
    out.push(expiry);
    let mut applies = Family::gauge(
        "proxctl_applies",
        "Recent applies (the newest 1,000) by result",
        &["result"],
    );
    match store.applies(1000).await {
        Ok(list) => {
            let mut by: BTreeMap<&str, u64> = BTreeMap::new();
            for a in &list {
                let result = a.outcome.as_ref().map_or("running", |o| o.to_columns().0);
                *by.entry(result).or_default() += 1;
            }
            for (result, n) in by {
                applies.add(vec![result.to_string()], n as f64);
            }
        }
        Err(_) => ok = false,
    }
    out.push(applies);
    match declared_running(store.as_ref(), resources).await {
        Ok(f) => out.push(f),
        Err(_) => ok = false,
    }
    store_up.add(Vec::new(), if ok { 1.0 } else { 0.0 });
    out.push(store_up);
    out
}
