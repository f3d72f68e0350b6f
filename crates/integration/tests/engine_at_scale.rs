//! The engine under load and failure: 16 parallel clones of one template on one slow storage,
//! and 100 VMs converging through injected 5xx answers and lock-failed tasks with no
//! duplicate guests and no orphan volumes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use proxctl_engine::manifest;
use proxctl_engine::{ApplyOptions, make_plan, plan_and_apply};
use proxctl_sim::{FaultRule, Faults};
use proxctl_state::StateStore;
use proxctl_state_sqlite::SqliteStore;

const TEMPLATE: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}}
"#;

fn fleet(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: fleet-{i:03}}}\n\
                 spec: {{template: debian-12, cores: 1, memory: 512, tags: [fleet], disks: {{scsi0: {{size: 4G}}}}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

async fn setup() -> (support::Harness, tempfile::TempDir, Arc<dyn StateStore>) {
    let h = support::realtime(TEMPLATE, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    (h, dir, store)
}

fn opts(parallel: usize) -> ApplyOptions {
    let mut o = ApplyOptions::new("scale-test");
    o.parallel = parallel;
    o.lock_backoff = std::time::Duration::from_millis(10);
    o.lock_attempts = 10;
    o
}

/// Guests named `fleet-*`, and volumes that belong to no guest.
fn census(h: &support::Harness) -> (Vec<String>, Vec<String>) {
    h.sim.with_world(|w| {
        let names: Vec<String> = w
            .guests
            .values()
            .filter_map(|g| g.conf.get("name").filter(|n| n.starts_with("fleet-")).cloned())
            .collect();
        let orphans = w
            .volumes
            .values()
            .filter(|v| v.vmid.is_some_and(|id| !w.guests.contains_key(&id)))
            .map(|v| v.volid.clone())
            .collect();
        (names, orphans)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_parallel_clones_of_one_template_on_one_storage_all_succeed() {
    let (h, _dir, store) = setup().await;
    // Slow allocation on the one storage makes concurrent clones queue for its lock.
    h.sim.with_world(|w| w.storages.get_mut("local-lvm").unwrap().alloc_ms = 400);
    let d = manifest::parse(Path::new("fleet.yaml"), &fleet(16)).unwrap();
    let (_, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &d, false, &opts(16)).await.unwrap();
    assert_eq!(report.results.len(), 16);
    assert_eq!(
        report.failed(),
        0,
        "{:#?}",
        report.results.iter().filter(|r| !r.ok).collect::<Vec<_>>()
    );
    let (names, orphans) = census(&h);
    assert_eq!(names.len(), 16);
    assert!(orphans.is_empty(), "{orphans:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_vms_converge_through_5xx_and_lock_failures_without_duplicates_or_orphans() {
    let (h, _dir, store) = setup().await;
    h.sim.set_faults(Faults {
        rules: vec![
            FaultRule {
                error_rate: 0.1,
                ..FaultRule::always("POST /nodes/", 500, "simulated proxy failure")
            },
            FaultRule {
                error_rate: 0.1,
                ..FaultRule::always("PUT /nodes/", 500, "simulated proxy failure")
            },
        ],
        task_failure_rate: 0.1,
        task_failure_message: Some(
            "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout".into(),
        ),
        ..Faults::default()
    });
    let d = manifest::parse(Path::new("fleet.yaml"), &fleet(100)).unwrap();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 12, "did not converge in 12 rounds");
        let plan = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
        if !plan.has_changes() {
            break;
        }
        // Failed resources are expected under faults; the next round is their retry.
        let _ = plan_and_apply(&h.client, Arc::clone(&store), &d, false, &opts(16)).await;
    }
    h.sim.set_faults(Faults::default());
    let fin = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    assert!(!fin.has_changes(), "{}", proxctl_engine::render::text(&fin, false, false));

    let (names, orphans) = census(&h);
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(names.len(), 100, "{} guests, {} distinct", names.len(), unique.len());
    assert_eq!(unique.len(), 100, "duplicates");
    assert!(orphans.is_empty(), "orphan volumes: {orphans:?}");
    assert!(store.journal_pending().await.unwrap().is_empty());
    eprintln!("converged in {rounds} round(s)");
}

/// 20 % of every request, reads included, answers HTTP 500: reads are retried (with the
/// client's own backoff, shortened here), so every apply round makes progress, and 30 VMs
/// converge within 6 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_vms_converge_within_six_rounds_when_every_route_fails_a_fifth_of_the_time() {
    let (h, _dir, store) = setup().await;
    let mut settings = support::settings(
        &h.sim,
        proxctl_client::Credentials::from_full_token(h.sim.token.expose()).unwrap(),
    );
    settings.retry = proxctl_client::RetryPolicy {
        initial: std::time::Duration::from_millis(5),
        max: std::time::Duration::from_millis(50),
        max_attempts: 5,
        jitter: true,
    };
    let client = proxctl_client::Client::new(settings).unwrap();
    h.sim.set_faults(Faults {
        rules: vec![FaultRule {
            error_rate: 0.2,
            ..FaultRule::always("/", 500, "simulated failure (fault injection)")
        }],
        ..Faults::default()
    });
    let d = manifest::parse(Path::new("fleet.yaml"), &fleet(30)).unwrap();
    let mut rounds = 0;
    let mut outcomes = Vec::new();
    loop {
        rounds += 1;
        let plan = make_plan(&client, store.as_ref(), &d, false).await.expect("plans despite 500s");
        if !plan.has_changes() {
            break;
        }
        assert!(rounds <= 6, "did not converge in 6 rounds: {outcomes:#?}");
        // Failed resources are expected under faults; the next round is their retry.
        outcomes.push(
            match plan_and_apply(&client, Arc::clone(&store), &d, false, &opts(8)).await {
                Ok((_, r)) => format!(
                    "{} failed: {:?}",
                    r.failed(),
                    r.results
                        .iter()
                        .filter(|x| !x.ok)
                        .map(|x| x.result.as_str())
                        .collect::<Vec<_>>()
                ),
                Err(e) => format!("error: {e}"),
            },
        );
    }
    h.sim.set_faults(Faults::default());
    let (names, orphans) = census(&h);
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!((names.len(), unique.len()), (30, 30), "no duplicates: {names:?}");
    assert!(orphans.is_empty(), "orphan volumes: {orphans:?}");
    eprintln!("converged in {rounds} round(s): {outcomes:?}");
}

/// A plan over guests that all exist costs one /cluster/resources and the configs that matter
/// (N + 2 requests for N VMs cloned from one template): no /cluster/nextid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_existing_guests_costs_resources_and_configs_only() {
    let (h, _dir, store) = setup().await;
    let d = manifest::parse(Path::new("fleet.yaml"), &fleet(20)).unwrap();
    let (_, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &d, false, &opts(8)).await.unwrap();
    assert_eq!(report.failed(), 0);
    h.sim.clear_counters();
    let plan = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    assert!(!plan.has_changes());
    let counters = h.sim.counters();
    let total: u64 = counters.values().sum();
    assert!(!counters.contains_key("GET /cluster/nextid"), "{counters:?}");
    assert_eq!(counters.get("GET /cluster/resources"), Some(&1), "{counters:?}");
    // One listing, the 20 VMs' configs, and the template they clone (its disks size them).
    assert_eq!(total, 1 + 20 + 1, "{counters:?}");
    // A new resource does need the next free VMID.
    h.sim.clear_counters();
    let more = manifest::parse(Path::new("fleet.yaml"), &fleet(21)).unwrap();
    make_plan(&h.client, store.as_ref(), &more, false).await.unwrap();
    assert_eq!(h.sim.counters().get("GET /cluster/nextid"), Some(&1));
}
