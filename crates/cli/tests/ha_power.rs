//! Starting or stopping an HA-managed guest: PVE only hands the request to its HA manager
//! (`hastart`/`hastop`), so `proxctl vm start` waits for the guest itself before it says done,
//! and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const CLUSTER: &str = "guests:
  - {vmid: 100, running: false, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
ha:
  - {sid: \"vm:100\", state: stopped}
";

fn running(sim: &proxctl_sim::SimHandle) -> bool {
    sim.with_world(|w| w.guests[&100].is_running())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_an_ha_managed_vm_waits_until_the_ha_manager_has_started_it() {
    // Slow enough (10x) that the HA manager's round comes well after the hastart task ends.
    let sim = start_scaled(CLUSTER, 10.0).await;
    let run = proxctl(&sim, &["vm", "start", "web-1"], &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("asked PVE's HA manager"), "{}", run.stdout);
    assert!(running(&sim), "done means running: {}", run.stdout);

    let run = proxctl(&sim, &["vm", "stop", "web-1", "--yes"], &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!running(&sim), "{}", run.stdout);
    assert_eq!(sim.with_world(|w| w.ha["vm:100"].state.clone()), "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_start_reports_ha_managed_guests_done_when_the_ha_manager_has_started_them() {
    let sim = start_scaled(CLUSTER, 10.0).await;
    let run = proxctl(&sim, &["bulk", "start", "-l", "name:web-1", "--yes"], &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("done by PVE's HA manager"), "{}", run.stdout);
    assert!(running(&sim), "{}", run.stdout);
}
