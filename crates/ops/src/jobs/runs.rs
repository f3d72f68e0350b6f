//! The history of jobs: one record per run, keyed by job and scheduled time. Inserting the
//! record is what claims a run, so of several instances (or a retry) exactly one runs it.

use jiff::Timestamp;
use proxctl_state::document::{Document, kind};
use serde::{Deserialize, Serialize};

use crate::OpsError;
use crate::bulk::ItemReport;
use crate::state::StateHandle;

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Running,
    Succeeded,
    /// Some guests failed; the others were done.
    Partial,
    Failed,
    /// Not run: missed while no server ran (with the skip policy), or the previous run was
    /// still going. `detail` says which.
    Skipped,
    /// The instance running it stopped before it ended; it is not run again on its own.
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Partial => "partial",
            RunOutcome::Failed => "failed",
            RunOutcome::Skipped => "skipped",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub job: String,
    /// The scheduled time it stands for (the start time, for `job run`).
    pub scheduled_for: Timestamp,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub outcome: RunOutcome,
    /// Who ran it: `host:pid` of a server, or the CLI user.
    pub instance: String,
    /// Why it was skipped, failed or interrupted; or what it did.
    pub detail: String,
    /// What happened to each guest: what was done, or the error.
    #[serde(default)]
    pub items: Vec<ItemReport>,
    /// Started by hand (`job run`), not by the schedule.
    #[serde(default)]
    pub manual: bool,
}

impl Run {
    pub fn id(&self) -> String {
        format!("{}@{}", self.job, self.scheduled_for)
    }

    pub fn new(job: &str, scheduled_for: Timestamp, instance: &str, manual: bool) -> Run {
        Run {
            job: job.to_string(),
            scheduled_for,
            started_at: Timestamp::now(),
            ended_at: None,
            outcome: RunOutcome::Running,
            instance: instance.to_string(),
            detail: String::new(),
            items: Vec::new(),
            manual,
        }
    }

    fn document(&self) -> Result<Document, OpsError> {
        let body = serde_json::to_string(self)
            .map_err(|e| OpsError::Invalid(format!("writing a run record: {e}")))?;
        Ok(Document {
            kind: kind::JOB_RUN.into(),
            id: self.id(),
            body,
            // Runs list in the order of their scheduled times.
            created_at: self.scheduled_for,
            updated_at: Timestamp::now(),
        })
    }
}

/// Claim a run: `false` when it was claimed before (by another instance, or an earlier try).
pub async fn claim(state: &StateHandle, run: &Run) -> Result<bool, OpsError> {
    Ok(state.get().await?.insert_document(&run.document()?).await?)
}

/// Record how a claimed run stands.
pub async fn record(state: &StateHandle, run: &Run) -> Result<(), OpsError> {
    state.get().await?.put_document(&run.document()?).await?;
    Ok(())
}

/// How many run records are kept (all jobs together), newest first.
pub const KEEP_RUNS: usize = 10_000;

/// The newest `limit` runs of `job` (of every job for `None`), newest first.
pub async fn history(
    state: &StateHandle,
    job: Option<&str>,
    limit: usize,
) -> Result<Vec<Run>, OpsError> {
    let docs = state.get().await?.documents(kind::JOB_RUN, KEEP_RUNS).await?;
    Ok(docs
        .iter()
        .filter_map(|d| serde_json::from_str::<Run>(&d.body).ok())
        .filter(|r| job.is_none_or(|j| r.job == j))
        .take(limit)
        .collect())
}

/// Drop all but the newest `keep` runs of `job`, and always its newest scheduled run (the
/// scheduler reads the last slot from it; without it, that slot could run again).
pub async fn prune_job(state: &StateHandle, job: &str, keep: usize) -> Result<usize, OpsError> {
    let runs = history(state, Some(job), KEEP_RUNS).await?;
    let newest_scheduled = runs.iter().find(|r| !r.manual).map(Run::id);
    let store = state.get().await?;
    let mut dropped = 0;
    for r in runs.iter().skip(keep.max(1)) {
        if Some(r.id()) != newest_scheduled && store.delete_document(kind::JOB_RUN, &r.id()).await?
        {
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Drop all but the newest `keep` run records.
pub async fn prune(state: &StateHandle, keep: usize) -> Result<usize, OpsError> {
    Ok(state.get().await?.prune_documents(kind::JOB_RUN, keep).await?)
}
