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
