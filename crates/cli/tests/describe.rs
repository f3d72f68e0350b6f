//! `describe` for people: a sectioned view of a VM, a container and a node (snapshot tests),
//! with `-o yaml|json` for the raw data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
guests:
  - vmid: 100
    running: true
    config: {name: web-1, cores: "2", sockets: "1", memory: "2048", agent: "1", tags: "web;proxctl", ostype: l26, description: "front\nproxctl:resource=VirtualMachine/web-1", scsi0: "local-lvm:vm-100-disk-0,size=32G", net0: "virtio=BC:24:11:00:00:64,bridge=vmbr0,tag=10", ciuser: debian, ipconfig0: "ip=10.0.0.5/24,gw=10.0.0.1"}
  - vmid: 200
    kind: lxc
    config: {hostname: ct-1, cores: "1", memory: "512", unprivileged: "1", rootfs: "local-lvm:vm-200-disk-0,size=8G", net0: "name=eth0,bridge=vmbr0,ip=dhcp"}
"#;

/// The view with what changes from run to run (uptimes, task times) masked.
fn stable(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.contains("running for")
                || l.trim_start().starts_with("qm")
                || l.trim_start().starts_with("vz")
            {
                let indent = l.len() - l.trim_start().len();
                format!(
                    "{}{} <varies>",
                    " ".repeat(indent),
                    l.split_whitespace().next().unwrap_or("")
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_sections_for_people_and_raw_data_on_request() {
    let s = start_with(CLUSTER).await;
    let r =
        proxctl(&s, &["snapshot", "create", "web-1", "before-upgrade", "--ttl", "2d"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "vm", "web-1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for title in [
        "Summary:",
        "Hardware:",
        "Disks:",
        "NICs:",
        "Cloud-init:",
        "Snapshots:",
        "Backups:",
        "Recent tasks:",
        "Ownership:",
        "HA:",
    ] {
        assert!(r.stdout.contains(title), "{title}\n{}", r.stdout);
    }
    assert!(r.stdout.contains("before-upgrade") && r.stdout.contains("expires"), "{}", r.stdout);
    assert!(r.stdout.contains("Resource  VirtualMachine/web-1"), "{}", r.stdout);
    let snapshot_line =
        r.stdout.lines().find(|l| l.contains("before-upgrade")).unwrap().to_string();
    let masked = stable(&r.stdout).replace(snapshot_line.trim(), "before-upgrade <time, expiry>");
    insta::assert_snapshot!("describe_vm", masked);

    let r = proxctl(&s, &["describe", "container", "ct-1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("describe_container", stable(&r.stdout));

    let r = proxctl(&s, &["describe", "vm", "web-1", "-o", "yaml"], &[]).await;
    assert!(r.stdout.contains("config:") && r.stdout.contains("memory: '2048'"), "{}", r.stdout);
}
