//! Notifications against a local receiver: a signed webhook (the signature checked here),
//! retries counted, a dead letter after the last try, matchers by kind and severity, and a
//! job run of the server's scheduler that reaches the receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jiff::{SignedDuration, Timestamp};
use proxctl_ops::notify::{self, Event, Matcher, Severity, Target, TargetType, deliver};
use serde_json::json;
use support::Api;

/// What the receiver saw, and how many of its first answers are errors.
#[derive(Default)]
struct Seen {
    requests: Vec<(HeaderMap, Vec<u8>)>,
    fail_first: usize,
}

async fn receive(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut s = seen.lock().unwrap();
    s.requests.push((headers, body.to_vec()));
    if s.requests.len() <= s.fail_first { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen { fail_first, ..Default::default() }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::clone(&seen));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn secret_file(dir: &std::path::Path, value: &str) -> String {
    let p = dir.join("hook.secret");
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p).unwrap();
    std::io::Write::write_all(&mut f, value.as_bytes()).unwrap();
    format!("file:{}", p.display())
}

fn event(kind: &str, severity: Severity) -> Event {
    Event::new(kind, severity, format!("{kind} happened"), "details", json!({}))
}

const FAST: deliver::Retry = deliver::Retry { attempts: 3, first_delay: Duration::from_millis(10) };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_is_retried_and_routed_by_kind_and_severity() {
    let api = Api::start(false).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = receiver(2).await;
    let t = Target {
        name: "hook".into(),
        kind: TargetType::Webhook,
        url,
        secret: Some(secret_file(dir.path(), "s3cret")),
        mail_to: vec![],
        mail_from: None,
        ca_file: None,
        created_at: Timestamp::now(),
    };
    notify::add_target(&api.state, &t).await.unwrap();
    let m = Matcher {
        name: "jobs".into(),
        kinds: vec!["job-".into()],
        min_severity: Severity::Warning,
        selector: None,
        targets: vec!["hook".into()],
    };
    notify::add_matcher(&api.state, &m).await.unwrap();

    // Below the severity, or another kind: not sent.
    notify::raise(Arc::clone(&api.state), event("job-succeeded", Severity::Info), FAST).await;
    notify::raise(Arc::clone(&api.state), event("drift", Severity::Error), FAST).await;
    // Matching: sent, failing twice, delivered on the third try.
    notify::raise(Arc::clone(&api.state), event("job-failed", Severity::Error), FAST).await;
    until("three tries", || seen.lock().unwrap().requests.len() == 3).await;
    let requests = seen.lock().unwrap().requests.clone();
    for (headers, body) in &requests {
        let sig = headers[deliver::SIGNATURE_HEADER].to_str().unwrap();
        assert_eq!(sig, deliver::signature(b"s3cret", body), "every try is signed over its body");
        let e: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(e["kind"], "job-failed");
    }
    assert!(deliver::dead_letters(&api.state, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_keeps_failing_ends_in_a_dead_letter() {
    let api = Api::start(false).await;
    let (url, seen) = receiver(usize::MAX).await;
    let t = Target {
        name: "down".into(),
        kind: TargetType::Slack,
        url,
        secret: None,
        mail_to: vec![],
        mail_from: None,
        ca_file: None,
        created_at: Timestamp::now(),
    };
    notify::add_target(&api.state, &t).await.unwrap();
    let err = deliver::send(&api.state, &t, &event("job-failed", Severity::Error), FAST)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("after 3 tries"), "{err}");
    assert_eq!(seen.lock().unwrap().requests.len(), 3);
    let body: serde_json::Value =
        serde_json::from_slice(&seen.lock().unwrap().requests[0].1).unwrap();
    assert_eq!(body["text"], "job-failed happened\ndetails", "Slack's shape");
    let dead = deliver::dead_letters(&api.state, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["target"].as_str(), dead[0]["attempts"].as_u64()), (Some("down"), Some(3)));
    let refused = Target { secret: Some("s3cret".into()), name: "raw".into(), ..t };
    let e = notify::add_target(&api.state, &refused).await.unwrap_err();
    assert!(e.to_string().contains("never the secret itself"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_job_run_notifies_the_targets_its_matchers_name() {
    let api = Api::start(false).await;
    let (url, seen) = receiver(0).await;
    let t = Target {
        name: "ops".into(),
        kind: TargetType::Discord,
        url,
        secret: None,
        mail_to: vec![],
        mail_from: None,
        ca_file: None,
        created_at: Timestamp::now(),
    };
    notify::add_target(&api.state, &t).await.unwrap();
    let m = Matcher {
        name: "all".into(),
        kinds: vec![],
        min_severity: Severity::Info,
        selector: None,
        targets: vec!["ops".into()],
    };
    notify::add_matcher(&api.state, &m).await.unwrap();
    let (s, _) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/jobs",
            Some(json!({"name": "tagger", "schedule": "hourly", "action": {"type": "tag", "add": ["seen"]}, "selector": "web"})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED);
    let app = api.server.as_ref().unwrap().app();
    let later = Timestamp::now() + SignedDuration::from_mins(61);
    assert_eq!(proxctl_server::scheduler::tick(app, later).await, 1);
    until("the notification", || !seen.lock().unwrap().requests.is_empty()).await;
    let body: serde_json::Value =
        serde_json::from_slice(&seen.lock().unwrap().requests[0].1).unwrap();
    assert_eq!(
        body["content"], "job tagger succeeded\ntag on 2 guest(s), 0 failed",
        "Discord's shape"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_settings_are_managed_over_the_api_by_admins() {
    let api = Api::start(false).await;
    let target = json!({"name": "chat", "type": "slack", "endpoint": "https://hooks.example.com/x",
        "secret": "env:CHAT_TOKEN"});
    let (s, p) = api
        .call(Some("admin"), "POST", "/api/v1/notifications/targets", Some(target.clone()))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{p}");
    let (s, _) =
        api.call(Some("admin"), "POST", "/api/v1/notifications/targets", Some(target)).await;
    assert_eq!(s, reqwest::StatusCode::CONFLICT);
    let (s, p) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/notifications/targets",
            Some(json!({"name": "raw", "type": "webhook", "endpoint": "https://x", "secret": "hunter2"})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::BAD_REQUEST, "a secret itself is refused: {p}");
    let (_, list) = api.call(Some("admin"), "GET", "/api/v1/notifications/targets", None).await;
    assert_eq!(list[0]["secret"], "env:CHAT_TOKEN", "a reference, never a secret: {list}");
    let (s, p) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/notifications/matchers",
            Some(json!({"name": "m", "targets": ["nosuch"]})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::BAD_REQUEST, "{p}");
    let (s, _) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/notifications/matchers",
            Some(json!({"name": "m", "kinds": ["job-failed"], "targets": ["chat"]})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED);
    let (s, _) = api.call(Some("operator"), "GET", "/api/v1/notifications/matchers", None).await;
    assert_eq!(s, reqwest::StatusCode::FORBIDDEN);
    let (s, _) = api.call(Some("admin"), "DELETE", "/api/v1/notifications/matchers/m", None).await;
    assert_eq!(s, reqwest::StatusCode::NO_CONTENT);
    let (s, _) = api.call(Some("admin"), "DELETE", "/api/v1/notifications/matchers/m", None).await;
    assert_eq!(s, reqwest::StatusCode::NOT_FOUND);
    let (s, dead) =
        api.call(Some("admin"), "GET", "/api/v1/notifications/dead-letters", None).await;
    assert_eq!((s, dead), (reqwest::StatusCode::OK, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pve_tasks_and_finished_applies_are_notified() {
    let api = Api::start(false).await;
    let (url, seen) = receiver(0).await;
    let t = Target {
        name: "hook".into(),
        kind: TargetType::Webhook,
        url,
        secret: None,
        mail_to: vec![],
        mail_from: None,
        ca_file: None,
        created_at: Timestamp::now(),
    };
    notify::add_target(&api.state, &t).await.unwrap();
    let m = Matcher {
        name: "ops".into(),
        kinds: vec!["task-".into(), "apply-".into()],
        min_severity: Severity::Info,
        selector: None,
        targets: vec!["hook".into()],
    };
    notify::add_matcher(&api.state, &m).await.unwrap();
    api._sim.set_faults(proxctl_sim::faults::Faults {
        task_failure_rate: 1.0,
        task_failure_types: vec!["qmstart".into()],
        ..Default::default()
    });
    let (s, op) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/100/power",
            Some(json!({"action": "start"})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED);
    let done = api.finished("operator", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "failed", "{done}");
    until("the task-failed event", || !seen.lock().unwrap().requests.is_empty()).await;
    let e: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap().requests[0].1).unwrap();
    assert_eq!(e["kind"], "task-failed", "{e}");
    assert!(e["title"].as_str().unwrap().contains("qmstart"), "{e}");
    assert_eq!(e["fields"]["actor"], "operator", "who caused it: {e}");

    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-9}\nspec: {template: tpl}\n";
    let (_, plan) = api
        .call(Some("admin"), "POST", "/api/v1/plans", Some(json!({"manifests": manifest})))
        .await;
    let path = format!("/api/v1/plans/{}/apply", plan["id"].as_str().unwrap());
    let (_, op) = api.call(Some("admin"), "POST", &path, Some(json!({}))).await;
    api.finished("admin", op["id"].as_str().unwrap()).await;
    until("the apply event", || {
        seen.lock()
            .unwrap()
            .requests
            .iter()
            .any(|(_, b)| String::from_utf8_lossy(b).contains("\"apply-"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_never_holds_a_job_up() {
    let api = Api::start(false).await;
    // Accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", hole.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    tokio::spawn(async move {
        while let Ok((c, _)) = hole.accept().await {
            keep.lock().unwrap().push(c);
        }
    });
    let t = Target {
        name: "hole".into(),
        kind: TargetType::Webhook,
        url,
        secret: None,
        mail_to: vec![],
        mail_from: None,
        ca_file: None,
        created_at: Timestamp::now(),
    };
    notify::add_target(&api.state, &t).await.unwrap();
    let m = Matcher {
        name: "all".into(),
        kinds: vec![],
        min_severity: Severity::Info,
        selector: None,
        targets: vec!["hole".into()],
    };
    notify::add_matcher(&api.state, &m).await.unwrap();
    let job =
        json!({"name": "tagger", "schedule": "hourly", "action": {"type": "tag", "add": ["seen"]}});
    let (s, _) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(job)).await;
    assert_eq!(s, reqwest::StatusCode::CREATED);
    let app = api.server.as_ref().unwrap().app();
    let ended = async |n: usize| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, h) = api.call(Some("admin"), "GET", "/api/v1/jobs/tagger/history", None).await;
            let done = h.as_array().unwrap().iter().filter(|r| r["outcome"] == "succeeded").count();
            if done >= n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the runs did not end: {h}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let first = Timestamp::now() + SignedDuration::from_mins(61);
    assert_eq!(proxctl_server::scheduler::tick(app, first).await, 1);
    ended(1).await;
    until("the notification is stuck at the target", || !held.lock().unwrap().is_empty()).await;
    // The next slot runs while that notification still waits for an answer.
    let second = first + SignedDuration::from_hours(1);
    assert_eq!(proxctl_server::scheduler::tick(app, second).await, 1);
    ended(2).await;
}
