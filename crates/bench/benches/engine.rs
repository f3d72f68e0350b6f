//! The declarative engine's figures (issue 6): a plan of 1,000 unchanged VMs against the
//! simulator (wall time and API requests), pure planning of 10,000 resources, and a bulk apply
//! of 100 VMs from one template at --parallel 16 on a slow storage (throughput, failures).

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use proxctl_bench::{fleet_manifests, managed_fleet_scenario};
use proxctl_client::{Client, ClientSettings, Credentials, TlsMode};
use proxctl_engine::manifest;
use proxctl_engine::observe::{Observed, ObservedGuest};
use proxctl_engine::plan::{PlanInput, plan};
use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use proxctl_state::StateStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt")
}

async fn sim(scenario: &str, clock: ClockMode) -> (SimHandle, Client) {
    let cfg = SimConfig {
        clock,
        time_scale: 1000.0,
        auth_failure_delay_ms: 0,
        scenario: Some(proxctl_sim::scenario::Scenario::from_yaml(scenario).expect("scenario")),
        ..SimConfig::default()
    };
    let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("sim");
    let mut s = ClientSettings::new(&sim.url).expect("url");
    s.tls = TlsMode::Pin(sim.fingerprint.parse().expect("fingerprint"));
    s.credentials = Some(Credentials::from_full_token(sim.token.expose()).expect("token"));
    let client = Client::new(s).expect("client");
    (sim, client)
}

async fn store(dir: &Path) -> Arc<dyn StateStore> {
    Arc::new(proxctl_state_sqlite::SqliteStore::open(&dir.join("s.db")).await.expect("store"))
}

fn plan_1000_unchanged_against_the_simulator(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tmp");
    let declared = manifest::parse(Path::new("fleet.yaml"), &fleet_manifests(1000)).expect("parse");
    let (sim, client, store) = rt.block_on(async {
        let (sim, client) = sim(&managed_fleet_scenario(1000), ClockMode::Manual).await;
        (sim, client, store(dir.path()).await)
    });
    let before = client.metrics().requests.load(std::sync::atomic::Ordering::Relaxed);
    let p = rt
        .block_on(proxctl_engine::make_plan(&client, store.as_ref(), &declared, false))
        .expect("plan");
    let requests = client.metrics().requests.load(std::sync::atomic::Ordering::Relaxed) - before;
    eprintln!(
        "plan of 1000 unchanged VMs: {requests} API requests (goal <= {}), changes: {}",
        1000 + 3,
        p.has_changes()
    );
    let mut g = c.benchmark_group("engine");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("plan_1000_unchanged_vms_via_simulator", |b| {
        b.to_async(&rt).iter(|| async {
            proxctl_engine::make_plan(&client, store.as_ref(), &declared, false)
                .await
                .expect("plan")
        })
    });
    g.finish();
    drop(sim);
}

fn pure_planning_of_10000_resources(c: &mut Criterion) {
    let n = 10_000;
    let declared = manifest::parse(Path::new("fleet.yaml"), &fleet_manifests(n)).expect("parse");
    let mut guests = vec![ObservedGuest {
        vmid: 9000,
        node: "pve".into(),
        kind: "qemu".into(),
        name: "debian-12".into(),
        template: true,
        running: false,
        tags: vec![],
        pool: None,
        ha_state: None,
        config: None,
    }];
    for i in 0..n {
        let mut cfg = std::collections::BTreeMap::new();
        cfg.insert("name".to_string(), serde_json::json!(format!("fleet-{i:04}")));
        cfg.insert("cores".to_string(), serde_json::json!(1));
        cfg.insert("memory".to_string(), serde_json::json!("512"));
        cfg.insert("tags".to_string(), serde_json::json!("fleet;proxctl"));
        cfg.insert(
            "description".to_string(),
            serde_json::json!(format!("proxctl:resource=VirtualMachine/fleet-{i:04}")),
        );
        cfg.insert("digest".to_string(), serde_json::json!(format!("{i:040}")));
        guests.push(ObservedGuest {
            vmid: 10_000 + i as u32,
            node: "pve".into(),
            kind: "qemu".into(),
            name: format!("fleet-{i:04}"),
            template: false,
            running: false,
            tags: vec!["fleet".into(), "proxctl".into()],
            pool: None,
            ha_state: None,
            config: Some(cfg),
        });
    }
    let observed = Observed { guests, nodes: vec!["pve".into()], next_vmid: 100 };
    let input = PlanInput {
        declared: &declared,
        observed: &observed,
        records: &[],
        leases: &[],
        allocations: &[],
        jobs: &[],
        catalog: None,
        prune: false,
        release: None,
    };
    let p = plan(&input).expect("plan");
    eprintln!(
        "pure plan of {n}: {} changes pending (expect 0)",
        p.changes.iter().filter(|c| c.action != proxctl_engine::Action::Noop).count()
    );
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.bench_function("pure_plan_10000_resources", |b| b.iter(|| plan(&input).expect("plan")));
    g.finish();
}

fn bulk_apply_100_vms_parallel_16(c: &mut Criterion) {
    let rt = runtime();
    let declared = manifest::parse(Path::new("fleet.yaml"), &fleet_manifests(100)).expect("parse");
    let mut g = c.benchmark_group("engine");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("apply_100_vms_one_template_parallel_16", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (elapsed, failed, retries) = rt.block_on(async {
                    let (sim, client) = sim(&managed_fleet_scenario(0), ClockMode::Realtime).await;
                    // Slow allocation on the one storage: clones contend for its lock.
                    sim.with_world(|w| {
                        if let Some(s) = w.storages.get_mut("local-lvm") {
                            s.alloc_ms = 200;
                        }
                    });
                    let dir = tempfile::tempdir().expect("tmp");
                    let store = store(dir.path()).await;
                    let mut opts = proxctl_engine::ApplyOptions::new("bench");
                    opts.parallel = 16;
                    let start = Instant::now();
                    let (_, report) =
                        proxctl_engine::plan_and_apply(&client, store, &declared, false, &opts)
                            .await
                            .expect("apply");
                    let retries: u32 = report.results.iter().map(|r| r.lock_retries).sum();
                    (start.elapsed(), report.failed(), retries)
                });
                eprintln!(
                    "apply of 100 VMs at --parallel 16: {:.2} s ({:.1} VMs/s), {failed} failed, {retries} lock retries",
                    elapsed.as_secs_f64(),
                    100.0 / elapsed.as_secs_f64()
                );
                total += elapsed;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    pure_planning_of_10000_resources,
    plan_1000_unchanged_against_the_simulator,
    bulk_apply_100_vms_parallel_16
);
criterion_main!(benches);
