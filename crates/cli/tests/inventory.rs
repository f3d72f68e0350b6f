//! `proxctl inventory`, an Ansible dynamic inventory: groups from tags, nodes, pools, types,
//! power state and manifests; `ansible_host` from the guest agent or the cloud-init address;
//! and the real `ansible-inventory` (pinned, from the CI's Python tools) reading it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;

const CLUSTER: &str = r#"
nodes: [{name: pve1}, {name: pve2}]
guests:
  - {vmid: 100, node: pve1, running: true, config: {name: web-1, tags: "web;env-prod", agent: "1", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, node: pve2, config: {name: db-1, tags: db, ipconfig0: "ip=10.0.0.7/24,gw=10.0.0.1", net0: "virtio=BC:24:11:00:00:02,bridge=vmbr0", scsi0: "local-lvm:vm-101-disk-0,size=4G", description: "proxctl:resource=VirtualMachine/db-1"}}
  - {vmid: 200, kind: lxc, node: pve1, config: {hostname: box, tags: web, net0: "name=eth0,bridge=vmbr0,ip=192.168.5.9/24", rootfs: "local-lvm:vm-200-disk-0,size=4G"}}
  - {vmid: 9000, node: pve1, config: {name: tpl, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

fn hosts(v: &Value, group: &str) -> Vec<String> {
    v[group]["hosts"]
        .as_array()
        .map(|a| a.iter().map(|h| h.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_groups_guests_and_finds_their_addresses() {
    let sim = support::start_with(CLUSTER).await;
    let r = support::proxctl(&sim, &["inventory", "--list"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(hosts(&v, "tag_web"), ["box", "web-1"]);
    assert_eq!(hosts(&v, "tag_env_prod"), ["web-1"], "group names are safe for Ansible");
    assert_eq!(hosts(&v, "node_pve2"), ["db-1"]);
    assert_eq!(hosts(&v, "lxc"), ["box"]);
    assert_eq!(hosts(&v, "running"), ["web-1"]);
    assert_eq!(hosts(&v, "proxctl_managed"), ["db-1"], "declared by a manifest");
    assert!(v["_meta"]["hostvars"].get("tpl").is_none(), "templates are not hosts");
    let vars = &v["_meta"]["hostvars"];
    assert_eq!(vars["web-1"]["ansible_host"], "10.100.0.110", "from the guest agent: {vars}");
    assert_eq!(vars["db-1"]["ansible_host"], "10.0.0.7", "from cloud-init: {vars}");
    assert_eq!(vars["box"]["ansible_host"], "192.168.5.9", "from the container's net0: {vars}");
    assert_eq!(vars["web-1"]["proxmox_vmid"], 100);

    let r = support::proxctl(&sim, &["inventory", "--host", "db-1"], &[]).await;
    let one: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(one["proxmox_node"], "pve2");
    let r = support::proxctl(&sim, &["inventory", "--host", "nosuch"], &[]).await;
    assert_eq!(r.stdout.trim(), "{}", "an unknown host has no vars, as Ansible expects");
    let r = support::proxctl(&sim, &["inventory"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// `ansible-inventory` beside the Python the CI installs its tools into.
fn ansible_inventory() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("PROXCTL_PYTHON")?;
    let bin = std::path::Path::new(&python).parent()?.join("ansible-inventory");
    bin.exists().then_some(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansible_inventory_reads_it_as_a_script() {
    let Some(tool) = ansible_inventory() else {
        assert!(
            std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(),
            "ansible-inventory is required (PROXCTL_PYTHON's venv, installed by .ci/run)"
        );
        eprintln!("SKIPPED: no ansible-inventory beside PROXCTL_PYTHON");
        return;
    };
    let sim = support::start_with(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("proxmox.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec '{}' inventory \"$@\"\n", env!("CARGO_BIN_EXE_proxctl")),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The same environment the binary gets in every other test, so the script reaches the simulator.
    let cmd = support::command(&sim, home.path(), &[], &[]);
    let mut ansible = std::process::Command::new(tool);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            ansible.env(k, v);
        }
    }
    ansible.env("ANSIBLE_LOCAL_TEMP", home.path()).env("ANSIBLE_HOME", home.path());
    ansible.args(["-i", script.to_str().unwrap(), "--list"]);
    let out = tokio::task::spawn_blocking(move || ansible.output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["_meta"]["hostvars"]["web-1"]["ansible_host"], "10.100.0.110", "{v}");
    assert_eq!(hosts(&v, "tag_web"), ["box", "web-1"], "{v}");
    assert!(!stderr.contains("[WARNING]"), "Ansible is content with the groups: {stderr}");
}
