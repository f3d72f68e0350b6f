//! The seed ISO as the outside world sees it: `blkid` (util-linux) must identify an ISO 9660
//! filesystem labelled `cidata`, which is how cloud-init's NoCloud datasource finds it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proxctl_images::nocloud::Seed;

#[test]
fn blkid_sees_an_iso9660_volume_labelled_cidata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.iso");
    let seed = Seed { hostname: "web-1".into(), user: Some("debian".into()), ..Seed::default() };
    std::fs::write(&path, seed.iso()).unwrap();
    let out = match std::process::Command::new("blkid")
        .arg("-p")
        .arg("-o")
        .arg("export")
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: blkid unavailable ({e})");
            return;
        }
        Err(e) => panic!("blkid is required (PROXCTL_REQUIRE_ALL=1): {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TYPE=iso9660"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("LABEL=cidata"), "{text}");
}
