//! Two `proxctl serve` processes on one PostgreSQL state store: exactly one leads the
//! singleton work (the snapshot sweeper); after `kill -9` of the leader the other takes over,
//! and each expired snapshot is swept exactly once (one delete in the shared audit log). A plan
//! made through one instance is applied through the other, operations are seen from both, a
//! dashboard session made on one works on the other (and signing out on either ends it), and
//! an instance stopped with SIGTERM records what it could not finish as interrupted.
//! Needs PostgreSQL at `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the test uses a schema of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::instances::{Instance, fresh_schema, leader, ready, state_url, until};

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: web-1, memory: "512", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
"#;

fn snapshots(sim: &proxctl_sim::SimHandle) -> Vec<String> {
    sim.with_world(|w| w.guests[&100].snapshots.keys().cloned().collect())
}

/// Snapshot deletions in the shared audit log, by snapshot name.
async fn deletions(state: &str, snap: &str) -> usize {
    let spec: proxctl_ops::state::StateSpec = state.parse().unwrap();
    let handle = proxctl_ops::state::StateHandle::new(spec);
    let rows =
        proxctl_ops::audit::list(&handle, &proxctl_state::AuditFilter::default()).await.unwrap();
    // One "sending" row per call: the write-ahead record made before PVE sees it.
    rows.iter()
        .map(|r| &r.0.entry)
        .filter(|e| e.result == "sending" && e.action.starts_with("DELETE "))
        .filter(|e| e.params["snapname"] == snap && e.actor == proxctl_server::singleton::ACTOR)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_with_sigkill_is_replaced_and_each_sweep_happens_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(schema) = fresh_schema().await else { return };
    let state = state_url(&schema);
    let sim = support::start_with(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        instances.push(ready(&sim, home.path(), name, &state, &[]).await);
    }
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let first = until("one leader", Duration::from_secs(60), async || {
        let (a, b) = (leader(&http, &instances[0]).await?, leader(&http, &instances[1]).await?);
        assert!(!(a && b), "two leaders at once");
        (a || b).then_some(if a { 0 } else { 1 })
    })
    .await;

    // An expired snapshot is swept by the leader, once.
    let run = support::proxctl(
        &sim,
        &["snapshot", "create", "100", "first", "--ttl", "1s"],
        &[("PROXCTL_STATE", &state)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    until("the first sweep", Duration::from_secs(60), async || {
        (!snapshots(&sim).contains(&"first".to_string())).then_some(())
    })
    .await;

    // kill -9 the leader: the other takes over.
    instances[first].child.kill().unwrap();
    instances[first].child.wait().unwrap();
    let second = 1 - first;
    until("the survivor leads", Duration::from_secs(60), async || {
        leader(&http, &instances[second]).await.filter(|l| *l)
    })
    .await;
    let run = support::proxctl(
        &sim,
        &["snapshot", "create", "100", "second", "--ttl", "1s"],
        &[("PROXCTL_STATE", &state)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    until("the second sweep", Duration::from_secs(60), async || {
        (!snapshots(&sim).contains(&"second".to_string())).then_some(())
    })
    .await;

    assert_eq!(deletions(&state, "first").await, 1, "the first snapshot was deleted once");
    assert_eq!(deletions(&state, "second").await, 1, "the second snapshot was deleted once");
    instances[second].child.kill().unwrap();
    instances[second].child.wait().unwrap();
}

const TEMPLATED: &str = r#"
guests:
  - {vmid: 9000, config: {name: tpl, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
  - {vmid: 100, config: {name: web-1, memory: "512", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
faults:
  rules:
    # Starting guest 100 hangs (an hour at the simulator's speed), so an operation is still
    # running when its instance is stopped.
    - {pattern: "/qemu/100/status/start", slow_ms: 3600000000}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_and_operations_are_shared_and_sigterm_records_unfinished_work_as_interrupted() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(schema) = fresh_schema().await else { return };
    let state = state_url(&schema);
    let sim = support::start_with(TEMPLATED).await;
    let home = tempfile::tempdir().unwrap();
    let grace = ["--shutdown-grace", "1s"];
    let mut a = ready(&sim, home.path(), "a", &state, &grace).await;
    let b = ready(&sim, home.path(), "b", &state, &grace).await;
    let run = support::proxctl(
        &sim,
        &["token", "create", "ci", "--role", "admin", "-o", "json"],
        &[("PROXCTL_STATE", &state)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let token: Value = serde_json::from_str(&run.stdout).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let call = async |i: &Instance, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{}{path}", i.url)).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };

    // A plan made on a is applied through b; a reports how the operation on b ended.
    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl}\n";
    let (s, plan) = call(
        &a,
        reqwest::Method::POST,
        "/api/v1/plans",
        Some(serde_json::json!({"manifests": manifest})),
    )
    .await;
    assert_eq!(s, 201, "{plan}");
    let path = format!("/api/v1/plans/{}/apply", plan["id"].as_str().unwrap());
    let (s, op) = call(&b, reqwest::Method::POST, &path, Some(serde_json::json!({}))).await;
    assert_eq!(s, 202, "{op}");
    let op_path = format!("/api/v1/operations/{}", op["id"].as_str().unwrap());
    let ended = until("the apply, seen from a", Duration::from_secs(60), async || {
        let (_, o) = call(&a, reqwest::Method::GET, &op_path, None).await;
        (o["state"] != "running" && !o["state"].is_null()).then_some(o)
    })
    .await;
    assert_eq!(ended["state"], "succeeded", "{ended}");

    // A dashboard session made on a works on b (no sticky sessions needed behind a load
    // balancer), and signing out on b ends it on a.
    let browser = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = browser
        .post(format!("{}/login", a.url))
        .form(&[("token", token.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie =
        signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = |i: &Instance| {
        browser.get(format!("{}/guests", i.url)).header("cookie", cookie.clone()).send()
    };
    let on_b = page(&b).await.unwrap();
    assert_eq!(on_b.status(), 200, "a's session is known to b");
    let html = on_b.text().await.unwrap();
    let at = html.find("name=\"_csrf\" value=\"").unwrap() + "name=\"_csrf\" value=\"".len();
    let csrf = html[at..].split('"').next().unwrap().to_string();
    let out = browser
        .post(format!("{}/logout", b.url))
        .header("cookie", cookie.clone())
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let on_a = page(&a).await.unwrap();
    assert_eq!(on_a.status(), 303, "signed out on b, the session is gone on a too");
    assert!(on_a.headers()["location"].to_str().unwrap().starts_with("/login"));

    // An operation still running when a gets SIGTERM ends as interrupted, for b to report.
    let (s, op) = call(
        &a,
        reqwest::Method::POST,
        "/api/v1/remotes/default/guests/100/power",
        Some(serde_json::json!({"action": "start"})),
    )
    .await;
    assert_eq!(s, 202, "{op}");
    let op_path = format!("/api/v1/operations/{}", op["id"].as_str().unwrap());
    let (_, seen) = call(&b, reqwest::Method::GET, &op_path, None).await;
    assert_eq!(seen["state"], "running", "b sees a's running operation: {seen}");
    let pid = a.child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || a.child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "a stops cleanly on SIGTERM: {exit:?}");
    let (_, o) = call(&b, reqwest::Method::GET, &op_path, None).await;
    assert_eq!(o["state"], "failed", "{o}");
    assert!(o["error"]["detail"].as_str().unwrap().starts_with("interrupted"), "{o}");
    let mut b = b;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
}
