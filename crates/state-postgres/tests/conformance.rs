//! The state-store conformance suite against a real PostgreSQL: `PROXCTL_TEST_POSTGRES`, or
//! `postgres://postgres@127.0.0.1:5432/test`. Each test gets its own schema, dropped after.
//! Without a server the tests skip, unless `PROXCTL_REQUIRE_ALL=1` (as in CI) makes them fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use proxctl_state::StateStore;
use proxctl_state::conformance::Harness;
use proxctl_state_postgres::PostgresStore;

fn url() -> String {
    std::env::var("PROXCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct Postgres {
    schema: String,
    store: Arc<dyn StateStore>,
}

async fn raw(schema: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
    c
}

#[async_trait]
impl Harness for Postgres {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::clone(&self.store)
    }
    async fn reopen(&self) -> Arc<dyn StateStore> {
        Arc::new(PostgresStore::connect_in_schema(&url(), Some(&self.schema)).await.unwrap())
    }
    async fn exec(&self, sql: &str) {
        raw(&self.schema).await.batch_execute(sql).await.unwrap();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ =
                        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                }
            })
        });
    }
}

async fn postgres() -> Option<Postgres> {
    // nextest runs each test in its own process; the counter covers `cargo test`'s threads.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("proxctl_test_{}_{n}_{nanos}", std::process::id());
    match PostgresStore::connect_in_schema(&url(), Some(&schema)).await {
        Ok(store) => Some(Postgres { schema, store: Arc::new(store) }),
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!(
                "SKIPPED: no PostgreSQL at {} ({e}); set PROXCTL_REQUIRE_ALL=1 to fail",
                url()
            );
            None
        }
        Err(e) => panic!(
            "PostgreSQL is required (PROXCTL_REQUIRE_ALL=1) but unreachable at {}: {e:?}",
            url()
        ),
    }
}

proxctl_state::conformance_tests!(postgres());
