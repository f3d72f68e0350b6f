//! The scheduler's decision, made by the leader on every tick with the time passed in (so
//! tests drive it with any clock): which jobs are due, which runs to claim, and what to record
//! instead of running — a slot missed while no server ran (with the skip policy), a slot whose
//! previous run is still going, and runs left `running` by an instance that is gone.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::runs::{self, Run, RunOutcome};
use super::{Job, Missed};
use crate::OpsError;
use crate::state::StateHandle;

/// A slot older than this when first seen counts as missed (the server was not running).
pub const MISSED_AFTER: SignedDuration = SignedDuration::from_secs(120);

/// The most slots walked to find the latest one a long outage missed.
const MAX_SLOTS: usize = 100_000;

/// A run the caller should now carry out (it is claimed and recorded as running).
#[derive(Debug)]
pub struct Due {
    pub job: Job,
    pub run: Run,
}

/// The latest slot of `job` at or before `now` that comes after `after`, if any.
fn latest_slot(job: &Job, after: Timestamp, now: Timestamp) -> Result<Option<Timestamp>, OpsError> {
    let mut slot = None;
    let mut t = after;
    for _ in 0..MAX_SLOTS {
        match job.next_after(t)? {
            Some(next) if next <= now => {
                slot = Some(next);
                t = next;
            }
            _ => break,
        }
    }
    Ok(slot)
}

/// Decide what runs now. `running_here` are the jobs this instance is running; `instance`
/// names it in the records.
pub async fn due(
    state: &StateHandle,
    now: Timestamp,
    instance: &str,
    running_here: &BTreeSet<String>,
) -> Result<Vec<Due>, OpsError> {
    let jobs = super::list(state).await?;
    let recent = runs::history(state, None, runs::KEEP_RUNS).await?;
    let mut out = Vec::new();
    for job in jobs.into_iter().filter(|j| j.enabled) {
        let mine: Vec<&Run> = recent.iter().filter(|r| r.job == job.name).collect();
        // A run left running by another instance: that instance is gone (only the leader runs
        // jobs). It is not run again on its own.
        for r in mine.iter().filter(|r| r.outcome == RunOutcome::Running && r.instance != instance)
        {
            let mut r = (*r).clone();
            r.outcome = RunOutcome::Interrupted;
            r.ended_at = Some(now);
            r.detail = format!(
                "instance {} stopped before the run ended; it is not run again on its own \
                 (run it by hand with `proxctl job run {}`)",
                r.instance, r.job
            );
            runs::record(state, &r).await?;
        }
        let last = mine.iter().filter(|r| !r.manual).map(|r| r.scheduled_for).max();
        let after = last.unwrap_or(job.created_at);
        let Some(slot) = latest_slot(&job, after, now)? else { continue };
        let mut run = Run::new(&job.name, slot, instance, false);
        let late = now.duration_since(slot) > MISSED_AFTER;
        if late && job.missed == Missed::Skip {
            run.outcome = RunOutcome::Skipped;
            run.ended_at = Some(now);
            run.detail = format!("missed at {slot}: no server was running then (missed: skip)");
            runs::claim(state, &run).await?;
            continue;
        }
        if running_here.contains(&job.name) {
            run.outcome = RunOutcome::Skipped;
            run.ended_at = Some(now);
            run.detail = "the previous run was still going; a job never overlaps itself".into();
            runs::claim(state, &run).await?;
            continue;
        }
        if late {
            run.detail = format!("catching up once on {slot}, missed while no server ran");
        }
        if runs::claim(state, &run).await? {
            out.push(Due { job, run });
        }
    }
    Ok(out)
}
