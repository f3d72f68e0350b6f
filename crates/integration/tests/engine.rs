//! The declarative engine against the simulator: plan, apply, re-plan to no changes, updates
//! flagged for reboot, pruning, IP pools, saved plans refused when stale, and concurrent
//! applies that never share a VMID.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_engine::manifest::{self, Declared};
use proxctl_engine::{Action, ApplyOptions, EngineError, make_plan, plan_and_apply};
use proxctl_sim::scenario::Scenario;
use proxctl_state::StateStore;
use proxctl_state_sqlite::SqliteStore;
use support::harness_with;

const CLUSTER: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0", scsihw: virtio-scsi-single}}
  - {vmid: 100, config: {name: handmade, scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
"#;

const MANIFESTS: &str = "\
apiVersion: proxctl.io/v1
kind: IPPool
metadata: {name: lab}
spec: {cidr: 10.0.10.0/24, gateway: 10.0.10.1, range: {start: 10.0.10.50, end: 10.0.10.99}}
---
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata: {name: web-1}
spec:
  template: debian-12
  cores: 2
  memory: 2048
  disks: {scsi0: {size: 10G}}
  networks: {net0: {bridge: vmbr0, vlan: 10}}
  cloudInit:
    user: debian
    sshKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests web@example\"]
    ip: {net0: {pool: lab}}
  tags: [web, env-prod]
  start: true
---
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata: {name: web-2}
spec:
  template: debian-12
  cores: 2
  memory: 2048
  networks: {net0: {bridge: vmbr0}}
  cloudInit: {ip: {net0: {address: dhcp}}}
  tags: [web]
";

async fn setup() -> (support::Harness, tempfile::TempDir, Arc<dyn StateStore>) {
    let h = support::realtime(CLUSTER, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    (h, dir, store)
}

fn declared(text: &str) -> Vec<Declared> {
    manifest::parse(Path::new("test.yaml"), text).unwrap()
}

fn opts() -> ApplyOptions {
    let mut o = ApplyOptions::new("tester");
    o.parallel = 4;
    o.lock_backoff = std::time::Duration::from_millis(20);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_what_is_declared_and_a_second_plan_shows_no_changes() {
    let (h, _dir, store) = setup().await;
    let d = declared(MANIFESTS);
    let plan = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    insta::assert_snapshot!("first_plan", proxctl_engine::render::text(&plan, false, false));
    assert_eq!(plan.count(Action::Create), 2);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

    let report = proxctl_engine::session::apply_plan(&h.client, Arc::clone(&store), &plan, &opts())
        .await
        .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);

    // PVE really has what was declared, marked as managed.
    let (web1, web2) = h.sim.with_world(|w| {
        let find = |n: &str| {
            w.guests
                .values()
                .find(|g| g.conf.get("name").map(String::as_str) == Some(n))
                .cloned()
                .unwrap()
        };
        (find("web-1"), find("web-2"))
    });
    assert_eq!(web1.conf["cores"], "2");
    assert_eq!(web1.conf["tags"], "env-prod;proxctl;web");
    assert!(web1.conf["description"].contains("proxctl:resource=VirtualMachine/web-1"));
    assert!(web1.conf["net0"].contains("tag=10"), "{}", web1.conf["net0"]);
    assert!(
        web1.conf["net0"].contains("BC:24:11:00:00:01") || web1.conf["net0"].contains("virtio="),
        "{}",
        web1.conf["net0"]
    );
    assert_eq!(web1.conf["ipconfig0"], "ip=10.0.10.50/24,gw=10.0.10.1");
    assert!(web1.conf["scsi0"].contains("size=10G"), "{}", web1.conf["scsi0"]);
    assert_eq!(web1.run, proxctl_sim::state::RunState::Running);
    assert_eq!(web2.conf["ipconfig0"], "ip=dhcp");
    let ips = store.ip_allocations(Some("lab")).await.unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0].owner.to_string(), "VirtualMachine/web-1");
    assert_eq!(store.resources().await.unwrap().len(), 2);
    assert!(store.journal_pending().await.unwrap().is_empty(), "every intent completed");

    let again = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_updates_flagged_for_reboot_and_prune_deletes_what_is_gone() {
    let (h, _dir, store) = setup().await;
    plan_and_apply(&h.client, Arc::clone(&store), &declared(MANIFESTS), false, &opts())
        .await
        .unwrap();

    let changed = MANIFESTS
        .replacen("cores: 2", "cores: 4", 1)
        .replace("tags: [web]\n", "tags: [web, canary]\n");
    let plan = make_plan(&h.client, store.as_ref(), &declared(&changed), false).await.unwrap();
    insta::assert_snapshot!("update_plan", proxctl_engine::render::text(&plan, false, false));
    let web1 = plan.changes.iter().find(|c| c.key == "VirtualMachine/web-1").unwrap();
    assert_eq!(web1.action, Action::Update);
    assert!(web1.needs_reboot());
    let web2 = plan.changes.iter().find(|c| c.key == "VirtualMachine/web-2").unwrap();
    assert_eq!(web2.action, Action::Update);
    assert!(!web2.needs_reboot(), "tags apply live");

    // web-2 no longer declared: without --prune only a warning, with it a delete.
    let only_web1 = MANIFESTS.split("---\n").take(2).collect::<Vec<_>>().join("---\n");
    let plan = make_plan(&h.client, store.as_ref(), &declared(&only_web1), false).await.unwrap();
    assert!(!plan.has_changes());
    assert!(plan.warnings.iter().any(|w| w.contains("--prune")), "{:?}", plan.warnings);
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&only_web1), true, &opts())
            .await
            .unwrap();
    assert_eq!(plan.count(Action::Delete), 1);
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let names: Vec<String> = h
        .sim
        .with_world(|w| w.guests.values().filter_map(|g| g.conf.get("name").cloned()).collect());
    assert!(!names.contains(&"web-2".to_string()), "{names:?}");
    assert_eq!(store.resources().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_state_store_is_rebuilt_from_the_markers_on_the_guests() {
    let (h, dir, store) = setup().await;
    plan_and_apply(&h.client, Arc::clone(&store), &declared(MANIFESTS), false, &opts())
        .await
        .unwrap();
    drop(store);
    let fresh: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("new.db")).await.unwrap());
    // The pool address must be re-recorded too; re-adoption keeps the same address only if
    // the store knows it, so this declares web-1's address statically for the check.
    let plan = make_plan(
        &h.client,
        fresh.as_ref(),
        &declared(&MANIFESTS.replace("pool: lab", "address: 10.0.10.50/24, gateway: 10.0.10.1")),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        plan.count(Action::Create),
        0,
        "{}",
        proxctl_engine::render::text(&plan, false, true)
    );
    assert!(!plan.has_changes(), "{}", proxctl_engine::render::text(&plan, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_once_the_cluster_changed() {
    let (h, _dir, store) = setup().await;
    plan_and_apply(&h.client, Arc::clone(&store), &declared(MANIFESTS), false, &opts())
        .await
        .unwrap();
    let changed = MANIFESTS.replacen("cores: 2", "cores: 4", 1);
    let saved = make_plan(&h.client, store.as_ref(), &declared(&changed), false).await.unwrap();
    let saved: proxctl_engine::Plan =
        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    proxctl_engine::check_saved(&h.client, &saved).await.unwrap();

    // Someone edits web-1 by hand after the plan was made.
    let web1 =
        saved.changes.iter().find(|c| c.key == "VirtualMachine/web-1").unwrap().vmid.unwrap();
    h.sim.with_world(|w| {
        w.guests.get_mut(&web1).unwrap().conf.insert("memory".into(), "4096".into());
    });
    let err = proxctl_engine::check_saved(&h.client, &saved).await.unwrap_err();
    assert!(matches!(err, EngineError::Stale(_)), "{err}");
    assert!(err.to_string().contains(&format!("guest {web1} changed")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_on_one_store_never_share_a_vmid() {
    let (h, _dir, store) = setup().await;
    let fleet = |prefix: &str| -> String {
        (0..5)
            .map(|i| {
                format!(
                    "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: {prefix}-{i}}}\nspec: {{template: debian-12}}\n"
                )
            })
            .collect::<Vec<_>>()
            .join("---\n")
    };
    let (a, b) = (declared(&fleet("a")), declared(&fleet("b")));
    let other = support::token_client(&h.sim);
    let o = opts();
    let (ra, rb) = tokio::join!(
        plan_and_apply(&h.client, Arc::clone(&store), &a, false, &o),
        plan_and_apply(&other, Arc::clone(&store), &b, false, &o),
    );
    let (ra, rb) = (ra.unwrap().1, rb.unwrap().1);
    assert_eq!(ra.failed() + rb.failed(), 0, "{ra:#?}\n{rb:#?}");
    let mut ids: Vec<u32> = ra.results.iter().chain(&rb.results).filter_map(|r| r.vmid).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (10, 10), "{ids:?}");
    let guests = h.sim.with_world(|w| w.guests.len());
    assert_eq!(guests, 12, "10 new guests beside the template and the handmade VM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_applies_and_then_plans_no_changes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = std::fs::read_to_string(root.join("docs/sim-cluster.yaml")).unwrap();
    let mut cfg = support::config(2);
    cfg.scenario = Some(Scenario::from_yaml(&scenario).unwrap());
    cfg.clock = proxctl_sim::ClockMode::Realtime;
    cfg.time_scale = 1000.0;
    let h = harness_with(cfg).await;
    let (sources, problems) = proxctl_engine::source::read_all(&[root.join("examples")]);
    assert!(problems.is_empty(), "{problems:?}");
    let files: Vec<std::path::PathBuf> = sources.into_iter().map(|s| s.path).collect();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
        let d = manifest::load(std::slice::from_ref(&file)).unwrap_or_else(|e| panic!("{e:?}"));
        let (plan, report) =
            plan_and_apply(&h.client, Arc::clone(&store), &d, false, &opts()).await.unwrap();
        assert!(plan.has_changes(), "{}", file.display());
        assert_eq!(report.failed(), 0, "{}: {:#?}", file.display(), report.results);
        let again = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
        assert!(
            !again.has_changes(),
            "{} planned changes after apply:\n{}",
            file.display(),
            proxctl_engine::render::text(&again, false, false)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_n_unchanged_vms_costs_at_most_n_plus_3_requests() {
    let n = 300;
    let mut scenario = String::from(
        "guests:\n  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}\n",
    );
    let mut manifests = Vec::new();
    for i in 0..n {
        scenario.push_str(&format!(
            "  - {{vmid: {id}, config: {{name: f-{i}, cores: \"1\", tags: \"fleet;proxctl\", \
             description: \"proxctl:resource=VirtualMachine/f-{i}\", scsi0: \"local-lvm:vm-{id}-disk-0,size=4G\"}}}}\n",
            id = 1000 + i
        ));
        manifests.push(format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: f-{i}}}\nspec: {{template: debian-12, cores: 1, tags: [fleet]}}\n"
        ));
    }
    let mut cfg = support::config(1);
    cfg.scenario = Some(Scenario::from_yaml(&scenario).unwrap());
    let h = harness_with(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
    let d = declared(&manifests.join("---\n"));
    let before = h.client.metrics().requests.load(std::sync::atomic::Ordering::Relaxed);
    let plan = make_plan(&h.client, &store, &d, false).await.unwrap();
    let requests = h.client.metrics().requests.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(!plan.has_changes(), "{}", proxctl_engine::render::text(&plan, false, false));
    assert!(requests <= n as u64 + 3, "{requests} requests for {n} resources");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_created_updated_grown_and_pruned() {
    let (h, _dir, store) = setup().await;
    let ct = "apiVersion: proxctl.io/v1\nkind: Container\nmetadata: {name: ct-a}\n\
              spec: {ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', storage: local-lvm, \
              diskSize: 4G, memory: 512, ip: dhcp, tags: [svc], start: true}\n";
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(ct), false, &opts()).await.unwrap();
    assert_eq!(plan.count(Action::Create), 1);
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let vmid = plan.changes[0].vmid.unwrap();
    let grown = ct.replace("memory: 512", "memory: 1024").replace("diskSize: 4G", "diskSize: 6G");
    let plan = make_plan(&h.client, store.as_ref(), &declared(&grown), false).await.unwrap();
    let fields: Vec<&str> = plan.changes[0].diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["memory", "diskSize"],
        "{}",
        proxctl_engine::render::text(&plan, false, false)
    );
    let report = proxctl_engine::session::apply_plan(&h.client, Arc::clone(&store), &plan, &opts())
        .await
        .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let (mem, rootfs) = h.sim.with_world(|w| {
        (w.guests[&vmid].conf["memory"].clone(), w.guests[&vmid].conf["rootfs"].clone())
    });
    assert_eq!(mem, "1024");
    assert!(rootfs.contains("size=6G"), "{rootfs}");
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &[], true, &opts()).await.unwrap();
    assert_eq!(plan.count(Action::Delete), 1);
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert!(
        h.sim.with_world(|w| !w.guests.contains_key(&vmid)),
        "the running container was stopped and destroyed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iso_cloud_init_uploads_a_seed_replaces_it_on_change_and_removes_it_with_the_vm() {
    let (h, _dir, store) = setup().await;
    let vm = |key: &str| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: seeded}}\n\
             spec: {{template: debian-12, networks: {{net0: {{bridge: vmbr0}}}}, \
             cloudInit: {{mode: iso, user: debian, sshKeys: ['{key}'], ip: {{net0: {{address: 10.0.0.9/24, gateway: 10.0.0.1}}}}}}}}\n"
        )
    };
    let isos = |h: &support::Harness| -> Vec<String> {
        h.sim.with_world(|w| {
            w.volumes
                .values()
                .filter(|v| v.volid.contains(":iso/proxctl-"))
                .map(|v| v.volid.clone())
                .collect()
        })
    };
    let (plan, report) = plan_and_apply(
        &h.client,
        Arc::clone(&store),
        &declared(&vm("ssh-ed25519 AAAA one@x")),
        false,
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let vmid = plan.changes[0].vmid.unwrap();
    let first = isos(&h);
    assert_eq!(first.len(), 1, "{first:?}");
    let ide2 = h.sim.with_world(|w| w.guests[&vmid].conf["ide2"].clone());
    assert_eq!(ide2, format!("{},media=cdrom", first[0]));
    let conf = h.sim.with_world(|w| w.guests[&vmid].conf.clone());
    assert!(
        !conf.contains_key("ciuser") && !conf.contains_key("ipconfig0"),
        "ISO mode sets no native keys"
    );
    let again =
        make_plan(&h.client, store.as_ref(), &declared(&vm("ssh-ed25519 AAAA one@x")), false)
            .await
            .unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));

    // New user-data: an update (never a replacement) with a new seed, and the old one gone.
    let (plan, report) = plan_and_apply(
        &h.client,
        Arc::clone(&store),
        &declared(&vm("ssh-ed25519 BBBB two@x")),
        false,
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(plan.changes[0].action, Action::Update);
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let second = isos(&h);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "a new instance-id, a new seed");
    assert_eq!(
        h.sim.with_world(|w| w.guests[&vmid].conf["ide2"].clone()),
        format!("{},media=cdrom", second[0])
    );

    // Deleting the VM deletes its seed: no orphan ISOs.
    let (_, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &[], true, &opts()).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert!(isos(&h).is_empty(), "{:?}", isos(&h));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_user_data_goes_into_the_seed_byte_for_byte_and_changing_it_updates_in_place() {
    let (h, _dir, store) = setup().await;
    let user_data = |pkg: &str| format!("#cloud-config\npackages: [{pkg}]\n");
    let vm = |pkg: &str| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: own-ud}}\n\
             spec:\n  template: debian-12\n  networks: {{net0: {{bridge: vmbr0}}}}\n  \
             cloudInit:\n    mode: iso\n    user: debian\n    userData: |\n      #cloud-config\n      packages: [{pkg}]\n"
        )
    };
    let seed_volumes = |h: &support::Harness| -> Vec<(String, Option<String>)> {
        h.sim.with_world(|w| {
            w.volumes
                .values()
                .filter(|v| v.volid.contains(":iso/proxctl-"))
                .map(|v| (v.volid.clone(), v.sha256.clone()))
                .collect()
        })
    };
    let expected = |pkg: &str| proxctl_images::nocloud::Seed {
        hostname: "own-ud".into(),
        user: Some("debian".into()),
        user_data: Some(user_data(pkg)),
        ..Default::default()
    };
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&vm("nginx")), false, &opts())
            .await
            .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let vmid = plan.changes[0].vmid.unwrap();
    let first = seed_volumes(&h);
    assert_eq!(first.len(), 1, "{first:?}");
    let want = expected("nginx");
    let merged = want.user_data();
    assert!(merged.contains("packages") && merged.contains("user: debian"), "{merged}");
    assert!(first[0].0.ends_with(&format!("proxctl-{vmid}-{}.iso", want.instance_id())));
    use sha2::Digest;
    assert_eq!(
        first[0].1.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(want.iso())).as_str()),
        "the uploaded seed is exactly the ISO of the merged user-data"
    );

    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&vm("htop")), false, &opts())
            .await
            .unwrap();
    assert_eq!(plan.changes[0].action, Action::Update, "never a replacement");
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let second = seed_volumes(&h);
    assert_eq!(second.len(), 1, "the old seed is gone: {second:?}");
    assert!(second[0].0.contains(&expected("htop").instance_id()), "a new instance-id");
    assert!(h.sim.with_world(|w| w.guests.contains_key(&vmid)), "the same VM");
}

#[test]
fn user_data_outside_iso_mode_or_not_cloud_config_is_refused_at_its_place() {
    let text = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: x}\n\
                spec:\n  template: t\n  cloudInit:\n    userData: \"packages: []\"\n";
    let err: Vec<String> = manifest::parse(Path::new("m.yaml"), text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let err = err.join("\n");
    assert!(err.contains("m.yaml:7:5"), "the place of userData: {err}");
    assert!(err.contains("needs mode: iso"), "{err}");
    assert!(err.contains("must start with the line #cloud-config"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_state_is_declared_created_and_changed() {
    let (h, _dir, store) = setup().await;
    let vm = |state: &str| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: ha-1}}\n\
             spec: {{template: debian-12, start: true, ha: {{state: {state}}}}}\n"
        )
    };
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&vm("started")), false, &opts())
            .await
            .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let sid = format!("vm:{}", plan.changes[0].vmid.unwrap());
    assert_eq!(
        h.sim.with_world(|w| w.ha.get(&sid).map(|r| r.state.clone())),
        Some("started".into())
    );
    let again =
        make_plan(&h.client, store.as_ref(), &declared(&vm("started")), false).await.unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&vm("stopped")), false, &opts())
            .await
            .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert_eq!(plan.changes[0].diffs[0].field, "ha.state");
    assert_eq!(
        h.sim.with_world(|w| w.ha.get(&sid).map(|r| r.state.clone())),
        Some("stopped".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_pve_cannot_make_in_place_is_planned_as_a_replace() {
    let (h, _dir, store) = setup().await;
    let ct = |unpriv: bool| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: Container\nmetadata: {{name: ct-r}}\n\
             spec: {{ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', storage: local-lvm, unprivileged: {unpriv}, start: true}}\n"
        )
    };
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(&ct(true)), false, &opts())
            .await
            .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let vmid = plan.changes[0].vmid.unwrap();
    let plan = make_plan(&h.client, store.as_ref(), &declared(&ct(false)), false).await.unwrap();
    assert_eq!(plan.changes[0].action, Action::Replace);
    let text = proxctl_engine::render::text(&plan, false, false);
    assert!(
        text.contains("-/+ Container/ct-r")
            && text.contains("data is lost")
            && text.contains("1 to replace"),
        "{text}"
    );
    let report = proxctl_engine::session::apply_plan(&h.client, Arc::clone(&store), &plan, &opts())
        .await
        .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert_eq!(
        h.sim.with_world(|w| w.guests[&vmid].conf.get("unprivileged").cloned()),
        Some("0".into())
    );
    let again = make_plan(&h.client, store.as_ref(), &declared(&ct(false)), false).await.unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_can_come_straight_from_an_import_image_and_is_then_in_sync() {
    let (h, _dir, store) = setup().await;
    let m = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: raw-1}\n\
             spec: {image: 'local:import/debian-12-genericcloud-amd64.qcow2', cores: 2, \
             disks: {scsi0: {size: 12G}}, networks: {net0: {bridge: vmbr0}}, cloudInit: {user: debian, ip: {net0: {address: dhcp}}}, tags: [raw]}\n";
    let (plan, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &declared(m), false, &opts()).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert!(plan.changes[0].summary.contains("from image"), "{:?}", plan.changes[0]);
    let vmid = plan.changes[0].vmid.unwrap();
    let conf = h.sim.with_world(|w| w.guests[&vmid].conf.clone());
    assert!(
        conf["scsi0"].contains("size=12G") && !conf["scsi0"].contains("import-from"),
        "{}",
        conf["scsi0"]
    );
    assert_eq!(conf.get("ciuser").map(String::as_str), Some("debian"));
    let again = make_plan(&h.client, store.as_ref(), &declared(m), false).await.unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_for_a_nic_the_template_has_needs_no_networks_entry() {
    let (h, _dir, store) = setup().await;
    let vm = |nic: &str| {
        format!(
            "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: inh-1}}\n\
             spec: {{template: debian-12, cloudInit: {{ip: {{{nic}: {{address: 10.0.10.5/24, gateway: 10.0.10.1}}}}}}}}\n"
        )
    };
    // net0 comes with the template.
    let d = declared(&vm("net0"));
    let (_, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &d, false, &opts()).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let vmid = report.results[0].vmid.unwrap();
    let ipc = h.sim.with_world(|w| w.guests[&vmid].conf.get("ipconfig0").cloned());
    assert_eq!(ipc.as_deref(), Some("ip=10.0.10.5/24,gw=10.0.10.1"));
    let again = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
    // net1 it does not have: the plan says where to declare it.
    let err =
        make_plan(&h.client, store.as_ref(), &declared(&vm("net1")), false).await.unwrap_err();
    assert!(err.to_string().contains("declare it under spec.networks"), "{err}");
}
