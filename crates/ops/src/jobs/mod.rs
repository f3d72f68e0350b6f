//! Jobs: a named policy that runs itself — a schedule ([`crate::schedule`]), an action, the
//! guests a selector picks, and whether it is enabled. Jobs and their runs live in the state
//! store (as server documents), so every face and every `proxctl serve` instance sees the same
//! ones; only the leader among instances runs them ([`tick`]).

pub mod actions;
pub mod declared;
pub mod runs;
pub mod tick;
pub mod upkeep;
pub mod view;

use jiff::Timestamp;
use proxctl_state::document::{Document, kind};
use serde::{Deserialize, Serialize};

use crate::OpsError;
use crate::schedule::Schedule;
use crate::state::StateHandle;

pub use runs::{Run, RunOutcome};

/// What a job does to each guest it picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// A snapshot named `<prefix><scheduled time>` that expires after `ttl`.
    Snapshot {
        ttl: String,
        #[serde(default = "default_prefix")]
        prefix: String,
    },
    /// Keep the newest `keep` snapshots whose names start with `prefix`.
    SnapshotRotate {
        keep: usize,
        #[serde(default = "default_prefix")]
        prefix: String,
    },
    /// Delete expired snapshots.
    SnapshotSweep,
    /// vzdump each guest, then prune its backups by PVE's rules when any `keep_*` is given.
    Backup {
        #[serde(default)]
        storage: Option<String>,
        #[serde(default, flatten)]
        keep: Keep,
    },
    /// `start`, `shutdown`, `stop` or `reboot`; guests tagged `always-on` are never stopped.
    Power { action: String },
    /// Add and remove tags.
    Tag {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Build a new version of each catalog image's template when the image changed upstream.
    TemplateRebuild {
        catalog: Vec<String>,
        #[serde(default)]
        node: Option<String>,
        /// Storage with `import` content for the image.
        #[serde(default)]
        storage: Option<String>,
        /// Storage for the template's disks.
        #[serde(default)]
        vm_storage: Option<String>,
        /// Versions to keep.
        #[serde(default)]
        keep: Option<usize>,
    },
    /// Plan the manifests and report what drifted (a `drift-found` event); change nothing.
    DriftCheck {
        /// A manifest file or directory on the host that runs the job, read at every run.
        #[serde(default)]
        path: Option<String>,
        /// Or the manifests themselves, kept with the job.
        #[serde(default)]
        manifests: Option<String>,
    },
    /// Apply the manifests where the cluster drifted from them.
    Reconcile {
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        manifests: Option<String>,
        /// Also delete what proxctl made and the manifests no longer declare.
        #[serde(default)]
        prune: bool,
    },
    /// Report guests whose newest backup is older than `max_age` (a `backup-coverage` event).
    BackupCheck { max_age: String },
}

/// PVE's `prune-backups` retention, by count per bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
}

impl From<&Keep> for proxctl_types::prop::PruneBackups {
    fn from(k: &Keep) -> Self {
        proxctl_types::prop::PruneBackups {
            keep_last: k.keep_last,
            keep_hourly: k.keep_hourly,
            keep_daily: k.keep_daily,
            keep_weekly: k.keep_weekly,
            keep_monthly: k.keep_monthly,
            keep_yearly: k.keep_yearly,
            ..Default::default()
        }
    }
}

fn default_prefix() -> String {
    "auto-".into()
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Snapshot { .. } => "snapshot",
            Action::SnapshotRotate { .. } => "snapshot-rotate",
            Action::SnapshotSweep => "snapshot-sweep",
            Action::Backup { .. } => "backup",
            Action::Power { .. } => "power",
            Action::Tag { .. } => "tag",
            Action::TemplateRebuild { .. } => "template-rebuild",
            Action::DriftCheck { .. } => "drift-check",
            Action::Reconcile { .. } => "reconcile",
            Action::BackupCheck { .. } => "backup-check",
        }
    }

    fn check(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        match self {
            Action::Snapshot { ttl, prefix } => {
                crate::snapshot::parse_ttl(ttl)?;
                check_prefix(prefix)
            }
            Action::SnapshotRotate { keep, prefix } => {
                if *keep == 0 {
                    return bad("snapshot-rotate needs --keep of at least 1".into());
                }
                check_prefix(prefix)
            }
            Action::SnapshotSweep => Ok(()),
            Action::Backup { storage, .. } => {
                if let Some(s) = storage {
                    proxctl_types::StorageId::new(s.as_str())
                        .map_err(|e| OpsError::Invalid(format!("storage '{s}': {e}")))?;
                }
                Ok(())
            }
            Action::Power { action } => match action.as_str() {
                "start" | "shutdown" | "stop" | "reboot" => Ok(()),
                other => {
                    bad(format!("power must be start, shutdown, stop or reboot, not '{other}'"))
                }
            },
            Action::Tag { add, remove } => {
                if add.is_empty() && remove.is_empty() {
                    return bad("a tag job needs tags to add or remove".into());
                }
                crate::tags::validate(add)?;
                crate::tags::validate(remove)
            }
            Action::TemplateRebuild { catalog, .. } => {
                if catalog.is_empty() {
                    return bad("a template-rebuild job needs catalog ids (--catalog)".into());
                }
                Ok(())
            }
            Action::DriftCheck { path, manifests } | Action::Reconcile { path, manifests, .. } => {
                declared::Manifests::of(path, manifests).map(drop)
            }
            Action::BackupCheck { max_age } => crate::snapshot::parse_ttl(max_age).map(drop),
        }
    }
}

fn check_prefix(prefix: &str) -> Result<(), OpsError> {
    // The prefix and a 13-character time must make a valid snapshot name.
    proxctl_types::SnapshotName::new(format!("{prefix}20270101-0000"))
        .map(drop)
        .map_err(|e| OpsError::Invalid(format!("snapshot prefix '{prefix}': {e}")))
}

/// What to do about runs missed while no server ran: one catch-up run, or none. Never several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    #[default]
    RunOnce,
    Skip,
}

impl std::str::FromStr for Missed {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "run-once" => Ok(Missed::RunOnce),
            "skip" => Ok(Missed::Skip),
            other => {
                Err(OpsError::Invalid(format!("missed must be run-once or skip, not '{other}'")))
            }
        }
    }
}

/// Runs kept per job when a job does not say.
pub const DEFAULT_HISTORY: usize = 100;

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    /// A PVE calendar event or 5-field cron.
    pub schedule: String,
    /// IANA zone; the server's when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    pub action: Action,
    /// The `-l` language.
    #[serde(default = "all")]
    pub selector: String,
    /// The remote it acts on (the server's default when absent).
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub missed: Missed,
    /// How many of its runs the history keeps (the newest scheduled run is always kept: it
    /// is how the scheduler knows which slot ran last).
    #[serde(default = "default_history")]
    pub history: usize,
    pub created_at: Timestamp,
    pub created_by: String,
}

fn all() -> String {
    "all".into()
}
fn yes() -> bool {
    true
}
fn default_history() -> usize {
    DEFAULT_HISTORY
}

impl Job {
    /// Check everything a run would need, so a bad job is refused when made, not at 3 am.
    pub fn check(&self) -> Result<(), OpsError> {
        if !proxctl_types::ids::is_dns_name(&self.name) {
            return Err(OpsError::Invalid(format!(
                "'{}' is not a valid job name: use letters, digits and '-'",
                self.name
            )));
        }
        self.parsed_schedule()?;
        self.zone()?;
        if self.history == 0 {
            return Err(OpsError::Invalid("a job keeps at least 1 run in its history".into()));
        }
        self.selector
            .parse::<proxctl_types::selector::Selector>()
            .map_err(|e| OpsError::Invalid(format!("selector: {e}")))?;
        self.action.check()
    }

    pub fn parsed_schedule(&self) -> Result<Schedule, OpsError> {
        self.schedule
            .parse()
            .map_err(|e: crate::schedule::ScheduleError| OpsError::Invalid(e.to_string()))
    }

    pub fn zone(&self) -> Result<jiff::tz::TimeZone, OpsError> {
        crate::schedule::zone(self.timezone.as_deref()).map_err(OpsError::Invalid)
    }

    /// The first scheduled time after `t`.
    pub fn next_after(&self, t: Timestamp) -> Result<Option<Timestamp>, OpsError> {
        Ok(self.parsed_schedule()?.next_after(t, &self.zone()?))
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> OpsError {
    OpsError::Invalid(format!("stored {what} cannot be read ({e}); delete and make it again"))
}

/// A checked job as a document.
pub fn document(job: &Job, updated_at: Timestamp) -> Result<Document, OpsError> {
    job.check()?;
    let body = serde_json::to_string(job).map_err(|e| corrupt("job", e))?;
    Ok(Document {
        kind: kind::JOB.into(),
        id: job.name.clone(),
        body,
        created_at: job.created_at,
        updated_at,
    })
}

/// Store a new job; refused if one has its name.
pub async fn create(state: &StateHandle, job: &Job) -> Result<(), OpsError> {
    let d = document(job, job.created_at)?;
    if !state.get().await?.insert_document(&d).await? {
        return Err(OpsError::Invalid(format!(
            "a job called '{}' exists; see `proxctl job show {}`",
            job.name, job.name
        )));
    }
    Ok(())
}

/// Replace a job (enable, disable, edit).
pub async fn save(state: &StateHandle, job: &Job) -> Result<(), OpsError> {
    state.get().await?.put_document(&document(job, Timestamp::now())?).await?;
    Ok(())
}

/// A job from its document.
pub fn parse(d: &Document) -> Result<Job, OpsError> {
    serde_json::from_str(&d.body).map_err(|e| corrupt("job", e))
}

/// Every job in `store`, by name.
pub async fn list_in(store: &dyn proxctl_state::StateStore) -> Result<Vec<Job>, OpsError> {
    let mut jobs: Vec<Job> =
        store.documents(kind::JOB, 100_000).await?.iter().filter_map(|d| parse(d).ok()).collect();
    jobs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(jobs)
}

/// One job by name.
pub async fn get(state: &StateHandle, name: &str) -> Result<Job, OpsError> {
    let store = state.get().await?;
    let d = store.document(kind::JOB, name).await?.ok_or_else(|| {
        OpsError::Invalid(format!("no job called '{name}'; see `proxctl job list`"))
    })?;
    serde_json::from_str(&d.body).map_err(|e| corrupt("job", e))
}

/// Every job, by name.
pub async fn list(state: &StateHandle) -> Result<Vec<Job>, OpsError> {
    list_in(state.get().await?.as_ref()).await
}

/// Delete a job (its history stays until pruned).
pub async fn delete(state: &StateHandle, name: &str) -> Result<(), OpsError> {
    if !state.get().await?.delete_document(kind::JOB, name).await? {
        return Err(OpsError::Invalid(format!("no job called '{name}'; see `proxctl job list`")));
    }
    Ok(())
}
