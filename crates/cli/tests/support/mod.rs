//! What the binary's test suites share: an in-process simulator with the test token, and the
//! binary run against it with a clean environment.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each suite uses a different part

pub mod instances;

use std::process::{Command, Output};

use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use proxctl_types::secret::Secret;

pub const TOKEN: &str = "root@pam!cli=0a1b2c3d-1111-4222-8333-444444444444";

/// A realtime simulator (1000x) seeded from a scenario, with the test token.
pub async fn start_with(scenario: &str) -> SimHandle {
    start_scaled(scenario, 1000.0).await
}

/// The same at another speed, for tests that must catch work in progress.
pub async fn start_scaled(scenario: &str, time_scale: f64) -> SimHandle {
    let scenario = proxctl_sim::scenario::Scenario::from_yaml(scenario).unwrap();
    let cfg = SimConfig {
        clock: ClockMode::Realtime,
        time_scale,
        token: Some(Secret::new(TOKEN)),
        auth_failure_delay_ms: 0,
        scenario: Some(scenario),
        ..SimConfig::default()
    };
    proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// A simulator whose clock moves only when the test advances it: work stays in progress
/// until then.
pub async fn start_manual(scenario: &str) -> SimHandle {
    let scenario = proxctl_sim::scenario::Scenario::from_yaml(scenario).unwrap();
    let cfg = SimConfig {
        clock: ClockMode::Manual,
        token: Some(Secret::new(TOKEN)),
        auth_failure_delay_ms: 0,
        scenario: Some(scenario),
        ..SimConfig::default()
    };
    proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The binary with a clean environment pointing at the simulator.
pub fn command(
    sim: &SimHandle,
    home: &std::path::Path,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxctl"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PROXCTL_URL", &sim.url)
        .env("PROXCTL_TOKEN", TOKEN)
        .env("PROXCTL_FINGERPRINT", &sim.fingerprint);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

/// Run the binary against the simulator, off the async runtime.
pub async fn proxctl(sim: &SimHandle, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(sim, dir.path(), args, extra_env);
    let out: Output = tokio::task::spawn_blocking(move || {
        let o = cmd.output().unwrap();
        drop(dir);
        o
    })
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Serve files on loopback, for image downloads.
pub async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
    let files = files.into_iter().map(|(p, b)| (p.to_string(), b)).collect();
    proxctl_integration::file_server(std::sync::Arc::new(std::sync::Mutex::new(files))).await
}
