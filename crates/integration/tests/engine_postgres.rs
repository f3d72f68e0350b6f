//! Two applies on two PostgreSQL connections (two machines sharing state) at the same moment
//! never use the same VMID. Needs PostgreSQL at `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); skips without it unless `PROXCTL_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_engine::{ApplyOptions, manifest, plan_and_apply};
use proxctl_state::StateStore;

const TEMPLATE: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

fn fleet(prefix: &str) -> String {
    (0..8)
        .map(|i| format!("apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: {prefix}-{i}}}\nspec: {{template: debian-12}}\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_sharing_postgres_never_share_a_vmid() {
    let schema = format!("proxctl_engine_test_{}", std::process::id());
    let Some(a) = support::postgres(&schema).await else {
        return;
    };
    let a: Arc<dyn StateStore> = Arc::new(a);
    let b: Arc<dyn StateStore> = Arc::new(support::postgres(&schema).await.unwrap());
    let h = support::realtime(TEMPLATE, 1).await;
    let other = support::token_client(&h.sim);
    let (da, db) = (
        manifest::parse(Path::new("a.yaml"), &fleet("a")).unwrap(),
        manifest::parse(Path::new("b.yaml"), &fleet("b")).unwrap(),
    );
    let mut o = ApplyOptions::new("pg-test");
    o.parallel = 4;
    let (ra, rb) = tokio::join!(
        plan_and_apply(&h.client, Arc::clone(&a), &da, false, &o),
        plan_and_apply(&other, Arc::clone(&b), &db, false, &o),
    );
    let (ra, rb) = (ra.unwrap().1, rb.unwrap().1);
    assert_eq!(ra.failed() + rb.failed(), 0, "{ra:#?}\n{rb:#?}");
    let mut ids: Vec<u32> = ra.results.iter().chain(&rb.results).filter_map(|r| r.vmid).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16, "{ids:?}");
    assert_eq!(a.resources().await.unwrap().len(), 16, "both applies recorded in the shared store");

    let (c, conn) =
        tokio_postgres::connect(&support::postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
