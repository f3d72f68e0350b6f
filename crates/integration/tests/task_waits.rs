//! Following many running tasks costs requests per round and node, not per task: a hundred
//! concurrent `wait_task`s on one node share one listing of its tasks per round, which says how
//! each ended, so no task's own status needs reading.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use proxctl_client::endpoints::qemu::CloneRequest;
use proxctl_client::{Started, WaitOptions};
use support::*;

/// A realtime simulator (1x) with a template to clone, whose storage allocates in `alloc_ms`.
async fn with_template(alloc_ms: u64) -> Harness {
    let mut cfg = config(1);
    cfg.scenario = Some(
        proxctl_sim::scenario::Scenario::from_yaml(
            "guests:\n  - {vmid: 9000, config: {name: t, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}\n",
        )
        .unwrap(),
    );
    cfg.clock = proxctl_sim::ClockMode::Realtime;
    cfg.time_scale = 1.0;
    let h = harness_with(cfg).await;
    h.sim.with_world(|w| w.storages.get_mut("local-lvm").unwrap().alloc_ms = alloc_ms);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_waits_share_one_listing_per_round_and_read_no_status_of_their_own() {
    let h = Arc::new(with_template(20).await);
    // Allocations on one storage are serialised: the clones end one after another over ~2 s.
    let node = node(&h);
    let mut upids = Vec::new();
    for i in 0..100u32 {
        let req = CloneRequest { name: Some(format!("w-{i}")), ..Default::default() };
        match h.client.qemu_clone(&node, id(9000), id(1000 + i), &req).await.unwrap() {
            Started::Task(u) => upids.push(u),
            Started::AlreadyDone => panic!("a new clone"),
        }
    }
    h.sim.clear_counters();
    let started = std::time::Instant::now();
    let waits = upids.into_iter().map(|u| {
        let h = Arc::clone(&h);
        tokio::spawn(async move { h.client.wait_task(&u, &WaitOptions::default()).await })
    });
    for w in waits.collect::<Vec<_>>() {
        w.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let counters = h.sim.counters();
    let status = counters.get("GET /nodes/{node}/tasks/{upid}/status").copied().unwrap_or(0);
    let listings = counters.get("GET /nodes/{node}/tasks").copied().unwrap_or(0);
    // The listing shows how each task ended; one poll per task per interval used to cost
    // several requests each, and then a status read each.
    eprintln!("status reads {status}, listings {listings} in {elapsed:?}");
    assert_eq!(status, 0, "status reads for 100 tasks; {counters:?}");
    assert!(listings > 0, "the waits followed the listing; {counters:?}");
    // At most one listing per round on the one node, however many tasks are waited on.
    let rounds = (elapsed.as_millis() / proxctl_client::task::ROUND.as_millis()) as u64 + 1;
    assert!(listings <= rounds, "{listings} listings in {rounds} rounds; {counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_first_looks_when_tasks_of_its_type_have_been_ending() {
    let h = with_template(2000).await;
    // Each clone takes about 2.5 s: a 2 s allocation and the clone's fixed finish.
    let node = node(&h);
    let mut listings = Vec::new();
    for i in 0..2u32 {
        let req = CloneRequest { name: Some(format!("e-{i}")), ..Default::default() };
        let Started::Task(u) =
            h.client.qemu_clone(&node, id(9000), id(1000 + i), &req).await.unwrap()
        else {
            panic!("a new clone")
        };
        h.sim.clear_counters();
        h.client.wait_task(&u, &WaitOptions::default()).await.unwrap();
        listings.push(h.sim.counters().get("GET /nodes/{node}/tasks").copied().unwrap_or(0));
    }
    // The first wait knows nothing and looks every round at first; the second expects about
    // 2.5 s and looks first at 2 s.
    eprintln!("listings per wait: {listings:?}");
    assert!(listings[1] * 2 < listings[0], "{listings:?}");
}
