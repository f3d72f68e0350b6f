//! Jobs through the REST face, and the scheduler inside the server driven with a clock of the
//! test's: a job made over the API runs when its slot comes, once, with its history readable
//! (a scoped token sees only its guests' lines); run by hand as an operation; disabled and
//! deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Api;

async fn history(api: &Api, who: &str, name: &str) -> Value {
    let (s, h) = api.call(Some(who), "GET", &format!("/api/v1/jobs/{name}/history"), None).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_made_over_the_api_runs_on_its_slot_once_and_by_hand() {
    let api = Api::start(false).await;
    let body = json!({"name": "snap-all", "schedule": "hourly", "timezone": "UTC",
        "action": {"type": "snapshot", "ttl": "1d"}, "selector": "all"});
    let (s, row) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{row}");
    assert!(row["next_run"].as_str().unwrap().ends_with(":00:00Z"), "{row}");
    let (s, _) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "one job per name");
    let (s, p) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/jobs",
            Some(json!({"name": "bad", "schedule": "25:00", "action": {"type": "snapshot-sweep"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    // The scheduler, with the test's clock: the next slot has come.
    let app = api.server.as_ref().unwrap().app();
    let later = Timestamp::now() + SignedDuration::from_mins(61);
    assert_eq!(proxctl_server::scheduler::tick(app, later).await, 1);
    assert_eq!(proxctl_server::scheduler::tick(app, later).await, 0, "a slot runs once");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let run = loop {
        let h = history(&api, "admin", "snap-all").await;
        if h[0]["outcome"] != "running" {
            break h[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the run never ended: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["items"].as_array().unwrap().len(), 3, "web-1, web-2, db-1: {run}");
    let snaps =
        api._sim.with_world(|w| w.guests[&200].snapshots.keys().cloned().collect::<Vec<_>>());
    assert!(snaps.iter().any(|s| s.starts_with("auto-")), "{snaps:?}");
    let scoped = history(&api, "scoped", "snap-all").await;
    let seen: Vec<u64> = scoped[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["vmid"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, [100, 101], "a scoped token sees only its guests' lines: {scoped}");

    let (s, op) = api.call(Some("admin"), "POST", "/api/v1/jobs/snap-all/run", None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let h = history(&api, "admin", "snap-all").await;
    assert!(h.as_array().unwrap().iter().any(|r| r["manual"] == true), "recorded: {h}");

    let (s, row) = api
        .call(Some("admin"), "PATCH", "/api/v1/jobs/snap-all", Some(json!({"enabled": false})))
        .await;
    assert_eq!((s, row["enabled"].as_bool()), (StatusCode::OK, Some(false)), "{row}");
    let far = later + SignedDuration::from_hours(5);
    assert_eq!(proxctl_server::scheduler::tick(app, far).await, 0, "a disabled job does not run");
    let (s, _) = api.call(Some("scoped"), "POST", "/api/v1/jobs/snap-all/run", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api.call(Some("admin"), "DELETE", "/api/v1/jobs/snap-all", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.call(Some("viewer"), "GET", "/api/v1/jobs/snap-all", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
