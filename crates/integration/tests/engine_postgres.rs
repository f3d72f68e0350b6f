//! Two applies on two PostgreSQL connections (two machines sharing state) at the same moment
//! never use the same VMID. Needs PostgreSQL at `PROXCTL_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); skips without it unless `PROXCTL_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use proxctl_engine::{ApplyOptions, manifest, plan_and_apply};
use proxctl_state::StateStore;
use proxctl_state_postgres::PostgresStore;

const TEMPLATE: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

fn url() -> String {
    std::env::var("PROXCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn fleet(prefix: &str) -> String {
    (0..8)
        .map(|i| format!("apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: {prefix}-{i}}}\nspec: {{template: debian-12}}\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_sharing_postgres_never_share_a_vmid() {
    let schema = format!("proxctl_engine_test_{}", std::process::id());
    let a: Arc<dyn StateStore> = match PostgresStore::connect_in_schema(&url(), Some(&schema)).await
    {
        Ok(s) => Arc::new(s),
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!(
                "SKIPPED: no PostgreSQL at {} ({e}); set PROXCTL_REQUIRE_ALL=1 to fail",
                url()
            );
            return;
        }
        Err(e) => panic!("PostgreSQL is required (PROXCTL_REQUIRE_ALL=1): {e:?}"),
    };
    let b: Arc<dyn StateStore> =
        Arc::new(PostgresStore::connect_in_schema(&url(), Some(&schema)).await.unwrap());
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

    let (c, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
