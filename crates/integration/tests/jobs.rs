//! The scheduler's decisions and actions against a simulator, with the scheduler's clock
//! driven by the test (no sleeps): a simulated week of a snapshot job every 4 hours with a
//! 24 h TTL and an hourly sweep; missed runs; overlap; runs claimed exactly once; and runs
//! left by a vanished instance marked interrupted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use proxctl_ops::jobs::{self, Action, Job, Missed, RunOutcome, actions, tick};
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_sim::scenario::Scenario;
use support::harness_with;

const GUESTS: &str = "guests:
  - {vmid: 100, running: true, config: {name: db-1, tags: prod, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, config: {name: lab-1, tags: lab, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
";

async fn setup() -> (support::Harness, tempfile::TempDir, Arc<StateHandle>) {
    let mut cfg = support::config(1);
    cfg.scenario = Some(Scenario::from_yaml(GUESTS).unwrap());
    cfg.clock = proxctl_sim::ClockMode::Realtime;
    cfg.time_scale = 1000.0;
    let h = harness_with(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = StateSpec::Sqlite(dir.path().join("state.db"));
    let store = proxctl_ops::state::open(&spec).await.unwrap();
    (h, dir, Arc::new(StateHandle::opened(spec, store)))
}

fn job(name: &str, schedule: &str, action: Action, selector: &str, created: Timestamp) -> Job {
    Job {
        name: name.into(),
        schedule: schedule.into(),
        timezone: Some("UTC".into()),
        action,
        selector: selector.into(),
        remote: None,
        enabled: true,
        missed: Missed::RunOnce,
        history: jobs::DEFAULT_HISTORY,
        created_at: created,
        created_by: "test".into(),
    }
}

/// One scheduler tick at `now`: claim what is due and carry it out, as the server does.
async fn tick_at(h: &support::Harness, state: &StateHandle, now: Timestamp) -> Vec<jobs::Run> {
    let due = tick::due(state, now, "test-instance", &BTreeSet::new()).await.unwrap();
    let mut done = Vec::new();
    for d in due {
        let engine = proxctl_ops::jobs::declared::NoEngine;
        done.push(
            actions::carry_out(&h.client, state, &engine, &d.job, d.run, now).await.unwrap().run,
        );
    }
    done
}

fn snapshots(h: &support::Harness) -> Vec<String> {
    h.sim.with_world(|w| {
        w.guests[&100].snapshots.keys().filter(|k| k.starts_with("auto-")).cloned().collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_four_hourly_snapshots_with_a_day_ttl_and_an_hourly_sweep() {
    let (h, _dir, state) = setup().await;
    let start: Timestamp = "2027-01-04T00:00:00Z".parse().unwrap();
    let snap = Action::Snapshot { ttl: "24h".into(), prefix: "auto-".into() };
    jobs::create(&state, &job("prod-snap", "0/4:00", snap, "prod", start)).await.unwrap();
    jobs::create(&state, &job("sweep", "hourly", Action::SnapshotSweep, "all", start))
        .await
        .unwrap();
    let ttl = SignedDuration::from_hours(24);
    let mut now = start;
    let end = start + SignedDuration::from_hours(24 * 7);
    let mut snapshot_runs = 0;
    while now < end {
        now += SignedDuration::from_mins(15);
        for r in tick_at(&h, &state, now).await {
            assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
            snapshot_runs += usize::from(r.job == "prod-snap");
        }
        let have: BTreeSet<String> = snapshots(&h).into_iter().collect();
        // Every slot of the last 24 hours has its snapshot (the first slot is the one after
        // the job was made) ...
        let mut slot = start + SignedDuration::from_hours(4);
        while slot <= now {
            let name = actions::snapshot_name("auto-", slot).unwrap().to_string();
            let age = now.duration_since(slot);
            if age < ttl {
                assert!(have.contains(&name), "{name} is missing at {now}: {have:?}");
            }
            // ... and none outlives its TTL by more than one sweep interval.
            if age > ttl + SignedDuration::from_hours(1) {
                assert!(!have.contains(&name), "{name} outlived its TTL at {now}");
            }
            slot += SignedDuration::from_hours(4);
        }
        assert!(
            !h.sim.with_world(|w| w.guests[&101].snapshots.keys().any(|k| k.starts_with("auto-"))),
            "lab guests are not selected"
        );
    }
    assert_eq!(snapshot_runs, 7 * 6, "every 4 hours for a week, each slot once");
    let history = jobs::runs::history(&state, Some("prod-snap"), 1000).await.unwrap();
    assert_eq!(history.len(), 42);
    assert!(
        history.iter().all(|r| r.items.len() == 1 && r.items[0].detail.starts_with("took auto-"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_runs_catch_up_once_or_not_at_all_and_runs_never_overlap() {
    let (h, _dir, state) = setup().await;
    let start: Timestamp = "2027-01-04T00:00:00Z".parse().unwrap();
    let tag = |t: &str| Action::Tag { add: vec![t.into()], remove: vec![] };
    jobs::create(&state, &job("once", "hourly", tag("seen-once"), "prod", start)).await.unwrap();
    let mut skip = job("skip", "hourly", tag("seen-skip"), "prod", start);
    skip.missed = Missed::Skip;
    jobs::create(&state, &skip).await.unwrap();
    // The server was down for ten hours: one catch-up run for `once`, a skip for `skip`.
    let now = start + SignedDuration::from_hours(10) + SignedDuration::from_mins(30);
    let done = tick_at(&h, &state, now).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].job, "once");
    assert_eq!(done[0].scheduled_for, start + SignedDuration::from_hours(10), "the latest slot");
    assert_eq!(done[0].outcome, RunOutcome::Succeeded, "{:?}", done[0]);
    let skipped = jobs::runs::history(&state, Some("skip"), 10).await.unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].outcome, RunOutcome::Skipped);
    assert!(skipped[0].detail.contains("no server was running"), "{}", skipped[0].detail);
    assert!(tick_at(&h, &state, now).await.is_empty(), "nothing runs twice for one slot");

    // The next slot, while this instance still runs `once`: skipped with a record.
    let next = start + SignedDuration::from_hours(11);
    let running: BTreeSet<String> = ["once".to_string()].into();
    let due = tick::due(&state, next, "test-instance", &running).await.unwrap();
    assert_eq!(due.iter().map(|d| d.job.name.as_str()).collect::<Vec<_>>(), ["skip"]);
    let once = jobs::runs::history(&state, Some("once"), 10).await.unwrap();
    assert_eq!(once[0].outcome, RunOutcome::Skipped);
    assert!(once[0].detail.contains("never overlaps"), "{}", once[0].detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_claimed_once_and_a_vanished_instances_run_is_interrupted_not_rerun() {
    let (_h, _dir, state) = setup().await;
    let start: Timestamp = "2027-01-04T00:00:00Z".parse().unwrap();
    let snap = Action::Snapshot { ttl: "1d".into(), prefix: "auto-".into() };
    jobs::create(&state, &job("snap", "hourly", snap, "prod", start)).await.unwrap();
    let now = start + SignedDuration::from_mins(61);
    // Two instances decide at the same moment: one claim wins.
    let none = BTreeSet::new();
    let (a, b) = tokio::join!(
        tick::due(&state, now, "instance-a", &none),
        tick::due(&state, now, "instance-b", &none)
    );
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1, "exactly one instance runs the slot");
    // The winner dies mid-run; the next leader marks the run interrupted and moves on.
    let later = start + SignedDuration::from_mins(90);
    let due = tick::due(&state, later, "instance-c", &BTreeSet::new()).await.unwrap();
    assert!(due.is_empty(), "the interrupted slot is not run again: {due:?}");
    let runs = jobs::runs::history(&state, Some("snap"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, RunOutcome::Interrupted);
    assert!(runs[0].detail.contains("not run again"), "{}", runs[0].detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_are_refused_when_made() {
    let (_h, _dir, state) = setup().await;
    let now = Timestamp::now();
    for (j, why) in [
        (job("x", "25:00", Action::SnapshotSweep, "all", now), "outside 0..23"),
        (
            job(
                "x",
                "daily",
                Action::Snapshot { ttl: "soon".into(), prefix: "a-".into() },
                "all",
                now,
            ),
            "not a duration",
        ),
        (
            job("x", "daily", Action::Power { action: "explode".into() }, "all", now),
            "power must be",
        ),
        (job("x", "daily", Action::SnapshotSweep, "((", now), "selector"),
        (job("bad name", "daily", Action::SnapshotSweep, "all", now), "not a valid job name"),
    ] {
        let e = jobs::create(&state, &j).await.unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    let mut tz = job("x", "daily", Action::SnapshotSweep, "all", now);
    tz.timezone = Some("Mars/Olympus".into());
    assert!(jobs::create(&state, &tz).await.unwrap_err().to_string().contains("time zone"));
    jobs::create(&state, &job("x", "daily", Action::SnapshotSweep, "all", now)).await.unwrap();
    let dup = jobs::create(&state, &job("x", "hourly", Action::SnapshotSweep, "all", now)).await;
    assert!(dup.unwrap_err().to_string().contains("exists"));
}

/// Keep the manual simulator's tasks finishing as soon as they start (each step jumps to the
/// next task event), until dropped: how the test's clock drives a scheduler without sleeping.
struct Pump(tokio::task::JoinHandle<()>);

impl Pump {
    fn start(h: Arc<support::Harness>) -> Self {
        Pump(tokio::spawn(async move {
            loop {
                h.sim.step();
                tokio::task::yield_now().await;
            }
        }))
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn backups(h: &support::Harness) -> BTreeSet<u64> {
    h.sim.with_world(|w| {
        w.volumes
            .values()
            .filter(|v| v.content == "backup" && v.vmid == Some(100))
            .map(|v| v.ctime)
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_days_of_nightly_backups_keep_exactly_what_pves_rules_keep() {
    let mut cfg = support::config(1);
    cfg.scenario = Some(Scenario::from_yaml(GUESTS).unwrap());
    let h = Arc::new(harness_with(cfg).await); // the manual clock
    let dir = tempfile::tempdir().unwrap();
    let spec = StateSpec::Sqlite(dir.path().join("state.db"));
    let state = StateHandle::opened(spec.clone(), proxctl_ops::state::open(&spec).await.unwrap());
    let start = Timestamp::from_millisecond(i64::try_from(h.sim.now_ms()).unwrap()).unwrap();
    let keep = jobs::Keep { keep_daily: Some(7), keep_weekly: Some(4), ..Default::default() };
    let backup = Action::Backup { storage: Some("local".into()), keep: keep.clone() };
    jobs::create(&state, &job("nightly", "02:00", backup, "prod", start)).await.unwrap();
    let pump = Pump::start(Arc::clone(&h));
    let mut now = start;
    let end = start + SignedDuration::from_hours(24 * 30);
    let (mut runs, mut made) = (0, BTreeSet::new());
    while now < end {
        now += SignedDuration::from_hours(6);
        // The simulator's clock follows the scheduler's, so each backup carries its night.
        let ahead = now.as_millisecond() - i64::try_from(h.sim.now_ms()).unwrap();
        if ahead > 0 {
            h.sim.advance(u64::try_from(ahead).unwrap());
        }
        for r in tick_at(&h, &state, now).await {
            assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
            runs += 1;
        }
        made.extend(backups(&h));
    }
    drop(pump);
    assert_eq!((runs, made.len()), (30, 30), "one backup a night");
    // What PVE's rules keep of all thirty is exactly what is left.
    let all: Vec<u64> = made.into_iter().collect();
    let input: Vec<proxctl_ops::backup::PruneInput> = all
        .iter()
        .map(|c| proxctl_ops::backup::PruneInput {
            ctime: i64::try_from(*c).unwrap(),
            protected: false,
        })
        .collect();
    let marks = proxctl_ops::backup::prune_marks(
        &input,
        &proxctl_types::prop::PruneBackups::from(&keep),
        &jiff::tz::TimeZone::UTC,
    );
    let expected: BTreeSet<u64> = all
        .iter()
        .zip(marks)
        .filter(|(_, m)| *m == proxctl_ops::backup::Mark::Keep)
        .map(|(c, _)| *c)
        .collect();
    assert!(expected.len() > 7, "the weekly rule keeps some beyond the daily ones: {expected:?}");
    assert_eq!(backups(&h), expected);
}
