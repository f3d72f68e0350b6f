//! Safe mode never locks proxctl out of what it made: a guest from each creating command
//! (`vm create` from an image, `vm clone`, `ct create`, `ct clone`) carries the ownership
//! marker from its creating call, so proxctl can then change, start and delete it. Refusals
//! exit 1 everywhere (bulk and tag included), and a stop-mode backup counts as a change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: handmade, scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 9000, config: {name: tpl, template: true, description: "base image\nproxctl:resource=Template/tpl", scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

const TPL: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

fn vmid_of(s: &proxctl_sim::SimHandle, name: &str) -> u32 {
    s.with_world(|w| {
        w.guests
            .iter()
            .find(|(_, g)| {
                g.conf.get("name").or_else(|| g.conf.get("hostname")).map(String::as_str)
                    == Some(name)
            })
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no guest {name}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_made_by_each_creating_command_stay_proxctls_under_safe_mode() {
    let s = start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let env = [
        ("PROXCTL_STATE", db.to_str().unwrap()),
        ("PROXCTL_SAFE_MODE", "1"),
        ("PROXCTL_STORAGE", "local-lvm"),
        ("PROXCTL_CT_PASSWORD", "hunter22"),
    ];
    let run = |args: Vec<&'static str>| {
        let s = &s;
        let env = &env;
        async move {
            let r = proxctl(s, &args, env).await;
            assert_eq!(r.code, 0, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        }
    };
    // vm create from an image: the create, then its own resize and start, all go through.
    run(vec![
        "vm",
        "create",
        "i2",
        "--node",
        "pve",
        "--image",
        "local:import/debian-12-genericcloud-amd64.qcow2",
        "--disk",
        "4G",
        "--start",
        "--yes",
    ])
    .await;
    run(vec!["vm", "clone", "tpl", "--name", "c2"]).await;
    run(vec!["ct", "create", "--hostname", "t2", "--template", TPL]).await;
    let t2 = vmid_of(&s, "t2").to_string();
    let t2: &'static str = Box::leak(t2.into_boxed_str());
    run(vec!["ct", "clone", t2, "--hostname", "t3"]).await;

    // A clone keeps the source's text but never its resource marker.
    let c2 = vmid_of(&s, "c2");
    let description =
        s.with_world(|w| w.guests[&c2].conf.get("description").cloned().unwrap_or_default());
    assert_eq!(description, "base image\nproxctl:managed");

    run(vec!["vm", "stop", "i2", "--yes"]).await; // started by its create
    for vm in ["i2", "c2"] {
        run(vec!["vm", "set", vm, "--cores", "2"]).await;
        run(vec!["vm", "start", vm]).await;
        run(vec!["vm", "stop", vm, "--yes"]).await;
        run(vec!["vm", "delete", vm, "--yes"]).await;
    }
    for ct in ["t2", "t3"] {
        run(vec!["ct", "start", ct]).await;
        run(vec!["ct", "stop", ct, "--yes"]).await;
        run(vec!["ct", "delete", ct, "--yes"]).await;
    }

    // What proxctl did not make is still protected, with exit 1 from every command.
    for args in [
        &["vm", "start", "handmade"][..],
        &["tag", "add", "-l", "name:handmade", "web"][..],
        &["bulk", "start", "-l", "name:handmade"][..],
        &["backup", "create", "handmade", "--mode", "stop", "--storage", "local", "--yes"][..],
    ] {
        let r = proxctl(&s, args, &env).await;
        assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("safe mode"), "{args:?}: {}", r.stderr);
    }
    // A snapshot-mode backup does not interrupt the guest: allowed.
    let r = proxctl(
        &s,
        &["backup", "create", "handmade", "--mode", "snapshot", "--storage", "local"],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}
