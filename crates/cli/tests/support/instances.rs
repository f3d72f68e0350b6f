//! `proxctl serve` processes for the suites that run several: a fresh PostgreSQL schema each,
//! instances started with a ready file, and waiting (polling, never sleeping for readiness).
//! Needs PostgreSQL at `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

pub fn postgres_url() -> String {
    std::env::var("PROXCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema, or `None` (skip) when there is no server and not everything must run.
pub async fn fresh_schema() -> Option<String> {
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

pub fn state_url(schema: &str) -> String {
    let url = postgres_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

pub struct Instance {
    pub child: Child,
    pub url: String,
}

pub fn spawn_with(
    sim: &proxctl_sim::SimHandle,
    home: &Path,
    name: &str,
    state: &str,
    extra: &[&str],
) -> Child {
    let ready = home.join(format!("{name}.json"));
    let mut cmd = super::command(
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
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
        &[("PROXCTL_STATE", state)],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// Wait for a condition, looking every 50 ms, up to `limit` (a hang, not a timing assertion).
pub async fn until<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn leader(http: &reqwest::Client, i: &Instance) -> Option<bool> {
    let r = http.get(format!("{}/readyz", i.url)).send().await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["leader"].as_bool()
}

/// Start instance `name` and wait for its ready file.
pub async fn ready(
    sim: &proxctl_sim::SimHandle,
    home: &Path,
    name: &str,
    state: &str,
    extra: &[&str],
) -> Instance {
    let child = spawn_with(sim, home, name, state, extra);
    let file = home.join(format!("{name}.json"));
    let url = until("the ready file", Duration::from_secs(60), async || {
        let text = std::fs::read_to_string(&file).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["url"].as_str().map(String::from)
    })
    .await;
    Instance { child, url }
}
