//! The `proxctl` binary against an in-process simulator: output formats, guests by name,
//! confirmation, `--dry-run`, exit codes, configuration precedence and redaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use proxctl_sim::SimHandle;
use support::{TOKEN, file_server, proxctl, start_with};

async fn sim() -> SimHandle {
    start_with(r#"
guests:
  - vmid: 100
    config: {name: web-1, cores: "2", memory: "2048", scsi0: "local-lvm:vm-100-disk-0,size=8G", tags: "prod;web"}
  - vmid: 101
    config: {name: web-2, scsi0: "local-lvm:vm-101-disk-0,size=8G"}
  - vmid: 102
    config: {name: web-2, scsi0: "local-lvm:vm-102-disk-0,size=8G"}
  - vmid: 9000
    config: {name: tpl, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}
  - vmid: 200
    kind: lxc
    config: {hostname: ct-1, rootfs: "local-lvm:vm-200-disk-0,size=4G"}
"#).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_vms_prints_a_table_and_json_and_yaml_from_the_same_rows() {
    let s = sim().await;
    let r = proxctl(&s, &["get", "vms"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("get_vms_table", r.stdout);
    let r = proxctl(&s, &["get", "vms", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[0]["tags"], serde_json::json!(["prod", "web"]));
    let r = proxctl(&s, &["get", "containers", "-o", "yaml"], &[]).await;
    assert!(r.stdout.contains("name: ct-1"), "{}", r.stdout);
    let r = proxctl(&s, &["get", "templates"], &[]).await;
    assert!(r.stdout.contains("tpl") && r.stdout.contains("template"), "{}", r.stdout);
    for kind in ["nodes", "storage", "tasks"] {
        let r = proxctl(&s, &["get", kind, "-o", "wide"], &[]).await;
        assert_eq!(r.code, 0, "get {kind}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_are_addressed_by_name_and_ambiguous_names_list_the_matches() {
    let s = sim().await;
    let r = proxctl(&s, &["vm", "start", "web-1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("start web-1 (100 on pve): done"), "{}", r.stdout);
    let r = proxctl(&s, &["vm", "start", "web-2"], &[]).await;
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("ambiguous_name", r.stderr);
    let r = proxctl(&s, &["vm", "start", "nope"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no guest named or numbered 'nope'"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "start", "ct-1"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("use `proxctl ct` for it"), "{}", r.stderr);
    let r = proxctl(&s, &["describe", "vm", "100", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["config"]["cores"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_actions_need_yes_without_a_terminal() {
    let s = sim().await;
    assert_eq!(proxctl(&s, &["vm", "start", "web-1"], &[]).await.code, 0);
    let r = proxctl(&s, &["vm", "stop", "web-1"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("refusing to stop web-1 (100 on pve) without confirmation: no terminal to ask on; pass --yes"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "stop", "web-1", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["vm", "delete", "web-1"], &[]).await;
    assert_eq!(r.code, 1);
    assert_eq!(proxctl(&s, &["vm", "delete", "web-1", "--yes"], &[]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_call_and_sends_nothing_that_mutates() {
    let s = sim().await;
    s.clear_counters();
    let r = proxctl(&s, &["--dry-run", "vm", "start", "web-1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        "dry run: would send POST /api2/json/nodes/pve/qemu/100/status/start"
    );
    let r = proxctl(&s, &["--dry-run", "vm", "delete", "web-1", "--purge"], &[]).await;
    assert_eq!(r.stdout.trim(), "dry run: would send DELETE /api2/json/nodes/pve/qemu/100 purge=1");
    let mutating: Vec<String> = s
        .counters()
        .into_keys()
        .filter(|k| !k.starts_with("GET ") && k != "POST /access/ticket")
        .collect();
    assert!(mutating.is_empty(), "dry run sent {mutating:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_separate_user_system_and_api_errors() {
    let s = sim().await;
    let r = proxctl(&s, &["vm", "start", "tpl"], &[]).await;
    assert_eq!(r.code, 3, "a failed task is a Proxmox error: {}", r.stderr);
    assert!(r.stderr.contains("you can't start a vm if it's a template"), "{}", r.stderr);
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_FINGERPRINT", &"AB".repeat(32))]).await;
    assert_eq!(r.code, 2, "a TLS failure is a system error: {}", r.stderr);
    assert!(r.stderr.contains("--fingerprint"), "{}", r.stderr);
    let r = proxctl(&s, &["get", "vms", "-o", "xml"], &[]).await;
    assert_eq!(r.code, 1);
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_TOKEN", "root@pam!cli=wrong")]).await;
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("Authentication failed!"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_warns_on_every_run() {
    let s = sim().await;
    let r = proxctl(&s, &["get", "nodes", "--insecure"], &[("PROXCTL_FINGERPRINT", "")]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: TLS verification is disabled"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_reports_sources_in_precedence_order_and_redacts_secrets() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "current = \"lab\"\n[profiles.lab]\nurl = \"https://from-profile:8006\"\nnode = \"pve\"\noutput = \"wide\"\ntimeout_secs = 30\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // env beats profile for url; the profile still supplies node, output and timeout.
    let r =
        proxctl(&s, &["config", "show"], &[("PROXCTL_CONFIG", c), ("XDG_DATA_HOME", "/xdg")]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let redacted = r.stdout.replace(&s.url, "<sim-url>").replace(&s.fingerprint, "<fingerprint>");
    insta::assert_snapshot!("config_show", redacted);
    assert!(!r.stdout.contains("0a1b2c3d-1111"), "token secret leaked");
    // A flag beats the environment.
    let r = proxctl(
        &s,
        &["config", "show", "--url", "https://from-flag:8006"],
        &[("PROXCTL_CONFIG", c)],
    )
    .await;
    assert!(r.stdout.contains("https://from-flag:8006  (flag)"), "{}", r.stdout);
    // Without env, the profile's URL is used.
    let r = proxctl(&s, &["config", "show"], &[("PROXCTL_CONFIG", c), ("PROXCTL_URL", "")]).await;
    assert!(r.stdout.contains("https://from-profile:8006  (profile lab)"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_pages_are_generated_from_the_cli_definition() {
    let s = sim().await;
    let r = proxctl(&s, &["completions", "bash"], &[]).await;
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("proxctl"));
    let dir = tempfile::tempdir().unwrap();
    let r = proxctl(&s, &["man", "--out", dir.path().to_str().unwrap()], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.path().join("proxctl.1").exists());
    assert!(dir.path().join("proxctl-vm.1").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_with_enough_privileges_and_fails_with_too_few() {
    let s = sim().await;
    let r = proxctl(&s, &["doctor"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("connection") && r.stdout.contains("PVE 9.1.3"), "{}", r.stdout);
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    let auditor = s.auditor_token.expose().to_string();
    let r = proxctl(&s, &["doctor"], &[("PROXCTL_TOKEN", &auditor)]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("privileges: power (start, stop, ...)")
            && r.stdout.contains("missing VM.PowerMgmt"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("privileges: inventory (get, describe)   pass"), "{}", r.stdout);
    assert!(r.stderr.contains("doctor found"), "{}", r.stderr);
    let r =
        proxctl(&s, &["doctor", "-o", "json"], &[("PROXCTL_FINGERPRINT", &"AB".repeat(32))]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["verdict"], "fail");
    assert!(v[0]["fix"].as_str().unwrap().contains(&s.fingerprint), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_validates_before_sending_anything() {
    let s = sim().await;
    s.clear_counters();
    let cases: &[(&[&str], &str)] = &[
        (&["--name", "web_1"], "is not a valid VM name"),
        (
            &["--name", "w", "--ip", "10.0.0.5/24", "--gateway", "10.9.0.1"],
            "gateway 10.9.0.1 is not inside 10.0.0.5/24",
        ),
        (
            &["--name", "w", "--bridge", "vmbr9"],
            "bridge 'vmbr9' does not exist on pve; bridges there: vmbr0, vmbr1",
        ),
        (&["--name", "w", "--cores", "64"], "pve has 16 CPUs; pick at most 16"),
        (&["--name", "w", "--storage", "local"], "storage 'local' on pve cannot hold VM disks"),
        (
            &["--name", "w", "--image", "local:import/missing.qcow2"],
            "image 'local:import/missing.qcow2' is not on pve",
        ),
        (
            &["--name", "w", "--ip6", "2001:db8::5/64", "--gateway6", "2001:db9::1"],
            "gateway 2001:db9::1 is not inside 2001:db8::5/64",
        ),
        (&["--name", "w", "--gateway6", "fe80::1"], "--gateway6 needs --ip6"),
    ];
    for (args, want) in cases {
        let mut all = vec!["vm", "create"];
        all.extend_from_slice(args);
        let r = proxctl(&s, &all, &[("PROXCTL_STORAGE", "local-lvm")]).await;
        assert_eq!(r.code, 1, "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{all:?}: {}", r.stderr);
    }
    let r = proxctl(
        &s,
        &["vm", "create", "--name", "w"],
        &[("PROXCTL_STORAGE", "local-lvm"), ("PROXCTL_BRIDGE", "vmbr7")],
    )
    .await;
    assert!(
        r.stderr.contains("bridge 'vmbr7' does not exist on pve"),
        "the profile/env bridge is the default: {}",
        r.stderr
    );
    let r = proxctl(&s, &["vm", "create", "--name", "w", "--vmid", "99"], &[]).await;
    assert_eq!(r.code, 1, "an out-of-range VMID is a user error: {}", r.stderr);
    assert!(r.stderr.contains("does not look like a valid VM ID"), "{}", r.stderr);
    let writes: Vec<String> = s.counters().into_keys().filter(|k| !k.starts_with("GET ")).collect();
    assert!(writes.is_empty(), "validation failures sent {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_warns_on_memory_overcommit() {
    let s = sim().await;
    assert_eq!(proxctl(&s, &["vm", "start", "web-1"], &[]).await.code, 0);
    let r = proxctl(
        &s,
        &["vm", "create", "--name", "big", "--memory", "64000"],
        &[("PROXCTL_STORAGE", "local-lvm")],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: memory overcommit on pve: running guests have 2048 MiB, this adds 64000 MiB, the node has 65536 MiB"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_clone_set_resize_and_console_work_end_to_end() {
    let s = sim().await;
    let r = proxctl(
        &s,
        &[
            "vm",
            "create",
            "--name",
            "app-1",
            "--image",
            "local:import/debian-12-genericcloud-amd64.qcow2",
            "--disk",
            "16G",
            "--ip",
            "10.0.0.40/24",
            "--gateway",
            "10.0.0.1",
            "--tag",
            "app",
            "--start",
        ],
        &[("PROXCTL_STORAGE", "local-lvm")],
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = proxctl(&s, &["describe", "vm", "app-1", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["config"]["scsi0"].as_str().unwrap().contains("size=16G"), "{v}");
    assert_eq!(v["config"]["ipconfig0"], "ip=10.0.0.40/24,gw=10.0.0.1,ip6=auto");
    assert_eq!(v["status"]["status"], "running");

    let r = proxctl(&s, &["vm", "clone", "tpl", "--name", "from-tpl"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("clone tpl (9000 on pve) as from-tpl"), "{}", r.stdout);

    let r = proxctl(
        &s,
        &["vm", "set", "from-tpl", "--cores", "4", "--tag", "Blue", "--tag", "green"],
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "vm", "from-tpl", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["config"]["cores"].clone(), v["config"]["tags"].clone()),
        (serde_json::json!(4), serde_json::json!("blue;green"))
    );

    let r = proxctl(&s, &["vm", "resize", "from-tpl", "scsi0", "+2G"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["vm", "resize", "from-tpl", "scsi0", "1G"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("disks can only grow"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "resize", "from-tpl", "scsi7", "+1G"], &[]).await;
    assert!(r.stderr.contains("has no disk scsi7; its disks: scsi0"), "{}", r.stderr);

    let r = proxctl(&s, &["console", "vm", "app-1"], &[]).await;
    assert_eq!(
        r.stdout.trim(),
        format!("{}/?console=kvm&novnc=1&vmid=103&vmname=app-1&node=pve&resize=off&cmd=", s.url)
    );
    let dir = tempfile::tempdir().unwrap();
    let vv = dir.path().join("app-1.vv");
    let r = proxctl(&s, &["vm", "console", "app-1", "--spice", vv.to_str().unwrap()], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&vv).unwrap();
    assert!(text.starts_with("[virt-viewer]\n") && text.contains("type=spice"), "{text}");

    let r = proxctl(&s, &["describe", "node", "pve"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Version  pve-manager/9.1.3/"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_filters_by_name_and_tags_and_lists_snapshots_and_backups() {
    let s = sim().await;
    let r = proxctl(&s, &["get", "vms", "-l", "PROD"], &[]).await;
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("web-1"));
    let r = proxctl(&s, &["get", "vms", "-l", "prod,db"], &[]).await;
    assert!(r.stderr.contains("No resources found."), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no header for no rows: {}", r.stdout);
    let r = proxctl(&s, &["get", "vms", "-l", "name:web-* & !prod", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: Vec<u64> = v.as_array().unwrap().iter().map(|g| g["vmid"].as_u64().unwrap()).collect();
    assert_eq!(ids, [101, 102]);
    let r = proxctl(&s, &["get", "vms", "-l", "id:9000 | tag:w*"], &[]).await;
    assert!(
        r.stdout.contains("tpl") && r.stdout.contains("web-1") && !r.stdout.contains("web-2"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["get", "vms", "-l", "web &"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid selector at character 5"), "{}", r.stderr);
    let r = proxctl(&s, &["get", "vms", "web-2", "-o", "json"], &[]).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap().as_array().unwrap().len(),
        2
    );
    let r = proxctl(&s, &["get", "storage", "-l", "x"], &[]).await;
    assert_eq!(r.code, 1);
    let r = proxctl(&s, &["get", "snapshots"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("get snapshots NAME"), "{}", r.stderr);
    let r = proxctl(&s, &["get", "snapshots", "web-1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["get", "backups", "-o", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_set_writes_a_private_profile_and_refuses_secrets() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let c = cfg.to_str().unwrap();
    let r = proxctl(
        &s,
        &["config", "set", "node", "pve", "--profile", "lab"],
        &[("PROXCTL_CONFIG", c)],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("current = \"lab\"") && text.contains("node = \"pve\""), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let r = proxctl(&s, &["config", "set", "secret", "hunter2"], &[("PROXCTL_CONFIG", c)]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("secret_from"), "{}", r.stderr);
    let r = proxctl(&s, &["config", "set", "timeout_secs", "soon"], &[("PROXCTL_CONFIG", c)]).await;
    assert_eq!(r.code, 1);
    let r = proxctl(&s, &["config", "profiles"], &[("PROXCTL_CONFIG", c)]).await;
    assert!(r.stdout.contains("* lab"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ct_create_validates_then_creates_with_the_password_from_the_environment() {
    let s = sim().await;
    let tpl = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
    let env: &[(&str, &str)] =
        &[("PROXCTL_STORAGE", "local-lvm"), ("PROXCTL_CT_PASSWORD", "hunter22")];
    let r = proxctl(
        &s,
        &["ct", "create", "--hostname", "c1", "--template", "local:vztmpl/nope.tar.zst"],
        env,
    )
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "template 'local:vztmpl/nope.tar.zst' is not on pve; there: local:vztmpl/debian-12"
        ),
        "{}",
        r.stderr
    );
    let r = proxctl(
        &s,
        &["ct", "create", "--hostname", "c1", "--template", tpl],
        &[("PROXCTL_STORAGE", "local-lvm")],
    )
    .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("PROXCTL_CT_PASSWORD"), "{}", r.stderr);
    let r = proxctl(
        &s,
        &[
            "ct",
            "create",
            "--hostname",
            "c1",
            "--template",
            tpl,
            "--ip",
            "10.0.0.9/24",
            "--gateway",
            "10.0.0.1",
            "--start",
        ],
        env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "container", "c1", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"]["status"], "running");
    assert!(v["config"]["net0"].as_str().unwrap().contains("ip=10.0.0.9/24"), "{v}");
    assert!(!r.stdout.contains("hunter22"));

    let r = proxctl(&s, &["ct", "clone", "c1", "--hostname", "c2"], env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["ct", "resize", "c2", "rootfs", "+2G"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["ct", "resize", "c2", "rootfs", "1G"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("volumes can only grow"), "{}", r.stderr);
    let r = proxctl(&s, &["ct", "resize", "c2", "mp4", "+1G"], &[]).await;
    assert!(r.stderr.contains("has no volume mp4; its volumes: rootfs"), "{}", r.stderr);
    let r = proxctl(&s, &["ct", "set", "c2", "--cores", "2", "--memory", "1024"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "container", "c2", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["config"]["cores"].clone(), v["config"]["memory"].clone()),
        (serde_json::json!(2), serde_json::json!(1024))
    );
    assert!(v["config"]["rootfs"].as_str().unwrap().ends_with("size=10G"), "{v}");
    assert_ne!(v["config"]["net0"], serde_json::json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_output_quietly() {
    let s = sim().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxctl"));
    cmd.args(["get", "vms"])
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("PROXCTL_URL", &s.url)
        .env("PROXCTL_TOKEN", TOKEN)
        .env("PROXCTL_FINGERPRINT", &s.fingerprint)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        // Close the read end before the binary writes its table.
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_returns_the_task_and_task_wait_follows_it() {
    let s = sim().await;
    let r = proxctl(&s, &["vm", "start", "web-1", "--no-wait"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let upid = r.stdout.trim().rsplit(' ').next().unwrap().to_string();
    assert!(upid.starts_with("UPID:pve:"), "{}", r.stdout);
    let r = proxctl(&s, &["task", "wait", &upid], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "qmstart 100: done");
    let r = proxctl(&s, &["task", "logs", &upid], &[]).await;
    assert_eq!(r.stdout.lines().last(), Some("TASK OK"));
    let r = proxctl(&s, &["task", "wait", "not-a-upid"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("proxctl task list -o wide"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_output_and_main_errors_are_stable() {
    let s = sim().await;
    let r = proxctl(&s, &["get", "vms", "-l", "prod", "-o", "json"], &[]).await;
    insta::assert_snapshot!("get_vms_json", r.stdout);
    let r = proxctl(&s, &["get", "templates", "-o", "yaml"], &[]).await;
    insta::assert_snapshot!("get_templates_yaml", r.stdout);
    let r = proxctl(&s, &["vm", "reset", "web-1"], &[]).await;
    insta::assert_snapshot!("refusal_without_terminal", r.stderr);
    let r = proxctl(&s, &["get", "nodes"], &[("PROXCTL_FINGERPRINT", &"AB".repeat(32))]).await;
    let redacted =
        r.stderr.replace(&s.fingerprint, "<server fingerprint>").replace(&s.url, "<sim-url>");
    insta::assert_snapshot!("pinned_fingerprint_mismatch", redacted);
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_URL", ""), ("PROXCTL_TOKEN", "")]).await;
    insta::assert_snapshot!("no_url", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_report_per_guest_honour_always_on_and_continue_on_error() {
    let s = sim().await;
    let r = proxctl(&s, &["bulk", "start", "-l", "name:web-*", "-o", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().iter().filter(|i| i["outcome"] == "ok").count(), 3, "{v}");

    let r = proxctl(&s, &["tag", "add", "-l", "name:web-1", "always-on"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    s.clear_counters();
    let r = proxctl(&s, &["--dry-run", "bulk", "stop", "-l", "all"], &[]).await;
    assert!(r.stdout.starts_with("dry run: would stop 4 guest(s):"), "{}", r.stdout);
    assert!(
        s.counters().keys().all(|k| k.starts_with("GET ") || k == "POST /access/ticket"),
        "{:?}",
        s.counters()
    );
    let r = proxctl(&s, &["bulk", "stop", "-l", "all"], &[]).await;
    assert_eq!(r.code, 1, "no --yes and no terminal: {}", r.stderr);
    let r = proxctl(&s, &["bulk", "stop", "-l", "all", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("bulk_stop_report", r.stdout);
    let r = proxctl(&s, &["bulk", "stop", "-l", "name:web-1", "--yes", "--force"], &[]).await;
    assert!(r.stdout.contains("100    web-1   pve    ok"), "{}", r.stdout);

    // One guest fails: the others still run, the report says which, the exit code is 3.
    s.set_faults(proxctl_sim::Faults {
        rules: vec![proxctl_sim::FaultRule {
            pattern: "/qemu/101/status/start".into(),
            error_rate: 1.0,
            status: 500,
            message: Some("simulated start failure".into()),
            reset_rate: 0.0,
            slow_ms: 0,
        }],
        ..Default::default()
    });
    let r = proxctl(&s, &["bulk", "start", "-l", "name:web-*"], &[]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("101    web-2   pve    FAILED   POST /nodes/pve/qemu/101/status/start failed with HTTP 500: simulated start failure"), "{}", r.stdout);
    assert!(r.stdout.contains("102    web-2   pve    ok"), "{}", r.stdout);
    assert!(r.stderr.contains("1 of 3 guest(s) failed"), "{}", r.stderr);
    s.set_faults(proxctl_sim::Faults::default());

    let r = proxctl(&s, &["bulk", "snapshot", "-l", "name:web-1"], &[]).await;
    assert_eq!(r.code, 1);
    let r = proxctl(&s, &["bulk", "snapshot", "-l", "name:web-1", "--name", "nightly"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["bulk", "start", "-l", "tag:nothing-has-this"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no guest matches"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_added_removed_replaced_and_counted() {
    let s = sim().await;
    assert_eq!(proxctl(&s, &["tag", "add", "-l", "name:web-*", "Team-A"], &[]).await.code, 0);
    let r = proxctl(&s, &["tag", "stats", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0], serde_json::json!({"tag": "team-a", "guests": 3, "running": 0}));
    assert_eq!(
        proxctl(&s, &["tag", "replace", "-l", "name:web-1", "blue", "green"], &[]).await.code,
        0
    );
    let r = proxctl(&s, &["describe", "vm", "web-1", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["config"]["tags"], "blue;green");
    assert_eq!(proxctl(&s, &["tag", "remove", "-l", "tag:team-a", "team-a"], &[]).await.code, 0);
    let r = proxctl(&s, &["tag", "stats", "-l", "name:web-*"], &[]).await;
    assert!(!r.stdout.contains("team-a"), "{}", r.stdout);
    let r = proxctl(&s, &["tag", "add", "-l", "all", "--", "-bad"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("'-bad' is not a valid tag"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_expire_by_ttl_rotate_and_form_a_tree() {
    let s = sim().await;
    for (name, ttl) in [("keep-me", None), ("old-1", Some("0s")), ("fresh", Some("4h"))] {
        let mut args = vec!["snapshot", "create", "web-1", name];
        if let Some(t) = ttl {
            args.extend(["--ttl", t]);
        }
        let r = proxctl(&s, &args, &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = proxctl(&s, &["snapshot", "list", "web-1"], &[]).await;
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("keep-me")
            && lines[1].starts_with("  old-1")
            && lines[2].starts_with("    fresh"),
        "{}",
        r.stdout
    );
    assert!(lines[2].contains("(expires "), "{}", r.stdout);
    let r = proxctl(&s, &["--dry-run", "snapshot", "sweep"], &[]).await;
    assert!(
        r.stdout.contains("old-1")
            && r.stdout.contains("would delete")
            && !r.stdout.contains("fresh"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["snapshot", "sweep", "-l", "name:web-*"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("old-1") && r.stdout.contains("deleted"), "{}", r.stdout);
    let r = proxctl(&s, &["snapshot", "list", "web-1", "-o", "json"], &[]).await;
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["keep-me", "fresh"]);

    for n in ["auto-1", "auto-2", "auto-3"] {
        assert_eq!(proxctl(&s, &["snapshot", "create", "web-1", n], &[]).await.code, 0);
    }
    let r = proxctl(&s, &["snapshot", "rotate", "-l", "name:web-1", "--keep", "1"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("auto-1") && r.stdout.contains("auto-2") && !r.stdout.contains("auto-3"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["snapshot", "delete", "web-1", "keep-*"], &[]).await;
    assert_eq!(r.code, 1, "asks first: {}", r.stderr);
    let r = proxctl(&s, &["snapshot", "delete", "web-1", "keep-*", "--yes"], &[]).await;
    assert_eq!(r.stdout.trim(), "deleted: keep-me", "{}", r.stderr);
    let r = proxctl(&s, &["snapshot", "rollback", "web-1", "fresh", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["snapshot", "create", "web-1", "xx", "--ttl", "soon"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("'soon' is not a duration"), "{}", r.stderr);
}

async fn two_nodes() -> SimHandle {
    start_with(r#"
nodes: [{name: pve1}, {name: pve2}]
guests:
  - {vmid: 100, node: pve1, running: true, config: {name: mover, tags: "maint-ok", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, node: pve1, running: true, config: {name: stopper, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
  - {vmid: 102, node: pve1, running: true, config: {name: keeper, tags: "always-on", scsi0: "local-lvm:vm-102-disk-0,size=4G"}}
  - {vmid: 103, node: pve1, config: {name: idle, scsi0: "local-lvm:vm-103-disk-0,size=4G"}}
  - {vmid: 104, kind: lxc, node: pve1, running: true, config: {hostname: box, tags: "maint-ok", rootfs: "local-lvm:vm-104-disk-0,size=4G"}}
"#).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_checks_preconditions_and_drain_undrain_honour_special_tags() {
    let s = two_nodes().await;
    let r = proxctl(&s, &["vm", "migrate", "idle", "--to", "pve1"], &[]).await;
    assert!(r.stderr.contains("is already on pve1"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "migrate", "stopper", "--to", "pve2"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is running: pass --online"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "migrate", "stopper", "--to", "pve2", "--online"], &[]).await;
    assert!(
        r.stderr.contains("has local disks (local-lvm:vm-101-disk-0): pass --with-local-disks"),
        "{}",
        r.stderr
    );
    let r = proxctl(&s, &["vm", "migrate", "idle", "--to", "pve2"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(proxctl(&s, &["vm", "migrate", "idle", "--to", "pve1"], &[]).await.code, 0);

    let r = proxctl(&s, &["--dry-run", "node", "drain", "pve1"], &[]).await;
    assert!(
        r.stdout.contains("would move to pve2") && r.stdout.contains("would shut down"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["node", "drain", "pve1", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    insta::assert_snapshot!("drain_report", r.stdout);
    let r = proxctl(&s, &["get", "vms", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let by = |id: u64| v.as_array().unwrap().iter().find(|g| g["vmid"] == id).unwrap().clone();
    assert_eq!(
        (by(100)["node"].clone(), by(100)["status"].clone()),
        (serde_json::json!("pve2"), serde_json::json!("running"))
    );
    assert_eq!(by(101)["status"], "stopped");
    assert_eq!(by(102)["status"], "running", "always-on stays up");
    let (node, running) =
        s.with_world(|w| (w.guests[&104].node.clone(), w.guests[&104].is_running()));
    assert_eq!(
        (node.as_str(), running),
        ("pve2", true),
        "the maint-ok container moved with a restart"
    );

    let r = proxctl(&s, &["node", "undrain", "pve1"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = proxctl(&s, &["get", "vms", "-o", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for g in v.as_array().unwrap() {
        assert_eq!(g["node"], "pve1", "{g}");
        assert!(!g["tags"].to_string().contains("drained-from"), "{g}");
    }
    assert!(
        v.as_array().unwrap().iter().filter(|g| g["vmid"] != 103).all(|g| g["status"] == "running"),
        "{v}"
    );
    let (node, running) =
        s.with_world(|w| (w.guests[&104].node.clone(), w.guests[&104].is_running()));
    assert_eq!((node.as_str(), running), ("pve1", true), "and came back running");
    let r = proxctl(&s, &["node", "drain", "pve9", "--yes"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no node 'pve9' in the cluster; nodes: pve1, pve2"), "{}", r.stderr);
}

#[test]
fn the_committed_command_reference_matches_the_cli_definition() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_proxctl")).args(["man", "--markdown"]).output().unwrap();
    let want = String::from_utf8_lossy(&out.stdout);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli-reference.md");
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/cli-reference.md is stale; regenerate it with `cargo run -- man --markdown > docs/cli-reference.md`"
    );
}

#[test]
fn help_output_is_stable() {
    let out = Command::new(env!("CARGO_BIN_EXE_proxctl")).arg("--help").output().unwrap();
    insta::assert_snapshot!("help", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_protect_refuse_deletion_and_prune_keeps_what_pve_would() {
    async fn list(s: &SimHandle) -> Vec<serde_json::Value> {
        let r = proxctl(s, &["backup", "list", "web-1", "-o", "json"], &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }
    let s = sim().await;
    let r =
        proxctl(&s, &["backup", "create", "web-1", "--storage", "local", "--protected"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for _ in 0..2 {
        let r = proxctl(&s, &["backup", "create", "web-1", "--storage", "local"], &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let rows = list(&s).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let protected: Vec<&str> = rows
        .iter()
        .filter(|b| b["protected"] == true)
        .map(|b| b["volid"].as_str().unwrap())
        .collect();
    assert_eq!(protected.len(), 1, "{rows:?}");
    let volid = protected[0].to_string();

    let r = proxctl(&s, &["backup", "delete", &volid, "--yes"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is protected; run `proxctl backup unprotect"), "{}", r.stderr);

    let r = proxctl(&s, &["backup", "prune", "web-1", "--keep-last", "1", "--dry-run"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let marks: Vec<&str> =
        r.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    let mut sorted = marks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["keep", "protected", "remove"], "{}", r.stdout);
    assert_eq!(list(&s).await.len(), 3, "a dry run deletes nothing");

    let r = proxctl(&s, &["backup", "prune", "web-1", "--keep-last", "1", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = list(&s).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|b| b["volid"] == volid.as_str()), "the protected one stays");

    let r = proxctl(&s, &["backup", "notes", &volid, "before the upgrade"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(proxctl(&s, &["backup", "unprotect", &volid], &[]).await.code, 0);
    let rows = list(&s).await;
    let b = rows.iter().find(|b| b["volid"] == volid.as_str()).unwrap();
    assert_eq!(b["notes"], "before the upgrade");
    assert_eq!(b["protected"], false);
    assert_eq!(proxctl(&s, &["backup", "delete", &volid, "--yes"], &[]).await.code, 0);
    let rows = list(&s).await;
    assert_eq!(rows.len(), 1);

    let last = rows[0]["volid"].as_str().unwrap();
    let r = proxctl(&s, &["backup", "restore", last, "--vmid", "100"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("VMID 100 is in use"), "{}", r.stderr);
    let r = proxctl(&s, &["backup", "restore", last, "--vmid", "500"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "vm", "500", "-o", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("local-lvm:vm-500-disk-0"), "disks are re-allocated: {}", r.stdout);
    assert!(r.stdout.contains("web-1"), "the name comes from the backup: {}", r.stdout);

    let r = proxctl(&s, &["backup", "create", "ct-1", "--storage", "local"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["backup", "list", "ct-1", "-o", "json"], &[]).await;
    let cts: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let ct_backup = cts[0]["volid"].as_str().unwrap();
    let r = proxctl(&s, &["backup", "restore", ct_backup, "--vmid", "501"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["describe", "container", "501", "-o", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ct-1"), "the hostname comes from the backup: {}", r.stdout);
    assert!(r.stdout.contains("vm-501-disk-0"), "rootfs is re-allocated: {}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_views_show_networks_sdn_ha_and_quorum() {
    let s = sim().await;
    let mut all = String::new();
    for args in [&["get", "networks"][..], &["get", "sdn"], &["get", "ha"], &["cluster", "status"]]
    {
        let r = proxctl(&s, args, &[]).await;
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        all.push_str(&format!("$ proxctl {}\n{}\n", args.join(" "), r.stdout));
    }
    insta::assert_snapshot!("cluster_views", all);
    let r = proxctl(&s, &["get", "cluster", "-o", "json"], &[]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    // A standalone node has no `cluster` entry, only itself.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["type"], "node");
    assert_eq!(rows[0]["local"], true);

    let r = proxctl(&s, &["get", "nodes", "-o", "json"], &[]).await;
    let nodes: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert!(nodes[0]["version"].as_str().unwrap().starts_with("pve-manager/9."), "{nodes:?}");
    assert!(nodes[0]["maxdisk"].as_u64().unwrap() > 0, "{nodes:?}");
    let r = proxctl(&s, &["get", "nodes"], &[]).await;
    assert!(r.stdout.lines().next().unwrap().contains("DISK"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_files_a_container_template_by_its_name_and_fails_on_a_bad_checksum() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let body = vec![0x28u8; 4096];
        while let Ok((mut c, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = c.write_all(head.as_bytes()).await;
            let _ = c.write_all(&body).await;
        }
    });
    let s = sim().await;
    let url = format!("http://{addr}/images/alpine-3.20-default_20240908_amd64.tar.xz");
    let r = proxctl(&s, &["image", "pull", &url], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stored = s.with_world(|w| {
        w.volumes.values().any(|v| {
            v.volid == "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"
                && v.content == "vztmpl"
        })
    });
    assert!(stored, "the template is filed under vztmpl");

    let bad = "1".repeat(64);
    let r =
        proxctl(&s, &["image", "pull", &url, "--filename", "other.tar.xz", "--sha256", &bad], &[])
            .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("checksum mismatch"), "{}", r.stderr);

    let r = proxctl(&s, &["image", "pull", &format!("http://{addr}/notes.txt")], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("pass --filename with the right extension"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_get_the_same_snapshot_tag_and_bulk_commands_as_vms() {
    let s = sim().await;
    let r = proxctl(&s, &["snapshot", "create", "ct-1", "before", "--ttl", "1h"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["snapshot", "list", "ct-1"], &[]).await;
    assert!(r.stdout.contains("before") && r.stdout.contains("expires"), "{}", r.stdout);
    let r = proxctl(&s, &["snapshot", "rollback", "ct-1", "before", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["tag", "add", "-l", "id:200", "env-lab"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["get", "containers", "-l", "env-lab", "-o", "json"], &[]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = proxctl(&s, &["bulk", "start", "-l", "env-lab", "-o", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report[0]["vmid"], 200);
    assert_eq!(report[0]["outcome"], "ok");
    let r = proxctl(&s, &["snapshot", "delete", "ct-1", "bef*", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["snapshot", "list", "ct-1"], &[]).await;
    assert!(!r.stdout.contains("before"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_are_audited_safe_mode_refuses_and_audit_verify_catches_a_tampered_row() {
    let s = start_with(
        r#"
guests:
  - {vmid: 100, config: {name: managed, tags: proxctl, scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 101, config: {name: handmade, scsi0: "local-lvm:vm-101-disk-0,size=4G"}}
"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let jsonl = dir.path().join("audit.jsonl");
    let socket_path = dir.path().join("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    syslog.set_nonblocking(true).unwrap();
    let env = [
        ("PROXCTL_STATE", db.to_str().unwrap()),
        ("PROXCTL_SAFE_MODE", "1"),
        ("PROXCTL_AUDIT_FILE", jsonl.to_str().unwrap()),
        ("PROXCTL_AUDIT_SYSLOG", socket_path.to_str().unwrap()),
        ("USER", "alice"),
    ];

    let r = proxctl(&s, &["vm", "start", "managed"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["vm", "start", "handmade"], &env).await;
    assert_eq!(r.code, 1, "a refusal is a user error: {}", r.stderr);
    assert!(r.stderr.contains("safe mode is on") && r.stderr.contains("--force"), "{}", r.stderr);
    let r = proxctl(&s, &["vm", "start", "handmade", "--force"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = proxctl(&s, &["audit", "list", "-o", "json"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let results: Vec<&str> =
        rows.as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap()).collect();
    // Each start: on record before it is sent, then the call, then its task's outcome; the
    // refusal: one row.
    assert_eq!(results.len(), 7, "{results:?}");
    assert_eq!(results[0], "sending", "{results:?}");
    assert!(results[1].starts_with("task UPID:"), "{results:?}");
    assert_eq!(results[2], "OK", "{results:?}");
    assert_eq!(rows[2]["action"], "task-end qmstart");
    assert!(results[3].starts_with("refused: safe mode"), "{results:?}");
    assert_eq!(results[4], "sending", "{results:?}");
    assert!(results[5].ends_with("(--force)"), "{results:?}");
    assert_eq!(results[6], "OK", "{results:?}");
    assert_eq!(rows[0]["actor"], format!("{} (alice)", TOKEN.split('=').next().unwrap()));
    assert!(!r.stdout.contains(TOKEN.split('=').nth(1).unwrap()), "no token secret in the log");
    let r =
        proxctl(&s, &["audit", "list", "--target", "qemu/101", "--action", "status/start"], &env)
            .await;
    assert_eq!(r.stdout.lines().count(), 4, "header + 3 rows:\n{}", r.stdout);

    // The file and syslog copies got every row.
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 7);
    let mut buf = [0u8; 8192];
    let mut messages = Vec::new();
    while let Ok(n) = syslog.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(messages.len(), 7, "{messages:?}");
    assert!(
        messages[3].starts_with("<84>1 ") && messages[3].contains("refused"),
        "{}",
        messages[3]
    );

    let r = proxctl(&s, &["audit", "verify"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("7 row(s), hash chain verified"), "{}", r.stdout);

    // Someone with database access rewrites history: the refusal becomes a success.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE audit_log SET result = 'ok' WHERE seq = 4", []).unwrap();
    drop(c);
    let r = proxctl(&s, &["audit", "verify"], &env).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("row 4: content does not match its hash"), "{}", r.stdout);
    assert!(r.stderr.contains("tampered"), "{}", r.stderr);
}

const ENGINE_CLUSTER: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, agent: "1", scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}}
  - {vmid: 100, config: {name: legacy, cores: "2", memory: "1024", scsi0: "local-lvm:vm-100-disk-0,size=8G", net0: "virtio=BC:24:11:00:01:00,bridge=vmbr0,tag=5", tags: "old", description: "hand made"}}
"#;

const WEB: &str = "\
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata: {name: web-1}
spec:
  template: debian-12
  cores: 2
  memory: 1024
  networks: {net0: {bridge: vmbr0}}
  tags: [web]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_detailed_exit_codes_follow_the_manifests() {
    let s = start_with(ENGINE_CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let m = dir.path().join("web.yaml");
    std::fs::write(&m, WEB).unwrap();
    let (mp, dbp) = (m.to_str().unwrap(), db.to_str().unwrap());
    let env = [("PROXCTL_STATE", dbp)];

    let r = proxctl(&s, &["plan", "-f", mp, "--detailed-exitcode"], &env).await;
    assert_eq!(r.code, 2, "changes pending: {}", r.stderr);
    insta::assert_snapshot!("engine_plan", r.stdout);
    let r = proxctl(&s, &["apply", "-f", mp], &env).await;
    assert_eq!(r.code, 1, "no terminal, no --yes: {}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    let r = proxctl(&s, &["apply", "-f", mp, "--yes"], &env).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("VirtualMachine/web-1: clone 9000 to"),
        "progress per resource: {}",
        r.stderr
    );
    let r = proxctl(&s, &["plan", "-f", mp, "--detailed-exitcode"], &env).await;
    assert_eq!(r.code, 0, "in sync: {}\n{}", r.stdout, r.stderr);

    // A saved plan applies while the cluster is unchanged.
    std::fs::write(&m, WEB.replace("cores: 2", "cores: 3")).unwrap();
    let saved = dir.path().join("plan.json");
    let r = proxctl(&s, &["plan", "-f", mp, "--out", saved.to_str().unwrap()], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("~ cores: 2 → 3  (reboot)"), "{}", r.stdout);
    let r = proxctl(&s, &["apply", saved.to_str().unwrap(), "--yes", "-o", "json"], &env).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // Bad input: every problem with its place.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        WEB.replace("cores: 2", "cores: lots")
            .replace("bridge: vmbr0", "bridge: vmbr0, vlan: 9999"),
    )
    .unwrap();
    let r = proxctl(&s, &["validate", "-f", bad.to_str().unwrap()], &env).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("bad.yaml:6:10: spec.cores: invalid type"), "{}", r.stdout);
    let r = proxctl(&s, &["plan", "-f", bad.to_str().unwrap(), "--detailed-exitcode"], &env).await;
    assert_eq!(r.code, 1, "errors are 1 with --detailed-exitcode: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_adopt_then_plan_shows_no_changes_and_reconcile_reports_drift() {
    let s = start_with(ENGINE_CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let r = proxctl(&s, &["export", "-l", "name:legacy"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("engine_export", r.stdout);
    let m = dir.path().join("legacy.yaml");
    std::fs::write(&m, &r.stdout).unwrap();
    let mp = m.to_str().unwrap();

    let r = proxctl(&s, &["adopt", "-f", mp], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("adopted VirtualMachine/legacy (VMID 100)"), "{}", r.stdout);
    let r = proxctl(&s, &["plan", "-f", mp, "--detailed-exitcode"], &env).await;
    assert_eq!(r.code, 0, "adopted and unchanged:\n{}\n{}", r.stdout, r.stderr);
    let r = proxctl(&s, &["get", "vms", "-o", "json"], &env).await;
    assert!(r.stdout.contains("proxctl"), "marked as managed: {}", r.stdout);

    // Drift by hand; reconcile --report-only sees it and changes nothing, then fixes it.
    std::fs::write(&m, std::fs::read_to_string(&m).unwrap().replace("cores: 2", "cores: 4"))
        .unwrap();
    let r =
        proxctl(&s, &["reconcile", "-f", mp, "--report-only", "--activations", "1"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("activation 1: drift in 1 resource(s): VirtualMachine/legacy"),
        "{}",
        r.stdout
    );
    let r =
        proxctl(&s, &["reconcile", "-f", mp, "--activations", "2", "--interval", "1s"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("activation 1: applied 1 change(s)"), "{}", r.stdout);
    assert!(r.stdout.contains("activation 2: in sync (1 resource(s))"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_catalog_lists_searches_shows_and_takes_user_overrides() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("catalog.yaml");
    std::fs::write(
        &mine,
        "images:\n  - {id: corp-debian-12, distro: debian, version: '12', arch: amd64, \
         url: 'https://mirror.corp.example/debian-12.qcow2', checksum_url: 'https://mirror.corp.example/SHA512SUMS', \
         checksum_format: gnu-sha512, format: qcow2, default_user: admin, os_type: l26, firmware: uefi, \
         disk_bus: scsi, disk_size: 20G, cloud_init: true, guest_agent: true, source: 'https://mirror.corp.example/'}\n",
    )
    .unwrap();
    let env = [("PROXCTL_CATALOG", mine.to_str().unwrap())];
    let r = proxctl(&s, &["image", "list", "-o", "json"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(rows.as_array().unwrap().len() >= 51, "built-in 50+ and the user's entry");
    let r = proxctl(&s, &["image", "search", "debian", "12"], &env).await;
    assert!(
        r.stdout.contains("corp-debian-12") && r.stdout.contains("debian-12-arm64"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["image", "show", "fedora-coreos-stable"], &env).await;
    assert!(
        r.stdout.contains("ignition: true") && r.stdout.contains("cloud_init: false"),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["image", "show", "debian-99"], &env).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("similar: corp-debian-12"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_fetch_verifies_against_the_catalog_checksum_and_caches_by_hash() {
    use sha2::Digest;
    let s = sim().await;
    let image: Vec<u8> = (0..400_000u32).map(|i| (i % 253) as u8).collect();
    let hash = hex::encode(sha2::Sha256::digest(&image));
    let sums = format!("{}  other.qcow2\n{hash}  tiny-cloud.qcow2\n", "1".repeat(64)).into_bytes();
    let base =
        file_server(vec![("/images/tiny-cloud.qcow2", image), ("/images/SHA256SUMS", sums)]).await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(
        &catalog,
        format!(
            "images:\n  - {{id: tiny-1, distro: tiny, version: '1', arch: amd64, url: '{base}/images/tiny-cloud.qcow2', \
             checksum_url: '{base}/images/SHA256SUMS', checksum_format: gnu-sha256, format: qcow2, default_user: tiny, \
             os_type: l26, firmware: bios, disk_bus: scsi, disk_size: 2G, cloud_init: true, guest_agent: false, \
             source: '{base}/images/'}}\n"
        ),
    )
    .unwrap();
    let cache = dir.path().join("xdg-cache");
    let env = [
        ("PROXCTL_CATALOG", catalog.to_str().unwrap()),
        ("XDG_CACHE_HOME", cache.to_str().unwrap()),
    ];
    let r = proxctl(&s, &["image", "fetch", "tiny-1"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("downloaded and verified") && r.stdout.contains(&hash),
        "{}",
        r.stdout
    );
    let r = proxctl(&s, &["image", "pull", "tiny-1"], &env).await;
    assert!(
        r.stdout.contains("already cached"),
        "image pull of a catalog id is a fetch: {}",
        r.stdout
    );
    let r = proxctl(&s, &["image", "verify"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A wrong hash given by hand is refused, and nothing lands in the cache under it.
    let r = proxctl(
        &s,
        &[
            "image",
            "fetch",
            &format!("{base}/images/tiny-cloud.qcow2"),
            "--sha256",
            &"a".repeat(64),
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not match its checksum"), "{}", r.stderr);
    // Bit rot is caught by verify; prune empties the cache.
    let cached = cache.join("proxctl/images/sha256").join(&hash);
    std::fs::write(&cached, b"rot").unwrap();
    let r = proxctl(&s, &["image", "verify"], &env).await;
    assert_eq!(r.code, 2, "{}", r.stdout);
    let r = proxctl(&s, &["image", "prune", "--yes"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!cached.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudinit_render_writes_a_nocloud_seed_iso_whose_instance_id_follows_the_content() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey me@laptop\n").unwrap();
    let iso = dir.path().join("seed.iso");
    let args = |extra: &'static str| {
        let mut a = vec!["cloudinit", "render", "--hostname", "web-1", "--user", "debian"];
        a.extend([
            "--ssh-key",
            key.to_str().unwrap(),
            "--ip",
            "10.0.0.5/24",
            "--gateway",
            "10.0.0.1",
        ]);
        a.extend(["--iso", iso.to_str().unwrap()]);
        if !extra.is_empty() {
            a.extend(["--nameserver", extra]);
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let a1 = args("");
    let r = proxctl(&s, &a1.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = std::fs::read(&iso).unwrap();
    let files = proxctl_images::iso::read_joliet(&first).unwrap();
    let get =
        |n: &str| String::from_utf8(files.iter().find(|(f, _)| f == n).unwrap().1.clone()).unwrap();
    assert!(get("user-data").contains("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey"));
    assert!(get("network-config").contains("10.0.0.5/24"));
    let iid = |m: String| m.lines().next().unwrap().to_string();
    let id1 = iid(get("meta-data"));
    // Changed settings: a new instance-id, so cloud-init applies them at the next boot.
    let a2 = args("10.0.0.2");
    let r = proxctl(&s, &a2.iter().map(String::as_str).collect::<Vec<_>>(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files2 = proxctl_images::iso::read_joliet(&std::fs::read(&iso).unwrap()).unwrap();
    let meta2 = String::from_utf8(files2[0].1.clone()).unwrap();
    assert_ne!(iid(meta2), id1);
    let r = proxctl(&s, &["cloudinit", "render", "--hostname", "x", "--ip", "10.0.0.5"], &[]).await;
    assert_eq!(r.code, 1, "bad input is a user error: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_from_a_template_with_cloud_init_waits_for_it_and_delete_removes_the_seed() {
    let s = start_with(ENGINE_CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey me@laptop\n").unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap()), ("CI_PW", "s3cret-pw")];
    let seeds = || {
        s.with_world(|w| w.volumes.values().filter(|v| v.volid.contains(":iso/proxctl-")).count())
    };

    // ISO mode: a seed is uploaded and attached; cloud-init reports done through the agent.
    let r = proxctl(
        &s,
        &[
            "vm",
            "create",
            "--name",
            "ci-iso",
            "--from-template",
            "debian-12",
            "--cloud-init",
            "iso",
            "--ci-user",
            "debian",
            "--ssh-key",
            key.to_str().unwrap(),
            "--ip",
            "10.0.0.7/24",
            "--gateway",
            "10.0.0.1",
            "--start",
            "--wait-cloud-init",
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("cloud-init in ci-iso: done"), "{}", r.stdout);
    assert_eq!(seeds(), 1);
    let r = proxctl(&s, &["vm", "stop", "ci-iso", "--yes"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = proxctl(&s, &["vm", "delete", "ci-iso", "--yes"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("deleted its cloud-init seed"), "{}", r.stdout);
    assert_eq!(seeds(), 0, "no orphan seed ISO");

    // Native mode with the password from the environment: it lands hashed in PVE, nowhere else.
    s.with_world(|w| w.cloud_init_ok = false);
    let r = proxctl(
        &s,
        &[
            "vm",
            "create",
            "--name",
            "ci-native",
            "--from-template",
            "debian-12",
            "--ci-user",
            "debian",
            "--ci-password-from",
            "env:CI_PW",
            "--start",
            "--wait-cloud-init",
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 3, "a failed cloud-init is reported like a failed task: {}", r.stderr);
    assert!(
        r.stderr.contains("cloud-init in VM") && r.stderr.contains("simulated failure"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));
    let pw = s.with_world(|w| {
        w.guests
            .values()
            .find(|g| g.conf.get("name").map(String::as_str) == Some("ci-native"))
            .and_then(|g| g.conf.get("cipassword").cloned())
    });
    assert!(pw.is_some_and(|p| p.starts_with("$5$") && !p.contains("s3cret")), "stored hashed");
    let audit = std::fs::read(&db).unwrap();
    assert!(
        !String::from_utf8_lossy(&audit).contains("s3cret"),
        "not in the state store or audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_takes_own_user_data_in_iso_mode_only_and_checks_it_first() {
    let s = start_with(ENGINE_CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "#cloud-config\npackages: [nginx]\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "packages: [nginx]\n").unwrap();
    let create = |file: &std::path::Path, mode: &str| {
        [
            "vm",
            "create",
            "ud-1",
            "--from-template",
            "debian-12",
            "--cloud-init",
            mode,
            "--ci-user",
            "debian",
            "--user-data",
        ]
        .iter()
        .map(ToString::to_string)
        .chain([file.to_str().unwrap().to_string()])
        .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let s = &s;
        async move { proxctl(s, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await }
    };
    let r = run(create(&good, "native")).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--user-data needs --cloud-init iso"), "{}", r.stderr);
    let r = run(create(&bad, "iso")).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("must start with the line #cloud-config"), "{}", r.stderr);
    assert_eq!(s.with_world(|w| w.guests.len()), 2, "nothing was sent for bad input");
    let r = run(create(&good, "iso")).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seeds =
        s.with_world(|w| w.volumes.values().filter(|v| v.volid.contains(":iso/proxctl-")).count());
    assert_eq!(seeds, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_takes_several_nics_with_net_and_checks_each() {
    let s = start_with(ENGINE_CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let r = proxctl(
        &s,
        &[
            "vm",
            "create",
            "two-nics",
            "--storage",
            "local-lvm",
            "--net",
            "bridge=vmbr0,tag=10",
            "--net",
            "bridge=vmbr0,model=e1000,firewall=1",
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let conf = s.with_world(|w| {
        w.guests
            .values()
            .find(|g| g.conf.get("name").is_some_and(|n| n == "two-nics"))
            .unwrap()
            .conf
            .clone()
    });
    assert!(conf["net0"].starts_with("virtio=") && conf["net0"].contains("tag=10"), "{conf:?}");
    assert!(conf["net1"].starts_with("e1000=") && conf["net1"].contains("firewall=1"), "{conf:?}");

    // From a template: the same NICs, as the manifest shows them.
    let r = proxctl(
        &s,
        &[
            "--dry-run",
            "vm",
            "create",
            "tpl-nics",
            "--from-template",
            "debian-12",
            "--net",
            "bridge=vmbr0",
            "--net",
            "bridge=vmbr0,tag=20",
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("net1:\n      bridge: vmbr0\n      vlan: 20"), "{}", r.stdout);

    let r =
        proxctl(&s, &["vm", "create", "x", "--storage", "local-lvm", "--net", "bridge=nope"], &env)
            .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("bridge 'nope' does not exist") && r.stderr.contains("vmbr0"),
        "{}",
        r.stderr
    );
    let r = proxctl(&s, &["vm", "create", "x", "--net", "tag=5"], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("a NIC needs bridge=NAME"), "{}", r.stderr);
}
