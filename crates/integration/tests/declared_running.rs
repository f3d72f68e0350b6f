//! What monitoring is told a manifest wants running: applying a guest declared
//! `start: true` records it, declaring it `start: false` (or saying nothing) drops it, and
//! pruning the guest forgets it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_engine::manifest;
use proxctl_engine::{ApplyOptions, plan_and_apply};
use proxctl_state::StateStore;
use proxctl_state::document::kind::EXPECTED_RUNNING;

const SCENARIO: &str = "guests:
  - {vmid: 9000, config: {name: tpl, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}
";

fn vm(start: &str) -> String {
    format!(
        "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: app-1}}\nspec: {{template: tpl, cores: 1{start}}}\n"
    )
}

async fn expected(store: &dyn StateStore) -> Vec<(String, serde_json::Value)> {
    store
        .documents(EXPECTED_RUNNING, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            (d.id, serde_json::from_str::<serde_json::Value>(&d.body).unwrap()["vmid"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_declared_start_true_are_remembered_until_the_manifest_or_the_guest_goes() {
    let h = support::realtime(SCENARIO, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = proxctl_ops::state::StateSpec::Sqlite(dir.path().join("s.db"));
    let store = proxctl_ops::state::open(&spec).await.unwrap();
    let opts = ApplyOptions::new("tester");
    let apply = |text: String, prune: bool| {
        let store = Arc::clone(&store);
        let client = h.client.clone();
        let opts = opts.clone();
        async move {
            let declared = manifest::parse(Path::new("vm.yaml"), &text).unwrap();
            plan_and_apply(&client, store, &declared, prune, &opts).await.unwrap();
        }
    };

    apply(vm(", start: true"), false).await;
    let got = expected(store.as_ref()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "VirtualMachine/app-1");
    let vmid = got[0].1.as_u64().unwrap();
    assert!(vmid >= 100, "{got:?}");

    apply(vm(", start: false"), false).await;
    assert!(expected(store.as_ref()).await.is_empty(), "start: false expects nothing");

    apply(vm(", start: true"), false).await;
    assert_eq!(expected(store.as_ref()).await.len(), 1);
    // No manifest declares it any more: pruned, and forgotten.
    let other = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: other}\nspec: {template: tpl, cores: 1}\n";
    apply(other.to_string(), true).await;
    assert!(expected(store.as_ref()).await.is_empty());
}
