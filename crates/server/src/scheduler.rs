//! The job scheduler, run by the leader among instances ([`crate::singleton`]): on every tick
//! it asks [`proxctl_ops::jobs::tick::due`] what is due (claiming each run in the store, so a
//! slot runs once however many instances there are), carries the runs out through the
//! operations layer acting as `job <name>`, and records how each ended.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use proxctl_ops::jobs::{self, RunOutcome};

use crate::App;

/// What this instance's scheduler is doing.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// Jobs with a run going on this instance (a job never overlaps itself).
    running: Arc<Mutex<BTreeSet<String>>>,
}

impl Scheduler {
    fn running(&self) -> BTreeSet<String> {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Start what is due at `now`; returns how many runs started.
pub async fn tick(app: &Arc<App>, now: jiff::Timestamp) -> usize {
    let instance = crate::operations::instance_name();
    let due = match jobs::tick::due(&app.state, now, &instance, &app.scheduler.running()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "the scheduler cannot read its jobs");
            return 0;
        }
    };
    let started = due.len();
    for d in due {
        let name = d.job.name.clone();
        let remote = d.job.remote.clone().unwrap_or_else(|| app.default_remote.clone());
        let mut run = d.run;
        let client = match app.remote(&remote) {
            Ok(r) => r.client,
            Err(p) => {
                run.outcome = RunOutcome::Failed;
                run.detail = p.detail;
                run.ended_at = Some(jiff::Timestamp::now());
                if let Err(e) = jobs::runs::record(&app.state, &run).await {
                    tracing::warn!(job = %run.job, error = %e, "cannot record how a job run ended");
                }
                ended(app, vec![proxctl_ops::notify::Event::job_run(&run)]).await;
                continue;
            }
        };
        app.scheduler.running.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone());
        let (app, job) = (Arc::clone(app), d.job);
        let runtime = tokio::runtime::Handle::current();
        // The actions' futures (bulk runs) are not provably Send: they run on a blocking
        // thread of their own, as the API's long operations do.
        tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                tracing::info!(job = %name, slot = %run.scheduled_for, "running a scheduled job");
                let actor = format!("job {name}");
                // The tick's clock, so a test's clock decides expiries and ages too.
                let engine = proxctl_engine::jobs::Engine;
                let work = jobs::actions::carry_out(&client, &app.state, &engine, &job, run, now);
                match proxctl_ops::audit::acting_as(actor, work).await {
                    Ok(finished) => ended(&app, finished.events).await,
                    Err(e) => {
                        tracing::warn!(job = %name, error = %e, "cannot record how a job run ended")
                    }
                }
                app.scheduler.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
            })
        });
    }
    started
}

/// After a run is recorded: tell the matchers' targets (of the run, and of what it found),
/// and keep the history bounded.
async fn ended(app: &App, events: Vec<proxctl_ops::notify::Event>) {
    // Delivered in the background: a target that is slow or down never holds a job up.
    for event in events {
        proxctl_ops::notify::raise(Arc::clone(&app.state), event, app.notify_retry).await;
    }
    if let Err(e) = jobs::runs::prune(&app.state, jobs::runs::KEEP_RUNS).await {
        tracing::warn!(error = %e, "cannot prune the job history");
    }
}
