//! The `/_sim/` control API over HTTP, the `/cluster/resources` RRD lag option, and tasks that
//! end with warnings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::endpoints::qemu::{CloneRequest, ConfigUpdate, CreateOptions};
use proxctl_client::{PowerAction, Started, WaitOptions};
use proxctl_types::config::QemuConfig;
use proxctl_types::prop::*;
use support::*;

fn vm(name: &str) -> QemuConfig {
    let mut c = QemuConfig { name: Some(name.into()), cores: Some(1), ..Default::default() };
    c.disks.insert(DriveSlot::Scsi(0), Drive::new("local-lvm:4"));
    c
}

async fn control(
    h: &Harness,
    method: &str,
    path_query: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    raw_json(h, method, path_query, None, body).await
}

#[tokio::test]
async fn the_control_api_advances_time_injects_faults_and_counts_requests() {
    let h = harness().await;
    let (_, before) = control(&h, "GET", "/_sim/state", "").await;
    let (s, after) = control(&h, "POST", "/_sim/advance?ms=5000", "").await;
    assert_eq!(s, 200);
    assert_eq!(
        after["data"]["now"].as_u64().unwrap(),
        before["data"]["now"].as_u64().unwrap() + 5000
    );

    let (s, _) = control(
        &h,
        "PUT",
        "/_sim/faults",
        r#"{"rules":[{"pattern":"GET /nodes","error_rate":1.0,"status":500}]}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h.client.nodes().await.unwrap_err().api().unwrap().status, 500);
    control(&h, "PUT", "/_sim/faults", "{}").await;
    h.client.nodes().await.unwrap();

    let (_, counters) = control(&h, "GET", "/_sim/counters", "").await;
    assert_eq!(counters["data"]["GET /nodes"], 1, "{counters}");
    control(&h, "DELETE", "/_sim/counters", "").await;
    assert!(h.sim.counters().is_empty());

    let (s, _) = control(&h, "PUT", "/_sim/quorum?quorate=0", "").await;
    assert_eq!(s, 200);
    assert!(
        h.client
            .qemu_create(&node(&h), id(100), &vm("a"), &CreateOptions::default())
            .await
            .is_err()
    );
    control(&h, "PUT", "/_sim/quorum?quorate=1", "").await;

    let (s, body) = control(&h, "POST", "/_sim/locks?key=nope", "").await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("key=config:<vmid>"), "{body}");
}

#[tokio::test]
async fn the_control_api_refuses_requests_without_admin_credentials() {
    let h = harness().await;
    let resp =
        raw_https(&h, "GET /_sim/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    let ro = h.sim.auditor_token.expose().to_string();
    let resp = raw_https(
        &h,
        &format!("POST /_sim/advance?ms=1 HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken={ro}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
}

#[tokio::test]
async fn cluster_resources_can_lag_like_pvestatd() {
    let mut cfg = config(1);
    cfg.resources_lag = true;
    let h = harness_with(cfg).await;
    let n = node(&h);
    let s =
        h.client.qemu_create(&n, id(100), &vm("laggy"), &CreateOptions::default()).await.unwrap();
    let Started::Task(t) = s else { panic!() };
    h.finish(&t).await.unwrap();
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(r[0].status.as_deref(), Some("unknown"));
    assert!(r[0].name.is_none(), "no name until the next RRD cycle");
    h.sim.advance(10_000);
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!((r[0].status.as_deref(), r[0].name.as_deref()), (Some("stopped"), Some("laggy")));
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(r[0].status.as_deref(), Some("stopped"), "still the old RRD data");
    assert!(
        h.client.qemu_status(&n, id(100)).await.unwrap().is_running(),
        "status/current is live"
    );
    h.sim.advance(10_000);
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(r[0].status.as_deref(), Some("running"));
}

#[tokio::test]
async fn a_task_ending_with_warnings_counts_as_success() {
    let h = harness().await;
    let n = node(&h);
    let Started::Task(t) =
        h.client.qemu_create(&n, id(100), &vm("src"), &CreateOptions::default()).await.unwrap()
    else {
        panic!()
    };
    h.finish(&t).await.unwrap();
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    // cores on a running VM stays pending; cloning then warns that pending changes are dropped.
    let u = ConfigUpdate {
        set: QemuConfig { cores: Some(4), ..Default::default() },
        ..Default::default()
    };
    h.client.qemu_update_config(&n, id(100), &u).await.unwrap();
    let Started::Task(t) =
        h.client.qemu_clone(&n, id(100), id(101), &CloneRequest::default()).await.unwrap()
    else {
        panic!()
    };
    h.sim.settle();
    let st = h.client.task_status(&n, &t).await.unwrap();
    assert_eq!(st.exitstatus.as_deref(), Some("WARNINGS: 1"));
    let done = h.client.wait_task(&t, &WaitOptions::default()).await.unwrap();
    assert_eq!(done.warnings, 1);
}

#[tokio::test]
async fn a_cached_resources_answer_never_outlives_a_change() {
    let h = harness().await;
    let n = node(&h);
    let s =
        h.client.qemu_create(&n, id(100), &vm("before"), &CreateOptions::default()).await.unwrap();
    let Started::Task(t) = s else { panic!() };
    h.finish(&t).await.unwrap();
    let name = |r: &[proxctl_types::api::ClusterResource]| r[0].name.clone();
    let first = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let again = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(first, again, "an unchanged world answers the same");
    let mut u = ConfigUpdate::default();
    u.set.name = Some("after".into());
    h.client.qemu_update_config(&n, id(100), &u).await.unwrap();
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(name(&r).as_deref(), Some("after"), "a write is seen by the next read");
    // A change made by a task (time passing) is seen too.
    let t = h.client.qemu_power(&n, id(100), &PowerAction::Start { timeout: None }).await.unwrap();
    h.finish(&t).await.unwrap();
    let r = h.client.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    assert_eq!(r[0].status.as_deref(), Some("running"));
}
