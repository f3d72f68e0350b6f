//! Carrying out one run of a job: each action over the guests its selector picks, through the
//! same operations the CLI uses, with a result line per guest (per resource or template for
//! the declarative and upkeep actions). Snapshot names carry the scheduled time, so running
//! one slot twice cannot make two snapshots.

use futures_util::StreamExt;
use jiff::Timestamp;
use proxctl_client::{Client, WaitOptions};
use proxctl_types::selector::Selector;
use proxctl_types::{SnapshotName, StorageId};

use super::declared::{Declarative, Manifests};
use super::runs::RunOutcome;
use super::{Action, Job};
use crate::OpsError;
use crate::bulk::{BulkAction, ItemReport, Outcome};
use crate::notify::{Event, EventGuest, Severity};
use crate::state::StateHandle;
use crate::views::GuestRow;

/// Guests worked on at once.
const PARALLEL: usize = 4;

/// How a run went: its outcome, a summary, and a line per guest.
#[derive(Debug)]
pub struct Done {
    pub outcome: RunOutcome,
    pub detail: String,
    pub items: Vec<ItemReport>,
}

/// A recorded run and the events to raise for it: the run's own, then what it found (drift,
/// guests without a recent backup).
#[derive(Debug)]
pub struct Finished {
    pub run: super::Run,
    pub events: Vec<Event>,
}

/// The event for what a check found, about the guests it found it on.
fn finding(job: &Job, items: &[ItemReport]) -> Option<Event> {
    let found: Vec<&ItemReport> = items.iter().filter(|i| i.outcome == Outcome::Found).collect();
    let (kind, title) = match job.action {
        Action::DriftCheck { .. } | Action::Reconcile { .. } => {
            ("drift-found", format!("{} resource(s) drifted from their manifests", found.len()))
        }
        Action::BackupCheck { .. } => {
            ("backup-coverage", format!("{} guest(s) without a recent backup", found.len()))
        }
        _ => return None,
    };
    if found.is_empty() {
        return None;
    }
    let lines: Vec<String> = found.iter().map(|i| format!("{}: {}", i.name, i.detail)).collect();
    Some(
        Event::new(
            kind,
            Severity::Warning,
            format!("{title} (job {})", job.name),
            lines.join("\n"),
            serde_json::json!({ "job": job.name, "items": found }),
        )
        .about(found.iter().filter(|i| i.vmid != 0).map(|i| EventGuest::from(*i)).collect()),
    )
}

/// The snapshot a snapshot job takes for the slot `at`: `<prefix>YYYYMMDD-HHMM` in UTC.
pub fn snapshot_name(prefix: &str, at: Timestamp) -> Result<SnapshotName, OpsError> {
    let stamp = at.strftime("%Y%m%d-%H%M").to_string();
    SnapshotName::new(format!("{prefix}{stamp}")).map_err(|e| OpsError::Invalid(e.to_string()))
}

fn item(g: &GuestRow, outcome: Outcome, detail: impl Into<String>) -> ItemReport {
    ItemReport::of(g, outcome, detail)
}

fn first_line(e: &OpsError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

async fn snapshot_one(
    client: &Client,
    state: &StateHandle,
    g: &GuestRow,
    name: &SnapshotName,
    expires: i64,
) -> ItemReport {
    let result = async {
        let r = g.guest_ref()?;
        if crate::snapshot::list(client, &r).await?.iter().any(|s| s.name == name.as_str()) {
            return Ok(format!("{name} exists already (this slot ran before)"));
        }
        let upid = crate::snapshot::create_expiring(
            client,
            Some(state),
            &r,
            name,
            Some("taken by a proxctl job"),
            Some(expires),
            false,
        )
        .await?;
        client.wait_task(&upid, &WaitOptions::default()).await?;
        Ok::<_, OpsError>(format!("took {name} ({upid})"))
    }
    .await;
    match result {
        Ok(d) => item(g, Outcome::Ok, d),
        Err(e) => item(g, Outcome::Failed, first_line(&e)),
    }
}

async fn backup_and_prune(
    client: &Client,
    targets: &[GuestRow],
    storage: Option<StorageId>,
    keep: proxctl_types::prop::PruneBackups,
) -> Vec<ItemReport> {
    let mut items =
        crate::bulk::run(client, targets, &BulkAction::Backup(storage.clone()), PARALLEL, false)
            .await;
    if keep.keeps_all() {
        return items;
    }
    for it in items.iter_mut().filter(|i| i.outcome == Outcome::Ok) {
        let Ok(vmid) = proxctl_types::VmId::new(it.vmid) else { continue };
        let f =
            crate::backup::BackupFilter { vmid: Some(vmid), node: None, storage: storage.clone() };
        match crate::backup::prune_plan(client, &f, &keep).await {
            Ok(plan) => {
                let done = crate::backup::prune_execute(client, plan).await;
                let removed: Vec<&str> = done
                    .iter()
                    .filter(|r| r.mark == crate::backup::Mark::Remove)
                    .map(|r| r.result.as_str())
                    .collect();
                let failed = removed.iter().filter(|r| **r != "deleted").count();
                it.detail =
                    format!("{}; pruned {} old backup(s)", it.detail, removed.len() - failed);
                if failed > 0 {
                    it.outcome = Outcome::Failed;
                    it.detail.push_str(&format!(", {failed} could not be deleted"));
                }
            }
            Err(e) => {
                it.outcome = Outcome::Failed;
                it.detail = format!("{}; prune: {}", it.detail, first_line(&e));
            }
        }
    }
    items
}

/// Run `job` for the slot `at` against `client`, acting as whoever the caller set up;
/// `engine` plans manifests for drift-check and reconcile. `now` is the scheduler's clock:
/// snapshots expire `ttl` after their slot, sweeps delete what expired by `now`, and backup
/// ages are measured at `now`.
pub async fn execute(
    client: &Client,
    state: &StateHandle,
    engine: &dyn Declarative,
    job: &Job,
    at: Timestamp,
    now: Timestamp,
) -> Done {
    match execute_inner(client, state, engine, job, at, now).await {
        Ok(items) => {
            let failed = items.iter().filter(|i| i.outcome == Outcome::Failed).count();
            let found = items.iter().filter(|i| i.outcome == Outcome::Found).count();
            let outcome = match failed {
                0 => RunOutcome::Succeeded,
                n if n == items.len() => RunOutcome::Failed,
                _ => RunOutcome::Partial,
            };
            let what = match job.action {
                Action::DriftCheck { .. } | Action::Reconcile { .. } => "resource(s)",
                Action::TemplateRebuild { .. } => "template(s)",
                _ => "guest(s)",
            };
            let mut detail =
                format!("{} on {} {what}, {failed} failed", job.action.name(), items.len());
            if found > 0 {
                let noun = match job.action {
                    Action::BackupCheck { .. } => "without a recent backup",
                    _ => "drifted",
                };
                detail.push_str(&format!(", {found} {noun}"));
            }
            Done { outcome, detail, items }
        }
        Err(e) => Done { outcome: RunOutcome::Failed, detail: first_line(&e), items: Vec::new() },
    }
}

async fn execute_inner(
    client: &Client,
    state: &StateHandle,
    engine: &dyn Declarative,
    job: &Job,
    at: Timestamp,
    now: Timestamp,
) -> Result<Vec<ItemReport>, OpsError> {
    let sel: Selector =
        job.selector.parse().map_err(|e| OpsError::Invalid(format!("selector: {e}")))?;
    let targets = || crate::bulk::targets(client, &sel);
    Ok(match &job.action {
        Action::Snapshot { ttl, prefix } => {
            let ttl = crate::snapshot::parse_ttl(ttl)?;
            let name = snapshot_name(prefix, at)?;
            let expires = at.as_second() + ttl;
            let guests = targets().await?;
            let mut items: Vec<ItemReport> = futures_util::stream::iter(&guests)
                .map(|g| snapshot_one(client, state, g, &name, expires))
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            items.sort_by_key(|i| i.vmid);
            items
        }
        Action::SnapshotRotate { keep, prefix } => {
            removals(crate::snapshot::rotate(client, &sel, prefix, *keep, false).await?)
        }
        Action::SnapshotSweep => removals(
            crate::snapshot::sweep(client, Some(state), &sel, now.as_second(), false).await?,
        ),
        Action::Backup { storage, keep } => {
            let storage = storage
                .as_deref()
                .map(|s| StorageId::new(s).map_err(|e| OpsError::Invalid(e.to_string())))
                .transpose()?;
            let keep = proxctl_types::prop::PruneBackups::from(keep);
            backup_and_prune(client, &targets().await?, storage, keep).await
        }
        Action::Power { action } => {
            let a = match action.as_str() {
                "start" => BulkAction::Start,
                "shutdown" => BulkAction::Shutdown,
                "stop" => BulkAction::Stop,
                _ => BulkAction::Reboot,
            };
            // Never forced: `always-on` guests are left running, as the report says.
            crate::bulk::run(client, &targets().await?, &a, PARALLEL, false).await
        }
        Action::Tag { add, remove } => {
            let a = BulkAction::Tag { add: add.clone(), remove: remove.clone() };
            crate::bulk::run(client, &targets().await?, &a, PARALLEL, false).await
        }
        Action::TemplateRebuild { catalog, node, storage, vm_storage, keep } => {
            let at = super::upkeep::Placement {
                node: node.clone(),
                storage: storage.clone(),
                vm_storage: vm_storage.clone(),
                keep: *keep,
            };
            super::upkeep::template_rebuild(client, catalog, &at, &|k| std::env::var(k).ok())
                .await?
        }
        Action::DriftCheck { path, manifests } => {
            let m = Manifests::of(path, manifests)?;
            let actor = format!("job {}", job.name);
            engine.run(client, state, &m, false, false, &actor).await?.items
        }
        Action::Reconcile { path, manifests, prune } => {
            let m = Manifests::of(path, manifests)?;
            let actor = format!("job {}", job.name);
            engine.run(client, state, &m, true, *prune, &actor).await?.items
        }
        Action::BackupCheck { max_age } => {
            let max_age = crate::snapshot::parse_ttl(max_age)?;
            super::upkeep::backup_check(client, &sel, max_age, now.as_second()).await?
        }
    })
}

/// Carry out a claimed run for its slot, record how it ended, and return it with the events
/// to raise. `now` is the scheduler's clock (see [`execute`]).
pub async fn carry_out(
    client: &Client,
    state: &StateHandle,
    engine: &dyn Declarative,
    job: &Job,
    mut run: super::Run,
    now: Timestamp,
) -> Result<Finished, OpsError> {
    let done = execute(client, state, engine, job, run.scheduled_for, now).await;
    run.outcome = done.outcome;
    run.detail = done.detail;
    run.items = done.items;
    run.ended_at = Some(Timestamp::now());
    super::runs::record(state, &run).await?;
    super::runs::prune_job(state, &job.name, job.history).await?;
    let mut events = vec![Event::job_run(&run)];
    events.extend(finding(job, &run.items));
    Ok(Finished { run, events })
}

/// Run `job` now, by hand, as `actor`: claimed, carried out and recorded like a scheduled run.
pub async fn run_by_hand(
    client: &Client,
    state: &StateHandle,
    engine: &dyn Declarative,
    job: &Job,
    actor: &str,
) -> Result<Finished, OpsError> {
    let now = Timestamp::now();
    let run = super::Run::new(&job.name, now, actor, true);
    super::runs::claim(state, &run).await?;
    carry_out(client, state, engine, job, run, now).await
}

/// Snapshot removals as report lines.
fn removals(rows: Vec<crate::snapshot::Removal>) -> Vec<ItemReport> {
    rows.into_iter()
        .map(|r| ItemReport {
            vmid: r.vmid,
            name: r.guest,
            node: String::new(),
            outcome: if r.result == "deleted" { Outcome::Ok } else { Outcome::Failed },
            detail: format!("{} {}: {}", r.snapshot, r.reason, r.result),
            tags: Vec::new(),
        })
        .collect()
}
