//! Jobs as faces show them: one row per job with its next and last run, and runs as rows.

use jiff::Timestamp;
use serde::Serialize;

use super::runs::Run;
use super::{Job, runs};
use crate::OpsError;
use crate::output::Tabular;
use crate::state::StateHandle;

/// A job with when it runs next and how it last ran.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub name: String,
    pub schedule: String,
    pub timezone: Option<String>,
    /// The action's name (`snapshot`, `backup`, ...).
    pub action: String,
    pub selector: String,
    pub enabled: bool,
    /// When the schedule runs it next (none when disabled or never again).
    pub next_run: Option<String>,
    pub last_run: Option<String>,
    pub last_outcome: Option<String>,
}

impl Tabular for JobRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NAME", "SCHEDULE", "ACTION", "SELECTOR", "ENABLED", "NEXT", "LAST"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.name.clone(),
            self.schedule.clone(),
            self.action.clone(),
            self.selector.clone(),
            if self.enabled { "yes" } else { "no" }.into(),
            self.next_run.clone().unwrap_or_else(|| "-".into()),
            match (&self.last_run, &self.last_outcome) {
                (Some(t), Some(o)) => format!("{t} {o}"),
                _ => "-".into(),
            },
        ]
    }
}

/// `job` as a row, given its newest run.
pub fn row(job: &Job, last: Option<&Run>, now: Timestamp) -> JobRow {
    let next = if job.enabled { job.next_after(now).ok().flatten() } else { None };
    JobRow {
        name: job.name.clone(),
        schedule: job.schedule.clone(),
        timezone: job.timezone.clone(),
        action: job.action.name().into(),
        selector: job.selector.clone(),
        enabled: job.enabled,
        next_run: next.map(|t| t.to_string()),
        last_run: last.map(|r| r.scheduled_for.to_string()),
        last_outcome: last.map(|r| r.outcome.as_str().to_string()),
    }
}

/// Every job as a row.
pub async fn rows(state: &StateHandle, now: Timestamp) -> Result<Vec<JobRow>, OpsError> {
    let jobs = super::list(state).await?;
    let recent = runs::history(state, None, runs::KEEP_RUNS).await?;
    Ok(jobs.iter().map(|j| row(j, recent.iter().find(|r| r.job == j.name), now)).collect())
}

/// A run as a table row.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow(pub Run);

impl Tabular for RunRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["SCHEDULED", "OUTCOME", "BY", "DETAIL"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        let r = &self.0;
        let when = if r.manual {
            format!("{} (by hand)", r.scheduled_for)
        } else {
            r.scheduled_for.to_string()
        };
        vec![when, r.outcome.as_str().into(), r.instance.clone(), r.detail.clone()]
    }
}
