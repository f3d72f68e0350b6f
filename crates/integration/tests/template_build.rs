//! Template builds against the simulator from real qcow2 images (made with qemu-img) served
//! by a loopback HTTP server, with checksum files in every supported format, through both
//! import paths; rebuilds that change nothing, new versions with retention, and the error for
//! a storage without `import` content.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use proxctl_images::catalog::{DiskBus, Entry, Firmware};
use proxctl_images::checksum::ChecksumFormat;
use proxctl_ops::template::{self, BuildSpec, Via};
use proxctl_types::{NodeName, StorageId};
use sha2::Digest;

fn entry(id: &str, url: String, checksum_url: String, format: ChecksumFormat) -> Entry {
    Entry {
        id: id.into(),
        distro: "tiny".into(),
        version: "1".into(),
        codename: None,
        arch: "amd64".into(),
        url: Some(url),
        latest: None,
        checksum_url: Some(checksum_url),
        checksum_suffix: None,
        checksum_format: format,
        format: "qcow2".into(),
        compression: None,
        default_user: "tiny".into(),
        os_type: "l26".into(),
        firmware: Firmware::Bios,
        disk_bus: DiskBus::Scsi,
        disk_size: "4G".into(),
        cloud_init: true,
        guest_agent: true,
        ignition: false,
        notes: None,
        source: "http://127.0.0.1/".into(),
    }
}

fn spec(e: Entry, via: Via, cache: &std::path::Path) -> BuildSpec {
    BuildSpec {
        name: e.id.clone(),
        entry: e,
        node: NodeName::new("pve").unwrap(),
        import_storage: StorageId::new("local").unwrap(),
        vm_storage: StorageId::new("local-lvm").unwrap(),
        bridge: "vmbr0".into(),
        via,
        disk_size: None,
        keep: 2,
        expected: None,
        cache_root: cache.to_path_buf(),
        vmid: None,
        vmid_floor: proxctl_types::ids::TEMPLATE_VMID_FLOOR,
        local: None,
        machine: None,
        cpu: None,
    }
}

/// Checksum files for `file` with bytes `img`, one per format, at the paths the entries use.
fn checksum_files(file: &str, img: &[u8]) -> Vec<(String, Vec<u8>, ChecksumFormat)> {
    let h256 = hex::encode(sha2::Sha256::digest(img));
    let h512 = hex::encode(sha2::Sha512::digest(img));
    vec![
        ("/gnu256/SHA256SUMS".to_string(), format!("{}  other.img\n{h256}  {file}\n", "0".repeat(64)).into_bytes(), ChecksumFormat::GnuSha256),
        ("/gnu512/SHA512SUMS".to_string(), format!("{h512} *{file}\n").into_bytes(), ChecksumFormat::GnuSha512),
        ("/bsd/CHECKSUM".to_string(), format!("SHA256 ({file}) = {h256}\n").into_bytes(), ChecksumFormat::BsdSha256),
        (
            "/fedora/Tiny-1-CHECKSUM".to_string(),
            format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# {file}: {} bytes\nSHA256 ({file}) = {h256}\n-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n", img.len()).into_bytes(),
            ChecksumFormat::FedoraChecksum,
        ),
        (format!("/single/{file}.sha256"), format!("{h256}  {file}\n").into_bytes(), ChecksumFormat::SingleSha256),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_build_from_every_checksum_format_through_both_import_paths() {
    let dir = tempfile::tempdir().unwrap();
    let Some(img) = support::qcow2(dir.path(), "tiny.qcow2", "64M") else { return };
    let file = "tiny-cloud.qcow2";
    let mut served = Vec::new();
    let sums = checksum_files(file, &img);
    for (path, body, _) in &sums {
        let d = path.rsplit_once('/').unwrap().0.to_string();
        served.push((format!("{d}/{file}"), img.clone()));
        served.push((path.clone(), body.clone()));
    }
    let base = support::file_server(Arc::new(Mutex::new(served))).await;
    let h = support::realtime("guests: []\n", 1).await;
    let progress = |_: &str| {};
    for (i, (path, _, format)) in sums.iter().enumerate() {
        let d = path.rsplit_once('/').unwrap().0;
        let id = format!("tiny-{i}");
        let e = entry(&id, format!("{base}{d}/{file}"), format!("{base}{path}"), *format);
        // Alternate the paths: download-url for even entries, upload from the cache for odd.
        let via = if i % 2 == 0 { Via::DownloadUrl } else { Via::Upload };
        let built = template::build(&h.client, &spec(e, via, &dir.path().join("cache")), &progress)
            .await
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let v = built.version.unwrap();
        assert_eq!(built.via, if via == Via::DownloadUrl { "download-url" } else { "upload" });
        let (name, conf) = h.sim.with_world(|w| {
            let g = &w.guests[&v.vmid];
            (g.conf.get("name").cloned().unwrap_or_default(), g.conf.clone())
        });
        assert_eq!(name, format!("{id}-{}", v.version));
        assert_eq!(conf.get("template").map(String::as_str), Some("1"), "{format:?}");
        assert!(conf["scsi0"].contains("size=4G"), "{format:?}: {}", conf["scsi0"]);
        assert!(!conf["scsi0"].contains("import-from"), "import-from is not kept");
        assert!(conf["ide2"].contains("cloudinit"), "{format:?}");
        assert_eq!(conf.get("serial0").map(String::as_str), Some("socket"));
        assert_eq!(conf.get("scsihw").map(String::as_str), Some("virtio-scsi-single"));
        assert!(conf.get("agent").is_some_and(|a| a.starts_with('1')), "{conf:?}");
        assert!(
            conf["tags"].contains("proxctl-template")
                && conf["tags"].contains(&format!("tpl-{id}"))
        );
        assert!(conf["description"].contains(&format!("proxctl:version={}", v.version)));
    }
    let listed = template::versions(&h.client, None).await.unwrap();
    assert_eq!(listed.len(), sums.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_changes_nothing_until_upstream_changes_then_retention_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(v1) = support::qcow2(dir.path(), "v1.qcow2", "64M") else { return };
    let Some(v2) = support::qcow2(dir.path(), "v2.qcow2", "128M") else { return };
    let Some(v3) = support::qcow2(dir.path(), "v3.qcow2", "96M") else { return };
    let sums = |img: &[u8]| {
        format!("{}  tiny.qcow2\n", hex::encode(sha2::Sha256::digest(img))).into_bytes()
    };
    let files: support::Files = Arc::new(Mutex::new(vec![
        ("/img/tiny.qcow2".into(), v1.clone()),
        ("/img/SHA256SUMS".into(), sums(&v1)),
    ]));
    let base = support::file_server(Arc::clone(&files)).await;
    let h = support::realtime("guests: []\n", 1).await;
    let e = entry(
        "tiny",
        format!("{base}/img/tiny.qcow2"),
        format!("{base}/img/SHA256SUMS"),
        ChecksumFormat::GnuSha256,
    );
    let s = spec(e, Via::Auto, &dir.path().join("cache"));
    let progress = |_: &str| {};

    let first = template::rebuild(&h.client, &s, &progress).await.unwrap();
    assert!(first.version.is_some(), "nothing built yet, so the rebuild builds");
    let same = template::rebuild(&h.client, &s, &progress).await.unwrap();
    assert_eq!((same.version.is_none(), same.via.as_str()), (true, "unchanged"));
    let guests = h.sim.with_world(|w| w.guests.len());
    assert_eq!(guests, 1, "an unchanged upstream makes no change");

    for next in [&v2, &v3] {
        *files.lock().unwrap() =
            vec![("/img/tiny.qcow2".into(), next.clone()), ("/img/SHA256SUMS".into(), sums(next))];
        let b = template::rebuild(&h.client, &s, &progress).await.unwrap();
        assert!(b.version.is_some());
    }
    let left = template::versions(&h.client, Some("tiny")).await.unwrap();
    assert_eq!(left.len(), 2, "keep 2: the oldest version was pruned");
    let first_vmid = first.version.unwrap().vmid;
    assert!(left.iter().all(|v| v.vmid != first_vmid));
    assert_eq!(left[1].hash, hex::encode(sha2::Sha256::digest(&v3)));

    // A manifest that names the stable name clones the newest version, and that version then
    // refuses deletion while the clone uses it.
    let m = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app}\nspec: {template: tiny}\n";
    let declared = proxctl_engine::manifest::parse(std::path::Path::new("m.yaml"), m).unwrap();
    let store: Arc<dyn proxctl_state::StateStore> =
        Arc::new(proxctl_state_sqlite::SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let opts = proxctl_engine::ApplyOptions::new("test");
    let (plan, report) =
        proxctl_engine::plan_and_apply(&h.client, store, &declared, false, &opts).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let cloned_from = plan.changes[0].steps.iter().find_map(|s| match s {
        proxctl_engine::plan::Step::Clone { source, .. } => Some(*source),
        _ => None,
    });
    assert_eq!(cloned_from, Some(left[1].vmid), "the newest version");
    let err =
        template::delete(&h.client, "tiny", &left[1].version, false).await.unwrap_err().to_string();
    assert!(err.contains("linked clones"), "{err}");

    // Rollback points the name at the older version: the next clone uses it.
    let pinned = template::rollback(&h.client, "tiny", None).await.unwrap();
    assert_eq!(pinned.vmid, left[0].vmid);
    let m2 = m.replace("name: app", "name: app2");
    let declared = proxctl_engine::manifest::parse(std::path::Path::new("m.yaml"), &m2).unwrap();
    let store2: Arc<dyn proxctl_state::StateStore> =
        Arc::new(proxctl_state_sqlite::SqliteStore::open(&dir.path().join("s2.db")).await.unwrap());
    let plan =
        proxctl_engine::make_plan(&h.client, store2.as_ref(), &declared, false).await.unwrap();
    let src = plan.changes[0].steps.iter().find_map(|s| match s {
        proxctl_engine::plan::Step::Clone { source, .. } => Some(*source),
        _ => None,
    });
    assert_eq!(src, Some(left[0].vmid), "the pinned version");
    let now = template::versions(&h.client, Some("tiny")).await.unwrap();
    assert!(now.iter().any(|v| v.vmid == left[0].vmid && v.current && v.pinned), "{now:#?}");
    template::unpin(&h.client, "tiny").await.unwrap();
    assert_eq!(
        template::delete(&h.client, "tiny", &left[0].version, false).await.unwrap(),
        left[0].vmid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_without_import_content_gets_an_error_that_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let h = support::realtime("guests: []\n", 1).await;
    let e = entry(
        "tiny",
        "http://127.0.0.1:9/x.qcow2".into(),
        "http://127.0.0.1:9/SUMS".into(),
        ChecksumFormat::GnuSha256,
    );
    let mut s = spec(e, Via::Auto, dir.path());
    s.import_storage = StorageId::new("local-lvm").unwrap();
    let err = template::build(&h.client, &s, &|_: &str| {}).await.unwrap_err().to_string();
    assert!(
        err.contains("does not allow 'import' content")
            && err.contains("PVE 8.4")
            && err.contains("pvesm set"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_builds_its_template_first_then_clones_it_and_then_is_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let Some(img) = support::qcow2(dir.path(), "t.qcow2", "64M") else { return };
    let sums = format!("{}  tiny.qcow2\n", hex::encode(sha2::Sha256::digest(&img))).into_bytes();
    let files: support::Files = Arc::new(Mutex::new(vec![
        ("/img/tiny.qcow2".into(), img),
        ("/img/SHA256SUMS".into(), sums),
    ]));
    let base = support::file_server(files).await;
    let h = support::realtime("guests: []\n", 1).await;
    let catalog = proxctl_images::catalog::Catalog::from_entries(vec![entry(
        "tiny-os",
        format!("{base}/img/tiny.qcow2"),
        format!("{base}/img/SHA256SUMS"),
        ChecksumFormat::GnuSha256,
    )]);
    let m = "apiVersion: proxctl.io/v1\nkind: Template\nmetadata: {name: tiny}\nspec: {image: tiny-os, node: pve, diskSize: 6G}\n---\n\
             apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app}\nspec: {template: tiny, disks: {scsi0: {size: 8G}}, start: true}\n";
    let declared = proxctl_engine::manifest::parse(std::path::Path::new("m.yaml"), m).unwrap();
    let store: Arc<dyn proxctl_state::StateStore> =
        Arc::new(proxctl_state_sqlite::SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let plan =
        proxctl_engine::make_plan_with(&h.client, store.as_ref(), &declared, false, Some(&catalog))
            .await
            .unwrap();
    let tpl = plan.changes.iter().find(|c| c.key == "Template/tiny").unwrap();
    let app = plan.changes.iter().find(|c| c.key == "VirtualMachine/app").unwrap();
    assert_eq!(
        (tpl.action, app.action),
        (proxctl_engine::Action::Create, proxctl_engine::Action::Create)
    );
    let source = app.steps.iter().find_map(|s| match s {
        proxctl_engine::plan::Step::Clone { source, .. } => Some(*source),
        _ => None,
    });
    assert_eq!(source, tpl.vmid, "the VM clones the template this plan builds");
    assert!(
        app.diffs.iter().any(|d| d.field == "disks.scsi0.size" && d.from.as_deref() == Some("6G")),
        "{:?}",
        app.diffs
    );

    let mut opts = proxctl_engine::ApplyOptions::new("test");
    opts.image_cache = dir.path().join("cache");
    let report = proxctl_engine::session::apply_plan(&h.client, Arc::clone(&store), &plan, &opts)
        .await
        .unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    let again =
        proxctl_engine::make_plan_with(&h.client, store.as_ref(), &declared, false, Some(&catalog))
            .await
            .unwrap();
    assert!(!again.has_changes(), "{}", proxctl_engine::render::text(&again, false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xz_image_whose_hash_is_only_on_its_index_page_is_verified_unpacked_and_uploaded() {
    // Fedora CoreOS's shape: a .qcow2.xz found by pattern on stream metadata that carries the
    // compressed file's sha256 beside its location, and no checksum file.
    let dir = tempfile::tempdir().unwrap();
    let Some(img) = support::qcow2(dir.path(), "tiny.qcow2", "64M") else { return };
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(&img), &mut xz).unwrap();
    let file = "tiny-42.1-qemu.x86_64.qcow2.xz";
    let base_holder = Arc::new(Mutex::new(Vec::new()));
    let base = support::file_server(Arc::clone(&base_holder)).await;
    let stream = format!(
        "{{\"architectures\": {{\"x86_64\": {{\"artifacts\": {{\"qemu\": {{\"formats\": {{\"qcow2.xz\": {{\"disk\": \
         {{\"location\": \"{base}/prod/{file}\", \"signature\": \"{base}/prod/{file}.sig\", \"sha256\": \"{}\", \
         \"uncompressed-sha256\": \"{}\"}}}}}}}}}}}}}}}}}}",
        hex::encode(sha2::Sha256::digest(&xz)),
        hex::encode(sha2::Sha256::digest(&img)),
    );
    *base_holder.lock().unwrap() = vec![
        ("/streams/stable.json".to_string(), stream.into_bytes()),
        (format!("/prod/{file}"), xz),
    ];
    let mut e = entry("tiny-xz", String::new(), String::new(), ChecksumFormat::IndexSha256);
    e.url = None;
    e.checksum_url = None;
    e.compression = Some("xz".into());
    e.latest = Some(proxctl_images::catalog::Latest {
        index: format!("{base}/streams/stable.json"),
        pattern: r"http://127\.0\.0\.1:[0-9]+/prod/tiny-[0-9.]+-qemu\.x86_64\.qcow2\.xz".into(),
        checksum_pattern: None,
    });
    let h = support::realtime("guests: []\n", 1).await;
    let lines = Mutex::new(Vec::new());
    let progress = |m: &str| lines.lock().unwrap().push(m.to_string());

    // download-url cannot unpack xz into import content: said before anything is sent.
    let refused =
        template::build(&h.client, &spec(e.clone(), Via::DownloadUrl, dir.path()), &progress)
            .await
            .unwrap_err()
            .to_string();
    assert!(refused.contains("--via upload"), "{refused}");

    let built =
        template::build(&h.client, &spec(e, Via::Auto, &dir.path().join("cache")), &progress)
            .await
            .unwrap();
    assert_eq!(built.via, "upload", "{:?}", lines.lock().unwrap());
    assert!(lines.lock().unwrap().iter().any(|l| l.starts_with("unpacking ")));
    let imported = h.sim.with_world(|w| {
        w.volumes
            .values()
            .filter(|v| v.content == "import" && v.volid.contains("tiny-xz"))
            .map(|v| (v.volid.clone(), v.sha256.clone()))
            .collect::<Vec<_>>()
    });
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert!(imported[0].0.ends_with(".qcow2"), "imported unpacked: {imported:?}");
    assert_eq!(
        imported[0].1.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&img)).as_str()),
        "what PVE holds is the unpacked image, byte for byte"
    );
    assert!(built.version.is_some());
}
