//! schemathesis (pinned, from PyPI: tests/schemathesis/requirements.txt) against the running
//! server's own OpenAPI document: no 5xx, no answer the document does not describe, bad
//! input refused. `positive_data_acceptance` is left out: a selector is a small language
//! whose grammar OpenAPI cannot express, so a string the document allows may still be a bad
//! selector (400). The event stream is left out too: an answer that never ends cannot be
//! checked as one response.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

/// The `schemathesis` command beside `PROXCTL_PYTHON` (the venv CI makes), or on PATH.
fn schemathesis() -> Option<PathBuf> {
    let beside = std::env::var_os("PROXCTL_PYTHON")
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(|d| d.join("schemathesis")));
    let candidates = beside.into_iter().chain([PathBuf::from("schemathesis")]);
    for c in candidates {
        if std::process::Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    let msg = "schemathesis is not installed; install tests/schemathesis/requirements.txt into \
               the venv PROXCTL_PYTHON names (CI does)";
    assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
    eprintln!("skipping: {msg}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let Some(st) = schemathesis() else { return };
    let api = support::Api::start(false).await;
    let out = tokio::process::Command::new(st)
        .args(["run", &format!("{}/api/v1/openapi.json", api.url)])
        .args(["--header", &format!("Authorization: Bearer {}", api.tokens["admin"])])
        .args(["--tls-verify", "false", "--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        // The event stream never ends, so it cannot be answered within a request timeout.
        .args(["--exclude-path", "/api/v1/events"])
        // `/mcp` speaks JSON-RPC (the MCP protocol), whose answers the OpenAPI document does not
        // model; the official MCP SDK drives it instead (crates/cli/tests/mcp.rs).
        .args(["--exclude-path", "/mcp"])
        // One worker: with two, hypothesis parses lambda sources from two threads at once,
        // which CPython 3.11's `ast` can fail at ("AST constructor recursion depth mismatch",
        // seen once in CI), a fault of the tool, not of the server.
        .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
        // Under a fully loaded CI machine, one request in a few thousand has ended in a TLS
        // "EOF in violation of protocol" (a pooled keep-alive connection closed under it; no
        // server panic or error is logged). Retrying such network-level failures keeps the
        // checks on what the server answers; the cause is noted for investigation.
        .args(["--request-retries", "2"])
        .env_remove("REQUESTS_CA_BUNDLE")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("passed"), "schemathesis ran no test:\n{text}");
}
