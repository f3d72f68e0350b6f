//! Charts and releases against the simulator, through the binary: `web-tier` installed,
//! upgraded (the plan shows exactly the new VMs), rolled back (exactly their deletes) and
//! uninstalled without a trace; a failed upgrade recorded and rolled back; one owner per
//! resource; releases rebuilt from PVE's markers after a lost store; and every built-in chart
//! rendered, validated, installed and planned clean (`k3s-cluster`'s user-data checked by
//! `cloud-init schema`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use proxctl_sim::SimHandle;
use proxctl_sim::faults::Faults;
use proxctl_state::StateStore;
use support::{Run, command, start_with};

const CLUSTER: &str = r#"
guests:
  - vmid: 9000
    config: {name: debian-12, template: true, ostype: l26, scsihw: virtio-scsi-single, scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:90:00,bridge=vmbr0", ide2: "local-lvm:vm-9000-cloudinit,media=cdrom", agent: "1"}
"#;

/// A simulator and one home (config, chart repositories, state store) shared by every run.
struct Env {
    sim: SimHandle,
    home: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        Env { sim: start_with(CLUSTER).await, home: tempfile::tempdir().unwrap() }
    }

    fn state(&self) -> PathBuf {
        self.home.path().join("state.db")
    }

    async fn run(&self, args: &[&str]) -> Run {
        let state = self.state().display().to_string();
        let mut cmd = command(&self.sim, self.home.path(), args, &[("PROXCTL_STATE", &state)]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args).await;
        assert_eq!(r.code, 0, "{args:?}\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    /// Guest names starting with `prefix`.
    fn guests(&self, prefix: &str) -> Vec<String> {
        self.sim.with_world(|w| {
            let mut v: Vec<String> = w
                .guests
                .values()
                .filter_map(|g| g.name())
                .filter(|n| n.starts_with(prefix))
                .map(String::from)
                .collect();
            v.sort();
            v
        })
    }

    fn seed_isos(&self) -> usize {
        self.sim
            .with_world(|w| w.volumes.keys().filter(|(_, v)| v.contains(":iso/proxctl-")).count())
    }

    async fn allocations(&self) -> usize {
        let store = proxctl_state_sqlite::SqliteStore::open(&self.state()).await.unwrap();
        store.ip_allocations(None).await.unwrap().len()
    }
}

/// (creates, deletes, other changes) of a plan printed as JSON.
fn counts(plan_json: &str) -> (usize, usize, usize) {
    let plan: serde_json::Value =
        serde_json::from_str(plan_json).unwrap_or_else(|e| panic!("{e}: {plan_json}"));
    let mut c = (0, 0, 0);
    for ch in plan["changes"].as_array().unwrap() {
        match ch["action"].as_str().unwrap() {
            "create" => c.0 += 1,
            "delete" => c.1 += 1,
            "noop" => {}
            _ => c.2 += 1,
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_tier_installs_upgrades_rolls_back_and_uninstalls_leaving_nothing() {
    let e = Env::new().await;
    let r = e
        .ok(&["release", "install", "shop", "web-tier", "--set", "cloudInitMode=iso", "--yes"])
        .await;
    assert!(r.stdout.contains("shop: 2 web VM(s)"), "NOTES printed: {}", r.stdout);
    assert_eq!(e.guests("shop-"), ["shop-lb", "shop-web-1", "shop-web-2"]);
    assert_eq!(e.seed_isos(), 2);
    assert_eq!(e.allocations().await, 2);

    // Upgrade to 4: the plan shows the two new VMs and nothing else.
    let up = ["release", "upgrade", "shop", "--reuse-values", "--set", "replicas=4"];
    let r = e.ok(&[&up[..], &["--dry-run", "-o", "json"]].concat()).await;
    assert_eq!(counts(&r.stdout), (2, 0, 0));
    e.ok(&[&up[..], &["--yes"]].concat()).await;
    assert_eq!(e.guests("shop-web-").len(), 4);

    // Back to revision 1: exactly the two deletes.
    let r = e.ok(&["release", "rollback", "shop", "1", "--dry-run", "-o", "json"]).await;
    assert_eq!(counts(&r.stdout), (0, 2, 0));
    e.ok(&["release", "rollback", "shop", "1", "--yes"]).await;
    assert_eq!(e.guests("shop-web-"), ["shop-web-1", "shop-web-2"]);
    assert_eq!(e.seed_isos(), 2);

    let r = e.ok(&["release", "history", "shop", "-o", "json"]).await;
    let h: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let statuses: Vec<&str> =
        h.as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["superseded", "superseded", "deployed"]);
    let r = e.ok(&["release", "get", "values", "shop", "--revision", "2"]).await;
    assert!(r.stdout.contains("replicas: 4"), "{}", r.stdout);

    // Uninstall asks first; then nothing of the release is left.
    let r = e.run(&["release", "uninstall", "shop"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("3 delete") && r.stderr.contains("--yes"), "{}", r.stderr);
    e.ok(&["release", "uninstall", "shop", "--yes"]).await;
    assert!(e.guests("shop-").is_empty());
    assert_eq!(e.seed_isos(), 0);
    assert_eq!(e.allocations().await, 0);
    let r = e.ok(&["release", "list", "-o", "json"]).await;
    assert_eq!(r.stdout.trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_is_recorded_and_a_rollback_restores_the_deployed_revision() {
    let e = Env::new().await;
    e.ok(&["release", "install", "app", "web-tier", "--set", "replicas=1", "--yes"]).await;
    e.sim.set_faults(Faults {
        task_failure_rate: 1.0,
        task_failure_types: vec!["qmclone".into()],
        ..Faults::default()
    });
    let r = e
        .run(&["release", "upgrade", "app", "--reuse-values", "--set", "replicas=3", "--yes"])
        .await;
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("release app revision 2 failed"), "{}", r.stderr);
    let r = e.ok(&["release", "status", "app", "-o", "json"]).await;
    let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["status"], "failed");
    assert_eq!(s["deployed"], 1, "the release stays usable on its deployed revision");

    e.sim.set_faults(Faults::default());
    e.ok(&["release", "rollback", "app", "--yes"]).await;
    assert_eq!(e.guests("app-web-"), ["app-web-1"]);
    let r = e.ok(&["release", "history", "app"]).await;
    assert!(r.stdout.contains("rollback to 1"), "{}", r.stdout);
    let r = e
        .ok(&["release", "upgrade", "app", "--reuse-values", "--set", "replicas=2", "--yes"])
        .await;
    assert!(r.stderr.contains("revision 4 deployed"), "{}", r.stderr);
}

const FIXED_CHART: &str = "apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata: {name: {{ values.vm }}}
spec:
  template: debian-12
  networks: {net0: {bridge: vmbr0}}
";

const SWEEP_JOB: &str = "apiVersion: proxctl.io/v1
kind: Job
metadata: {name: {{ values.vm }}-sweep}
spec:
  schedule: daily
  action: {type: snapshot-sweep}
";

fn chart(dir: &Path, name: &str) -> String {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("Chart.yaml"), format!("name: {name}\nversion: 0.1.0\n")).unwrap();
    std::fs::write(root.join("values.yaml"), "vm: shared-vm\n").unwrap();
    std::fs::write(root.join("templates/vm.yaml"), FIXED_CHART).unwrap();
    std::fs::write(root.join("templates/job.yaml"), SWEEP_JOB).unwrap();
    root.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_belongs_to_one_release_and_never_to_a_plain_manifest_as_well() {
    let e = Env::new().await;
    let fixed = chart(e.home.path(), "fixed");
    e.ok(&["release", "install", "a", &fixed, "--yes"]).await;
    let r = e.run(&["release", "install", "b", &fixed, "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("VirtualMachine/shared-vm belongs to release a"), "{}", r.stderr);

    // A plain manifest's VM cannot be taken over by a release...
    let plain = e.home.path().join("plain.yaml");
    std::fs::write(&plain, FIXED_CHART.replace("{{ values.vm }}", "plain-vm")).unwrap();
    let plain = plain.display().to_string();
    e.ok(&["apply", "-f", &plain, "--yes"]).await;
    let r = e.run(&["release", "install", "c", &fixed, "--set", "vm=plain-vm", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("VirtualMachine/plain-vm") && r.stderr.contains("plain manifest"),
        "{}",
        r.stderr
    );
    assert!(e.run(&["release", "status", "c"]).await.code == 1, "nothing recorded");

    // ...and a plain apply --prune leaves the release's guests alone.
    let r = e.ok(&["apply", "-f", &plain, "--prune", "--yes"]).await;
    assert!(
        r.stdout.contains("belongs to release a") || r.stderr.contains("belongs to release a"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(e.guests("shared-vm"), ["shared-vm"]);
    let r = e.ok(&["job", "list"]).await;
    assert!(r.stdout.contains("shared-vm-sweep"), "the release's job stays: {}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_state_store_is_rebuilt_from_the_markers_in_pve() {
    let e = Env::new().await;
    e.ok(&["release", "install", "shop", "web-tier", "--set", "replicas=1", "--yes"]).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", e.state().display()));
    }
    let r = e.ok(&["release", "list", "-o", "json"]).await;
    assert_eq!(r.stdout.trim(), "[]");
    let r = e.ok(&["release", "adopt"]).await;
    assert!(r.stdout.contains("adopted release shop (2 resource(s))"), "{}", r.stdout);
    let r = e.ok(&["release", "list"]).await;
    assert!(r.stdout.contains("shop") && r.stdout.contains("deployed"), "{}", r.stdout);
    // The adopted release owns its guests again: upgrading it with its chart creates nothing.
    let r = e
        .ok(&[
            "release",
            "upgrade",
            "shop",
            "web-tier",
            "--set",
            "replicas=1",
            "--dry-run",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(counts(&r.stdout).0, 0, "{}", r.stdout);
    let r = e.run(&["release", "rollback", "shop", "1"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("adopted from PVE"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_chart_validates_installs_and_then_plans_clean() {
    let e = Env::new().await;
    for (i, chart) in
        ["web-tier", "docker-host", "k3s-cluster", "postgres-replicated"].iter().enumerate()
    {
        let name = format!("r{i}");
        let r = e.ok(&["chart", "template", chart, "--name", &name]).await;
        let file = e.home.path().join(format!("{chart}.yaml"));
        std::fs::write(&file, &r.stdout).unwrap();
        let v = e.ok(&["validate", "-f", &file.display().to_string()]).await;
        assert!(v.stdout.contains("valid"), "{chart}: {}", v.stdout);
        e.ok(&["chart", "lint", chart]).await;

        e.ok(&["release", "install", &name, chart, "--yes"]).await;
        let r =
            e.ok(&["release", "upgrade", &name, "--reuse-values", "--dry-run", "-o", "json"]).await;
        assert_eq!(counts(&r.stdout), (0, 0, 0), "{chart} plans clean after install: {}", r.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3s_user_data_passes_cloud_init_schema_and_its_token_stays_out_of_output() {
    let e = Env::new().await;
    let r = e
        .ok(&["chart", "template", "k3s-cluster", "--set", "servers=3", "--set", "agents=1"])
        .await;
    let docs: Vec<serde_json::Value> = r
        .stdout
        .split("\n---\n")
        .filter_map(|d| serde_yaml_ng::from_str::<serde_json::Value>(d).ok())
        .collect();
    let user_data: Vec<String> = docs
        .iter()
        .filter_map(|d| d["spec"]["cloudInit"]["userData"].as_str().map(String::from))
        .collect();
    assert_eq!(user_data.len(), 4);
    assert!(
        user_data[0].contains("cluster-init: true")
            && user_data[1].contains("server: https://10.30.0.10:6443")
    );
    match cloud_init() {
        Some(bin) => {
            for (i, ud) in user_data.iter().enumerate() {
                let f = e.home.path().join(format!("ud-{i}.yaml"));
                std::fs::write(&f, ud).unwrap();
                let out = std::process::Command::new(&bin)
                    .args(["schema", "--config-file"])
                    .arg(&f)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "cloud-init schema refused node {i}:\n{}\n{}\n{ud}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        None => {
            let msg = "cloud-init is not installed (apt install cloud-init); its schema check did not run";
            assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
            eprintln!("skipped: {msg}");
        }
    }

    // The join token lives in the store; installing never prints it.
    let r =
        e.ok(&["release", "install", "kube", "k3s-cluster", "--set", "agents=1", "--yes"]).await;
    let manifest = e.ok(&["release", "get", "manifest", "kube"]).await.stdout;
    let token = manifest
        .split("token: ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_hexdigit()).next())
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 48, "{manifest}");
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));
    let audit = e.ok(&["audit", "list", "-o", "json"]).await;
    assert!(!audit.stdout.contains(&token), "the audit log holds the token");
}

fn cloud_init() -> Option<PathBuf> {
    ["/usr/bin/cloud-init", "/usr/local/bin/cloud-init"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_come_from_http_repositories_only_with_the_digest_their_index_names() {
    let e = Env::new().await;
    let home = e.home.path().display().to_string();
    e.ok(&["chart", "create", "my-app", "--dir", &home]).await;
    let pkgs = e.home.path().join("pkgs");
    std::fs::create_dir_all(&pkgs).unwrap();
    let r = e
        .ok(&["chart", "package", &format!("{home}/my-app"), "--out", &pkgs.display().to_string()])
        .await;
    let digest = r.stdout.split("sha256:").nth(1).unwrap().trim().to_string();
    let bytes = std::fs::read(pkgs.join("my-app-0.1.0.tgz")).unwrap();
    let index = |d: &str| {
        format!("apiVersion: v1\nentries:\n  my-app:\n    - version: 0.1.0\n      urls: [my-app-0.1.0.tgz]\n      digest: {d}\n")
            .into_bytes()
    };
    let url = support::file_server(vec![
        ("/good/index.yaml", index(&digest)),
        ("/good/my-app-0.1.0.tgz", bytes.clone()),
        ("/bad/index.yaml", index(&"0".repeat(64))),
        ("/bad/my-app-0.1.0.tgz", bytes),
    ])
    .await;
    e.ok(&["chart", "repo", "add", "good", &format!("{url}/good")]).await;
    e.ok(&["chart", "repo", "add", "bad", &format!("{url}/bad")]).await;
    let r = e.run(&["chart", "template", "good/my-app"]).await;
    assert_eq!(r.code, 1, "no index before update: {}", r.stderr);
    assert!(r.stderr.contains("chart repo update"), "{}", r.stderr);
    let r = e.ok(&["chart", "repo", "update"]).await;
    assert!(r.stdout.contains("good: 1 chart(s)"), "{}", r.stdout);
    let r = e.ok(&["chart", "list"]).await;
    assert!(r.stdout.contains("good/my-app") && r.stdout.contains("web-tier"), "{}", r.stdout);
    let r = e.run(&["chart", "template", "bad/my-app"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("SHA-256") && r.stderr.contains("not used"), "{}", r.stderr);
    e.ok(&["release", "install", "app", "good/my-app@0.1.0", "--yes"]).await;
    assert_eq!(e.guests("app-"), ["app-1"]);
}

/// Two installs of one release at once (two terminals, or a script run twice): the release
/// lock serialises them, so one installs and the other finds the release and refuses; the
/// guests are made once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_installs_of_one_release_at_once_make_it_once() {
    let e = Env::new().await;
    let args = ["release", "install", "twin", "web-tier", "--set", "replicas=1", "--yes"];
    let (a, b) = tokio::join!(e.run(&args), e.run(&args));
    let mut codes = [a.code, b.code];
    codes.sort();
    assert_eq!(codes, [0, 1], "one installs, one is refused:\n{}\n{}", a.stderr, b.stderr);
    let refused = if a.code == 1 { &a } else { &b };
    assert!(refused.stderr.contains("release twin already exists"), "{}", refused.stderr);
    assert_eq!(e.guests("twin-"), ["twin-lb", "twin-web-1"]);
    let r = e.ok(&["release", "history", "twin", "-o", "json"]).await;
    let h: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 1, "one revision: {h}");
}
