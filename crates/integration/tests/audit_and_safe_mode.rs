//! The audit hook and safe mode on a real client against the simulator, and snapshot expiries
//! kept in the state store beside the description marker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use proxctl_client::{PowerAction, WaitOptions};
use proxctl_ops::audit::{AuditContext, Auditor};
use proxctl_ops::bulk::{self, BulkAction, Outcome};
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_sim::scenario::Scenario;
use proxctl_sim::state::RunState;
use proxctl_state::{AuditFilter, ResourceKey, ResourceRecord, SnapshotTtl};
use proxctl_types::selector::Selector;
use proxctl_types::{SnapshotName, VmId};
use support::harness_with;

const GUESTS: &str = r#"
guests:
  - {vmid: 100, config: {name: tagged, tags: "proxctl;web", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, config: {name: handmade, tags: web, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
  - {vmid: 102, config: {name: described, tags: web, description: "proxctl:resource=VirtualMachine/described", scsi0: "local-lvm:vm-102-disk-0,size=4G"}}
  - {vmid: 103, config: {name: recorded, tags: web, scsi0: "local-lvm:vm-103-disk-0,size=4G"}}
"#;

async fn state(dir: &tempfile::TempDir) -> Arc<StateHandle> {
    let spec = StateSpec::Sqlite(dir.path().join("state.db"));
    let store = proxctl_ops::state::open(&spec).await.unwrap();
    Arc::new(StateHandle::opened(spec, store))
}

/// The four guests on a realtime (x1000) simulator, and an empty SQLite store.
async fn setup() -> (support::Harness, tempfile::TempDir, Arc<StateHandle>) {
    let mut cfg = support::config(1);
    cfg.scenario = Some(Scenario::from_yaml(GUESTS).unwrap());
    cfg.clock = proxctl_sim::ClockMode::Realtime;
    cfg.time_scale = 1000.0;
    let h = harness_with(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir).await;
    (h, dir, state)
}

fn ctx(safe_mode: bool, force: bool) -> AuditContext {
    AuditContext {
        actor: "root@pam!ci (tester)".into(),
        profile: "test".into(),
        safe_mode,
        force,
        file: None,
        syslog: None,
        policy: Default::default(),
    }
}

async fn start(h: &support::Harness, vmid: u32) -> Result<(), proxctl_client::ClientError> {
    let vmid = VmId::new(vmid).unwrap();
    let node = proxctl_types::NodeName::new("pve").unwrap();
    let u = h.client.qemu_power(&node, vmid, &PowerAction::Start { timeout: None }).await?;
    h.client.wait_task(&u, &WaitOptions::default()).await.map(drop)
}

fn running(h: &support::Harness, vmid: u32) -> bool {
    h.sim.with_world(|w| w.guests[&vmid].run == RunState::Running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_mode_refuses_unmanaged_guests_and_audits_every_call_and_refusal() {
    let (h, _dir, state) = setup().await;
    let store = state.get().await.unwrap().clone();
    store
        .put_resource(&ResourceRecord {
            key: ResourceKey::new("VirtualMachine", "recorded").unwrap(),
            spec_hash: "x".into(),
            vmid: Some(VmId::new(103).unwrap()),
            node: None,
            updated_at: jiff::Timestamp::now(),
        })
        .await
        .unwrap();
    h.client.set_hook(Arc::new(Auditor::new(ctx(true, false), Arc::clone(&state))));

    // Managed by tag, by description line and by state record: allowed.
    for vmid in [100, 102, 103] {
        start(&h, vmid).await.unwrap();
        assert!(running(&h, vmid), "{vmid}");
    }
    // Unmanaged: refused before anything is sent.
    let err = start(&h, 101).await.unwrap_err();
    assert!(matches!(err, proxctl_client::ClientError::Refused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("safe mode") && text.contains("--force"), "{text}");
    assert!(!running(&h, 101));

    // Each start is on record before it is sent ("sending"), then its call's result, then its
    // task's outcome; the refusal has one row, and nothing was sent for it.
    let rows = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 10, "{rows:#?}");
    for sending in rows[..9].iter().step_by(3) {
        assert_eq!(sending.entry.result, "sending");
        assert_eq!(sending.entry.action, "POST /nodes/{node}/qemu/{vmid}/status/start");
    }
    for (call, end) in rows[1..9].iter().step_by(3).zip(rows[2..9].iter().step_by(3)) {
        assert!(call.entry.result.starts_with("task UPID:pve:"), "{}", call.entry.result);
        assert_eq!(call.entry.action, "POST /nodes/{node}/qemu/{vmid}/status/start");
        assert_eq!(call.entry.actor, "root@pam!ci (tester)");
        assert_eq!(end.entry.action, "task-end qmstart");
        assert_eq!(end.entry.target, call.entry.target);
        assert_eq!(end.entry.result, "OK");
        assert_eq!(
            Some(end.entry.params["upid"].as_str().unwrap()),
            call.entry.result.strip_prefix("task ")
        );
    }
    assert_eq!(rows[9].entry.target, "qemu/101");
    assert!(rows[9].entry.result.starts_with("refused: safe mode"), "{}", rows[9].entry.result);
    assert!(proxctl_ops::audit::verify(&state, &[]).await.unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_is_audited_with_its_exit_status_and_others_tasks_are_not() {
    let (h, _dir, state) = setup().await;
    let store = state.get().await.unwrap().clone();
    h.client.set_hook(Arc::new(Auditor::new(ctx(false, false), Arc::clone(&state))));
    h.sim.set_faults(proxctl_sim::faults::Faults {
        task_failure_rate: 1.0,
        task_failure_types: vec!["qmstart".into()],
        ..Default::default()
    });
    let err = start(&h, 100).await.unwrap_err();
    assert!(err.to_string().contains("simulated task failure"), "{err}");
    let rows = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 3, "sending, the call, the task's end: {rows:#?}");
    assert_eq!(rows[2].entry.action, "task-end qmstart");
    assert!(rows[2].entry.result.starts_with("failed: simulated task failure"), "{:?}", rows[2]);

    // Waiting on a task no call of ours started (another client's) records nothing.
    let other = support::token_client(&h.sim);
    let node = proxctl_types::NodeName::new("pve").unwrap();
    let u = other
        .qemu_power(&node, VmId::new(102).unwrap(), &PowerAction::Start { timeout: None })
        .await
        .unwrap();
    let _ = h.client.wait_task(&u, &WaitOptions::default()).await;
    assert_eq!(store.audit(&AuditFilter::default()).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_under_safe_mode_refuses_per_guest_and_force_lets_everything_through() {
    let (h, _dir, state) = setup().await;
    h.client.set_hook(Arc::new(Auditor::new(ctx(true, false), Arc::clone(&state))));

    let targets = bulk::targets(&h.client, &"web".parse::<Selector>().unwrap()).await.unwrap();
    let report = bulk::run(&h.client, &targets, &BulkAction::Start, 4, false).await;
    let failed: Vec<u32> =
        report.iter().filter(|r| r.outcome == Outcome::Refused).map(|r| r.vmid).collect();
    assert_eq!(failed, vec![101, 103], "103 has no state record in this store");
    assert!(
        report
            .iter()
            .filter(|r| r.outcome == Outcome::Refused)
            .all(|r| r.detail.contains("safe mode"))
    );

    // A second client with --force: the same call goes through, and the log says so.
    let forced = support::token_client(&h.sim);
    forced.set_hook(Arc::new(Auditor::new(ctx(true, true), Arc::clone(&state))));
    let u = forced
        .qemu_power(
            &proxctl_types::NodeName::new("pve").unwrap(),
            VmId::new(101).unwrap(),
            &PowerAction::Start { timeout: None },
        )
        .await
        .unwrap();
    forced.wait_task(&u, &WaitOptions::default()).await.unwrap();
    let store = state.get().await.unwrap();
    let last = store.audit(&AuditFilter { last: Some(2), ..Default::default() }).await.unwrap();
    assert!(last[0].entry.result.ends_with("(--force)"), "{:?}", last[0].entry);
    assert_eq!(last[1].entry.action, "task-end qmstart", "then the task's outcome");
    let refusals = store
        .audit(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.result.starts_with("refused"))
        .count();
    assert_eq!(refusals, 2, "every refusal is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_expiries_live_in_the_store_too_and_sweep_honours_either_record() {
    let (h, _dir, state) = setup().await;
    let store = state.get().await.unwrap().clone();
    let g = proxctl_ops::resolve_guest(&h.client, "100").await.unwrap();
    let snap = |n: &str| SnapshotName::new(n).unwrap();
    let opts = WaitOptions::default();

    // --ttl: the expiry goes to the description and to the store.
    let u = proxctl_ops::snapshot::create(
        &h.client,
        Some(&state),
        &g,
        &snap("ttl"),
        None,
        Some(3600),
        false,
    )
    .await
    .unwrap();
    h.client.wait_task(&u, &opts).await.unwrap();
    let ttls = store.snapshot_ttls().await.unwrap();
    assert_eq!(ttls.len(), 1);
    let now = proxctl_ops::snapshot::now_unix();
    assert!((ttls[0].expires_at.as_second() - (now + 3600)).abs() < 60, "{ttls:?}");

    // A snapshot whose description lost its marker still expires through the store; one with
    // no expiry anywhere is never touched; a store entry for a missing snapshot is dropped.
    for name in ["edited", "keep"] {
        let u = proxctl_ops::snapshot::create(&h.client, None, &g, &snap(name), None, None, false)
            .await
            .unwrap();
        h.client.wait_task(&u, &opts).await.unwrap();
    }
    let past = jiff::Timestamp::from_second(now - 60).unwrap();
    for name in ["edited", "vanished"] {
        store
            .put_snapshot_ttl(&SnapshotTtl { vmid: g.vmid, snapshot: snap(name), expires_at: past })
            .await
            .unwrap();
    }
    let sel: Selector = "id:100".parse().unwrap();
    let report =
        proxctl_ops::snapshot::sweep(&h.client, Some(&state), &sel, now, false).await.unwrap();
    let gone: Vec<&str> = report.iter().map(|r| r.snapshot.as_str()).collect();
    assert_eq!(gone, vec!["edited"], "{report:?}");
    assert_eq!(report[0].result, "deleted");
    let left: Vec<String> =
        store.snapshot_ttls().await.unwrap().into_iter().map(|t| t.snapshot.to_string()).collect();
    assert_eq!(left, vec!["ttl"], "the swept and the stale entries are gone");
    let names = h.sim.with_world(|w| w.guests[&100].snapshots.keys().cloned().collect::<Vec<_>>());
    assert_eq!(names, vec!["keep", "ttl"]);
}
