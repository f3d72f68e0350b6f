//! The PostgreSQL backend of proxctl's state store, for several proxctl instances (or a
//! future server with replicas) sharing one state. One connection per store; transactions
//! serialise read-modify-write sequences with row locks, and migrations with an advisory lock,
//! so concurrent processes on different machines stay consistent.

use std::net::IpAddr;

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
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

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

/// Serialises migrations across every process sharing the database.
const MIGRATION_LOCK: i64 = 0x7072_6f78_6374_6c00; // "proxctl\0"

pub struct PostgresStore {
    client: Mutex<Client>,
    location: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `location` never holds the password.
        f.debug_struct("PostgresStore").field("location", &self.location).finish_non_exhaustive()
    }
}

fn q(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StateError {
    move |e| StateError::query(what, e)
}

/// `postgres://user@host:port/db`, without the password, for messages and `Debug`.
fn redacted_location(cfg: &tokio_postgres::Config) -> String {
    let host = cfg
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        cfg.get_user().unwrap_or(""),
        cfg.get_dbname().unwrap_or("")
    )
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user@host/db` or key=value form) and migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Like [`connect`](Self::connect), but keep every table in `schema` (created if missing),
    /// so several stores can share one database: tests use one schema each.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Self> {
        let cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StateError::Open { location: "the given PostgreSQL URL".into(), source: e.into() }
        })?;
        let location = redacted_location(&cfg);
        let open = |e: tokio_postgres::Error| StateError::Open {
            location: location.clone(),
            source: e.into(),
        };
        let (mut client, connection) = cfg.connect(NoTls).await.map_err(open)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL state store connection closed");
            }
        });
        if let Some(schema) = schema {
            let ok =
                !schema.is_empty() && schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(StateError::Open {
                    location,
                    source: format!("schema name '{schema}' must be letters, digits and _").into(),
                });
            }
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                ))
                .await
                .map_err(open)?;
        }
        migrate(&mut client).await?;
        Ok(Self { client: Mutex::new(client), location })
    }
}

async fn migrate(client: &mut Client) -> Result<()> {
    let what = "migrating";
    let tx = client.transaction().await.map_err(q(what))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(q(what))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS proxctl_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(q(what))?;
    let applied: Vec<(i64, String)> = tx
        .query("SELECT version, checksum FROM proxctl_migrations ORDER BY version", &[])
        .await
        .map_err(q(what))?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(q(what))?;
    for m in migrations::pending(MIGRATIONS, &applied)? {
        tx.batch_execute(m.sql).await.map_err(q(what))?;
        tx.execute(
            "INSERT INTO proxctl_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            &[&m.version, &m.name, &m.checksum(), &time_to_us(Timestamp::now())],
        )
        .await
        .map_err(q(what))?;
    }
    tx.commit().await.map_err(q(what))
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

fn vmid_col(v: VmId) -> i64 {
    i64::from(v.get())
}

const RESOURCE_COLS: &str = "kind, name, spec_hash, vmid, node, updated_at";

fn resource_from(r: &Row) -> Result<ResourceRecord> {
    let what = "reading a resource";
    let get = |e: tokio_postgres::Error| StateError::query(what, e);
    let key = ResourceKey::new(
        r.try_get::<_, String>(0).map_err(get)?,
        r.try_get::<_, String>(1).map_err(get)?,
    )
    .map_err(|e| StateError::Corrupt { what: "resource key", detail: e.to_string() })?;
    Ok(ResourceRecord {
        key,
        spec_hash: r.try_get(2).map_err(get)?,
        vmid: r
            .try_get::<_, Option<i64>>(3)
            .map_err(get)?
            .map(|v| parse_vmid("resource vmid", v))
            .transpose()?,
        node: r
            .try_get::<_, Option<String>>(4)
            .map_err(get)?
            .map(|n| {
                NodeName::new(n).map_err(|e| StateError::Corrupt {
                    what: "resource node",
                    detail: e.to_string(),
                })
            })
            .transpose()?,
        updated_at: time_from_us("resource time", r.try_get(5).map_err(get)?)?,
    })
}

use audit::AUDIT_COLUMNS as AUDIT_COLS;

fn audit_from(r: &Row) -> Result<AuditEntry> {
    let get = |e: tokio_postgres::Error| StateError::query("reading the audit log", e);
    Ok(AuditEntry {
        seq: r.try_get(0).map_err(get)?,
        entry: NewAuditEntry {
            time: time_from_us("audit time", r.try_get(1).map_err(get)?)?,
            actor: r.try_get(2).map_err(get)?,
            profile: r.try_get(3).map_err(get)?,
            target: r.try_get(4).map_err(get)?,
            action: r.try_get(5).map_err(get)?,
            params: json_parse("audit parameters", &r.try_get::<_, String>(6).map_err(get)?)?,
            result: r.try_get(7).map_err(get)?,
        },
        prev_hash: r.try_get(8).map_err(get)?,
        hash: r.try_get(9).map_err(get)?,
    })
}

#[async_trait]
impl StateStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn schema_version(&self) -> Result<i64> {
        let c = self.client.lock().await;
        let row = c
            .query_one("SELECT COALESCE(MAX(version), 0) FROM proxctl_migrations", &[])
            .await
            .map_err(q("reading the schema version"))?;
        row.try_get(0).map_err(q("reading the schema version"))
    }

    async fn put_resource(&self, r: &ResourceRecord) -> Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO resources (kind, name, spec_hash, vmid, node, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, name) DO UPDATE SET spec_hash = excluded.spec_hash,
               vmid = excluded.vmid, node = excluded.node, updated_at = excluded.updated_at",
            &[
                &r.key.kind(),
                &r.key.name(),
                &r.spec_hash,
                &r.vmid.map(vmid_col),
                &r.node.as_ref().map(|n| n.as_str()),
                &time_to_us(r.updated_at),
            ],
        )
        .await
        .map(drop)
        .map_err(q("saving a resource"))
    }

    async fn resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>> {
        let c = self.client.lock().await;
        c.query_opt(
            &format!("SELECT {RESOURCE_COLS} FROM resources WHERE kind = $1 AND name = $2"),
            &[&key.kind(), &key.name()],
        )
        .await
        .map_err(q("reading a resource"))?
        .as_ref()
        .map(resource_from)
        .transpose()
    }

    async fn resource_by_vmid(&self, vmid: VmId) -> Result<Option<ResourceRecord>> {
        let c = self.client.lock().await;
        c.query_opt(
            &format!("SELECT {RESOURCE_COLS} FROM resources WHERE vmid = $1"),
            &[&vmid_col(vmid)],
        )
        .await
        .map_err(q("reading a resource"))?
        .as_ref()
        .map(resource_from)
        .transpose()
    }

    async fn resources(&self) -> Result<Vec<ResourceRecord>> {
        let c = self.client.lock().await;
        c.query(&format!("SELECT {RESOURCE_COLS} FROM resources ORDER BY kind, name"), &[])
            .await
            .map_err(q("listing resources"))?
            .iter()
            .map(resource_from)
            .collect()
    }

    async fn remove_resource(&self, key: &ResourceKey) -> Result<bool> {
        let c = self.client.lock().await;
        c.execute(
            "DELETE FROM resources WHERE kind = $1 AND name = $2",
            &[&key.kind(), &key.name()],
        )
        .await
        .map(|n| n > 0)
        .map_err(q("removing a resource"))
    }

    async fn begin_apply(
        &self,
        actor: &str,
        holder: &str,
        plan: &serde_json::Value,
    ) -> Result<ApplyId> {
        let c = self.client.lock().await;
        let row = c
            .query_one(
                "INSERT INTO applies (actor, holder, started_at, plan) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[&actor, &holder, &time_to_us(Timestamp::now()), &plan.to_string()],
            )
            .await
            .map_err(q("recording an apply"))?;
        row.try_get(0).map(ApplyId).map_err(q("recording an apply"))
    }

    async fn finish_apply(&self, id: ApplyId, outcome: &ApplyOutcome) -> Result<()> {
        let (status, detail) = outcome.to_columns();
        let c = self.client.lock().await;
        c.execute(
            "UPDATE applies SET finished_at = $2, status = $3, detail = $4 WHERE id = $1",
            &[&id.0, &time_to_us(Timestamp::now()), &status, &detail],
        )
        .await
        .map(drop)
        .map_err(q("recording an apply's end"))
    }

    async fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>> {
        let what = "listing applies";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT id, actor, started_at, finished_at, plan, status, detail FROM applies
                 ORDER BY id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|r| {
                let get = |e| StateError::query(what, e);
                Ok(ApplyRecord {
                    id: ApplyId(r.try_get(0).map_err(get)?),
                    actor: r.try_get(1).map_err(get)?,
                    started_at: time_from_us("apply start", r.try_get(2).map_err(get)?)?,
                    finished_at: r
                        .try_get::<_, Option<i64>>(3)
                        .map_err(get)?
                        .map(|f| time_from_us("apply end", f))
                        .transpose()?,
                    plan: json_parse("apply plan", &r.try_get::<_, String>(4).map_err(get)?)?,
                    outcome: ApplyOutcome::from_columns(
                        r.try_get::<_, Option<String>>(5).map_err(get)?.as_deref(),
                        r.try_get(6).map_err(get)?,
                    ),
                })
            })
            .collect()
    }

    async fn interrupt_orphaned_applies(&self, now: Timestamp) -> Result<Vec<ApplyId>> {
        locks::interrupt_orphans(&*self.client.lock().await, now).await
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
        let mut c = self.client.lock().await;
        locks::acquire(&mut c, names, holder, purpose, until, now, breaking).await
    }

    async fn renew_locks(&self, holder: &str, until: Timestamp) -> Result<usize> {
        locks::renew(&*self.client.lock().await, holder, until).await
    }

    async fn release_locks(&self, holder: &str) -> Result<()> {
        locks::release(&*self.client.lock().await, holder).await
    }

    async fn locks(&self) -> Result<Vec<LockInfo>> {
        locks::list(&*self.client.lock().await).await
    }

    async fn token_insert(&self, t: &proxctl_state::ApiToken) -> Result<bool> {
        tokens::insert(&*self.client.lock().await, t).await
    }

    async fn tokens(&self) -> Result<Vec<proxctl_state::ApiToken>> {
        tokens::list(&*self.client.lock().await).await
    }

    async fn token(&self, id: &str) -> Result<Option<proxctl_state::ApiToken>> {
        tokens::get(&*self.client.lock().await, id).await
    }

    async fn token_revoke(&self, name: &str, at: Timestamp) -> Result<bool> {
        tokens::revoke(&*self.client.lock().await, name, at).await
    }

    async fn put_document(&self, d: &proxctl_state::Document) -> Result<()> {
        documents::put(&*self.client.lock().await, d).await
    }

    async fn insert_document(&self, d: &proxctl_state::Document) -> Result<bool> {
        documents::insert(&*self.client.lock().await, d).await
    }

    async fn delete_document(&self, kind: &str, id: &str) -> Result<bool> {
        documents::delete(&*self.client.lock().await, kind, id).await
    }

    async fn document(&self, kind: &str, id: &str) -> Result<Option<proxctl_state::Document>> {
        documents::get(&*self.client.lock().await, kind, id).await
    }

    async fn documents(&self, kind: &str, limit: usize) -> Result<Vec<proxctl_state::Document>> {
        documents::list(&*self.client.lock().await, kind, limit).await
    }

    async fn prune_documents(&self, kind: &str, keep: usize) -> Result<usize> {
        documents::prune(&*self.client.lock().await, kind, keep).await
    }

    async fn remote_insert(&self, r: &proxctl_state::RemoteDef) -> Result<bool> {
        tokens::remote_insert(&*self.client.lock().await, r).await
    }

    async fn remotes(&self) -> Result<Vec<proxctl_state::RemoteDef>> {
        tokens::remotes(&*self.client.lock().await).await
    }

    async fn remote_delete(&self, name: &str) -> Result<bool> {
        tokens::remote_delete(&*self.client.lock().await, name).await
    }

    async fn journal_intent(&self, e: &NewJournalEntry) -> Result<JournalId> {
        let c = self.client.lock().await;
        let row = c
            .query_one(
                "INSERT INTO journal (apply_id, resource, action, params, started_at, state)
                 VALUES ($1, $2, $3, $4, $5, 'intent') RETURNING id",
                &[
                    &e.apply.0,
                    &e.resource.to_string(),
                    &e.action,
                    &e.params.to_string(),
                    &time_to_us(Timestamp::now()),
                ],
            )
            .await
            .map_err(q("journalling an intent"))?;
        row.try_get(0).map(JournalId).map_err(q("journalling an intent"))
    }

    async fn journal_finish(&self, id: JournalId, state: &JournalState) -> Result<()> {
        let (s, detail) = state.to_columns();
        let c = self.client.lock().await;
        c.execute(
            "UPDATE journal SET state = $2, detail = $3, finished_at = $4 WHERE id = $1",
            &[&id.0, &s, &detail, &time_to_us(Timestamp::now())],
        )
        .await
        .map(drop)
        .map_err(q("journalling a completion"))
    }

    async fn journal_pending(&self) -> Result<Vec<JournalEntry>> {
        let what = "reading the journal";
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT id, apply_id, resource, action, params, started_at, state, detail
                 FROM journal WHERE state = 'intent' ORDER BY id",
                &[],
            )
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|r| {
                let get = |e| StateError::query(what, e);
                Ok(JournalEntry {
                    id: JournalId(r.try_get(0).map_err(get)?),
                    apply: ApplyId(r.try_get(1).map_err(get)?),
                    resource: key_parse(
                        "journal resource",
                        &r.try_get::<_, String>(2).map_err(get)?,
                    )?,
                    action: r.try_get(3).map_err(get)?,
                    params: json_parse(
                        "journal parameters",
                        &r.try_get::<_, String>(4).map_err(get)?,
                    )?,
                    started_at: time_from_us("journal time", r.try_get(5).map_err(get)?)?,
                    state: JournalState::from_columns(
                        &r.try_get::<_, String>(6).map_err(get)?,
                        r.try_get(7).map_err(get)?,
                    ),
                })
            })
            .collect()
    }

    async fn lease_vmid(
        &self,
        vmid: VmId,
        holder: &str,
        owner: &ResourceKey,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO vmid_leases (vmid, holder, owner, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (vmid) DO UPDATE SET holder = excluded.holder,
               owner = excluded.owner, expires_at = excluded.expires_at
             WHERE vmid_leases.expires_at <= $5 OR (vmid_leases.holder = excluded.holder AND vmid_leases.owner = excluded.owner)",
            &[&vmid_col(vmid), &holder, &owner.to_string(), &time_to_us(until), &time_to_us(now)],
        )
        .await
        .map(|n| n == 1)
        .map_err(q("leasing a VMID"))
    }

    async fn release_vmid(&self, vmid: VmId, holder: &str) -> Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "DELETE FROM vmid_leases WHERE vmid = $1 AND holder = $2",
            &[&vmid_col(vmid), &holder],
        )
        .await
        .map(drop)
        .map_err(q("releasing a VMID"))
    }

    async fn vmid_leases(&self, now: Timestamp) -> Result<Vec<VmidLease>> {
        let what = "listing VMID leases";
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT vmid, holder, owner, expires_at FROM vmid_leases
                 WHERE expires_at > $1 ORDER BY vmid",
                &[&time_to_us(now)],
            )
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|r| {
                let get = |e| StateError::query(what, e);
                Ok(VmidLease {
                    vmid: parse_vmid("lease vmid", r.try_get(0).map_err(get)?)?,
                    holder: r.try_get(1).map_err(get)?,
                    owner: key_parse("lease owner", &r.try_get::<_, String>(2).map_err(get)?)?,
                    expires_at: time_from_us("lease expiry", r.try_get(3).map_err(get)?)?,
                })
            })
            .collect()
    }

    async fn allocate_ip(&self, pool: &str, ip: IpAddr, owner: &ResourceKey) -> Result<bool> {
        let what = "allocating an IP";
        let mut c = self.client.lock().await;
        let tx = c.transaction().await.map_err(q(what))?;
        let (ip, owner) = (ip.to_string(), owner.to_string());
        tx.execute(
            "INSERT INTO ip_allocations (pool, ip, owner, allocated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (pool, ip) DO NOTHING",
            &[&pool, &ip, &owner, &time_to_us(Timestamp::now())],
        )
        .await
        .map_err(q(what))?;
        let holder: String = tx
            .query_one(
                "SELECT owner FROM ip_allocations WHERE pool = $1 AND ip = $2",
                &[&pool, &ip],
            )
            .await
            .map_err(q(what))?
            .try_get(0)
            .map_err(q(what))?;
        tx.commit().await.map_err(q(what))?;
        Ok(holder == owner)
    }

    async fn release_ips(&self, owner: &ResourceKey) -> Result<usize> {
        let c = self.client.lock().await;
        c.execute("DELETE FROM ip_allocations WHERE owner = $1", &[&owner.to_string()])
            .await
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .map_err(q("releasing IPs"))
    }

    async fn ip_allocations(&self, pool: Option<&str>) -> Result<Vec<IpAllocation>> {
        let what = "listing IP allocations";
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT pool, ip, owner, allocated_at FROM ip_allocations
                 WHERE $1::TEXT IS NULL OR pool = $1 ORDER BY pool, ip",
                &[&pool],
            )
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|r| {
                let get = |e| StateError::query(what, e);
                Ok(IpAllocation {
                    pool: r.try_get(0).map_err(get)?,
                    ip: r.try_get::<_, String>(1).map_err(get)?.parse().map_err(
                        |e: std::net::AddrParseError| StateError::Corrupt {
                            what: "allocated IP",
                            detail: e.to_string(),
                        },
                    )?,
                    owner: key_parse("IP owner", &r.try_get::<_, String>(2).map_err(get)?)?,
                    allocated_at: time_from_us("allocation time", r.try_get(3).map_err(get)?)?,
                })
            })
            .collect()
    }

    async fn put_snapshot_ttl(&self, t: &SnapshotTtl) -> Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO snapshot_ttls (vmid, snapshot, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (vmid, snapshot) DO UPDATE SET expires_at = excluded.expires_at",
            &[&vmid_col(t.vmid), &t.snapshot.as_str(), &time_to_us(t.expires_at)],
        )
        .await
        .map(drop)
        .map_err(q("saving a snapshot expiry"))
    }

    async fn remove_snapshot_ttl(&self, vmid: VmId, name: &SnapshotName) -> Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "DELETE FROM snapshot_ttls WHERE vmid = $1 AND snapshot = $2",
            &[&vmid_col(vmid), &name.as_str()],
        )
        .await
        .map(drop)
        .map_err(q("removing a snapshot expiry"))
    }

    async fn snapshot_ttls(&self) -> Result<Vec<SnapshotTtl>> {
        let what = "listing snapshot expiries";
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT vmid, snapshot, expires_at FROM snapshot_ttls ORDER BY vmid, snapshot",
                &[],
            )
            .await
            .map_err(q(what))?;
        rows.iter()
            .map(|r| {
                let get = |e| StateError::query(what, e);
                Ok(SnapshotTtl {
                    vmid: parse_vmid("snapshot vmid", r.try_get(0).map_err(get)?)?,
                    snapshot: SnapshotName::new(r.try_get::<_, String>(1).map_err(get)?).map_err(
                        |e| StateError::Corrupt { what: "snapshot name", detail: e.to_string() },
                    )?,
                    expires_at: time_from_us("snapshot expiry", r.try_get(2).map_err(get)?)?,
                })
            })
            .collect()
    }

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        let what = "appending to the audit log";
        let mut c = self.client.lock().await;
        let tx = c.transaction().await.map_err(q(what))?;
        // The head row lock serialises appenders across every connection.
        let head = tx
            .query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[])
            .await
            .map_err(q(what))?;
        let (seq, prev): (i64, String) =
            (head.try_get(0).map_err(q(what))?, head.try_get(1).map_err(q(what))?);
        let row = audit::seal(seq + 1, e, &prev);
        tx.execute(
            &format!(
                "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &row.seq,
                &time_to_us(row.entry.time),
                &row.entry.actor,
                &row.entry.profile,
                &row.entry.target,
                &row.entry.action,
                &row.entry.params.to_string(),
                &row.entry.result,
                &row.prev_hash,
                &row.hash,
            ],
        )
        .await
        .map_err(q(what))?;
        tx.execute(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&row.seq, &row.hash],
        )
        .await
        .map_err(q(what))?;
        tx.commit().await.map_err(q(what))?;
        Ok(row)
    }

    async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let what = "reading the audit log";
        let (sql, args) = audit::select_sql(f, |n| format!("${n}"), "strpos({}, {arg}) > 0");
        let args: Vec<Box<dyn ToSql + Sync + Send>> = args
            .into_iter()
            .map(|a| -> Box<dyn ToSql + Sync + Send> {
                match a {
                    audit::SqlArg::Text(t) => Box::new(t),
                    audit::SqlArg::Int(i) => Box::new(i),
                }
            })
            .collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
        let c = self.client.lock().await;
        c.query(&sql, &params).await.map_err(q(what))?.iter().map(audit_from).collect()
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        let what = "reading the audit head";
        let c = self.client.lock().await;
        let row = c
            .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
            .await
            .map_err(q(what))?;
        let seq: i64 = row.try_get(0).map_err(q(what))?;
        Ok((seq > 0).then_some(AuditHead { seq, hash: row.try_get(1).map_err(q(what))? }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_list_is_numbered_without_gaps() {
        migrations::check_list(MIGRATIONS).unwrap();
    }

    #[test]
    fn locations_never_carry_the_password() {
        let cfg: tokio_postgres::Config =
            "postgres://alice:s3cret@db.example:5433/proxctl".parse().unwrap();
        assert_eq!(redacted_location(&cfg), "postgres://alice@db.example:5433/proxctl");
    }
}
