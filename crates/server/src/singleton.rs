//! Work that must run on exactly one of several instances sharing a state store: the snapshot
//! sweeper and the job scheduler. The instances campaign for one lock in the store
//! (`singleton:leader`, the engine's resource locks, renewed every third of the lease); the
//! holder leads until it stops renewing. An instance that dies is replaced once its lease
//! expires (at once, when it was a process on the same machine that is provably gone). A
//! leader checks it still holds the lease right before each run, so a stalled leader that
//! lost it does not run a job its successor runs too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use proxctl_engine::locks::{LockError, LockOptions, Locks, process_holder};
use proxctl_types::selector::{Selector, Term};
use tokio::sync::watch;

use crate::App;

/// The lock the leader holds.
pub const LEADER_LOCK: &str = "singleton:leader";

/// The actor singleton work is audited as.
pub const ACTOR: &str = "proxctl serve (sweeper)";

/// The time the scheduler goes by.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system's.
    #[default]
    System,
    /// Read from a file (an RFC 3339 time) at every tick: lets a test drive the schedules of
    /// server processes through a simulated day. Not for production.
    File(std::path::PathBuf),
}

impl Clock {
    /// Now, or `None` when the file cannot be read (the tick is skipped, and says why).
    pub fn now(&self) -> Option<jiff::Timestamp> {
        match self {
            Clock::System => Some(jiff::Timestamp::now()),
            Clock::File(p) => match std::fs::read_to_string(p).map(|t| t.trim().parse()) {
                Ok(Ok(t)) => Some(t),
                Ok(Err(e)) => {
                    tracing::warn!(file = %p.display(), error = %e, "the scheduler clock file holds no time");
                    None
                }
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "cannot read the scheduler clock file");
                    None
                }
            },
        }
    }
}

/// How the instances share singleton work.
#[derive(Debug, Clone)]
pub struct SingletonOptions {
    /// How long a leader that stopped renewing keeps the lead: the longest a dead leader's
    /// work waits for a successor.
    pub lease: Duration,
    /// How often the leader sweeps expired snapshots; `None` never.
    pub sweep_every: Option<Duration>,
    /// How often the leader looks for due jobs; `None` never.
    pub jobs_every: Option<Duration>,
    /// The scheduler's time.
    pub clock: Clock,
}

impl Default for SingletonOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            sweep_every: Some(Duration::from_secs(60)),
            jobs_every: Some(Duration::from_secs(10)),
            clock: Clock::System,
        }
    }
}

/// Whether this instance leads, for probes and tests.
#[derive(Debug, Default)]
pub struct Leadership {
    leading: AtomicBool,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }
}

/// Campaign for the lead until `stop`, doing the singleton work while leading.
pub async fn run(app: Arc<App>, opts: SingletonOptions, mut stop: watch::Receiver<bool>) {
    let process = process_holder();
    let lock_opts = LockOptions { wait: Duration::ZERO, ttl: opts.lease };
    loop {
        let store = match app.state.get().await {
            Ok(s) => Arc::clone(s),
            Err(e) => {
                tracing::warn!(error = %e, "no state store: cannot campaign for singleton work");
                if pause(&mut stop, opts.lease / 3).await {
                    return;
                }
                continue;
            }
        };
        let purpose = "leadership of proxctl serve (singleton work)";
        match Locks::acquire(store, &process, purpose, [LEADER_LOCK.to_string()], lock_opts, None)
            .await
        {
            Ok(locks) => {
                tracing::info!(holder = locks.holder(), "this instance leads singleton work");
                app.leadership.leading.store(true, Ordering::SeqCst);
                let stopped = lead(&app, &locks, &opts, &mut stop).await;
                app.leadership.leading.store(false, Ordering::SeqCst);
                locks.release().await;
                if stopped {
                    return;
                }
                tracing::warn!("this instance lost the lead of singleton work");
            }
            Err(LockError::Busy { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "cannot campaign for singleton work"),
        }
        if pause(&mut stop, opts.lease / 3).await {
            return;
        }
    }
}

/// Sleep `d`, or less if `stop` turns true; returns whether it did.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Do the singleton work while the lock holds; returns whether `stop` ended it.
async fn lead(
    app: &Arc<App>,
    locks: &Locks,
    opts: &SingletonOptions,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    // Lease renewals run every third of the lease; looking that often notices a loss in time.
    let tick = (opts.lease / 3).max(Duration::from_millis(100));
    let mut next_sweep = tokio::time::Instant::now();
    let mut next_jobs = tokio::time::Instant::now();
    loop {
        if locks.is_lost() {
            return false;
        }
        if let Some(every) = opts.jobs_every
            && tokio::time::Instant::now() >= next_jobs
        {
            if let Some(now) = opts.clock.now() {
                crate::scheduler::tick(app, now).await;
            }
            next_jobs = tokio::time::Instant::now() + every;
        }
        if let Some(every) = opts.sweep_every
            && tokio::time::Instant::now() >= next_sweep
        {
            sweep(app, locks).await;
            next_sweep = tokio::time::Instant::now() + every;
        }
        let now = tokio::time::Instant::now();
        let mut wait = tick;
        if opts.sweep_every.is_some() {
            wait = wait.min(next_sweep.saturating_duration_since(now));
        }
        if opts.jobs_every.is_some() {
            wait = wait.min(next_jobs.saturating_duration_since(now));
        }
        if pause(stop, wait).await {
            return true;
        }
    }
}

/// Delete expired snapshots on every remote, audited as the sweeper.
async fn sweep(app: &App, locks: &Locks) {
    for r in &app.remotes() {
        // Checked before each remote: a leader that lost the lease mid-sweep stops there.
        if locks.is_lost() {
            return;
        }
        let now = proxctl_ops::snapshot::now_unix();
        let work = proxctl_ops::snapshot::sweep(
            &r.client,
            Some(&app.state),
            &Selector::Term(Term::All),
            now,
            false,
        );
        match proxctl_ops::audit::acting_as(ACTOR.to_string(), work).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(remote = %r.name, removed = removed.len(), "swept expired snapshots");
                let event = proxctl_ops::notify::Event::new(
                    "snapshot-swept",
                    proxctl_ops::notify::Severity::Info,
                    format!("swept {} expired snapshot(s) on remote {}", removed.len(), r.name),
                    "",
                    serde_json::to_value(&removed).unwrap_or_default(),
                );
                proxctl_ops::notify::raise(Arc::clone(&app.state), event, app.notify_retry).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(remote = %r.name, error = %e, "snapshot sweep failed"),
        }
    }
}
