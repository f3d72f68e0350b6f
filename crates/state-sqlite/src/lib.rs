//! The SQLite backend of proxctl's state store, the default: one file under the XDG data
//! directory. Calls run on tokio's blocking pool; read-modify-write sequences take SQLite's
//! write lock up front (`BEGIN IMMEDIATE`), so several proxctl processes sharing the file
//! serialise on it instead of failing on a lock upgrade.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use proxctl_state::audit::{self, AuditEntry, AuditFilter, AuditHead, NewAuditEntry};
use proxctl_state::migrations::{self, Migration};
use proxctl_state::{
    ApplyId, ApplyOutcome, ApplyRecord, IpAllocation, JournalEntry, JournalId, JournalState,
    LockInfo, NewJournalEntry, ResourceKey, ResourceRecord, Result, SnapshotTtl, StateError,
    StateStore, VmidLease, parse_vmid, time_from_us, time_to_us,
};
use proxctl_types::{NodeName, SnapshotName, VmId};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Append-only: add new files at the end, never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/0001_initial.sql") },
    Migration { version: 2, name: "locks", sql: include_str!("../migrations/0002_locks.sql") },
    Migration { version: 3, name: "tokens", sql: include_str!("../migrations/0003_tokens.sql") },
    Migration { version: 4, name: "remotes", sql: include_str!("../migrations/0004_remotes.sql") },
    Migration {
        version: 5,
        name: "documents",
        sql: include_str!("../migrations/0005_documents.sql"),
    },
];

mod documents;
mod locks;
mod tokens;

/// How long a writer waits for another process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn q(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |e| StateError::query(what, e)
}

impl SqliteStore {
    /// Open (creating if needed, owner-only) the store at `path` and bring its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn =
            tokio::task::spawn_blocking(move || open_blocking(&p)).await.map_err(|e| {
                StateError::Open { location: path.display().to_string(), source: e.into() }
            })??;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), path })
    }

    /// Run `f` on the connection on the blocking pool.
    async fn with<T, F>(&self, what: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic in another call poisons the mutex but leaves the connection usable:
            // SQLite rolls back any transaction the panicking call left open.
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StateError::query(what, e))?
    }
}

/// Take a VMID unless another holder's lease on it is unexpired (?5 is now); one row changed
/// means it is the holder's.
const LEASE_VMID: &str =
    "INSERT INTO vmid_leases (vmid, holder, owner, expires_at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (vmid) DO UPDATE SET holder = excluded.holder,
       owner = excluded.owner, expires_at = excluded.expires_at
     WHERE vmid_leases.expires_at <= ?5
        OR (vmid_leases.holder = excluded.holder AND vmid_leases.owner = excluded.owner)";

fn open_blocking(path: &Path) -> Result<Connection> {
    let open_err = |e: Box<dyn std::error::Error + Send + Sync>| StateError::Open {
        location: path.display().to_string(),
        source: e,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.into()))?;
    }
    create_private(path).map_err(|e| open_err(e.into()))?;
    let mut conn = Connection::open(path).map_err(|e| open_err(e.into()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_err(e.into()))?;
    // Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    // locked" at once (without its busy handler) while another process does the same; wait
    // that out like any other busy lock.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        // WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                // On the blocking pool, doing what SQLite's own busy handler does.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other.map_err(|e| open_err(e.into()))?,
        }
    }
    conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| open_err(e.into()))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The store holds audit parameters and plans: create it readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map(drop)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(q("migrating"))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS proxctl_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
            applied_at INTEGER NOT NULL)",
    )
    .map_err(q("migrating"))?;
    let applied: Vec<(i64, String)> = {
        let mut st = tx
            .prepare("SELECT version, checksum FROM proxctl_migrations ORDER BY version")
            .map_err(q("migrating"))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(q("migrating"))?;
        rows.collect::<rusqlite::Result<_>>().map_err(q("migrating"))?
    };
    for m in migrations::pending(MIGRATIONS, &applied)? {
        tx.execute_batch(m.sql).map_err(q("migrating"))?;
        tx.execute(
            "INSERT INTO proxctl_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.version, m.name, m.checksum(), time_to_us(Timestamp::now())],
        )
        .map_err(q("migrating"))?;
    }
    tx.commit().map_err(q("migrating"))
}

fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

fn json_parse(what: &'static str, s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StateError::Corrupt { what, detail: e.to_string() })
}

fn key_parse(what: &'static str, s: &str) -> Result<ResourceKey> {
    s.parse().map_err(|e: proxctl_state::record::BadResourceKey| StateError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

type ResourceRow = (String, String, String, Option<i64>, Option<String>, i64);

fn resource_from(row: ResourceRow) -> Result<ResourceRecord> {
    let (kind, name, spec_hash, vmid, node, updated_at) = row;
    let key = ResourceKey::new(kind, name)
        .map_err(|e| StateError::Corrupt { what: "resource key", detail: e.to_string() })?;
    Ok(ResourceRecord {
        key,
        spec_hash,
        vmid: vmid.map(|v| parse_vmid("resource vmid", v)).transpose()?,
        node: node
            .map(|n| {
                NodeName::new(n).map_err(|e| StateError::Corrupt {
                    what: "resource node",
                    detail: e.to_string(),
                })
            })
            .transpose()?,
        updated_at: time_from_us("resource time", updated_at)?,
    })
}

const RESOURCE_COLS: &str = "kind, name, spec_hash, vmid, node, updated_at";

fn resource_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResourceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

type AuditRow = (i64, i64, String, String, String, String, String, String, String, String);

use audit::AUDIT_COLUMNS as AUDIT_COLS;

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn audit_from(row: AuditRow) -> Result<AuditEntry> {
    let (seq, time_us, actor, profile, target, action, params, result, prev_hash, hash) = row;
    Ok(AuditEntry {
        seq,
        entry: NewAuditEntry {
            time: time_from_us("audit time", time_us)?,
            actor,
            profile,
            target,
            action,
            params: json_parse("audit parameters", &params)?,
            result,
        },
        prev_hash,
        hash,
    })
}

#[async_trait]
impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn schema_version(&self) -> Result<i64> {
        self.with("reading the schema version", |c| {
            c.query_row("SELECT COALESCE(MAX(version), 0) FROM proxctl_migrations", [], |r| {
                r.get(0)
            })
            .map_err(q("reading the schema version"))
        })
        .await
    }

    async fn put_resource(&self, r: &ResourceRecord) -> Result<()> {
        let r = r.clone();
        self.with("saving a resource", move |c| {
            c.execute(
                "INSERT INTO resources (kind, name, spec_hash, vmid, node, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, name) DO UPDATE SET spec_hash = excluded.spec_hash,
                   vmid = excluded.vmid, node = excluded.node, updated_at = excluded.updated_at",
                params![
                    r.key.kind(),
                    r.key.name(),
                    r.spec_hash,
                    r.vmid.map(|v| i64::from(v.get())),
                    r.node.as_ref().map(|n| n.as_str()),
                    time_to_us(r.updated_at)
                ],
            )
            .map(drop)
            .map_err(q("saving a resource"))
        })
        .await
    }

    async fn resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>> {
        let key = key.clone();
        self.with("reading a resource", move |c| {
            c.query_row(
                &format!("SELECT {RESOURCE_COLS} FROM resources WHERE kind = ?1 AND name = ?2"),
                params![key.kind(), key.name()],
                resource_row,
            )
            .optional()
            .map_err(q("reading a resource"))?
            .map(resource_from)
            .transpose()
        })
        .await
    }

    async fn resource_by_vmid(&self, vmid: VmId) -> Result<Option<ResourceRecord>> {
        self.with("reading a resource", move |c| {
            c.query_row(
                &format!("SELECT {RESOURCE_COLS} FROM resources WHERE vmid = ?1"),
                params![i64::from(vmid.get())],
                resource_row,
            )
            .optional()
            .map_err(q("reading a resource"))?
            .map(resource_from)
            .transpose()
        })
        .await
    }

    async fn resources(&self) -> Result<Vec<ResourceRecord>> {
        self.with("listing resources", |c| {
            let mut st = c
                .prepare(&format!("SELECT {RESOURCE_COLS} FROM resources ORDER BY kind, name"))
                .map_err(q("listing resources"))?;
            let rows = st.query_map([], resource_row).map_err(q("listing resources"))?;
            rows.map(|r| r.map_err(q("listing resources")).and_then(resource_from)).collect()
        })
        .await
    }

    async fn remove_resource(&self, key: &ResourceKey) -> Result<bool> {
        let key = key.clone();
        self.with("removing a resource", move |c| {
            c.execute(
                "DELETE FROM resources WHERE kind = ?1 AND name = ?2",
                params![key.kind(), key.name()],
            )
            .map(|n| n > 0)
            .map_err(q("removing a resource"))
        })
        .await
    }

    async fn begin_apply(
        &self,
        actor: &str,
        holder: &str,
        plan: &serde_json::Value,
    ) -> Result<ApplyId> {
        let (actor, holder, plan) = (actor.to_string(), holder.to_string(), json_text(plan));
        self.with("recording an apply", move |c| {
            c.query_row(
                "INSERT INTO applies (actor, holder, started_at, plan) VALUES (?1, ?2, ?3, ?4)
                 RETURNING id",
                params![actor, holder, time_to_us(Timestamp::now()), plan],
                |r| r.get(0),
            )
            .map(ApplyId)
            .map_err(q("recording an apply"))
        })
        .await
    }

    async fn finish_apply(&self, id: ApplyId, outcome: &ApplyOutcome) -> Result<()> {
        let outcome = outcome.clone();
        self.with("recording an apply's end", move |c| {
            let (status, detail) = outcome.to_columns();
            c.execute(
                "UPDATE applies SET finished_at = ?2, status = ?3, detail = ?4 WHERE id = ?1",
                params![id.0, time_to_us(Timestamp::now()), status, detail],
            )
            .map(drop)
            .map_err(q("recording an apply's end"))
        })
        .await
    }

    async fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with("listing applies", move |c| {
            let mut st = c
                .prepare(
                    "SELECT id, actor, started_at, finished_at, plan, status, detail FROM applies
                     ORDER BY id DESC LIMIT ?1",
                )
                .map_err(q("listing applies"))?;
            let rows = st
                .query_map(params![limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .map_err(q("listing applies"))?;
            rows.map(|r| {
                let (id, actor, started, finished, plan, status, detail) =
                    r.map_err(q("listing applies"))?;
                Ok(ApplyRecord {
                    id: ApplyId(id),
                    actor,
                    started_at: time_from_us("apply start", started)?,
                    finished_at: finished.map(|f| time_from_us("apply end", f)).transpose()?,
                    plan: json_parse("apply plan", &plan)?,
                    outcome: ApplyOutcome::from_columns(status.as_deref(), detail),
                })
            })
            .collect()
        })
        .await
    }

    async fn interrupt_orphaned_applies(&self, now: Timestamp) -> Result<Vec<ApplyId>> {
        self.with("ending orphaned applies", move |c| locks::interrupt_orphans(c, now)).await
    }

    async fn acquire_locks(
        &self,
        names: &[String],
        holder: &str,
        purpose: &str,
        until: Timestamp,
        now: Timestamp,
        breaking: &[String],
    ) -> Result<Vec<LockInfo>> {
        let (names, holder, purpose, breaking) =
            (names.to_vec(), holder.to_string(), purpose.to_string(), breaking.to_vec());
        self.with("taking locks", move |c| {
            locks::acquire(c, &names, &holder, &purpose, until, now, &breaking)
        })
        .await
    }

    async fn renew_locks(&self, holder: &str, until: Timestamp) -> Result<usize> {
        let holder = holder.to_string();
        self.with("renewing locks", move |c| locks::renew(c, &holder, until)).await
    }

    async fn release_locks(&self, holder: &str) -> Result<()> {
        let holder = holder.to_string();
        self.with("releasing locks", move |c| locks::release(c, &holder)).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        self.with("listing locks", |c| locks::list(c)).await
    }

    async fn token_insert(&self, t: &proxctl_state::ApiToken) -> Result<bool> {
        let t = t.clone();
        self.with("storing a token", move |c| tokens::insert(c, &t)).await
    }

    async fn tokens(&self) -> Result<Vec<proxctl_state::ApiToken>> {
        self.with("listing tokens", tokens::list).await
    }

    async fn token(&self, id: &str) -> Result<Option<proxctl_state::ApiToken>> {
        let id = id.to_string();
        self.with("reading a token", move |c| tokens::get(c, &id)).await
    }

    async fn token_revoke(&self, name: &str, at: Timestamp) -> Result<bool> {
        let name = name.to_string();
        self.with("revoking a token", move |c| tokens::revoke(c, &name, at)).await
    }

    async fn put_document(&self, d: &proxctl_state::Document) -> Result<()> {
        let d = d.clone();
        self.with("storing a document", move |c| documents::put(c, &d)).await
    }

    async fn insert_document(&self, d: &proxctl_state::Document) -> Result<bool> {
        let d = d.clone();
        self.with("claiming a document", move |c| documents::insert(c, &d)).await
    }

    async fn delete_document(&self, kind: &str, id: &str) -> Result<bool> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with("deleting a document", move |c| documents::delete(c, &kind, &id)).await
    }

    async fn document(&self, kind: &str, id: &str) -> Result<Option<proxctl_state::Document>> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with("reading a document", move |c| documents::get(c, &kind, &id)).await
    }

    async fn documents(&self, kind: &str, limit: usize) -> Result<Vec<proxctl_state::Document>> {
        let kind = kind.to_string();
        self.with("listing documents", move |c| documents::list(c, &kind, limit)).await
    }

    async fn prune_documents(&self, kind: &str, keep: usize) -> Result<usize> {
        let kind = kind.to_string();
        self.with("pruning documents", move |c| documents::prune(c, &kind, keep)).await
    }

    async fn remote_insert(&self, r: &proxctl_state::RemoteDef) -> Result<bool> {
        let r = r.clone();
        self.with("storing a remote", move |c| tokens::remote_insert(c, &r)).await
    }

    async fn remotes(&self) -> Result<Vec<proxctl_state::RemoteDef>> {
        self.with("listing remotes", tokens::remotes).await
    }

    async fn remote_delete(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.with("removing a remote", move |c| tokens::remote_delete(c, &name)).await
    }

    async fn journal_intent(&self, e: &NewJournalEntry) -> Result<JournalId> {
        let e = e.clone();
        self.with("journalling an intent", move |c| {
            c.query_row(
                "INSERT INTO journal (apply_id, resource, action, params, started_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'intent') RETURNING id",
                params![
                    e.apply.0,
                    e.resource.to_string(),
                    e.action,
                    json_text(&e.params),
                    time_to_us(Timestamp::now())
                ],
                |r| r.get(0),
            )
            .map(JournalId)
            .map_err(q("journalling an intent"))
        })
        .await
    }

    async fn journal_finish(&self, id: JournalId, state: &JournalState) -> Result<()> {
        let state = state.clone();
        self.with("journalling a completion", move |c| {
            let (s, detail) = state.to_columns();
            c.execute(
                "UPDATE journal SET state = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1",
                params![id.0, s, detail, time_to_us(Timestamp::now())],
            )
            .map(drop)
            .map_err(q("journalling a completion"))
        })
        .await
    }

    async fn journal_pending(&self) -> Result<Vec<JournalEntry>> {
        self.with("reading the journal", |c| {
            let mut st = c
                .prepare(
                    "SELECT id, apply_id, resource, action, params, started_at, state, detail
                     FROM journal WHERE state = 'intent' ORDER BY id",
                )
                .map_err(q("reading the journal"))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                })
                .map_err(q("reading the journal"))?;
            rows.map(|r| {
                let (id, apply, resource, action, params, started, state, detail) =
                    r.map_err(q("reading the journal"))?;
                Ok(JournalEntry {
                    id: JournalId(id),
                    apply: ApplyId(apply),
                    resource: key_parse("journal resource", &resource)?,
                    action,
                    params: json_parse("journal parameters", &params)?,
                    started_at: time_from_us("journal time", started)?,
                    state: JournalState::from_columns(&state, detail),
                })
            })
            .collect()
        })
        .await
    }

    async fn lease_vmid(
        &self,
        vmid: VmId,
        holder: &str,
        owner: &ResourceKey,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let (holder, owner) = (holder.to_string(), owner.to_string());
        self.with("leasing a VMID", move |c| {
            c.execute(
                LEASE_VMID,
                params![i64::from(vmid.get()), holder, owner, time_to_us(until), time_to_us(now)],
            )
            .map(|n| n == 1)
            .map_err(q("leasing a VMID"))
        })
        .await
    }

    async fn lease_vmids(
        &self,
        wanted: &[(VmId, ResourceKey)],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VmId>> {
        let holder = holder.to_string();
        let wanted: Vec<(VmId, String)> = wanted.iter().map(|(v, o)| (*v, o.to_string())).collect();
        self.with("leasing VMIDs", move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(q("leasing VMIDs"))?;
            for (vmid, owner) in &wanted {
                let n = tx
                    .execute(
                        LEASE_VMID,
                        params![
                            i64::from(vmid.get()),
                            holder,
                            owner,
                            time_to_us(until),
                            time_to_us(now)
                        ],
                    )
                    .map_err(q("leasing VMIDs"))?;
                if n != 1 {
                    // Dropping the transaction rolls back the ones leased so far.
                    return Ok(Some(*vmid));
                }
            }
            tx.commit().map_err(q("leasing VMIDs"))?;
            Ok(None)
        })
        .await
    }

    async fn release_vmids(&self, vmids: &[VmId], holder: &str) -> Result<()> {
        let (vmids, holder) = (vmids.to_vec(), holder.to_string());
        self.with("releasing VMIDs", move |c| {
            let tx = c.transaction().map_err(q("releasing VMIDs"))?;
            for v in &vmids {
                tx.execute(
                    "DELETE FROM vmid_leases WHERE vmid = ?1 AND holder = ?2",
                    params![i64::from(v.get()), holder],
                )
                .map_err(q("releasing VMIDs"))?;
            }
            tx.commit().map_err(q("releasing VMIDs"))
        })
        .await
    }

    async fn release_vmid(&self, vmid: VmId, holder: &str) -> Result<()> {
        let holder = holder.to_string();
        self.with("releasing a VMID", move |c| {
            c.execute(
                "DELETE FROM vmid_leases WHERE vmid = ?1 AND holder = ?2",
                params![i64::from(vmid.get()), holder],
            )
            .map(drop)
            .map_err(q("releasing a VMID"))
        })
        .await
    }

    async fn vmid_leases(&self, now: Timestamp) -> Result<Vec<VmidLease>> {
        self.with("listing VMID leases", move |c| {
            let mut st = c
                .prepare(
                    "SELECT vmid, holder, owner, expires_at FROM vmid_leases
                     WHERE expires_at > ?1 ORDER BY vmid",
                )
                .map_err(q("listing VMID leases"))?;
            let rows = st
                .query_map(params![time_to_us(now)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(q("listing VMID leases"))?;
            rows.map(|r| {
                let (vmid, holder, owner, expires) = r.map_err(q("listing VMID leases"))?;
                Ok(VmidLease {
                    vmid: parse_vmid("lease vmid", vmid)?,
                    holder,
                    owner: key_parse("lease owner", &owner)?,
                    expires_at: time_from_us("lease expiry", expires)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn allocate_ip(&self, pool: &str, ip: IpAddr, owner: &ResourceKey) -> Result<bool> {
        let (pool, owner) = (pool.to_string(), owner.to_string());
        self.with("allocating an IP", move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(q("allocating an IP"))?;
            tx.execute(
                "INSERT INTO ip_allocations (pool, ip, owner, allocated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pool, ip) DO NOTHING",
                params![pool, ip.to_string(), owner, time_to_us(Timestamp::now())],
            )
            .map_err(q("allocating an IP"))?;
            let holder: String = tx
                .query_row(
                    "SELECT owner FROM ip_allocations WHERE pool = ?1 AND ip = ?2",
                    params![pool, ip.to_string()],
                    |r| r.get(0),
                )
                .map_err(q("allocating an IP"))?;
            tx.commit().map_err(q("allocating an IP"))?;
            Ok(holder == owner)
        })
        .await
    }

    async fn release_ips(&self, owner: &ResourceKey) -> Result<usize> {
        let owner = owner.to_string();
        self.with("releasing IPs", move |c| {
            c.execute("DELETE FROM ip_allocations WHERE owner = ?1", params![owner])
                .map_err(q("releasing IPs"))
        })
        .await
    }

    async fn ip_allocations(&self, pool: Option<&str>) -> Result<Vec<IpAllocation>> {
        let pool = pool.map(str::to_string);
        self.with("listing IP allocations", move |c| {
            let mut st = c
                .prepare(
                    "SELECT pool, ip, owner, allocated_at FROM ip_allocations
                     WHERE ?1 IS NULL OR pool = ?1 ORDER BY pool, ip",
                )
                .map_err(q("listing IP allocations"))?;
            let rows = st
                .query_map(params![pool], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(q("listing IP allocations"))?;
            rows.map(|r| {
                let (pool, ip, owner, at) = r.map_err(q("listing IP allocations"))?;
                Ok(IpAllocation {
                    pool,
                    ip: ip.parse().map_err(|e: std::net::AddrParseError| StateError::Corrupt {
                        what: "allocated IP",
                        detail: e.to_string(),
                    })?,
                    owner: key_parse("IP owner", &owner)?,
                    allocated_at: time_from_us("allocation time", at)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_snapshot_ttl(&self, t: &SnapshotTtl) -> Result<()> {
        let t = t.clone();
        self.with("saving a snapshot expiry", move |c| {
            c.execute(
                "INSERT INTO snapshot_ttls (vmid, snapshot, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (vmid, snapshot) DO UPDATE SET expires_at = excluded.expires_at",
                params![i64::from(t.vmid.get()), t.snapshot.as_str(), time_to_us(t.expires_at)],
            )
            .map(drop)
            .map_err(q("saving a snapshot expiry"))
        })
        .await
    }

    async fn remove_snapshot_ttl(&self, vmid: VmId, name: &SnapshotName) -> Result<()> {
        let name = name.clone();
        self.with("removing a snapshot expiry", move |c| {
            c.execute(
                "DELETE FROM snapshot_ttls WHERE vmid = ?1 AND snapshot = ?2",
                params![i64::from(vmid.get()), name.as_str()],
            )
            .map(drop)
            .map_err(q("removing a snapshot expiry"))
        })
        .await
    }

    async fn snapshot_ttls(&self) -> Result<Vec<SnapshotTtl>> {
        self.with("listing snapshot expiries", |c| {
            let mut st = c
                .prepare(
                    "SELECT vmid, snapshot, expires_at FROM snapshot_ttls ORDER BY vmid, snapshot",
                )
                .map_err(q("listing snapshot expiries"))?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(q("listing snapshot expiries"))?;
            rows.map(|r| {
                let (vmid, snap, at) = r.map_err(q("listing snapshot expiries"))?;
                Ok(SnapshotTtl {
                    vmid: parse_vmid("snapshot vmid", vmid)?,
                    snapshot: SnapshotName::new(snap).map_err(|e| StateError::Corrupt {
                        what: "snapshot name",
                        detail: e.to_string(),
                    })?,
                    expires_at: time_from_us("snapshot expiry", at)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        let e = e.clone();
        self.with("appending to the audit log", move |c| {
            let what = "appending to the audit log";
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(q(what))?;
            let (seq, prev): (i64, String) = tx
                .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(q(what))?;
            let row = audit::seal(seq + 1, &e, &prev);
            tx.execute(
                &format!(
                    "INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    row.seq,
                    time_to_us(row.entry.time),
                    row.entry.actor,
                    row.entry.profile,
                    row.entry.target,
                    row.entry.action,
                    json_text(&row.entry.params),
                    row.entry.result,
                    row.prev_hash,
                    row.hash
                ],
            )
            .map_err(q(what))?;
            tx.execute("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1", params![
                row.seq, row.hash
            ])
            .map_err(q(what))?;
            tx.commit().map_err(q(what))?;
            Ok(row)
        })
        .await
    }

    async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let f = f.clone();
        self.with("reading the audit log", move |c| {
            let what = "reading the audit log";
            let (sql, args) = audit::select_sql(&f, |n| format!("?{n}"), "instr({}, {arg}) > 0");
            let args = args.into_iter().map(|a| match a {
                audit::SqlArg::Text(t) => Value::Text(t),
                audit::SqlArg::Int(i) => Value::Integer(i),
            });
            let mut st = c.prepare(&sql).map_err(q(what))?;
            let rows =
                st.query_map(rusqlite::params_from_iter(args), audit_row).map_err(q(what))?;
            rows.map(|r| r.map_err(q(what)).and_then(audit_from)).collect()
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        self.with("reading the audit head", |c| {
            let (seq, hash): (i64, String) = c
                .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(q("reading the audit head"))?;
            Ok((seq > 0).then_some(AuditHead { seq, hash }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_is_numbered_without_gaps() {
        migrations::check_list(MIGRATIONS).unwrap();
    }
}
