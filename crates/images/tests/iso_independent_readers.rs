//! The seed ISO as the outside world sees it, checked by tools that share no code with ours:
//! `blkid` (util-linux) must identify ISO 9660 labelled `cidata`, which is how cloud-init's
//! NoCloud datasource finds it; `xorriso` must read volume id `cidata` and extract files
//! byte-identical to the rendered ones; and Debian's `cloud-init schema` must accept the
//! user-data. `.ci/run` installs xorriso and cloud-init; with `PROXCTL_REQUIRE_ALL=1` a missing
//! tool fails the test instead of skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use proxctl_images::nocloud::Seed;

/// Runs a tool; `None` (skip) when it is missing and the environment allows skipping.
fn run(tool: &str, args: &[&str]) -> Option<Output> {
    match Command::new(tool).args(args).output() {
        Ok(o) => Some(o),
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: {tool} unavailable ({e})");
            None
        }
        Err(e) => panic!("{tool} is required (PROXCTL_REQUIRE_ALL=1; .ci/run installs it): {e}"),
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every feature the flags can set: static v4 and v6, keys, DNS, a MAC match.
fn full_seed() -> Seed {
    Seed {
        hostname: "web-1".into(),
        user: Some("debian".into()),
        ssh_keys: vec![
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey me@laptop".into(),
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== other@host".into(),
        ],
        ipv4: Some("10.0.0.5/24".into()),
        gateway4: Some("10.0.0.1".into()),
        ipv6: Some("2001:db8::5/64".into()),
        gateway6: Some("2001:db8::1".into()),
        nameservers: vec!["10.0.0.2".into(), "2001:db8::2".into()],
        search: vec!["example.internal".into()],
        mac: Some("BC:24:11:00:00:01".into()),
        user_data: None,
    }
}

/// The user's own cloud-config with the flags merged in.
fn merged_seed() -> Seed {
    Seed {
        user_data: Some(
            "#cloud-config\n# mine\npackages: [nginx, qemu-guest-agent]\nruncmd:\n  - [systemctl, enable, --now, qemu-guest-agent]\n"
                .into(),
        ),
        ..full_seed()
    }
}

fn write_iso(dir: &Path, seed: &Seed) -> std::path::PathBuf {
    let path = dir.join("seed.iso");
    std::fs::write(&path, seed.iso()).unwrap();
    path
}

#[test]
fn blkid_sees_an_iso9660_volume_labelled_cidata() {
    let dir = tempfile::tempdir().unwrap();
    let iso = write_iso(dir.path(), &full_seed());
    let Some(out) = run("blkid", &["-p", "-o", "export", iso.to_str().unwrap()]) else {
        return;
    };
    let t = text(&out);
    assert!(t.contains("TYPE=iso9660"), "{t}");
    assert!(t.contains("LABEL=cidata"), "{t}");
}

#[test]
fn xorriso_reads_volume_id_cidata_and_extracts_the_rendered_files_byte_for_byte() {
    for seed in [full_seed(), merged_seed()] {
        let dir = tempfile::tempdir().unwrap();
        let iso = write_iso(dir.path(), &seed);
        let iso = iso.to_str().unwrap();
        let Some(pvd) = run("xorriso", &["-indev", iso, "-pvd_info"]) else {
            return;
        };
        assert!(pvd.status.success(), "{}", text(&pvd));
        assert!(text(&pvd).contains("Volume Id    : cidata"), "{}", text(&pvd));

        let out = dir.path().join("out");
        let x = run(
            "xorriso",
            &["-osirrox", "on", "-indev", iso, "-extract", "/", out.to_str().unwrap()],
        )
        .unwrap();
        assert!(x.status.success(), "{}", text(&x));
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["meta-data", "network-config", "user-data"]);
        for (name, rendered) in seed.files() {
            let extracted = std::fs::read(out.join(name)).unwrap();
            assert_eq!(extracted, rendered.as_bytes(), "{name} differs from what was rendered");
        }
    }
}

#[test]
fn cloud_init_schema_accepts_the_user_data_generated_and_merged() {
    for seed in [full_seed(), merged_seed()] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("user-data");
        std::fs::write(&file, seed.user_data()).unwrap();
        let Some(out) = run("cloud-init", &["schema", "--config-file", file.to_str().unwrap()])
        else {
            return;
        };
        assert!(out.status.success(), "{}\n---\n{}", text(&out), seed.user_data());
        assert!(text(&out).contains("Valid cloud-config"), "{}", text(&out));
    }
}

#[test]
fn cloud_init_schema_is_a_real_check_it_rejects_a_wrong_type() {
    // Guards the test above: a schema run that accepted anything would prove nothing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("user-data");
    std::fs::write(&file, "#cloud-config\nusers: 5\n").unwrap();
    let Some(out) = run("cloud-init", &["schema", "--config-file", file.to_str().unwrap()]) else {
        return;
    };
    assert!(!out.status.success(), "{}", text(&out));
}
