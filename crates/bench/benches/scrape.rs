//! What a Prometheus scrape of `proxctl serve` costs at 5,000 guests (issue 17): the time of
//! one `/metrics` scrape and the PVE requests it makes, cold (the first, which also lists
//! backups) and warm, against a 10-node simulator. Beside it, the requests
//! prometheus-pve-exporter makes for the same cluster, counted from its collectors (one
//! config read per guest for `pve_onboot_status`). Run with
//! `cargo bench -p proxctl-bench --bench scrape`; figures only.

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use proxctl_client::{Client, ClientSettings, Credentials, TlsMode};
use proxctl_ops::metrics::details::{self, Details};
use proxctl_ops::metrics::fleet::Policy;
use proxctl_ops::metrics::scrape::Scraper;
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_sim::{ClockMode, SimConfig};

const GUESTS: usize = 5_000;
const NODES: usize = 10;
const SCRAPES: usize = 5;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = rt.block_on(async {
        let cfg = SimConfig {
            nodes: NODES,
            clock: ClockMode::Realtime,
            auth_failure_delay_ms: 0,
            ..SimConfig::default()
        };
        proxctl_sim::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("simulator")
    });
    sim.with_world(|w| proxctl_sim::scenario::bulk_guests(w, GUESTS));
    let mut s = ClientSettings::new(&sim.url).expect("url");
    s.tls = TlsMode::Pin(sim.fingerprint.parse().expect("fingerprint"));
    s.credentials = Some(Credentials::from_full_token(sim.token.expose()).expect("token"));
    let remotes = vec![("pve".to_string(), Client::new(s).expect("client"))];
    let state = Arc::new(StateHandle::new(StateSpec::Sqlite(dir.path().join("state.db"))));
    let scraper =
        Scraper::new(Details::new(details::PER_SCRAPE, details::BACKUPS_EVERY), Policy::default());

    println!(
        "{:<58} {:>9} {:>13} {:>9}",
        format!("/metrics, {NODES} nodes, {GUESTS} guests"),
        "time ms",
        "PVE requests",
        "series"
    );
    let mut warm = Vec::new();
    for i in 0..SCRAPES {
        sim.clear_counters();
        let t = Instant::now();
        let families = rt.block_on(scraper.all(&remotes, &state));
        let took = t.elapsed();
        let requests: u64 = sim.counters().values().sum();
        let series: usize = families.iter().map(|f| f.samples.len()).sum();
        let name = if i == 0 {
            "proxctl, first scrape (lists backups too)"
        } else {
            "proxctl, a later scrape"
        };
        println!("{name:<58} {:>9.0} {requests:>13} {series:>9}", ms(took));
        if i > 0 {
            warm.push(took);
        }
    }
    let encode_t = Instant::now();
    let families = rt.block_on(scraper.all(&remotes, &state));
    let text = proxctl_ops::metrics::encode(&families).expect("encode");
    println!(
        "{:<58} {:>9.0} {:>13} {:>9}",
        format!("proxctl, scrape + text encoding ({} KiB)", text.len() / 1024),
        ms(encode_t.elapsed()),
        "",
        ""
    );
    // prometheus-pve-exporter, from its collectors: the cluster target reads /cluster/status
    // five times, /cluster/resources three times, /version, not-backed-up and qdevice once;
    // each node target reads /cluster/status about three times, its qemu and lxc lists, every
    // guest's config, the subscription and the replication list.
    let cluster = 5 + 3 + 1 + 1 + 1;
    let per_node = 3 + 2 + GUESTS / NODES + 1 + 1;
    println!(
        "{:<58} {:>9} {:>13} {:>9}",
        "prometheus-pve-exporter, cluster + every node (counted)",
        "-",
        cluster + NODES * per_node,
        "-"
    );
    println!(
        "\nEvery guest's details are re-read within {} scrapes ({} per scrape); warm mean {:.0} ms.",
        GUESTS.div_ceil(details::PER_SCRAPE),
        details::PER_SCRAPE,
        warm.iter().map(|d| ms(*d)).sum::<f64>() / warm.len().max(1) as f64
    );
    drop(sim);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
