//! How the simulator holds up under read load (issue 13, item 5): a 10-node cluster with 5,000
//! guests, eight clients reading `/cluster/resources` as fast as it answers (the bytes only, so
//! the clients cost little), first alone and then while a writer changes the world every few
//! milliseconds. The simulator runs on its own runtime (threads named `sim-*`), so its CPU per
//! request is read from /proc, apart from the clients'. Run with `cargo bench -p proxctl-bench --bench sim_reads`; figures only.

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proxctl_client::{Client, ClientSettings, Credentials, TlsMode};
use proxctl_sim::{ClockMode, SimConfig, SimHandle};

const READERS: usize = 8;
const SECONDS: u64 = 5;

/// CPU seconds used so far by this process's threads whose name starts with `prefix`.
fn cpu_of(prefix: &str) -> f64 {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / 100.0
}

fn client_for(sim: &SimHandle) -> Client {
    let mut s = ClientSettings::new(&sim.url).expect("url");
    s.tls = TlsMode::Pin(sim.fingerprint.parse().expect("fingerprint"));
    s.credentials = Some(Credentials::from_full_token(sim.token.expose()).expect("token"));
    Client::new(s).expect("client")
}

fn run(load: &tokio::runtime::Runtime, sim: &SimHandle, writer: bool) -> (f64, f64) {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_of("sim-");
    let t = Instant::now();
    load.block_on(async {
        let mut tasks = Vec::new();
        let url = format!("{}/api2/json/cluster/resources", sim.url);
        let auth = format!("PVEAPIToken={}", sim.token.expose());
        for _ in 0..READERS {
            // Certificate checks are the client crate's business, measured elsewhere.
            let http = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .expect("http client");
            let (url, auth, done, count) = (url.clone(), auth.clone(), done.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let r = http.get(&url).header("Authorization", &auth).send().await;
                    let body = r.expect("request").bytes().await.expect("body");
                    assert!(body.len() > 100_000, "a full answer");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        if writer {
            let (client, done) = (client_for(sim), done.clone());
            tasks.push(tokio::spawn(async move {
                let node = proxctl_types::NodeName::new("pve1").expect("node");
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let vmid = proxctl_types::VmId::new(100).expect("vmid");
                    let mut u = proxctl_client::endpoints::qemu::ConfigUpdate::default();
                    u.set.description = Some(format!("write {i}"));
                    client.qemu_update_config(&node, vmid, &u).await.expect("write");
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(SECONDS)).await;
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("reader");
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed) as f64;
    (n / secs, (cpu_of("sim-") - cpu0) * 1000.0 / n)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sim-worker")
        .enable_all()
        .build()
        .expect("runtime");
    let load = tokio::runtime::Builder::new_multi_thread()
        .thread_name("load-worker")
        .enable_all()
        .build()
        .expect("runtime");
    let sim = server.block_on(async {
        let cfg = SimConfig {
            nodes: 10,
            clock: ClockMode::Realtime,
            auth_failure_delay_ms: 0,
            ..SimConfig::default()
        };
        proxctl_sim::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("simulator")
    });
    sim.with_world(|w| proxctl_sim::scenario::bulk_guests(w, 5_000));
    println!(
        "{:<44} {:>10} {:>18}",
        "/cluster/resources, 10 nodes, 5,000 guests", "requests/s", "sim CPU ms/request"
    );
    for (name, writer) in [("8 readers", false), ("8 readers + a writer every 5 ms", true)] {
        let (rps, cpu) = run(&load, &sim, writer);
        println!("{name:<44} {rps:>10.1} {cpu:>18.2}");
    }
    drop(sim);
}
