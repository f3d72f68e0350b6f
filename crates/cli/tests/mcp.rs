//! The MCP face driven by the official MCP Python SDK (PyPI, pinned in
//! tests/mcp/requirements.txt): `proxctl mcp` over stdio, read-only then in operate mode, and
//! `/mcp` on `proxctl serve` with tokens of several roles and a scope. Tools and their schemas,
//! read tools, refusals in read-only mode and for viewers, confirmation ids, change sets
//! (propose, approve by a person, apply; a stale one refused), scoped visibility, audit rows.
//!
//! Needs a Python with `mcp`: `$PROXCTL_MCP_PYTHON`, else `python3`. Without one the test
//! skips, unless `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCENARIO: &str = "\
guests:
  - {vmid: 100, running: true, config: {name: web-1, tags: web, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, running: true, config: {name: web-2, tags: web, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
  - {vmid: 102, config: {name: db-1, tags: db, scsi0: \"local-lvm:vm-102-disk-0,size=4G\"}}
  - {vmid: 103, config: {name: scratch-1, tags: scratch, scsi0: \"local-lvm:vm-103-disk-0,size=4G\"}}
";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> Option<String> {
    let py = std::env::var("PROXCTL_MCP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok =
        Command::new(&py).args(["-c", "import mcp, httpx2"]).status().is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    let msg = format!("{py} cannot import mcp; install tests/mcp/requirements.txt (CI does)");
    assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
    eprintln!("skipping: {msg}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_mcp_sdk_reads_freely_and_changes_only_through_approved_change_sets() {
    let Some(py) = python() else { return };
    let sim = support::start_with(SCENARIO).await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.db");
    let state = state.to_str().unwrap().to_string();
    let env = [("PROXCTL_STATE", state.as_str())];

    let mut tokens = Vec::new();
    for (name, role, scope) in [
        ("admin-bot", "admin", None),
        ("ops-bot", "operator", None),
        ("web-viewer", "viewer", Some("web")),
        ("alice", "admin", None),
    ] {
        let mut args = vec!["token", "create", name, "--role", role];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        let run = support::proxctl(&sim, &args, &env).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        tokens.push(run.stdout.trim().to_string());
    }

    let ready = home.path().join("ready.json");
    let mut serve = support::command(
        &sim,
        home.path(),
        &["serve", "--listen", "127.0.0.1:0", "--mcp-mode", "operate", "--ready-file"],
        &env,
    );
    serve.arg(&ready).arg("--data-dir").arg(home.path().join("server"));
    serve.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = serve.spawn().unwrap();
    // The server says it listens only after the ready file is written.
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
            panic!("no ready file ({e}); the server said: {seen:?}");
        }
    };
    let url = info["url"].as_str().unwrap();
    // Drain the server's stderr so it never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    let mut cmd = Command::new(&py);
    cmd.arg(repo_root().join("tests/mcp/scenario.py"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("PROXCTL_BIN", env!("CARGO_BIN_EXE_proxctl"))
        .env("PROXCTL_URL", &sim.url)
        .env("PROXCTL_TOKEN", support::TOKEN)
        .env("PROXCTL_FINGERPRINT", &sim.fingerprint)
        .env("PROXCTL_STATE", &state)
        .env("MCP_URL", format!("{url}/mcp"))
        .env("ADMIN_TOKEN", &tokens[0])
        .env("OPERATOR_TOKEN", &tokens[1])
        .env("SCOPED_TOKEN", &tokens[2])
        .env("PERSON_TOKEN", &tokens[3]);
    // Blocking, on a thread of its own: the simulator runs on this test's runtime.
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let server_log = drain.join().unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("mcp scenario passed"),
        "the MCP scenario failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server_log.join("\n")
    );

    // The audit log, read independently of the MCP tools: the actor is the client's name, and
    // the token is recorded with each call made over HTTP.
    let run = support::proxctl(&sim, &["audit", "list", "-o", "json"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let mcp_rows: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["actor"] == "mcp:proxctl-test").collect();
    assert!(mcp_rows.iter().any(|r| r["action"] == "mcp tool propose_change"));
    assert!(
        mcp_rows
            .iter()
            .any(|r| r["action"] == "mcp tool apply_change" && r["params"]["token"] == "admin-bot"),
        "an HTTP call names its token"
    );
    assert!(rows.iter().any(|r| r["action"] == "mcp approve"), "approvals are audited");
    for secret in &tokens {
        assert!(!run.stdout.contains(secret.as_str()), "no token secret in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn showing_or_approving_a_change_set_that_does_not_exist_is_a_user_error() {
    let sim = support::start_with("").await;
    for cmd in ["show", "approve"] {
        let r = support::proxctl(&sim, &["mcp", cmd, "ch-nosuch", "--yes"], &[]).await;
        assert_eq!(r.code, 1, "{cmd}: {}", r.stderr);
        assert!(r.stderr.contains("no change set 'ch-nosuch'"), "{cmd}: {}", r.stderr);
    }
}
