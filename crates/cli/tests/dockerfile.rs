//! The repository's Dockerfile starts the simulator with a command line that works: its
//! ENTRYPOINT and CMD, run here with the container's paths and address swapped for a
//! temporary directory and port 0, bring up a simulator that writes its ready file and CA.
//! (No container runtime is needed; the image build itself is plain `cargo build`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// The JSON array after `keyword` in the Dockerfile (exec form).
fn exec_form(dockerfile: &str, keyword: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with(&format!("{keyword} ")))
        .unwrap_or_else(|| panic!("the Dockerfile has no {keyword}"));
    serde_json::from_str(line[keyword.len()..].trim()).expect("exec form (a JSON array)")
}

#[test]
fn the_dockerfile_entrypoint_starts_a_simulator_that_reports_ready() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = "/var/lib/proxctl-sim";
    let mut args: Vec<String> = exec_form(&text, "ENTRYPOINT");
    args.extend(exec_form(&text, "CMD"));
    assert_eq!(args[..2], ["proxctl", "sim"], "{args:?}");
    let args: Vec<String> = args[1..]
        .iter()
        .map(|a| match a.as_str() {
            "0.0.0.0:8006" => "127.0.0.1:0".to_string(),
            other => other.replace(home, dir.path().to_str().unwrap()),
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxctl"))
        .args(&args)
        .env("PROXCTL_SIM_TOKEN", "root@pam!ci=0a1b2c3d-0000-4000-8000-000000000009")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // "listening on" comes after the ready file is in place.
    let mut said = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("listening on");
        said.push(line);
        if done {
            break;
        }
    }
    let ready = std::fs::read_to_string(dir.path().join("ready.json"));
    let ca = std::fs::read_to_string(dir.path().join("pve-root-ca.pem"));
    let _ = child.kill();
    let _ = child.wait();
    let ready: serde_json::Value =
        serde_json::from_str(&ready.unwrap_or_else(|e| panic!("no ready file ({e}): {said:?}")))
            .unwrap();
    assert_eq!(ready["nodes"].as_array().map(Vec::len), Some(3), "CMD asks for three nodes");
    assert!(ca.unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
}
