//! `kind: Job` manifests, planned and applied like every other kind: created in the store
//! where the scheduler finds them, unchanged on a second plan, updated with a diff line per
//! setting, taken over (with a warning) when made by hand, refused when invalid, and deleted
//! with `--prune` once no manifest declares them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_engine::manifest::{self, Declared};
use proxctl_engine::{Action, ApplyOptions, make_plan, plan_and_apply};
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_state::StateStore;

const JOBS: &str = "\
apiVersion: proxctl.io/v1
kind: Job
metadata: {name: prod-snap}
spec:
  schedule: \"0/4:00\"
  timezone: UTC
  action: {type: snapshot, ttl: 24h}
  selector: env-prod
---
apiVersion: proxctl.io/v1
kind: Job
metadata: {name: nightly}
spec:
  schedule: \"02:00\"
  action: {type: backup, keep_daily: 7}
";

fn declared(text: &str) -> Vec<Declared> {
    manifest::parse(Path::new("jobs.yaml"), text).unwrap()
}

async fn setup() -> (support::Harness, tempfile::TempDir, Arc<dyn StateStore>, StateHandle) {
    let h = support::realtime("guests: []\n", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = StateSpec::Sqlite(dir.path().join("s.db"));
    let store = proxctl_ops::state::open(&spec).await.unwrap();
    let handle = StateHandle::opened(spec, Arc::clone(&store));
    (h, dir, store, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_manifests_plan_and_apply_like_every_other_kind() {
    let (h, _dir, store, state) = setup().await;
    let opts = ApplyOptions::new("tester");

    let plan = make_plan(&h.client, store.as_ref(), &declared(JOBS), false).await.unwrap();
    assert_eq!(plan.count(Action::Create), 2, "{plan:#?}");
    plan_and_apply(&h.client, Arc::clone(&store), &declared(JOBS), false, &opts).await.unwrap();
    let job = proxctl_ops::jobs::get(&state, "prod-snap").await.unwrap();
    assert_eq!((job.schedule.as_str(), job.selector.as_str()), ("0/4:00", "env-prod"));
    assert_eq!(job.created_by, "tester");
    let again = make_plan(&h.client, store.as_ref(), &declared(JOBS), false).await.unwrap();
    assert!(!again.has_changes(), "{again:#?}");

    // A changed schedule is an update with one diff line.
    let changed = JOBS.replace("\"0/4:00\"", "\"0/6:00\"");
    let plan = make_plan(&h.client, store.as_ref(), &declared(&changed), false).await.unwrap();
    let c = plan.changes.iter().find(|c| c.key == "Job/prod-snap").unwrap();
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.diffs.len(), 1);
    assert_eq!(
        (c.diffs[0].field.as_str(), c.diffs[0].from.as_deref(), c.diffs[0].to.as_deref()),
        ("schedule", Some("0/4:00"), Some("0/6:00"))
    );
    plan_and_apply(&h.client, Arc::clone(&store), &declared(&changed), false, &opts).await.unwrap();
    let job = proxctl_ops::jobs::get(&state, "prod-snap").await.unwrap();
    assert_eq!(job.schedule, "0/6:00");
    assert_eq!(job.created_by, "tester", "an update keeps who made it");

    // Without the nightly manifest: a warning, and with --prune a delete.
    let only_snap = changed.split("---").next().unwrap().to_string();
    let plan = make_plan(&h.client, store.as_ref(), &declared(&only_snap), false).await.unwrap();
    assert!(plan.warnings.iter().any(|w| w.contains("Job/nightly")), "{:?}", plan.warnings);
    let (plan, _) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&only_snap), true, &opts)
            .await
            .unwrap();
    assert_eq!(plan.count(Action::Delete), 1, "{plan:#?}");
    assert!(proxctl_ops::jobs::get(&state, "nightly").await.is_err(), "pruned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_made_by_hand_is_taken_over_with_a_warning_and_bad_jobs_are_refused() {
    let (h, _dir, store, state) = setup().await;
    let by_hand = proxctl_ops::jobs::Job {
        name: "nightly".into(),
        schedule: "03:00".into(),
        timezone: None,
        action: proxctl_ops::jobs::Action::SnapshotSweep,
        selector: "all".into(),
        remote: None,
        enabled: true,
        missed: Default::default(),
        history: 100,
        created_at: jiff::Timestamp::now(),
        created_by: "alice".into(),
    };
    proxctl_ops::jobs::create(&state, &by_hand).await.unwrap();
    let plan = make_plan(&h.client, store.as_ref(), &declared(JOBS), false).await.unwrap();
    let c = plan.changes.iter().find(|c| c.key == "Job/nightly").unwrap();
    assert_eq!(c.action, Action::Update);
    let fields: Vec<&str> = c.diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["schedule", "action"], "{c:#?}");
    assert!(
        plan.warnings.iter().any(|w| w.contains("made by alice") && w.contains("takes it over")),
        "{:?}",
        plan.warnings
    );

    let bad = JOBS.replace("{type: snapshot, ttl: 24h}", "{type: snapshot, ttl: soon}");
    let problems = manifest::parse(Path::new("jobs.yaml"), &bad).unwrap_err();
    assert!(
        problems.iter().any(|p| p.message.contains("'soon' is not a duration")),
        "{problems:?}"
    );
    let bad = JOBS.replace("\"02:00\"", "\"25:00\"");
    assert!(manifest::parse(Path::new("jobs.yaml"), &bad).is_err());
}
