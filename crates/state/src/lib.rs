//! proxctl's state store: one async trait, [`StateStore`], with a SQLite backend
//! (`proxctl-state-sqlite`, the default) and a PostgreSQL backend (`proxctl-state-postgres`,
//! for several instances sharing state). The records, the audit hash chain and the conformance
//! suite both backends must pass live here, so the backends hold nothing but SQL.

pub mod audit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod document;
pub mod lock;
pub mod migrations;
pub mod record;
pub mod remote;
pub mod token;

use async_trait::async_trait;
use jiff::Timestamp;
use proxctl_types::{SnapshotName, VmId};

pub use audit::{AuditEntry, AuditFilter, AuditHead, NewAuditEntry, VerifyReport, verify_chain};
pub use document::Document;
pub use lock::{LockInfo, liveness_lock};
pub use migrations::Migration;
pub use record::{
    ApplyId, ApplyOutcome, ApplyRecord, IpAllocation, JournalEntry, JournalId, JournalState,
    NewJournalEntry, ResourceKey, ResourceRecord, SnapshotTtl, VmidLease,
};
pub use remote::RemoteDef;
pub use token::ApiToken;

/// A boxed error from a database driver, kept as the source of a [`StateError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state store at {location}")]
    Open { location: String, source: BoxError },
    #[error("state store query failed while {what}")]
    Query { what: &'static str, source: BoxError },
    #[error(
        "migration {version} ({name}) changed after it was applied to this store; migrations are \
         append-only, so add a new one instead of editing an old one"
    )]
    MigrationChanged { version: i64, name: String },
    #[error(
        "the state store has schema version {found}, newer than this proxctl knows ({known}); \
         upgrade proxctl"
    )]
    TooNew { found: i64, known: i64 },
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl StateError {
    pub fn query(what: &'static str, e: impl Into<BoxError>) -> Self {
        StateError::Query { what, source: e.into() }
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// Everything proxctl remembers between runs. Implementations must make each method atomic on
/// its own, across processes and machines sharing the store: two applies leasing VMIDs at the
/// same moment, or two writers appending to the audit log, must never interleave badly.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Where the store lives, with any password removed.
    fn location(&self) -> String;
    /// The highest migration applied.
    async fn schema_version(&self) -> Result<i64>;

    // Resources the engine manages, keyed `kind/name`.
    async fn put_resource(&self, r: &ResourceRecord) -> Result<()>;
    async fn resource(&self, key: &ResourceKey) -> Result<Option<ResourceRecord>>;
    async fn resource_by_vmid(&self, vmid: VmId) -> Result<Option<ResourceRecord>>;
    async fn resources(&self) -> Result<Vec<ResourceRecord>>;
    /// Whether a record was there to remove.
    async fn remove_resource(&self, key: &ResourceKey) -> Result<bool>;

    // Apply history.
    /// Record the start of an apply by `actor`, run by lock holder `holder`.
    async fn begin_apply(
        &self,
        actor: &str,
        holder: &str,
        plan: &serde_json::Value,
    ) -> Result<ApplyId>;
    async fn finish_apply(&self, id: ApplyId, outcome: &ApplyOutcome) -> Result<()>;
    /// Newest first.
    async fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>>;
    /// Mark as interrupted every unfinished apply whose holder holds no unexpired lock at
    /// `now` (it was killed, or lost its locks): its history row gets an end. Returns them.
    async fn interrupt_orphaned_applies(&self, now: Timestamp) -> Result<Vec<ApplyId>>;

    // Resource locks (see [`lock`]).
    /// Take every lock in `names` for `holder` until `until`, or none of them. A lock is
    /// free when nobody holds it, its lease expired at `now`, it is already `holder`'s, or its
    /// holder is in `breaking` (holders the caller proved dead: all their locks are removed).
    /// Returns the locks that stood in the way; empty means all were taken.
    async fn acquire_locks(
        &self,
        names: &[String],
        holder: &str,
        purpose: &str,
        until: Timestamp,
        now: Timestamp,
        breaking: &[String],
    ) -> Result<Vec<LockInfo>>;
    /// Extend every lock `holder` still has to `until`; returns how many it has.
    async fn renew_locks(&self, holder: &str, until: Timestamp) -> Result<usize>;
    async fn release_locks(&self, holder: &str) -> Result<()>;
    /// Every lock row, expired ones included, by name.
    async fn locks(&self) -> Result<Vec<LockInfo>>;

    // API tokens (see [`token`]).
    /// Store a new token; `false` when a token not revoked already has its name.
    async fn token_insert(&self, t: &token::ApiToken) -> Result<bool>;
    /// Every token, revoked ones included, oldest first.
    async fn tokens(&self) -> Result<Vec<token::ApiToken>>;
    async fn token(&self, id: &str) -> Result<Option<token::ApiToken>>;
    /// Revoke the live token called `name`; `false` when there is none.
    async fn token_revoke(&self, name: &str, at: Timestamp) -> Result<bool>;

    // Remotes (see [`remote`]).
    /// Store a remote; `false` when one has its name.
    async fn remote_insert(&self, r: &remote::RemoteDef) -> Result<bool>;
    /// Every remote, by name.
    async fn remotes(&self) -> Result<Vec<remote::RemoteDef>>;
    /// Forget a remote; `false` when there is none of that name.
    async fn remote_delete(&self, name: &str) -> Result<bool>;

    // Server documents (see [`document`]).
    /// Insert or replace the document of that kind and id (its `created_at` stays the first
    /// write's).
    async fn put_document(&self, d: &Document) -> Result<()>;
    /// Insert the document unless one of that kind and id exists; `false` when it does. Two
    /// instances racing for one id: exactly one gets `true` (how a scheduled run is claimed).
    async fn insert_document(&self, d: &Document) -> Result<bool>;
    async fn document(&self, kind: &str, id: &str) -> Result<Option<Document>>;
    /// Delete one document; `false` when there was none.
    async fn delete_document(&self, kind: &str, id: &str) -> Result<bool>;
    /// The newest `limit` documents of a kind, newest first.
    async fn documents(&self, kind: &str, limit: usize) -> Result<Vec<Document>>;
    /// Delete all but the newest `keep` documents of a kind; returns how many went.
    async fn prune_documents(&self, kind: &str, keep: usize) -> Result<usize>;

    // The operation journal: intent before each mutating call, completion after.
    async fn journal_intent(&self, e: &NewJournalEntry) -> Result<JournalId>;
    async fn journal_finish(&self, id: JournalId, state: &JournalState) -> Result<()>;
    /// Intents never completed, oldest first: what a crashed apply left half-done.
    async fn journal_pending(&self) -> Result<Vec<JournalEntry>>;

    // VMID leases.
    /// Take `vmid` for `owner` until `until`, unless another holder has an unexpired lease on
    /// it. Returns whether the lease is now `holder`'s. The same holder re-leasing for the same owner
    /// extends it; one holder cannot lease one VMID for two owners.
    async fn lease_vmid(
        &self,
        vmid: VmId,
        holder: &str,
        owner: &ResourceKey,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    async fn release_vmid(&self, vmid: VmId, holder: &str) -> Result<()>;
    /// Lease every VMID of `wanted` for its owner, all or none ([`Self::lease_vmid`] for
    /// each). Returns `None` when all are `holder`'s now, or the first that another holder has
    /// (and then none was leased). Backends do it in one transaction where they can: an apply
    /// creating a thousand guests should not wait for a thousand commits.
    async fn lease_vmids(
        &self,
        wanted: &[(VmId, ResourceKey)],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VmId>> {
        let mut done = Vec::new();
        for (vmid, owner) in wanted {
            if !self.lease_vmid(*vmid, holder, owner, until, now).await? {
                for v in done {
                    self.release_vmid(v, holder).await?;
                }
                return Ok(Some(*vmid));
            }
            done.push(*vmid);
        }
        Ok(None)
    }
    /// Release several of `holder`'s leases (one transaction where the backend can).
    async fn release_vmids(&self, vmids: &[VmId], holder: &str) -> Result<()> {
        for v in vmids {
            self.release_vmid(*v, holder).await?;
        }
        Ok(())
    }
    /// Leases not expired at `now`.
    async fn vmid_leases(&self, now: Timestamp) -> Result<Vec<VmidLease>>;

    // IP allocations.
    /// Record `ip` in `pool` for `owner`. Returns false if it belongs to someone else; true if
    /// it is now (or already was) `owner`'s.
    async fn allocate_ip(
        &self,
        pool: &str,
        ip: std::net::IpAddr,
        owner: &ResourceKey,
    ) -> Result<bool>;
    /// Release every address `owner` holds; returns how many.
    async fn release_ips(&self, owner: &ResourceKey) -> Result<usize>;
    async fn ip_allocations(&self, pool: Option<&str>) -> Result<Vec<IpAllocation>>;

    // Snapshot expiries (a copy of the marker in the snapshot's description).
    async fn put_snapshot_ttl(&self, t: &SnapshotTtl) -> Result<()>;
    async fn remove_snapshot_ttl(&self, vmid: VmId, name: &SnapshotName) -> Result<()>;
    async fn snapshot_ttls(&self) -> Result<Vec<SnapshotTtl>>;

    // The audit log, hash-chained.
    /// Append one row, chaining it to the current head in the same transaction.
    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry>;
    /// Rows matching `f`, in sequence order.
    async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>>;
    /// The last row's sequence number and hash, kept apart from the rows so that cutting rows
    /// off the end is detected too.
    async fn audit_head(&self) -> Result<Option<AuditHead>>;
}

/// Both backends store times as microseconds since the Unix epoch, so ordering and range
/// filters are plain integer comparisons.
pub fn time_to_us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn time_from_us(what: &'static str, us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us)
        .map_err(|e| StateError::Corrupt { what, detail: format!("{us}: {e}") })
}

/// Parse a stored VMID.
pub fn parse_vmid(what: &'static str, n: i64) -> Result<VmId> {
    u32::try_from(n)
        .ok()
        .and_then(|n| VmId::new(n).ok())
        .ok_or_else(|| StateError::Corrupt { what, detail: format!("{n} is not a VMID") })
}
