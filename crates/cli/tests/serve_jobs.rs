//! Two `proxctl serve` processes on one PostgreSQL store run a snapshot job every two hours
//! through a simulated day (their scheduler clock is a file the test moves, the simulator's
//! clock moves only when the test advances it): every slot runs exactly once; the leader is
//! killed with SIGKILL in the middle of a run, which is then marked interrupted and not run
//! again, and no snapshot is taken twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proxctl_ops::jobs::{Run, RunOutcome};
use proxctl_ops::state::{StateHandle, StateSpec};
use support::instances::{Instance, fresh_schema, leader, ready, state_url, until};

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, running: true, config: {name: web-1, memory: "512", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
"#;

const JOB: &str = "day-snap";
const SLOTS: i64 = 12;
/// The slot during which the leader is killed.
const KILLED_AT: i64 = 5;

async fn run_for(state: &StateHandle, slot: Timestamp) -> Option<Run> {
    let runs = proxctl_ops::jobs::runs::history(state, Some(JOB), 1000).await.ok()?;
    runs.into_iter().find(|r| r.scheduled_for == slot)
}

fn snapshot_task_running(sim: &proxctl_sim::SimHandle) -> bool {
    sim.with_world(|w| w.running().any(|t| t.upid.task_type == "qmsnapshot"))
}

/// Advance the simulator while PVE tasks run, until the run for `slot` has ended.
async fn finish(sim: &proxctl_sim::SimHandle, state: &StateHandle, slot: Timestamp) -> Run {
    until("the run of a slot ends", Duration::from_secs(120), async || {
        if sim.with_world(|w| w.running().next().is_some()) {
            sim.advance(5_000);
        }
        run_for(state, slot).await.filter(|r| r.outcome != RunOutcome::Running)
    })
    .await
}

/// Calls that created `snap`, from the shared audit log (one write-ahead row per call).
async fn creations(state: &StateHandle, snap: &str) -> usize {
    let rows =
        proxctl_ops::audit::list(state, &proxctl_state::AuditFilter::default()).await.unwrap();
    rows.iter()
        .map(|r| &r.0.entry)
        .filter(|e| e.result == "sending" && e.action.starts_with("POST "))
        .filter(|e| e.params["snapname"] == snap)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_day_on_two_servers_runs_each_slot_once_even_when_the_leader_dies_mid_run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(schema) = fresh_schema().await else { return };
    let state_url = state_url(&schema);
    let state = StateHandle::new(state_url.parse::<StateSpec>().unwrap());
    let sim = support::start_manual(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let env = [("PROXCTL_STATE", state_url.as_str())];

    // The day starts at the next even hour, so no slot is due before the test moves the clock.
    let t0 = Timestamp::from_second((Timestamp::now().as_second() / 7200 + 1) * 7200).unwrap();
    let clock = home.path().join("clock");
    std::fs::write(&clock, (t0 - SignedDuration::from_secs(1)).to_string()).unwrap();
    let made = support::proxctl(
        &sim,
        &["job", "create", JOB, "--schedule", "0/2:00", "--timezone", "UTC"],
        &env,
    )
    .await;
    assert_ne!(made.code, 0, "an action is required");
    let made = support::proxctl(
        &sim,
        &[
            "job",
            "create",
            JOB,
            "--schedule",
            "0/2:00",
            "--timezone",
            "UTC",
            "--action",
            "snapshot",
            "--ttl",
            "2d",
        ],
        &env,
    )
    .await;
    assert_eq!(made.code, 0, "{}", made.stderr);

    let extra = ["--job-interval", "1s", "--scheduler-clock-file", clock.to_str().unwrap()];
    let mut instances: Vec<Instance> = Vec::new();
    for name in ["a", "b"] {
        instances.push(ready(&sim, home.path(), name, &state_url, &extra).await);
    }
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let mut alive = vec![0, 1];

    for i in 0..SLOTS {
        let slot = t0 + SignedDuration::from_hours(2 * i);
        std::fs::write(&clock, slot.to_string()).unwrap();
        if i != KILLED_AT {
            let run = finish(&sim, &state, slot).await;
            assert_eq!(run.outcome, RunOutcome::Succeeded, "slot {i}: {run:?}");
            continue;
        }
        // Mid-run: the run is claimed and its snapshot task is running in PVE.
        until("a run in progress", Duration::from_secs(120), async || {
            let r = run_for(&state, slot).await?;
            (r.outcome == RunOutcome::Running && snapshot_task_running(&sim)).then_some(())
        })
        .await;
        let who = until("the leader", Duration::from_secs(60), async || {
            for &k in &alive {
                if leader(&http, &instances[k]).await? {
                    return Some(k);
                }
            }
            None
        })
        .await;
        instances[who].child.kill().unwrap();
        instances[who].child.wait().unwrap();
        alive.retain(|k| *k != who);
        // The task the dead leader started still ends in PVE.
        until("the orphaned task ends", Duration::from_secs(60), async || {
            if snapshot_task_running(&sim) {
                sim.advance(5_000);
                None
            } else {
                Some(())
            }
        })
        .await;
        let run = finish(&sim, &state, slot).await;
        assert_eq!(run.outcome, RunOutcome::Interrupted, "{run:?}");
        assert!(run.detail.contains("not run again"), "{}", run.detail);
    }

    let runs = proxctl_ops::jobs::runs::history(&state, Some(JOB), 1000).await.unwrap();
    assert_eq!(runs.len() as i64, SLOTS, "one record per slot: {runs:?}");
    let interrupted: Vec<&Run> =
        runs.iter().filter(|r| r.outcome == RunOutcome::Interrupted).collect();
    assert_eq!(interrupted.len(), 1);
    let snaps: Vec<String> = sim.with_world(|w| {
        w.guests[&100].snapshots.keys().filter(|k| k.starts_with("auto-")).cloned().collect()
    });
    assert_eq!(snaps.len() as i64, SLOTS, "one snapshot per slot: {snaps:?}");
    for i in 0..SLOTS {
        let slot = t0 + SignedDuration::from_hours(2 * i);
        let name = proxctl_ops::jobs::actions::snapshot_name("auto-", slot).unwrap();
        assert!(snaps.contains(&name.to_string()), "{name} missing: {snaps:?}");
        assert_eq!(creations(&state, name.as_str()).await, 1, "{name} was asked for once");
    }
    for k in alive {
        instances[k].child.kill().unwrap();
        instances[k].child.wait().unwrap();
    }
}
