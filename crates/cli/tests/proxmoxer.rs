//! proxmoxer (PyPI, pinned in tests/proxmoxer/requirements.txt) runs its scenario unchanged
//! against the `proxctl sim` binary, with PVE schema validation on.
//!
//! Needs a Python with proxmoxer: `$PROXCTL_PYTHON`, else `python3`. Without one the test skips,
//! unless `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> Option<String> {
    let py = std::env::var("PROXCTL_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import proxmoxer, requests"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    let msg =
        format!("{py} cannot import proxmoxer; install tests/proxmoxer/requirements.txt (CI does)");
    assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
    eprintln!("skipping: {msg}");
    None
}

#[test]
fn proxmoxer_scenario_runs_unchanged_against_proxctl_sim() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let ca = dir.path().join("pve-root-ca.pem");
    let schema = repo_root().join("../shared/pve-api-schema.json");
    let password = "proxmoxer-pw";
    let token = "root@pam!pmx=11111111-2222-4333-8444-555555555555";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxctl"));
    cmd.args(["sim", "--listen", "127.0.0.1:0", "--seed", "7", "--time-scale", "50"])
        .arg("--ready-file")
        .arg(&ready)
        .arg("--ca-out")
        .arg(&ca)
        .env("PROXCTL_SIM_PASSWORD", password)
        .env("PROXCTL_SIM_TOKEN", token)
        .stderr(Stdio::piped());
    if schema.exists() {
        cmd.arg("--schema").arg(&schema);
    } else {
        assert!(
            std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(),
            "{} is missing",
            schema.display()
        );
    }
    let mut child = cmd.spawn().unwrap();
    // The simulator prints "listening" only after the ready file is in place: read until then.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("listening on");
        seen.push(line);
        if done {
            break;
        }
    }
    let info: serde_json::Value = match std::fs::read_to_string(&ready) {
        Ok(t) => serde_json::from_str(&t).unwrap(),
        Err(e) => {
            let _ = child.kill();
            panic!("no ready file ({e}); simulator said: {seen:?}");
        }
    };
    let url = info["url"].as_str().unwrap();
    let hostport = url.trim_start_matches("https://");
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let out = Command::new(&py)
        .arg(repo_root().join("tests/proxmoxer/scenario.py"))
        .env("PROXCTL_SIM_HOST", host)
        .env("PROXCTL_SIM_PORT", port)
        .env("PROXCTL_SIM_PASSWORD", password)
        .env("PROXCTL_SIM_TOKEN", token)
        .env("PROXCTL_SIM_CA", &ca)
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .unwrap();
    let _ = child.kill();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "proxmoxer scenario failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nsim:\n{rest:?}"
    );
    assert!(stdout.contains("proxmoxer scenario passed"));
    // The scenario sends one unknown parameter on purpose; nothing else may violate the schema.
    let violations: Vec<&String> = rest
        .iter()
        .filter(|l| l.contains("violates the PVE schema") && !l.contains("colour"))
        .collect();
    assert!(violations.is_empty(), "schema violations: {violations:?}");
}
