//! Bulk work at PVE's physical limit (issue 13): clones of one template onto one storage
//! whose allocations PVE serialises, so `clones x allocations x alloc_ms`, plus the fixed finish
//! of the last clone (`CLONE_FINISH_MS`), at the simulator's time scale, is a hard lower bound.
//! Prints, for proxctl's `apply --parallel 16` and for a naive script (16 workers: nextid, clone, poll each second, one retry on a VMID collision,
//! as common scripts do): wall time, the bound, their ratio, API requests and failures.
//! Run with `cargo bench -p proxctl-bench --bench bulk`; figures, never assertions.
//! `BULK_CASE=<text>` runs only the cases whose name holds it; `BULK_DETAIL=1` adds proxctl's
//! requests by route and when the first step began; `BULK_TRACE=1` with it, every progress line.

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use proxctl_client::endpoints::qemu::CloneRequest;
use proxctl_client::{
    ApiErrorKind, Client, ClientError, ClientSettings, Credentials, Started, TlsMode,
};
use proxctl_engine::{ApplyOptions, manifest, plan_and_apply};
use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use proxctl_types::{NodeName, VmId};

struct Case {
    name: &'static str,
    vms: usize,
    alloc_ms: u64,
    /// Allocations per clone: the disk, and a cloud-init drive when the template has one.
    allocs: u64,
    time_scale: f64,
}

struct Run {
    wall: Duration,
    requests: u64,
    failures: usize,
}

fn scenario(cloud_init: bool) -> String {
    let ci = if cloud_init { ", ide2: \"bulk:vm-9000-cloudinit,media=cdrom\"" } else { "" };
    format!(
        "storages:\n  - {{id: bulk, type: lvmthin, content: [images, rootdir], total_gib: 100000}}\n\
         guests:\n  - {{vmid: 9000, config: {{name: tpl, template: true, scsi0: \"bulk:base-9000-disk-0,size=2G\"{ci}}}}}\n"
    )
}

async fn sim(case: &Case) -> (SimHandle, Client) {
    let cfg = SimConfig {
        clock: ClockMode::Realtime,
        time_scale: case.time_scale,
        auth_failure_delay_ms: 0,
        scenario: Some(
            proxctl_sim::scenario::Scenario::from_yaml(&scenario(case.allocs > 1))
                .expect("scenario"),
        ),
        ..SimConfig::default()
    };
    let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("sim");
    sim.with_world(|w| w.storages.get_mut("bulk").expect("storage").alloc_ms = case.alloc_ms);
    let mut s = ClientSettings::new(&sim.url).expect("url");
    s.tls = TlsMode::Pin(sim.fingerprint.parse().expect("fingerprint"));
    s.credentials = Some(Credentials::from_full_token(sim.token.expose()).expect("token"));
    // A faster simulated clock compresses the whole run, the client's waiting included: a
    // round of 100 ms at time-scale 20 is 5 ms, so the figures are those of the uncompressed
    // run (where request latency, which is not compressed, weighs 20 times less).
    s.poll.round = s.poll.round.div_f64(case.time_scale);
    (sim, Client::new(s).expect("client"))
}

fn requests(sim: &SimHandle) -> u64 {
    sim.counters().values().sum()
}

async fn proxctl_run(case: &Case) -> Run {
    let (sim, client) = sim(case).await;
    let dir = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn proxctl_state::StateStore> = Arc::new(
        proxctl_state_sqlite::SqliteStore::open(&dir.path().join("s.db")).await.expect("store"),
    );
    let text = (0..case.vms)
        .map(|i| format!("apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: b-{i:04}}}\nspec: {{template: tpl}}\n"))
        .collect::<Vec<_>>()
        .join("---\n");
    let declared = manifest::parse(Path::new("bulk.yaml"), &text).expect("manifest");
    let mut opts = ApplyOptions::new("bench");
    opts.parallel = 16;
    let t = Instant::now();
    // With BULK_DETAIL, when the first step started and the last resource finished.
    let marks: Arc<std::sync::Mutex<Vec<(Duration, String)>>> = Arc::default();
    if std::env::var_os("BULK_DETAIL").is_some() {
        let marks = Arc::clone(&marks);
        opts.progress = Some(Arc::new(move |key: &str, m: &str| {
            marks.lock().expect("marks").push((t.elapsed(), format!("{m} [{key}]")));
        }));
    }
    let (_, report) = plan_and_apply(&client, store, &declared, false, &opts).await.expect("apply");
    if std::env::var_os("BULK_DETAIL").is_some() {
        let m = marks.lock().expect("marks");
        if let (Some(first), Some(last)) = (m.first(), m.last()) {
            eprintln!(
                "  first step at {:?} ({}), last at {:?} ({})",
                first.0, first.1, last.0, last.1
            );
        }
        if let Some(c) = m.iter().rev().find(|(_, s)| s.starts_with("clone")) {
            eprintln!("  last clone started at {:?}", c.0);
        }
        if std::env::var_os("BULK_TRACE").is_some() {
            for (at, what) in m.iter() {
                eprintln!("  {:>8.3} {what}", at.as_secs_f64());
            }
        }
        for (route, n) in sim.counters() {
            eprintln!("  proxctl {n:>6}  {route}");
        }
    }
    Run { wall: t.elapsed(), requests: requests(&sim), failures: report.failed() }
}

/// What a hand-written script does: nextid, clone, poll the task's status every second (of
/// simulated time).
async fn naive_run(case: &Case) -> Run {
    let (sim, client) = sim(case).await;
    let node = NodeName::new("pve").expect("node");
    let next = Arc::new(AtomicU32::new(0));
    let poll = Duration::from_secs(1).div_f64(case.time_scale);
    let failures = Arc::new(AtomicU32::new(0));
    let t = Instant::now();
    let workers = (0..16).map(|_| {
        let (client, node, next, failures) =
            (client.clone(), node.clone(), Arc::clone(&next), Arc::clone(&failures));
        let vms = case.vms as u32;
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= vms {
                    return;
                }
                if !naive_clone(&client, &node, i, poll).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    for w in workers.collect::<Vec<_>>() {
        w.await.expect("worker");
    }
    Run {
        wall: t.elapsed(),
        requests: requests(&sim),
        failures: failures.load(Ordering::Relaxed) as usize,
    }
}

async fn naive_clone(client: &Client, node: &NodeName, i: u32, poll: Duration) -> bool {
    let src = VmId::new(9000).expect("vmid");
    let req = CloneRequest { name: Some(format!("n-{i:04}")), ..CloneRequest::default() };
    for _ in 0..2 {
        let Ok(id) = client.next_id(None).await else { return false };
        match client.qemu_clone(node, src, id, &req).await {
            Ok(Started::Task(u)) => loop {
                tokio::time::sleep(poll).await;
                match client.task_status(node, &u).await {
                    Ok(s) if s.outcome().is_none() => continue,
                    Ok(s) => {
                        return matches!(s.outcome(), Some(o) if !matches!(o, proxctl_types::api::TaskOutcome::Failed(_)));
                    }
                    Err(_) => return false,
                }
            },
            Ok(Started::AlreadyDone) => return true,
            Err(ClientError::Api(a)) if a.kind == ApiErrorKind::AlreadyExists => continue,
            Err(ClientError::CreateConflict { .. }) => continue,
            Err(_) => return false,
        }
    }
    false
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("rt");
    let cases = [
        Case {
            name: "100 clones, alloc 200 ms",
            vms: 100,
            alloc_ms: 200,
            allocs: 1,
            time_scale: 1.0,
        },
        Case {
            name: "100 clones, alloc 50 ms",
            vms: 100,
            alloc_ms: 50,
            allocs: 1,
            time_scale: 1.0,
        },
        Case {
            name: "100 clones + cloud-init drive, 50 ms",
            vms: 100,
            alloc_ms: 50,
            allocs: 2,
            time_scale: 1.0,
        },
        Case {
            name: "1000 clones, 50 ms, time-scale 20",
            vms: 1000,
            alloc_ms: 50,
            allocs: 1,
            time_scale: 20.0,
        },
    ];
    println!(
        "{:<38} {:>8} {:>8} {:>6} {:>6} {:>4} | {:>8} {:>6} {:>6} {:>4}",
        "case", "bound", "proxctl", "ratio", "reqs", "fail", "naive", "ratio", "reqs", "fail"
    );
    // `BULK_CASE=50` runs the cases whose name contains "50"; `BULK_DETAIL=1` lists requests.
    let only = std::env::var("BULK_CASE").unwrap_or_default();
    for case in cases.iter().filter(|c| c.name.contains(only.as_str())) {
        // The allocations queue on the one storage, back to back at best; then the last clone
        // still has its fixed finish (config, MACs, UUIDs) to do, which no client can shorten.
        let serial_ms = case.vms as f64 * case.allocs as f64 * case.alloc_ms as f64;
        let finish_ms = proxctl_sim::task::CLONE_FINISH_MS as f64;
        let bound = Duration::from_secs_f64((serial_ms + finish_ms) / 1000.0 / case.time_scale);
        let p = rt.block_on(proxctl_run(case));
        let n = rt.block_on(naive_run(case));
        let ratio = |r: &Run| r.wall.as_secs_f64() / bound.as_secs_f64();
        println!(
            "{:<38} {:>7.2}s {:>7.2}s {:>6.2} {:>6} {:>4} | {:>7.2}s {:>6.2} {:>6} {:>4}",
            case.name,
            bound.as_secs_f64(),
            p.wall.as_secs_f64(),
            ratio(&p),
            p.requests,
            p.failures,
            n.wall.as_secs_f64(),
            ratio(&n),
            n.requests,
            n.failures
        );
    }
}
