//! `proxctl serve` under load, in front of a simulator with 1,000 guests: start-to-ready time,
//! latency percentiles of `GET /api/v1/guests` (all 1,000) at a fixed 200 requests/s (an open
//! loop: requests leave on schedule whether or not earlier ones came back), and the server's
//! memory. The server is the release binary in its own process, so its RSS is its own.
//! Moxxie's published claims are printed beside. Run with
//! `cargo bench -p proxctl --bench serve`; figures, never assertions.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark with broken setup should stop loudly

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RATE: u64 = 200;
const SECONDS: u64 = 10;
const GUESTS: usize = 1000;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let cfg = proxctl_sim::SimConfig {
            nodes: 3,
            auth_failure_delay_ms: 0,
            ..proxctl_sim::SimConfig::default()
        };
        let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("sim");
        sim.with_world(|w| proxctl_sim::scenario::bulk_guests(w, GUESTS));
        let dir = tempfile::tempdir().unwrap();
        let env = |c: &mut Command| {
            c.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("PROXCTL_URL", &sim.url)
                .env("PROXCTL_FINGERPRINT", &sim.fingerprint)
                .env("PROXCTL_TOKEN", sim.token.expose())
                .env("PROXCTL_STATE", dir.path().join("state.db"));
        };
        let bin = env!("CARGO_BIN_EXE_proxctl");
        let mut create = Command::new(bin);
        env(&mut create);
        let token =
            create.args(["token", "create", "bench", "--role", "viewer"]).output().expect("token");
        let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

        let ready = dir.path().join("ready.json");
        let mut serve = Command::new(bin);
        env(&mut serve);
        serve
            .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "100000", "--ready-file"])
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let t0 = Instant::now();
        let mut child = serve.spawn().expect("serve");
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(u) = v["url"].as_str()
            {
                break u.to_string();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let listening = t0.elapsed();
        while http.get(format!("{url}/healthz")).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let answering = t0.elapsed();
        let idle_rss = rss_kib(child.id(), "VmRSS:");

        // Warm up: the first requests verify the token (argon2) and open connections.
        let list = format!("{url}/api/v1/guests?limit={GUESTS}");
        for _ in 0..20 {
            let r = http.get(&list).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.json::<serde_json::Value>().await.unwrap()["total"], GUESTS);
        }
        let mut tasks = Vec::new();
        let start = tokio::time::Instant::now();
        let every = Duration::from_secs(1) / RATE as u32;
        for i in 0..RATE * SECONDS {
            tokio::time::sleep_until(start + every * i as u32).await;
            let (http, list, token) = (http.clone(), list.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = http.get(&list).bearer_auth(&token).send().await.expect("request");
                let ok = r.status().is_success();
                let _ = r.bytes().await;
                (t.elapsed(), ok)
            }));
        }
        let mut lat = Vec::new();
        let mut failed = 0;
        for t in tasks {
            let (d, ok) = t.await.unwrap();
            if !ok {
                failed += 1;
            }
            lat.push(d);
        }
        let peak = rss_kib(child.id(), "VmHWM:");
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "proxctl serve, GET /api/v1/guests (1,000 guests) at {RATE} requests/s for {SECONDS} s"
        );
        println!("{:<32} {:>14} {:>22}", "", "proxctl", "Moxxie (its claims)");
        println!("{:<32} {:>11.1} ms {:>22}", "start to listening", ms(listening), "5 s");
        println!("{:<32} {:>11.1} ms {:>22}", "start to first answer", ms(answering), "");
        println!("{:<32} {:>11.2} ms {:>22}", "p50", ms(percentile(&lat, 0.50)), "");
        println!("{:<32} {:>11.2} ms {:>22}", "p95", ms(percentile(&lat, 0.95)), "< 200 ms");
        println!("{:<32} {:>11.2} ms {:>22}", "p99", ms(percentile(&lat, 0.99)), "");
        println!(
            "{:<32} {:>11} {:>22}",
            "requests (failed)",
            format!("{} ({failed})", lat.len()),
            ""
        );
        println!("{:<32} {:>11.1} MB {:>22}", "RSS idle", idle_rss as f64 / 1024.0, "");
        println!(
            "{:<32} {:>11.1} MB {:>22}",
            "RSS peak under load",
            peak as f64 / 1024.0,
            "512 MB"
        );
        let _ = child.kill();
        let _ = child.wait();
    });
}
