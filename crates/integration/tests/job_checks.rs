//! The jobs that check and repair against a simulator: `drift-check` reports drift (with a
//! `drift-found` event about the drifted guest) and changes nothing, `reconcile` repairs it;
//! `backup-check` finds guests whose newest backup is too old (a `backup-coverage` event);
//! `template-rebuild` builds a new version only when the catalog image changed upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use proxctl_ops::bulk::Outcome;
use proxctl_ops::jobs::{self, Action, Job, Missed, RunOutcome, actions, upkeep};
use proxctl_ops::state::{StateHandle, StateSpec};
use sha2::Digest;

const CLUSTER: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0", scsihw: virtio-scsi-single}}
  - {vmid: 100, config: {name: db-1, tags: prod, scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, config: {name: lab-1, tags: lab, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
"#;

const MANIFESTS: &str = "\
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata: {name: web-1}
spec: {template: debian-12, cores: 2, memory: 2048, tags: [web]}
";

async fn state() -> (tempfile::TempDir, Arc<StateHandle>) {
    let dir = tempfile::tempdir().unwrap();
    let spec = StateSpec::Sqlite(dir.path().join("state.db"));
    let store = proxctl_ops::state::open(&spec).await.unwrap();
    (dir, Arc::new(StateHandle::opened(spec, store)))
}

fn job(name: &str, action: Action, selector: &str) -> Job {
    Job {
        name: name.into(),
        schedule: "hourly".into(),
        timezone: Some("UTC".into()),
        action,
        selector: selector.into(),
        remote: None,
        enabled: true,
        missed: Missed::RunOnce,
        history: jobs::DEFAULT_HISTORY,
        created_at: Timestamp::now(),
        created_by: "test".into(),
    }
}

/// Run `job` by hand with the engine, as `job run` and the API do.
async fn run(h: &support::Harness, state: &StateHandle, job: &Job) -> actions::Finished {
    let engine = proxctl_engine::jobs::Engine;
    actions::run_by_hand(&h.client, state, &engine, job, "test").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_check_reports_drift_and_changes_nothing_and_reconcile_repairs_it() {
    let h = support::realtime(CLUSTER, 1).await;
    let (_dir, state) = state().await;
    let inline = Some(MANIFESTS.to_string());
    let reconcile = job(
        "keep-web",
        Action::Reconcile { path: None, manifests: inline.clone(), prune: false },
        "all",
    );
    let check = job("watch-web", Action::DriftCheck { path: None, manifests: inline }, "all");
    jobs::create(&state, &reconcile).await.unwrap();
    jobs::create(&state, &check).await.unwrap();

    let made = run(&h, &state, &reconcile).await;
    assert_eq!(made.run.outcome, RunOutcome::Succeeded, "{:?}", made.run);
    assert!(made.run.items[0].detail.starts_with("create"), "{:?}", made.run.items);
    let vmid = made.run.items[0].vmid;
    assert!(vmid > 0);

    let calm = run(&h, &state, &check).await;
    assert_eq!(calm.run.items[0].outcome, Outcome::Ok, "{:?}", calm.run.items);
    assert_eq!(calm.events.len(), 1, "only the run's own event when nothing drifted");

    // Someone changes the VM by hand.
    h.sim.with_world(|w| {
        w.guests.get_mut(&vmid).unwrap().conf.insert("memory".into(), "4096".into());
    });
    let found = run(&h, &state, &check).await;
    assert_eq!(found.run.outcome, RunOutcome::Succeeded, "a check that finds drift succeeded");
    let line = &found.run.items[0];
    assert_eq!(line.outcome, Outcome::Found);
    assert!(line.detail.contains("memory"), "{}", line.detail);
    let event = &found.events[1];
    assert_eq!(event.kind, "drift-found");
    assert_eq!(event.guests.iter().map(|g| g.vmid).collect::<Vec<_>>(), [vmid]);
    let memory = || h.sim.with_world(|w| w.guests[&vmid].conf["memory"].clone());
    assert_eq!(memory(), "4096", "drift-check changes nothing");

    let repaired = run(&h, &state, &reconcile).await;
    assert_eq!(repaired.run.items[0].outcome, Outcome::Ok, "{:?}", repaired.run.items);
    assert_eq!(memory(), "2048");
    let calm = run(&h, &state, &check).await;
    assert_eq!(calm.run.items[0].outcome, Outcome::Ok);
    let history = jobs::runs::history(&state, Some("watch-web"), 10).await.unwrap();
    assert_eq!(history.len(), 3, "every run is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_check_finds_guests_whose_newest_backup_is_too_old() {
    let h = support::realtime(CLUSTER, 1).await;
    let (_dir, state) = state().await;
    let backup = job("nightly", Action::Backup { storage: None, keep: Default::default() }, "prod");
    assert_eq!(run(&h, &state, &backup).await.run.outcome, RunOutcome::Succeeded);

    let check = job("coverage", Action::BackupCheck { max_age: "1d".into() }, "prod | lab");
    let now = run(&h, &state, &check).await;
    let lines: Vec<(u32, Outcome)> = now.run.items.iter().map(|i| (i.vmid, i.outcome)).collect();
    assert_eq!(lines, [(100, Outcome::Ok), (101, Outcome::Found)], "{:?}", now.run.items);
    assert_eq!(now.run.items[1].detail, "no backup at all");
    let event = &now.events[1];
    assert_eq!(event.kind, "backup-coverage");
    assert_eq!(event.guests.len(), 1);
    assert_eq!((event.guests[0].vmid, event.guests[0].tags.clone()), (101, vec!["lab".into()]));

    // Two days on, the one backup is too old too.
    let later = Timestamp::now() + SignedDuration::from_hours(48);
    let done = actions::execute(
        &h.client,
        &state,
        &proxctl_ops::jobs::declared::NoEngine,
        &check,
        later,
        later,
    )
    .await;
    assert!(done.items.iter().all(|i| i.outcome == Outcome::Found), "{:?}", done.items);
    assert!(done.items[0].detail.contains("the policy is 1d"), "{}", done.items[0].detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_rebuild_builds_only_when_the_catalog_image_changes() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = support::qcow2(dir.path(), "v1.qcow2", "64M").expect("qemu-img makes test images");
    let v2 = support::qcow2(dir.path(), "v2.qcow2", "128M").expect("qemu-img makes test images");
    let sums = |img: &[u8]| {
        format!("{}  tiny.qcow2\n", hex::encode(sha2::Sha256::digest(img))).into_bytes()
    };
    let files: support::Files = Arc::new(Mutex::new(vec![
        ("/img/tiny.qcow2".into(), v1.clone()),
        ("/img/SHA256SUMS".into(), sums(&v1)),
    ]));
    let base = support::file_server(Arc::clone(&files)).await;
    let catalog = dir.path().join("catalog.yaml");
    let entry = serde_json::json!({ "images": [{
        "id": "tiny", "distro": "tiny", "version": "1", "arch": "amd64",
        "url": format!("{base}/img/tiny.qcow2"), "checksum_url": format!("{base}/img/SHA256SUMS"),
        "checksum_format": "gnu-sha256", "format": "qcow2", "default_user": "tiny",
        "os_type": "l26", "firmware": "bios", "disk_bus": "scsi", "disk_size": "4G",
        "cloud_init": true, "guest_agent": true, "source": base,
    }]});
    // JSON is YAML: the user's catalog file.
    std::fs::write(&catalog, entry.to_string()).unwrap();
    let (catalog, cache) = (catalog.display().to_string(), dir.path().join("cache"));
    let env = move |k: &str| match k {
        "PROXCTL_CATALOG" => Some(catalog.clone()),
        "XDG_CACHE_HOME" => Some(cache.display().to_string()),
        _ => None,
    };
    let h = support::realtime("guests: []\n", 1).await;
    let at = upkeep::Placement { keep: Some(2), ..Default::default() };
    let ids = ["tiny".to_string()];

    let first = upkeep::template_rebuild(&h.client, &ids, &at, &env).await.unwrap();
    assert_eq!(first[0].outcome, Outcome::Ok, "{first:?}");
    assert!(first[0].detail.starts_with("built tiny@"), "{first:?}");
    let same = upkeep::template_rebuild(&h.client, &ids, &at, &env).await.unwrap();
    assert_eq!(same[0].detail, "image unchanged upstream");
    *files.lock().unwrap() =
        vec![("/img/tiny.qcow2".into(), v2.clone()), ("/img/SHA256SUMS".into(), sums(&v2))];
    let next = upkeep::template_rebuild(&h.client, &ids, &at, &env).await.unwrap();
    assert!(next[0].detail.starts_with("built tiny@"), "{next:?}");
    assert_ne!(next[0].vmid, first[0].vmid);
    let unknown =
        upkeep::template_rebuild(&h.client, &["nope".to_string()], &at, &env).await.unwrap();
    assert_eq!(unknown[0].outcome, Outcome::Failed);
    assert!(unknown[0].detail.contains("no catalog image 'nope'"), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_what_the_job_says_and_always_the_last_scheduled_run() {
    let h = support::realtime(CLUSTER, 1).await;
    let (_dir, state) = state().await;
    // Ten hours ago, on the hour: runs by hand (stamped now) are newer than every slot.
    let start = Timestamp::from_second((Timestamp::now().as_second() / 3600 - 10) * 3600).unwrap();
    let sweep = Job { history: 2, created_at: start, ..job("sweep", Action::SnapshotSweep, "all") };
    jobs::create(&state, &sweep).await.unwrap();
    let engine = proxctl_ops::jobs::declared::NoEngine;
    let tick = |now: Timestamp| {
        let (state, engine, client) = (&state, &engine, &h.client);
        async move {
            let due = jobs::tick::due(state, now, "me", &Default::default()).await.unwrap();
            for d in due {
                actions::carry_out(client, state, engine, &d.job, d.run, now).await.unwrap();
            }
        }
    };
    for hour in 1..=4 {
        tick(start + SignedDuration::from_hours(hour)).await;
    }
    let runs = jobs::runs::history(&state, Some("sweep"), 100).await.unwrap();
    assert_eq!(runs.len(), 2, "history 2: {runs:?}");
    let last_slot = start + SignedDuration::from_hours(4);
    assert_eq!(runs[0].scheduled_for, last_slot);

    // Runs by hand push the scheduled ones out, but never the newest scheduled one: the slot
    // it stands for must not run again.
    for _ in 0..3 {
        run(&h, &state, &sweep).await;
    }
    let runs = jobs::runs::history(&state, Some("sweep"), 100).await.unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().any(|r| !r.manual && r.scheduled_for == last_slot), "{runs:?}");
    let due = jobs::tick::due(
        &state,
        last_slot + SignedDuration::from_mins(5),
        "me",
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(due.is_empty(), "the 04:00 slot ran already");
}
