//! The dashboard's figures (never assertions): what it ships (JS and CSS, gzip'd, as served),
//! how fast the guests page of a 5,000-guest fleet becomes interactive in Chromium (median
//! navigation timings from `tests/dashboard/tti.mjs`), beside the JSON API answering the same
//! 100 rows, and the server's memory while serving it. The server is the release binary in its
//! own process. Run with `cargo bench -p proxctl --bench dashboard`; needs Node.js and
//! Chromium, as the browser tests do.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark with broken setup should stop loudly

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GUESTS: usize = 5000;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dashboard");
    let npm = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&e2e)
        .status()
        .expect("npm");
    assert!(npm.success(), "npm ci in tests/dashboard");
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
        let mut child = serve.spawn().expect("serve");
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(u) = v["url"].as_str()
            {
                break u.to_string();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let api = format!("{url}/api/v1/guests?limit=100");
        let mut api_times = Vec::new();
        for _ in 0..8 {
            let t = Instant::now();
            let r = http.get(&api).bearer_auth(&token).send().await.unwrap();
            let _ = r.bytes().await;
            api_times.push(t.elapsed());
        }
        api_times.sort();
        let idle = rss_kib(child.id(), "VmRSS:");
        let out = Command::new("node")
            .arg("tti.mjs")
            .current_dir(&e2e)
            .env("PROXCTL_DASH_URL", &url)
            .env("PROXCTL_DASH_TOKEN", &token)
            .output()
            .expect("node");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let t: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("tti.mjs prints JSON");
        let serving = rss_kib(child.id(), "VmRSS:");
        let peak = rss_kib(child.id(), "VmHWM:");
        let (mut raw, mut gz) = (0, 0);
        for a in proxctl_dashboard::assets::all() {
            raw += a.body.len();
            gz += a.gzip.len();
        }
        let ms = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        println!("dashboard: the guests page of {GUESTS} guests (100 a page, sorted by CPU)");
        println!("{:<40} {:>14} {:>26}", "", "dashboard", "JSON API, same 100 rows");
        println!(
            "{:<40} {:>10.1} KiB {:>26}",
            "JS + CSS shipped, gzip (raw)",
            gz as f64 / 1024.0,
            format!("({:.1} KiB raw)", raw as f64 / 1024.0)
        );
        println!(
            "{:<40} {:>11.1} ms {:>23.1} ms",
            "time to first byte (median)",
            ms(&t["ttfb"]),
            api_times[api_times.len() / 2].as_secs_f64() * 1000.0
        );
        println!(
            "{:<40} {:>11.1} ms {:>26}",
            "time to interactive (DOM interactive)",
            ms(&t["interactive"]),
            ""
        );
        println!("{:<40} {:>11.1} ms {:>26}", "load event", ms(&t["load"]), "");
        println!(
            "{:<40} {:>10.1} KiB {:>26}",
            "page HTML transferred",
            ms(&t["html_bytes"]) / 1024.0,
            ""
        );
        println!("{:<40} {:>11.1} MB {:>26}", "server RSS idle", idle as f64 / 1024.0, "");
        println!(
            "{:<40} {:>11.1} MB {:>26}",
            "server RSS serving the page",
            serving as f64 / 1024.0,
            ""
        );
        println!("{:<40} {:>11.1} MB {:>26}", "server RSS peak", peak as f64 / 1024.0, "");
        let _ = child.kill();
        let _ = child.wait();
    });
}
