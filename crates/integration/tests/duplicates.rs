//! Two guests carrying one resource's marker: the plan reports a conflict (never
//! "unchanged"), and `resolve` keeps the named one and deletes or releases the other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_client::WaitOptions;
use proxctl_client::endpoints::qemu::CloneRequest;
use proxctl_engine::resolve::{self, Others};
use proxctl_engine::{ApplyOptions, EngineError, make_plan, manifest, plan_and_apply};
use proxctl_state::StateStore;
use proxctl_state_sqlite::SqliteStore;

const CLUSTER: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

const WEB: &str = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: web-1}\n\
                   spec: {template: debian-12, start: true}\n";

/// Apply web-1, then copy it by hand (a full clone keeps description and tags, marker included).
async fn duplicated() -> (support::Harness, tempfile::TempDir, Arc<dyn StateStore>, u32, u32) {
    let h = support::realtime(CLUSTER, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let d = manifest::parse(Path::new("web.yaml"), WEB).unwrap();
    let (_, report) =
        plan_and_apply(&h.client, Arc::clone(&store), &d, false, &ApplyOptions::new("t"))
            .await
            .unwrap();
    let original = report.results[0].vmid.unwrap();
    let node = support::node(&h);
    let copy = 777;
    let req = CloneRequest { full: Some(true), ..CloneRequest::default() };
    if let proxctl_client::Started::Task(u) =
        h.client.qemu_clone(&node, support::id(original), support::id(copy), &req).await.unwrap()
    {
        h.client.wait_task(&u, &WaitOptions::default()).await.unwrap();
    }
    (h, dir, store, original, copy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guests_with_one_marker_are_a_conflict_until_resolve_deletes_the_other() {
    let (h, _dir, store, original, copy) = duplicated().await;
    let d = manifest::parse(Path::new("web.yaml"), WEB).unwrap();
    let err = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap_err();
    let EngineError::Plan(p) = &err else { panic!("{err}") };
    let text = p.to_string();
    assert!(
        text.contains("VirtualMachine/web-1 is carried by 2 guests")
            && text.contains(&format!("{original}, {copy}"))
            && text.contains("proxctl resolve VirtualMachine/web-1 --keep VMID"),
        "{text}"
    );
    let carriers = resolve::carriers(&h.client, "VirtualMachine/web-1").await.unwrap();
    assert_eq!(carriers.iter().map(|c| c.vmid).collect::<Vec<_>>(), [original, copy]);

    let bad = resolve::resolve(
        &h.client,
        Arc::clone(&store),
        "VirtualMachine/web-1",
        4242,
        Others::Delete,
        &ApplyOptions::new("t"),
    )
    .await;
    assert!(bad.unwrap_err().to_string().contains("does not carry"));

    let done = resolve::resolve(
        &h.client,
        Arc::clone(&store),
        "VirtualMachine/web-1",
        copy,
        Others::Delete,
        &ApplyOptions::new("t"),
    )
    .await
    .unwrap();
    assert_eq!((done.kept, done.deleted.as_slice()), (copy, [original].as_slice()));
    assert!(
        h.sim.with_world(|w| !w.guests.contains_key(&original)),
        "the running original was stopped and deleted"
    );
    let rec = store.resource(&"VirtualMachine/web-1".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.vmid.map(|v| v.get()), Some(copy), "the store now records the kept one");
    // The kept copy is the resource now: the plan converges it (its name, its power state)
    // instead of creating web-1 again.
    let plan = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    let text = proxctl_engine::render::text(&plan, false, true);
    assert_eq!(plan.count(proxctl_engine::Action::Create), 0, "{text}");
    assert_eq!(plan.changes[0].vmid, Some(copy), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_with_release_keeps_the_other_guest_unmanaged() {
    let (h, _dir, store, original, copy) = duplicated().await;
    let done = resolve::resolve(
        &h.client,
        Arc::clone(&store),
        "VirtualMachine/web-1",
        original,
        Others::Release,
        &ApplyOptions::new("t"),
    )
    .await
    .unwrap();
    assert_eq!(done.released, [copy]);
    let description = h.sim.with_world(|w| w.guests[&copy].conf.get("description").cloned());
    assert!(!description.unwrap_or_default().contains("proxctl:resource="));
    let d = manifest::parse(Path::new("web.yaml"), WEB).unwrap();
    let plan = make_plan(&h.client, store.as_ref(), &d, false).await.unwrap();
    assert!(!plan.has_changes(), "{}", proxctl_engine::render::text(&plan, false, true));
    assert!(h.sim.with_world(|w| w.guests.contains_key(&copy)));
}
