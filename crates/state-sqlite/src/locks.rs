//! Resource locks and orphaned applies on SQLite: each call is one `BEGIN IMMEDIATE`
//! transaction, so two processes taking overlapping lock sets serialise on the write lock and
//! exactly one of them gets each lock.

use jiff::Timestamp;
use proxctl_state::{ApplyId, LockInfo, Result, liveness_lock, time_from_us, time_to_us};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::q;

pub(crate) fn acquire(
    c: &mut Connection,
    names: &[String],
    holder: &str,
    purpose: &str,
    until: Timestamp,
    now: Timestamp,
    breaking: &[String],
) -> Result<Vec<LockInfo>> {
    let what = "taking locks";
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(q(what))?;
    for dead in breaking {
        tx.execute("DELETE FROM locks WHERE holder = ?1", params![dead]).map_err(q(what))?;
    }
    let mut blocked = Vec::new();
    for name in names {
        let row = tx
            .query_row(
                "SELECT name, holder, purpose, acquired_at, expires_at FROM locks WHERE name = ?1",
                params![name],
                row,
            )
            .optional()
            .map_err(q(what))?;
        if let Some(r) = row {
            let info = info(r)?;
            if info.holder != holder && !info.expired(now) {
                blocked.push(info);
            }
        }
    }
    if !blocked.is_empty() {
        // Nothing taken: dropping the transaction rolls back the broken locks too, which is
        // harmless (their holders are dead) and keeps the call all-or-nothing.
        return Ok(blocked);
    }
    for name in names.iter().cloned().chain([liveness_lock(holder)]) {
        tx.execute(
            "INSERT INTO locks (name, holder, purpose, acquired_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
               purpose = excluded.purpose, acquired_at = excluded.acquired_at,
               expires_at = excluded.expires_at",
            params![name, holder, purpose, time_to_us(now), time_to_us(until)],
        )
        .map_err(q(what))?;
    }
    tx.commit().map_err(q(what))?;
    Ok(Vec::new())
}

pub(crate) fn renew(c: &Connection, holder: &str, until: Timestamp) -> Result<usize> {
    c.execute(
        "UPDATE locks SET expires_at = ?2 WHERE holder = ?1",
        params![holder, time_to_us(until)],
    )
    .map_err(q("renewing locks"))
}

pub(crate) fn release(c: &Connection, holder: &str) -> Result<()> {
    c.execute("DELETE FROM locks WHERE holder = ?1", params![holder])
        .map(drop)
        .map_err(q("releasing locks"))
}

pub(crate) fn list(c: &Connection) -> Result<Vec<LockInfo>> {
    let what = "listing locks";
    let mut st = c
        .prepare("SELECT name, holder, purpose, acquired_at, expires_at FROM locks ORDER BY name")
        .map_err(q(what))?;
    let rows = st.query_map([], row).map_err(q(what))?;
    rows.map(|r| info(r.map_err(q(what))?)).collect()
}

pub(crate) fn interrupt_orphans(c: &mut Connection, now: Timestamp) -> Result<Vec<ApplyId>> {
    let what = "ending orphaned applies";
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(q(what))?;
    let ids: Vec<i64> = {
        let mut st = tx
            .prepare(
                "SELECT id FROM applies a WHERE a.status IS NULL AND a.holder IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.holder = a.holder AND l.expires_at > ?1)
                 ORDER BY id",
            )
            .map_err(q(what))?;
        let rows = st.query_map(params![time_to_us(now)], |r| r.get(0)).map_err(q(what))?;
        rows.collect::<rusqlite::Result<_>>().map_err(q(what))?
    };
    let outcome =
        proxctl_state::ApplyOutcome::Interrupted(proxctl_state::lock::ORPHANED_APPLY.into());
    let (status, detail) = outcome.to_columns();
    for id in &ids {
        tx.execute(
            "UPDATE applies SET finished_at = ?2, status = ?3, detail = ?4 WHERE id = ?1",
            params![id, time_to_us(now), status, detail],
        )
        .map_err(q(what))?;
    }
    tx.commit().map_err(q(what))?;
    Ok(ids.into_iter().map(ApplyId).collect())
}

type Row = (String, String, String, i64, i64);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn info((name, holder, purpose, acquired, expires): Row) -> Result<LockInfo> {
    Ok(LockInfo {
        name,
        holder,
        purpose,
        acquired_at: time_from_us("lock time", acquired)?,
        expires_at: time_from_us("lock expiry", expires)?,
    })
}
