//! The dashboard in a real browser: `tests/dashboard/e2e.mjs` (Playwright with Debian's
//! Chromium, axe-core; both pinned in `tests/dashboard/package-lock.json`) against an
//! in-process `proxctl serve` in front of the simulator. It signs in, finds guests by a tag
//! expression, bulk-snapshots them with a TTL, sees the snapshot on a guest, starts and stops a
//! VM, applies a manifest and follows its progress, sees drift after a change made straight in
//! PVE, visits every page (axe-core: no serious or critical violation), checks a viewer has no
//! action controls, and signs out. Screenshots of every page land in
//! `$CARGO_TARGET_TMPDIR/dashboard-screenshots`.
//!
//! Needs Node.js with npm (the packages are installed here with `npm ci`) and Chromium
//! (`$PROXCTL_CHROMIUM`, else `/usr/bin/chromium`). Without them the test skips, unless
//! `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::Api;

fn tools() -> Option<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dashboard");
    let chromium = std::env::var("PROXCTL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = match (node, Path::new(&chromium).exists()) {
        (false, _) => Some("node (Node.js with npm)".to_string()),
        (_, false) => Some(format!("{chromium} (Debian's chromium package)")),
        _ => None,
    };
    if let Some(m) = missing {
        let msg = format!("the dashboard's browser test needs {m}; CI installs it");
        assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
        eprintln!("skipping: {msg}");
        return None;
    }
    Some((dir, chromium))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_finds_acts_applies_sees_drift_and_signs_out_in_a_real_browser() {
    let Some((dir, chromium)) = tools() else { return };
    // The pinned packages, exactly as the lock file says (no browser download: Chromium is
    // Debian's).
    let npm = tokio::process::Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(npm.status.success(), "npm ci: {}", String::from_utf8_lossy(&npm.stderr));

    let api = Api::start(false).await;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let run = tokio::process::Command::new("node")
        .arg("e2e.mjs")
        .current_dir(&dir)
        .env("PROXCTL_DASH_URL", &api.url)
        .env("PROXCTL_DASH_ADMIN", &api.tokens["admin"])
        .env("PROXCTL_DASH_VIEWER", &api.tokens["viewer"])
        .env("PROXCTL_SIM_URL", &api._sim.url)
        .env("PROXCTL_SIM_TOKEN", api._sim.token.expose())
        .env("PROXCTL_CHROMIUM", &chromium)
        .env("PROXCTL_DASH_OUT", &out)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the browser run failed:\n{stdout}\n{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["violations"], serde_json::json!([]), "axe-core: {summary}");
    let shots = summary["screenshots"].as_array().unwrap();
    assert!(shots.len() >= 18, "a screenshot of every page: {summary}");
    for s in shots {
        let png = out.join(format!("{}.png", s.as_str().unwrap()));
        assert!(std::fs::metadata(&png).unwrap().len() > 1000, "{}", png.display());
    }
    eprintln!("screenshots in {}", out.display());
}
