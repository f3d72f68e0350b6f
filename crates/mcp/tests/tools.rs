//! The MCP face's tools called directly (no protocol) against an in-process simulator and a
//! SQLite state store: what callers see under a scope, long work handed back as an operation,
//! and a change set applied by two callers at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use proxctl_client::{Client, ClientSettings, Credentials, RetryPolicy, TlsMode};
use proxctl_mcp::{Config, Mcp, Mode, OneCluster, Principal, Role};
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use serde_json::{Value, json};

const SCENARIO: &str = "\
guests:
  - {vmid: 100, running: true, config: {name: web-1, tags: web, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, running: true, config: {name: web-2, tags: web, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
  - {vmid: 102, config: {name: db-1, tags: db, scsi0: \"local-lvm:vm-102-disk-0,size=4G\"}}
";

struct Env {
    sim: SimHandle,
    mcp: Mcp,
    state: Arc<StateHandle>,
    _dir: tempfile::TempDir,
}

async fn env(clock: ClockMode, config: Config) -> Env {
    let cfg = SimConfig {
        clock,
        time_scale: 1000.0,
        auth_failure_delay_ms: 0,
        scenario: Some(proxctl_sim::scenario::Scenario::from_yaml(SCENARIO).unwrap()),
        ..SimConfig::default()
    };
    let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut s = ClientSettings::new(&sim.url).unwrap();
    s.tls = TlsMode::Pin(sim.fingerprint.parse().unwrap());
    s.credentials = Some(Credentials::from_full_token(sim.token.expose()).unwrap());
    s.retry = RetryPolicy::none();
    let client = Client::new(s).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec: StateSpec = dir.path().join("state.db").to_str().unwrap().parse().unwrap();
    let state = Arc::new(StateHandle::new(spec));
    let clusters = Arc::new(OneCluster { name: "pve".into(), client });
    let mcp = Mcp::new(clusters, Arc::clone(&state), config, "test");
    Env { sim, mcp, state, _dir: dir }
}

fn operate() -> Config {
    Config { mode: Mode::Operate, ..Config::default() }
}

fn admin() -> Principal {
    Principal { token: Some("admin".into()), role: Role::Admin, scope: None }
}

fn alice() -> proxctl_mcp::changes::Decider<'static> {
    proxctl_mcp::changes::Decider { name: "alice", token: None }
}

fn vmids(v: &Value) -> Vec<u64> {
    v["items"].as_array().unwrap().iter().map(|g| g["vmid"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_caller_sees_only_its_guests_and_the_rest_is_not_found() {
    let e = env(ClockMode::Realtime, operate()).await;
    let scoped = Principal {
        token: Some("web-only".into()),
        role: Role::Operator,
        scope: Some("web".parse().unwrap()),
    };
    let all = e.mcp.call(scoped.clone(), "t", "list_guests", json!({})).await.unwrap();
    assert_eq!(vmids(&all), [100, 101]);
    // Asking for more than the scope still gives only the scope.
    let wide = e.mcp.call(scoped.clone(), "t", "list_guests", json!({"selector": "all"})).await;
    assert_eq!(vmids(&wide.unwrap()), [100, 101]);
    let err = e.mcp.call(scoped.clone(), "t", "get_guest", json!({"guest": "db-1"})).await;
    assert!(err.unwrap_err().to_string().contains("no guest 'db-1'"));
    let err = e.mcp.call(scoped.clone(), "t", "start", json!({"guest": "102"})).await;
    assert!(err.unwrap_err().to_string().contains("no guest"), "not even by VMID");
    let err = e.mcp.call(scoped, "t", "audit_search", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("needs a token without one"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_names_very_old_snapshots_of_the_callers_guests_only() {
    let e = env(ClockMode::Realtime, operate()).await;
    let now = jiff::Timestamp::now().as_second() as u64;
    for (vmid, name) in [(100, "pre-upgrade"), (102, "pre-migration")] {
        assert!(e.sim.put_snapshot(vmid, name, now - 40 * 86_400));
    }
    let texts = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap().into()).collect()
    };
    let all = texts(&e.mcp.call(admin(), "t", "attention", json!({})).await.unwrap());
    assert!(
        all.contains(&"pve: snapshot pre-migration of db-1 (102) is 40 days old".into()),
        "{all:?}"
    );
    assert!(all.contains(&"pve: 3 guest(s) without a recent backup".into()), "{all:?}");
    let scoped = Principal {
        token: Some("web-only".into()),
        role: Role::Viewer,
        scope: Some("web".parse().unwrap()),
    };
    let mine = texts(&e.mcp.call(scoped, "t", "attention", json!({})).await.unwrap());
    assert!(
        mine.contains(&"pve: snapshot pre-upgrade of web-1 (100) is 40 days old".into()),
        "{mine:?}"
    );
    assert!(!mine.iter().any(|t| t.contains("db-1")), "{mine:?}");
    assert!(mine.contains(&"pve: 2 guest(s) without a recent backup".into()), "{mine:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_arguments_and_unknown_tools_are_clear_errors() {
    let e = env(ClockMode::Realtime, Config::default()).await;
    let err = e.mcp.call(admin(), "t", "list_guests", json!({"selektor": "web"})).await;
    assert!(err.unwrap_err().to_string().contains("unknown field `selektor`"));
    let err = e.mcp.call(admin(), "t", "format_disk", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("no tool 'format_disk'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_that_outlasts_the_wait_answers_with_an_operation_to_poll() {
    // A manual clock: the start task does not end until the test moves time on.
    let config = Config { wait: Duration::from_millis(200), ..operate() };
    let e = env(ClockMode::Manual, config).await;
    let out = e.mcp.call(admin(), "t", "start", json!({"guest": "db-1"})).await.unwrap();
    assert_eq!(out["status"], "running", "{out}");
    let id = out["operation"].as_str().unwrap().to_string();
    let seen = e.mcp.call(admin(), "t", "operation_status", json!({"id": id})).await.unwrap();
    assert_eq!(seen["status"], "running");
    // Another token does not see it.
    let other = Principal { token: Some("other".into()), ..admin() };
    assert!(e.mcp.call(other, "t", "operation_status", json!({"id": id})).await.is_err());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        e.sim.advance(5_000);
        let s = e.mcp.call(admin(), "t", "operation_status", json!({"id": id})).await.unwrap();
        if s["status"] != "running" {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "the operation never ended: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["ok"], 1, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_applying_one_change_set_at_once_apply_it_once() {
    let e = env(ClockMode::Realtime, operate()).await;
    let proposed = e
        .mcp
        .call(
            admin(),
            "t",
            "propose_change",
            json!({"change": {"action": "guests", "operation": "delete", "selector": "id:102"}}),
        )
        .await
        .unwrap();
    let id = proposed["id"].as_str().unwrap();
    let digest = proposed["digest"].as_str().unwrap();
    proxctl_mcp::changes::approve(&e.state, id, alice()).await.unwrap();
    let args = json!({"id": id, "digest": digest});
    let (a, b) = tokio::join!(
        e.mcp.call(admin(), "one", "apply_change", args.clone()),
        e.mcp.call(admin(), "two", "apply_change", args.clone()),
    );
    let oks = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 1, "exactly one apply: {a:?} / {b:?}");
    let refused = match (a, b) {
        (Err(e), _) | (_, Err(e)) => e,
        _ => unreachable!("one of the two failed"),
    };
    assert!(refused.to_string().contains("already"), "{refused}");
    let left = e.mcp.call(admin(), "t", "list_guests", json!({})).await.unwrap();
    assert_eq!(vmids(&left), [100, 101]);
    // A person can no longer decide on it.
    let again = proxctl_mcp::changes::approve(&e.state, id, alice()).await.unwrap_err();
    assert!(again.to_string().contains("not waiting for a decision"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cannot_propose_what_only_an_admin_may_apply() {
    let e = env(ClockMode::Realtime, operate()).await;
    let op = Principal { token: Some("ops".into()), role: Role::Operator, scope: None };
    let err = e
        .mcp
        .call(
            op.clone(),
            "t",
            "propose_change",
            json!({"change": {"action": "guests", "operation": "delete", "selector": "id:102"}}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs the admin role"), "{err}");
    let ok = e
        .mcp
        .call(
            op,
            "t",
            "propose_change",
            json!({"change": {"action": "guests", "operation": "start", "selector": "db"}}),
        )
        .await
        .unwrap();
    assert_eq!(ok["status"], "proposed");
    // The token that proposed it cannot approve it.
    let own = proxctl_mcp::changes::Decider { name: "ops", token: Some("ops") };
    let err = proxctl_mcp::changes::approve(&e.state, ok["id"].as_str().unwrap(), own).await;
    assert!(err.unwrap_err().to_string().contains("proposed with this token"));
}
