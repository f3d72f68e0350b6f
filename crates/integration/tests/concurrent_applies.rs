//! Two applies of the same 30-VM manifest started together, as two processes sharing one
//! state store would run them, 20 times over, on SQLite and on PostgreSQL: never a duplicate
//! guest, never an address used twice, and the plan afterwards has nothing left to do. The
//! second apply waits for the first one's locks instead of taking its live journal for a
//! crash leftover. PostgreSQL comes from `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); skipped without it unless `PROXCTL_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proxctl_engine::{ApplyOptions, make_plan, manifest, plan_and_apply};
use proxctl_state::StateStore;
use proxctl_state_sqlite::SqliteStore;

const TEMPLATE: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}}
"#;

const ROUNDS: usize = 20;

fn fleet() -> String {
    let mut docs = vec![
        "apiVersion: proxctl.io/v1\nkind: IPPool\nmetadata: {name: fleet}\n\
         spec: {cidr: 10.0.0.0/24, gateway: 10.0.0.1, range: {start: 10.0.0.10, end: 10.0.0.99}}\n"
            .to_string(),
    ];
    docs.extend((0..30).map(|i| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: web-{i}}}\n\
             spec: {{template: debian-12, networks: {{net0: {{bridge: vmbr0}}}}, \
             cloudInit: {{user: admin, ip: {{net0: {{pool: fleet}}}}}}}}\n"
        )
    }));
    docs.join("---\n")
}

fn opts() -> ApplyOptions {
    let mut o = ApplyOptions::new("race-test");
    o.parallel = 8;
    o.lock_backoff = std::time::Duration::from_millis(10);
    o.lock_attempts = 10;
    o
}

/// Names and addresses that occur more than once among the `web-*` guests.
fn duplicates(h: &support::Harness) -> (usize, Vec<String>, Vec<String>) {
    h.sim.with_world(|w| {
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut ips: BTreeMap<String, usize> = BTreeMap::new();
        for g in w.guests.values() {
            let Some(name) = g.conf.get("name").filter(|n| n.starts_with("web-")) else { continue };
            *names.entry(name.clone()).or_default() += 1;
            if let Some(ip) = g.conf.get("ipconfig0") {
                *ips.entry(ip.clone()).or_default() += 1;
            }
        }
        let total = names.values().sum();
        let twice = |m: BTreeMap<String, usize>| {
            m.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect::<Vec<_>>()
        };
        (total, twice(names), twice(ips))
    })
}

/// One round: a fresh cluster, two stores on the same state, two applies at once.
async fn round(i: usize, a: Arc<dyn StateStore>, b: Arc<dyn StateStore>) {
    let h = support::realtime(TEMPLATE, 1).await;
    let other = support::token_client(&h.sim);
    let d = manifest::parse(Path::new("fleet.yaml"), &fleet()).unwrap();
    let o = opts();
    let (ra, rb) = tokio::join!(
        plan_and_apply(&h.client, Arc::clone(&a), &d, false, &o),
        plan_and_apply(&other, Arc::clone(&b), &d, false, &o),
    );
    let (ra, rb) = (ra.unwrap().1, rb.unwrap().1);
    assert_eq!(ra.failed() + rb.failed(), 0, "round {i}: {ra:#?}\n{rb:#?}");
    let (total, names, ips) = duplicates(&h);
    assert!(names.is_empty(), "round {i}: guests made twice: {names:?}");
    assert!(ips.is_empty(), "round {i}: addresses used twice: {ips:?}");
    assert_eq!(total, 30, "round {i}: every VM exactly once");
    let again = make_plan(&h.client, a.as_ref(), &d, false).await.unwrap();
    assert!(
        !again.has_changes(),
        "round {i}: {}",
        proxctl_engine::render::text(&again, false, true)
    );
    let history = a.applies(10).await.unwrap();
    assert!(
        history.iter().all(|x| x.outcome.is_some()),
        "round {i}: every apply ended: {history:?}"
    );
    assert!(a.locks().await.unwrap().is_empty(), "round {i}: both released their locks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_applies_of_one_manifest_never_duplicate_on_sqlite() {
    for i in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let a: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let b: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
        round(i, a, b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_applies_of_one_manifest_never_duplicate_on_postgres() {
    for i in 0..ROUNDS {
        let schema = format!("proxctl_race_{}_{i}", std::process::id());
        let Some(a) = support::postgres(&schema).await else {
            return;
        };
        let a: Arc<dyn StateStore> = Arc::new(a);
        let b: Arc<dyn StateStore> = Arc::new(support::postgres(&schema).await.unwrap());
        round(i, a, b).await;
        let (c, conn) =
            tokio_postgres::connect(&support::postgres_url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    }
}
