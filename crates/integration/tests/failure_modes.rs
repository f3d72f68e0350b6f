//! The simulator's failure modes (pve-semantics §4, §5.5, §11.5), observed through the client:
//! config flock timeouts, the shared template lock during clones, storage-lock queueing, the
//! `lock` property, VMID races, quorum loss, injected faults and retries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use proxctl_client::endpoints::qemu::{CloneRequest, ConfigUpdate, CreateOptions};
use proxctl_client::endpoints::storage::{VzdumpRequest, VzdumpStarted};
use proxctl_client::{ApiErrorKind, Client, ClientError, RetryPolicy, Started, WaitOptions};
use proxctl_sim::lock::{LockKey, LockMode};
use proxctl_sim::{FaultRule, Faults};
use proxctl_types::config::QemuConfig;
use proxctl_types::messages::MessageKind;
use proxctl_types::prop::*;
use proxctl_types::{StorageId, Upid};
use support::*;

fn small_vm(name: &str) -> QemuConfig {
    let mut c = QemuConfig {
        name: Some(name.into()),
        memory: Some(Memory::mib(512)),
        ..Default::default()
    };
    c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
    c.net.insert(0, NetDevice::new(NetModel::Virtio, "vmbr0"));
    c
}

fn upid(s: Started) -> Upid {
    match s {
        Started::Task(u) => u,
        Started::AlreadyDone => panic!("expected a task"),
    }
}

async fn template(h: &Harness, vmid: u32) {
    let s = h
        .client
        .qemu_create(&node(h), id(vmid), &small_vm("tpl"), &CreateOptions::default())
        .await
        .unwrap();
    h.finish(&upid(s)).await.unwrap();
    let t = h.client.qemu_template(&node(h), id(vmid)).await.unwrap();
    h.finish(&t).await.unwrap();
}

/// Wait (on a condition, not a sleep) until `n` requests block on a lock in the simulator.
async fn until_waiting(h: &Harness, n: usize) {
    for _ in 0..10_000 {
        if h.sim.waiting_requests() >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("no request started waiting for a lock (last seen: {})", h.sim.waiting_requests());
}

#[tokio::test]
async fn a_sync_config_update_waits_ten_seconds_for_a_held_flock_then_times_out() {
    let h = harness().await;
    template(&h, 100).await;
    h.sim
        .with_world(|w| {
            proxctl_sim::control::hold_lock(
                w,
                LockKey::Config(id(100)),
                LockMode::Exclusive,
                60_000,
            )
        })
        .unwrap();
    let c = h.client.clone();
    let n = node(&h);
    let req = tokio::spawn(async move {
        let u = ConfigUpdate {
            set: QemuConfig { description: Some("x".into()), ..Default::default() },
            ..Default::default()
        };
        c.qemu_update_config(&n, id(100), &u).await
    });
    until_waiting(&h, 1).await;
    h.sim.advance(9_999);
    assert!(!req.is_finished());
    h.sim.advance(1);
    let e = req.await.unwrap().unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 500);
    assert_eq!(api.message, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout");
    assert_eq!(
        api.kind,
        ApiErrorKind::LockTimeout { lock_path: "/var/lock/qemu-server/lock-100.conf".into() }
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_sync_update_proceeds_once_the_lock_is_released_in_time() {
    let h = harness().await;
    template(&h, 100).await;
    h.sim
        .with_world(|w| {
            proxctl_sim::control::hold_lock(w, LockKey::Config(id(100)), LockMode::Exclusive, 3_000)
        })
        .unwrap();
    let c = h.client.clone();
    let n = node(&h);
    let req = tokio::spawn(async move {
        let u = ConfigUpdate {
            set: QemuConfig { description: Some("x".into()), ..Default::default() },
            ..Default::default()
        };
        c.qemu_update_config(&n, id(100), &u).await
    });
    until_waiting(&h, 1).await;
    h.sim.advance(3_000);
    req.await.unwrap().unwrap();
}

#[tokio::test]
async fn parallel_clones_of_a_template_share_its_lock_and_all_succeed() {
    let h = harness().await;
    template(&h, 9000).await;
    let mut tasks = Vec::new();
    for newid in 101..=105 {
        let s = h
            .client
            .qemu_clone(&node(&h), id(9000), id(newid), &CloneRequest::default())
            .await
            .unwrap();
        tasks.push(upid(s));
    }
    for t in &tasks {
        h.finish(t).await.unwrap();
    }
    assert_eq!(h.client.qemu_list(&node(&h)).await.unwrap().len(), 6);
}

#[tokio::test]
async fn an_exclusive_hold_on_the_template_fails_new_clones_after_one_second() {
    let h = harness().await;
    template(&h, 9000).await;
    h.sim
        .with_world(|w| {
            proxctl_sim::control::hold_lock(
                w,
                LockKey::Config(id(9000)),
                LockMode::Exclusive,
                30_000,
            )
        })
        .unwrap();
    let s =
        h.client.qemu_clone(&node(&h), id(9000), id(101), &CloneRequest::default()).await.unwrap();
    let e = h.finish(&upid(s)).await.unwrap_err();
    let ClientError::TaskFailed { exitstatus, log_tail, .. } = &e else { panic!("{e}") };
    assert_eq!(
        exitstatus,
        "clone failed: can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    );
    assert!(log_tail.iter().any(|l| l == "trying to acquire lock..."));
    assert!(matches!(e.task_kind(), Some(MessageKind::LockTimeout { .. })));
    assert!(e.is_transient(), "a lock timeout is worth retrying");
    // The half-made target is cleaned up.
    assert_eq!(
        h.client.qemu_config(&node(&h), id(101)).await.unwrap_err().api().unwrap().kind,
        ApiErrorKind::DoesNotExist
    );
}

#[tokio::test]
async fn slow_storage_allocation_queues_clones_until_the_ten_second_wait_runs_out() {
    let h = harness().await;
    template(&h, 9000).await;
    h.sim.with_world(|w| w.storages.get_mut("local-lvm").unwrap().alloc_ms = 4_000);
    let mut tasks = Vec::new();
    for newid in 101..=104 {
        let req = CloneRequest { full: Some(true), ..Default::default() };
        tasks.push(upid(h.client.qemu_clone(&node(&h), id(9000), id(newid), &req).await.unwrap()));
    }
    h.sim.settle();
    let mut ok = 0;
    let mut timed_out = Vec::new();
    for t in &tasks {
        match h.client.wait_task(t, &WaitOptions::default()).await {
            Ok(_) => ok += 1,
            Err(ClientError::TaskFailed { exitstatus, .. }) => timed_out.push(exitstatus),
            Err(e) => panic!("{e}"),
        }
    }
    // Allocations at 0 s, 4 s and 8 s fit the 10 s wait; the fourth would start at 12 s.
    assert_eq!(ok, 3);
    assert_eq!(
        timed_out,
        [
            "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout"
        ]
    );
}

#[tokio::test]
async fn a_backup_lock_makes_clones_fail_synchronously_with_vm_is_locked() {
    let h = harness().await;
    template(&h, 9000).await;
    let v = h
        .client
        .vzdump(
            &node(&h),
            &VzdumpRequest {
                vmids: vec![id(9000)],
                storage: Some(StorageId::new("local").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let VzdumpStarted::Task(backup) = v else { panic!("vzdump did nothing") };
    let e = h
        .client
        .qemu_clone(&node(&h), id(9000), id(101), &CloneRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::Locked { lock: "backup".into() });
    assert_eq!(e.api().unwrap().message, "VM is locked (backup)");
    h.finish(&backup).await.unwrap();
    h.client.qemu_clone(&node(&h), id(9000), id(101), &CloneRequest::default()).await.unwrap();
}

#[tokio::test]
async fn nextid_reserves_nothing_and_the_race_loser_gets_pves_errors() {
    let h = harness().await;
    template(&h, 9000).await;
    let a = h.client.next_id(None).await.unwrap();
    let b = h.client.next_id(None).await.unwrap();
    assert_eq!(a, b, "nextid does not reserve");
    h.client.qemu_clone(&node(&h), id(9000), a, &CloneRequest::default()).await.unwrap();
    let e =
        h.client.qemu_clone(&node(&h), id(9000), b, &CloneRequest::default()).await.unwrap_err();
    assert!(
        e.to_string().contains(&format!("unable to create VM {b}: config file already exists")),
        "{e}"
    );
    let e = h.client.next_id(Some(a)).await.unwrap_err();
    assert_eq!(e.api().unwrap().errors["vmid"], format!("VM {a} already exists"));
    let e = h
        .client
        .qemu_create(&node(&h), id(9000), &small_vm("other"), &CreateOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("VM 9000 already exists on node 'pve'")
            || matches!(e, ClientError::CreateConflict { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn quorum_loss_refuses_writes_with_pves_text() {
    let h = harness().await;
    h.sim.with_world(|w| w.quorate = false);
    let e = h
        .client
        .qemu_create(&node(&h), id(100), &small_vm("a"), &CreateOptions::default())
        .await
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.kind, ApiErrorKind::NoQuorum);
    assert_eq!(api.message, "cluster not ready - no quorum?");
    h.client.nodes().await.unwrap();
}

#[tokio::test]
async fn injected_errors_are_seeded_and_counted_per_route() {
    let h = harness().await;
    h.sim.set_faults(Faults {
        rules: vec![FaultRule {
            pattern: "GET /version".into(),
            error_rate: 1.0,
            status: 596,
            message: Some("Connection timed out".into()),
            reset_rate: 0.0,
            slow_ms: 0,
        }],
        ..Faults::default()
    });
    let e = h.client.version().await.unwrap_err();
    assert_eq!(e.api().unwrap().kind, ApiErrorKind::Proxy);
    h.client.nodes().await.unwrap();
    let c = h.sim.counters();
    assert_eq!(c.get("GET /nodes"), Some(&1));
}

#[tokio::test]
async fn connection_resets_surface_as_transport_errors() {
    let h = harness().await;
    h.sim.set_faults(Faults {
        rules: vec![FaultRule {
            pattern: "/version".into(),
            error_rate: 0.0,
            status: 500,
            message: None,
            reset_rate: 1.0,
            slow_ms: 0,
        }],
        ..Faults::default()
    });
    let e = h.client.version().await.unwrap_err();
    assert!(matches!(e, ClientError::Http { .. } | ClientError::Connect { .. }), "{e}");
}

#[tokio::test]
async fn task_failure_injection_fails_tasks_with_a_clear_text() {
    let h = harness().await;
    h.sim.set_faults(Faults {
        task_failure_rate: 1.0,
        task_failure_types: vec!["qmcreate".into()],
        ..Faults::default()
    });
    let s = h
        .client
        .qemu_create(&node(&h), id(100), &small_vm("a"), &CreateOptions::default())
        .await
        .unwrap();
    let e = h.finish(&upid(s)).await.unwrap_err();
    assert!(e.to_string().contains("simulated task failure"), "{e}");
    // A failed create leaves nothing behind.
    assert!(h.client.qemu_list(&node(&h)).await.unwrap().is_empty());
}

#[tokio::test]
async fn transient_errors_are_retried_with_backoff_and_counted() {
    let h = harness().await;
    h.sim.set_faults(Faults {
        rules: vec![FaultRule {
            pattern: "GET /version".into(),
            error_rate: 1.0,
            status: 503,
            message: None,
            reset_rate: 0.0,
            slow_ms: 0,
        }],
        ..Faults::default()
    });
    let mut s = settings(
        &h.sim,
        proxctl_client::Credentials::from_full_token(h.sim.token.expose()).unwrap(),
    );
    s.retry = RetryPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(4),
        max_attempts: 4,
        jitter: true,
    };
    let c = Client::new(s).unwrap();
    assert!(c.version().await.is_err());
    assert_eq!(c.metrics().retries.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(h.sim.counters().get("GET /version"), None, "faults answer before routing");
}

#[tokio::test]
async fn a_clone_is_not_retried_after_an_ambiguous_proxy_error() {
    let h = harness().await;
    template(&h, 9000).await;
    h.sim.set_faults(Faults {
        rules: vec![FaultRule {
            pattern: "/clone".into(),
            error_rate: 1.0,
            status: 596,
            message: None,
            reset_rate: 0.0,
            slow_ms: 0,
        }],
        ..Faults::default()
    });
    let mut s = settings(
        &h.sim,
        proxctl_client::Credentials::from_full_token(h.sim.token.expose()).unwrap(),
    );
    s.retry = RetryPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(2),
        max_attempts: 5,
        jitter: false,
    };
    let c = Client::new(s).unwrap();
    assert!(c.qemu_clone(&node(&h), id(9000), id(101), &CloneRequest::default()).await.is_err());
    assert_eq!(c.metrics().retries.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn wait_task_reports_progress_lines_and_treats_warnings_as_success() {
    let mut cfg = config(1);
    cfg.clock = proxctl_sim::ClockMode::Realtime;
    cfg.time_scale = 200.0;
    let h = harness_with(cfg).await;
    template(&h, 9000).await;
    let s = h
        .client
        .qemu_clone(
            &node(&h),
            id(9000),
            id(101),
            &CloneRequest { full: Some(true), ..Default::default() },
        )
        .await
        .unwrap();
    let lines = std::sync::Mutex::new(Vec::new());
    let cb = |l: &str| lines.lock().unwrap().push(l.to_string());
    let done = h
        .client
        .wait_task(
            &upid(s),
            &WaitOptions {
                timeout: Some(Duration::from_secs(30)),
                on_log: Some(&cb),
                tail_lines: 5,
                expected: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.warnings, 0);
    let lines = lines.into_inner().unwrap();
    assert!(lines.iter().any(|l| l.starts_with("transferred ")), "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("TASK OK"));
}

#[tokio::test]
async fn wait_task_times_out_with_the_upid_to_follow() {
    let h = harness().await;
    let s = h
        .client
        .qemu_create(&node(&h), id(100), &small_vm("a"), &CreateOptions::default())
        .await
        .unwrap();
    let e = h
        .client
        .wait_task(
            &upid(s),
            &WaitOptions { timeout: Some(Duration::from_millis(300)), ..Default::default() },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::TaskTimeout { .. }), "{e}");
    assert!(e.to_string().contains("proxctl task wait"));
}
