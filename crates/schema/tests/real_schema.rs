//! The validator against the real PVE 9.1 schema in ../shared.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

use proxctl_schema::{Violation, load_shared_schema_for_tests};

fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn real_schema_loads_and_accepts_a_typical_vm_create() {
    let Some(s) = load_shared_schema_for_tests() else {
        return;
    };
    assert!(s.route_count() > 400);
    s.validate(
        "POST",
        "/nodes/pve/qemu",
        &p(&[
            ("vmid", "100"),
            ("name", "web-1"),
            ("memory", "2048"),
            ("scsi0", "local-lvm:0,import-from=local:import/debian.qcow2"),
            ("net0", "virtio,bridge=vmbr0,firewall=1"),
            ("ide2", "local-lvm:cloudinit"),
            ("ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1"),
            ("sshkeys", "ssh-ed25519%20AAAA%20me%40host"),
            ("tags", "a;b"),
            ("agent", "1"),
        ]),
    )
    .unwrap();
}

#[test]
fn real_schema_rejects_unknown_parameter_and_raw_plus_in_resize() {
    let Some(s) = load_shared_schema_for_tests() else {
        return;
    };
    let Err(Violation::Params(e)) =
        s.validate("POST", "/nodes/pve/qemu", &p(&[("vmid", "100"), ("colour", "red")]))
    else {
        panic!("expected a parameter error")
    };
    assert!(e.contains_key("colour"));
    // A raw `+` decodes to a space on the server; the pattern then fails, as on real PVE.
    let Err(Violation::Params(e)) =
        s.validate("PUT", "/nodes/pve/qemu/100/resize", &p(&[("disk", "scsi0"), ("size", " 10G")]))
    else {
        panic!("expected a parameter error")
    };
    assert_eq!(e["size"], "value does not match the regex pattern");
}
