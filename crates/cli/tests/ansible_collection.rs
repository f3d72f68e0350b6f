//! Ansible's community.proxmox collection (pinned, from PyPI) against the simulator: a playbook
//! of its modules (pools, users, groups and ACLs, storage, SDN, snapshots, disks, VM info,
//! firewall, HA resources and rules) runs,
//! then runs again changing nothing, and what it made is in the simulated cluster; its
//! inventory plugin lists the simulated guests with their facts. Without the collection the
//! test skips, unless `PROXCTL_REQUIRE_ALL=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, running: true, config: {name: web-1, tags: web, memory: "2048", cores: "2", scsi0: "local-lvm:vm-100-disk-0,size=4G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}}
  - {vmid: 101, config: {name: db-1, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
  - {vmid: 200, kind: lxc, config: {hostname: cache-1, rootfs: "local-lvm:vm-200-disk-0,size=4G"}}
"#;

/// `ansible-playbook` beside the Python the CI installs its tools into, if the collection is
/// there too.
fn ansible_bin(tool: &str) -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("PROXCTL_PYTHON")?);
    let dir = python.parent()?;
    let bin = dir.join(tool);
    let lib = dir.parent()?.join("lib");
    let has_collection = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .any(|d| d.path().join("site-packages/ansible_collections/community/proxmox").is_dir());
    (bin.exists() && has_collection).then_some(bin)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run an Ansible tool with the venv's Python and no CA-bundle variables (requests lets them
/// override `validate_certs: false`).
fn run(tool: &Path, args: &[&str], home: &Path) -> (bool, String) {
    let python = std::env::var("PROXCTL_PYTHON").unwrap();
    let out = Command::new(tool)
        .args(args)
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env("HOME", home)
        .env("ANSIBLE_PYTHON_INTERPRETER", &python)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// [`run`] on a blocking thread, so the in-process simulator keeps answering.
async fn run_off_runtime(tool: &Path, args: &[&str], home: &Path) -> (bool, String) {
    let (tool, home) = (tool.to_path_buf(), home.to_path_buf());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&tool, &args, &home)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_proxmox_modules_and_inventory_plugin_work_against_the_simulator() {
    let (Some(playbook_bin), Some(inventory_bin)) =
        (ansible_bin("ansible-playbook"), ansible_bin("ansible-inventory"))
    else {
        let msg = "the Ansible package with community.proxmox is required (PROXCTL_PYTHON's venv, \
                   tests/ansible/requirements.txt, installed by .ci/run)";
        assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let sim = support::start_with(CLUSTER).await;
    let url = sim.url.trim_end_matches('/').to_string();
    let port = url.rsplit(':').next().unwrap().to_string();
    let (token_id, secret) = support::TOKEN.split_once('!').unwrap().1.split_once('=').unwrap();
    let home = tempfile::tempdir().unwrap();
    let extra = format!(
        "pve_host=127.0.0.1 pve_port={port} pve_token_id={token_id} pve_token_secret={secret}"
    );
    let playbook = repo_root().join("tests/ansible/playbook.yml").display().to_string();
    let args = ["-i", "localhost,", "-c", "local", "-e", &extra, &playbook];

    let (ok, out) = run_off_runtime(&playbook_bin, &args, home.path()).await;
    assert!(ok, "the playbook failed:\n{out}");
    assert!(out.contains("changed="), "{out}");

    // What the modules made is in the cluster.
    sim.with_world(|w| {
        assert!(w.pools["dev"].vms.contains(&100));
        assert!(w.access.users["alice@pve"].groups.contains("ops"));
        assert!(w.access.acl.iter().any(|e| e.path == "/pool/dev" && e.ugid == "ops"));
        let vm = &w.guests[&100];
        assert!(vm.conf.contains_key("scsi1"), "the disk: {:?}", vm.conf.keys());
        assert_eq!(w.firewall["guest/100"].rules.len(), 1);
        assert!(w.firewall["cluster"].ipsets.contains_key("admins"));
        assert_eq!(w.storages["backups"].options["server"], "10.0.0.5");
        assert!(w.sdn_subnets.iter().any(|s| s.id == "lab-10.20.0.0-24" && s.vnet == "labnet"));
        assert_eq!(
            w.sdn_running.as_ref().map(|r| r.vnets.len()),
            Some(w.sdn_vnets.len()),
            "applied"
        );
        assert!(w.sdn_lock.is_none(), "the SDN lock was released");
        assert_eq!(w.ha["vm:100"].state, "started");
        assert_eq!(w.ha["vm:100"].max_restart, Some(2));
        assert!(w.ha_config.rules.iter().any(|r| r.rule == "keep-web" && r.resources == "vm:100"));
    });
    assert!(sim.with_world(|w| w.guests[&100].snapshots.contains_key("before")));

    // Again: nothing changes.
    let (ok, out) = run_off_runtime(&playbook_bin, &args, home.path()).await;
    assert!(ok, "the second run failed:\n{out}");
    assert!(out.contains("changed=0"), "the second run changed something:\n{out}");

    // The inventory plugin lists the guests with their facts.
    let inv = home.path().join("sim.proxmox.yml");
    std::fs::write(
        &inv,
        format!(
            "plugin: community.proxmox.proxmox\nurl: {url}\nuser: root@pam\ntoken_id: {token_id}\n\
             token_secret: {secret}\nvalidate_certs: false\nwant_facts: true\n"
        ),
    )
    .unwrap();
    let inv_s = inv.display().to_string();
    let (ok, out) = run_off_runtime(&inventory_bin, &["-i", &inv_s, "--list"], home.path()).await;
    assert!(ok, "ansible-inventory failed:\n{out}");
    let json = &out[out.find('{').unwrap()..out.rfind('}').unwrap() + 1];
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"));
    let vars = &v["_meta"]["hostvars"];
    for host in ["web-1", "db-1", "cache-1"] {
        assert!(vars.get(host).is_some(), "{host} is listed: {out}");
    }
    assert_eq!(vars["web-1"]["proxmox_vmid"], 100, "{out}");
    assert_eq!(text(&vars["cache-1"]["proxmox_vmtype"]), Some("lxc"), "{out}");
    assert_eq!(text(&vars["web-1"]["proxmox_status"]), Some("running"), "{out}");
}

/// A string as ansible-inventory prints it: plain, or wrapped as `{"__ansible_unsafe": …}`.
fn text(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["__ansible_unsafe"].as_str())
}
