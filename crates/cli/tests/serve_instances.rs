//! Two `proxctl serve` processes on one PostgreSQL state store: exactly one leads the
//! singleton work (the snapshot sweeper); after `kill -9` of the leader the other takes over,
//! and each expired snapshot is swept exactly once (one delete in the shared audit log).
//! Needs PostgreSQL at `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the test uses a schema of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: web-1, memory: "512", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
"#;

fn postgres_url() -> String {
    std::env::var("PROXCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema, or `None` (skip) when there is no server and not everything must run.
async fn fresh_schema() -> Option<String> {
    let url = postgres_url();
    let client = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((c, conn)) => {
            tokio::spawn(conn);
            c
        }
        Err(e) => {
            let msg = format!("no PostgreSQL at {url}: {e}");
            assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
            eprintln!("skipping: {msg}");
            return None;
        }
    };
    let schema =
        format!("serve_{}_{}", std::process::id(), jiff::Timestamp::now().as_microsecond());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    Some(schema)
}

fn state_url(schema: &str) -> String {
    let url = postgres_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

struct Instance {
    child: Child,
    url: String,
}

fn spawn(sim: &proxctl_sim::SimHandle, home: &Path, name: &str, state: &str) -> Child {
    let ready = home.join(format!("{name}.json"));
    let mut cmd = support::command(
        sim,
        home,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ready-file",
            ready.to_str().unwrap(),
            "--data-dir",
            home.join(name).to_str().unwrap(),
            "--leader-lease",
            "3s",
            "--sweep-interval",
            "1s",
        ],
        &[("PROXCTL_STATE", state)],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// Wait for a condition, looking every 50 ms, up to `limit` (a hang, not a timing assertion).
async fn until<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn leader(http: &reqwest::Client, i: &Instance) -> Option<bool> {
    let r = http.get(format!("{}/readyz", i.url)).send().await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["leader"].as_bool()
}

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
        let child = spawn(&sim, home.path(), name, &state);
        let ready = home.path().join(format!("{name}.json"));
        let url = until("the ready file", Duration::from_secs(60), async || {
            let text = std::fs::read_to_string(&ready).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            v["url"].as_str().map(String::from)
        })
        .await;
        instances.push(Instance { child, url });
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
