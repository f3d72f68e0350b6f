//! `/cluster/resources` on a simulated 10-node cluster with 5,000 guests, end to end over HTTPS
//! through proxctl's client (issue target: under 50 ms).

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use proxctl_client::{Client, ClientSettings, Credentials, TlsMode};
use proxctl_sim::{ClockMode, SimConfig};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (sim, client) = rt.block_on(async {
        let cfg = SimConfig {
            nodes: 10,
            clock: ClockMode::Manual,
            auth_failure_delay_ms: 0,
            ..SimConfig::default()
        };
        let sim =
            proxctl_sim::start(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("simulator");
        sim.with_world(|w| proxctl_sim::scenario::bulk_guests(w, 5_000));
        let mut s = ClientSettings::new(&sim.url).expect("url");
        s.tls = TlsMode::Pin(sim.fingerprint.parse().expect("fingerprint"));
        s.credentials = Some(Credentials::from_full_token(sim.token.expose()).expect("token"));
        let client = Client::new(s).expect("client");
        let n = client.cluster_resources(None).await.expect("resources").len();
        eprintln!("cluster/resources returns {n} items");
        (sim, client)
    });
    let mut g = c.benchmark_group("cluster_resources");
    g.measurement_time(Duration::from_secs(10)).sample_size(50);
    g.bench_function("10_nodes_5000_guests_https", |b| {
        b.to_async(&rt).iter(|| async { client.cluster_resources(None).await.expect("resources") })
    });
    g.bench_function("10_nodes_5000_guests_vm_only", |b| {
        b.to_async(&rt).iter(|| async {
            client
                .cluster_resources(Some(proxctl_client::endpoints::cluster::ResourceType::Vm))
                .await
                .expect("resources")
        })
    });
    g.finish();
    drop(sim);
}

criterion_group!(benches, bench);
criterion_main!(benches);
