//! Resource locks and orphaned applies on PostgreSQL. A lock set is taken in one transaction
//! with `SELECT … FOR UPDATE` on the rows in name order (so two takers never deadlock) and an
//! `ON CONFLICT` insert for free names, so instances on different machines agree on who holds
//! what.

use jiff::Timestamp;
use proxctl_state::{ApplyId, LockInfo, Result, liveness_lock, time_from_us, time_to_us};
use tokio_postgres::{Client, Row};

use crate::q;

pub(crate) async fn acquire(
    c: &mut Client,
    names: &[String],
    holder: &str,
    purpose: &str,
    until: Timestamp,
    now: Timestamp,
    breaking: &[String],
) -> Result<Vec<LockInfo>> {
    let what = "taking locks";
    let mut sorted: Vec<String> = names.iter().cloned().chain([liveness_lock(holder)]).collect();
    sorted.sort();
    sorted.dedup();
    let tx = c.transaction().await.map_err(q(what))?;
    if !breaking.is_empty() {
        tx.execute("DELETE FROM locks WHERE holder = ANY($1)", &[&breaking])
            .await
            .map_err(q(what))?;
    }
    let (now_us, until_us) = (time_to_us(now), time_to_us(until));
    let mut blocked = Vec::new();
    for name in &sorted {
        // Insert if free; otherwise take over only an expired lock or our own. The row lock
        // this takes is held to commit, so a concurrent taker waits and then sees our row.
        let taken = tx
            .execute(
                "INSERT INTO locks (name, holder, purpose, acquired_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                   purpose = excluded.purpose, acquired_at = excluded.acquired_at,
                   expires_at = excluded.expires_at
                 WHERE locks.expires_at <= $4 OR locks.holder = excluded.holder",
                &[name, &holder, &purpose, &now_us, &until_us],
            )
            .await
            .map_err(q(what))?;
        if taken == 0 {
            let row = tx
                .query_one(
                    "SELECT name, holder, purpose, acquired_at, expires_at FROM locks
                     WHERE name = $1",
                    &[name],
                )
                .await
                .map_err(q(what))?;
            blocked.push(info(&row)?);
        }
    }
    if blocked.is_empty() {
        tx.commit().await.map_err(q(what))?;
    } else {
        tx.rollback().await.map_err(q(what))?;
    }
    Ok(blocked)
}

pub(crate) async fn renew(c: &Client, holder: &str, until: Timestamp) -> Result<usize> {
    c.execute("UPDATE locks SET expires_at = $2 WHERE holder = $1", &[&holder, &time_to_us(until)])
        .await
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .map_err(q("renewing locks"))
}

pub(crate) async fn release(c: &Client, holder: &str) -> Result<()> {
    c.execute("DELETE FROM locks WHERE holder = $1", &[&holder])
        .await
        .map(drop)
        .map_err(q("releasing locks"))
}

pub(crate) async fn list(c: &Client) -> Result<Vec<LockInfo>> {
    c.query("SELECT name, holder, purpose, acquired_at, expires_at FROM locks ORDER BY name", &[])
        .await
        .map_err(q("listing locks"))?
        .iter()
        .map(info)
        .collect()
}

pub(crate) async fn interrupt_orphans(c: &Client, now: Timestamp) -> Result<Vec<ApplyId>> {
    let outcome =
        proxctl_state::ApplyOutcome::Interrupted(proxctl_state::lock::ORPHANED_APPLY.into());
    let (status, detail) = outcome.to_columns();
    let rows = c
        .query(
            "UPDATE applies a SET finished_at = $1, status = $2, detail = $3
             WHERE a.status IS NULL AND a.holder IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.holder = a.holder AND l.expires_at > $1)
             RETURNING id",
            &[&time_to_us(now), &status, &detail],
        )
        .await
        .map_err(q("ending orphaned applies"))?;
    let mut ids = rows
        .iter()
        .map(|r| r.try_get(0).map(ApplyId))
        .collect::<Result<Vec<_>, _>>()
        .map_err(q("ending orphaned applies"))?;
    ids.sort();
    Ok(ids)
}

fn info(r: &Row) -> Result<LockInfo> {
    let get = |e: tokio_postgres::Error| proxctl_state::StateError::query("reading a lock", e);
    Ok(LockInfo {
        name: r.try_get(0).map_err(get)?,
        holder: r.try_get(1).map_err(get)?,
        purpose: r.try_get(2).map_err(get)?,
        acquired_at: time_from_us("lock time", r.try_get(3).map_err(get)?)?,
        expires_at: time_from_us("lock expiry", r.try_get(4).map_err(get)?)?,
    })
}
