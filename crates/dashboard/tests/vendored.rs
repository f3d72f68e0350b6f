//! The vendored front-end libraries are exactly what npm serves for the versions
//! `assets/package-lock.json` pins (checked by `assets/vendor.sh --check`, which installs them
//! with `npm ci` and compares byte for byte). Needs npm and the npm registry; without npm the
//! test skips, unless `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn vendored_assets_match_the_pinned_npm_packages() {
    if !Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let msg = "npm is missing: cannot check assets/vendor against package-lock.json";
        assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
        eprintln!("skipping: {msg}");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/vendor.sh");
    let out = Command::new("bash").arg(&script).arg("--check").output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
