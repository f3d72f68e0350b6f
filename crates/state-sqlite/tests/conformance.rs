//! The state-store conformance suite against the SQLite backend, each test on a fresh file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use proxctl_state::StateStore;
use proxctl_state::conformance::Harness;
use proxctl_state_sqlite::SqliteStore;

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<dyn StateStore>,
}

#[async_trait]
impl Harness for Sqlite {
    fn store(&self) -> Arc<dyn StateStore> {
        Arc::clone(&self.store)
    }
    async fn reopen(&self) -> Arc<dyn StateStore> {
        Arc::new(SqliteStore::open(&self.path).await.unwrap())
    }
    async fn exec(&self, sql: &str) {
        let c = rusqlite::Connection::open(&self.path).unwrap();
        c.execute_batch(sql).unwrap();
    }
}

async fn sqlite() -> Option<Sqlite> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    Some(Sqlite { _dir: dir, path, store })
}

proxctl_state::conformance_tests!(sqlite());

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let h = sqlite().await.unwrap();
    let mode = std::fs::metadata(&h.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Many processes starting at once on a new file (as parallel `proxctl apply` runs do) each
/// open, migrate and write it; SQLite's "database is locked" is waited out, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_openers_of_a_new_file_at_once_all_succeed() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let s = SqliteStore::open(&path).await?;
                let holder = format!("h{i}");
                let now = jiff::Timestamp::now();
                let until = now + jiff::SignedDuration::from_secs(60);
                s.acquire_locks(&[format!("r{i}")], &holder, "test", until, now, &[]).await?;
                s.begin_apply("t", &holder, &serde_json::json!({})).await.map(drop)
            }));
        }
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                panic!("round {round}: {e}: {:?}", std::error::Error::source(&e));
            }
        }
    }
}
