//! The dashboard in a real browser: `tests/dashboard/e2e.mjs` (Playwright with Debian's
//! Chromium, axe-core; both pinned in `tests/dashboard/package-lock.json`) against an
//! in-process `proxctl serve` in front of the simulator. It signs in, finds guests by a tag
//! expression, bulk-snapshots them with a TTL, sees the snapshot on a guest, starts and stops a
//! VM, applies a manifest and follows its progress, sees drift after a change made straight in
//! PVE, visits every page (axe-core: no serious or critical violation), checks a viewer has no
//! action controls, and signs out. Screenshots of every page land in
//! `$CARGO_TARGET_TMPDIR/dashboard-screenshots`.
//!
//! The same journey runs in Firefox too (`tests/dashboard/firefox.mjs`: W3C WebDriver through
//! geckodriver to Debian's firefox-esr), with axe-core on each page it visits.
//!
//! Needs Node.js with npm (the packages are installed here with `npm ci`), Chromium
//! (`$PROXCTL_CHROMIUM`, else `/usr/bin/chromium`), Firefox (`$PROXCTL_FIREFOX`, else
//! `/usr/bin/firefox-esr`) and geckodriver (`$PROXCTL_GECKODRIVER`, else on `PATH`). Without
//! them a test skips, unless `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::Api;

/// Whether a program runs (`--version` answers).
fn runs(program: &str) -> bool {
    std::process::Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `None` (and a skip) when something is missing, unless CI requires every test to run.
fn needs(missing: Option<String>) -> Option<()> {
    let Some(m) = missing else { return Some(()) };
    let msg = format!("the dashboard's browser test needs {m}; CI installs it");
    assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
    eprintln!("skipping: {msg}");
    None
}

fn tools() -> Option<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dashboard");
    let chromium = std::env::var("PROXCTL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    needs(match (runs("node"), Path::new(&chromium).exists()) {
        (false, _) => Some("node (Node.js with npm)".to_string()),
        (_, false) => Some(format!("{chromium} (Debian's chromium package)")),
        _ => None,
    })?;
    Some((dir, chromium))
}

/// A copy of `tests/dashboard` (manifest, lock file, scripts) with the pinned packages
/// installed exactly as the lock file says (no browser download: the browsers are Debian's).
/// Each test gets its own: `npm ci` empties `node_modules` first, so two tests sharing one
/// would pull it from under each other's browser run.
async fn npm_ci(dir: &Path) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".json") || name.ends_with(".mjs") {
            std::fs::copy(&path, work.path().join(&name)).unwrap();
        }
    }
    let npm = tokio::process::Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"])
        .current_dir(work.path())
        .output()
        .await
        .unwrap();
    assert!(npm.status.success(), "npm ci: {}", String::from_utf8_lossy(&npm.stderr));
    work
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_journey_works_in_firefox_too() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dashboard");
    let firefox =
        std::env::var("PROXCTL_FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into());
    let gecko = std::env::var("PROXCTL_GECKODRIVER").unwrap_or_else(|_| "geckodriver".into());
    let missing = if !runs("node") {
        Some("node (Node.js with npm)".to_string())
    } else if !Path::new(&firefox).exists() {
        Some(format!("{firefox} (Debian's firefox-esr package)"))
    } else if !runs(&gecko) {
        Some(format!("{gecko} (`cargo install geckodriver`)"))
    } else {
        None
    };
    let Some(()) = needs(missing) else { return };
    let work = npm_ci(&dir).await;
    let api = Api::start(false).await;
    let env = [("PROXCTL_FIREFOX", firefox.as_str()), ("PROXCTL_GECKODRIVER", gecko.as_str())];
    let summary = run_script(work.path(), "firefox.mjs", &api, &env, 12).await;
    assert!(summary["browser"].as_str().unwrap().starts_with("firefox"), "{summary}");
}

/// Run a browser script against `api` and check its summary: it succeeded, axe-core found no
/// serious or critical violation, and at least `shots` screenshots were written.
async fn run_script(
    dir: &Path,
    script: &str,
    api: &Api,
    env: &[(&str, &str)],
    shots: usize,
) -> serde_json::Value {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(dir)
        .env("PROXCTL_DASH_URL", &api.url)
        .env("PROXCTL_DASH_ADMIN", &api.tokens["admin"])
        .env("PROXCTL_DASH_OUT", &out)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["violations"], serde_json::json!([]), "axe-core: {summary}");
    let taken = summary["screenshots"].as_array().unwrap();
    assert!(taken.len() >= shots, "a screenshot of every page: {summary}");
    for s in taken {
        let png = out.join(format!("{}.png", s.as_str().unwrap()));
        assert!(std::fs::metadata(&png).unwrap().len() > 1000, "{}", png.display());
    }
    eprintln!("{script}: screenshots in {}", out.display());
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_finds_acts_applies_sees_drift_and_signs_out_in_a_real_browser() {
    let Some((dir, chromium)) = tools() else { return };
    let work = npm_ci(&dir).await;
    let api = Api::start(false).await;
    let env = [
        ("PROXCTL_DASH_VIEWER", api.tokens["viewer"].as_str()),
        ("PROXCTL_SIM_URL", api._sim.url.as_str()),
        ("PROXCTL_SIM_TOKEN", api._sim.token.expose()),
        ("PROXCTL_CHROMIUM", chromium.as_str()),
    ];
    run_script(work.path(), "e2e.mjs", &api, &env, 18).await;
}
