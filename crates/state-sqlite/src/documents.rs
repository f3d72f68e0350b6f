//! Server documents on SQLite: JSON by kind and id, newest first by creation.

use proxctl_state::{Document, Result, time_from_us, time_to_us};
use rusqlite::{Connection, OptionalExtension, params};

use crate::q;

type Raw = (String, String, String, i64, i64);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn document((kind, id, body, created, updated): Raw) -> Result<Document> {
    Ok(Document {
        kind,
        id,
        body,
        created_at: time_from_us("document creation time", created)?,
        updated_at: time_from_us("document update time", updated)?,
    })
}

pub(crate) fn put(c: &mut Connection, d: &Document) -> Result<()> {
    c.execute(
        "INSERT INTO server_documents (kind, id, body, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        params![d.kind, d.id, d.body, time_to_us(d.created_at), time_to_us(d.updated_at)],
    )
    .map_err(q("storing a document"))?;
    Ok(())
}

pub(crate) fn insert(c: &mut Connection, d: &Document) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO server_documents (kind, id, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, id) DO NOTHING",
            params![d.kind, d.id, d.body, time_to_us(d.created_at), time_to_us(d.updated_at)],
        )
        .map_err(q("claiming a document"))?;
    Ok(n == 1)
}

pub(crate) fn delete(c: &mut Connection, kind: &str, id: &str) -> Result<bool> {
    let n = c
        .execute("DELETE FROM server_documents WHERE kind = ?1 AND id = ?2", params![kind, id])
        .map_err(q("deleting a document"))?;
    Ok(n == 1)
}

pub(crate) fn get(c: &mut Connection, kind: &str, id: &str) -> Result<Option<Document>> {
    c.query_row(
        "SELECT kind, id, body, created_at, updated_at FROM server_documents
         WHERE kind = ?1 AND id = ?2",
        params![kind, id],
        raw,
    )
    .optional()
    .map_err(q("reading a document"))?
    .map(document)
    .transpose()
}

pub(crate) fn list(c: &mut Connection, kind: &str, limit: usize) -> Result<Vec<Document>> {
    let what = "listing documents";
    let mut st = c
        .prepare(
            "SELECT kind, id, body, created_at, updated_at FROM server_documents
             WHERE kind = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .map_err(q(what))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![kind, limit], raw).map_err(q(what))?;
    rows.map(|r| r.map_err(q(what)).and_then(document)).collect()
}

pub(crate) fn prune(c: &mut Connection, kind: &str, keep: usize) -> Result<usize> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    c.execute(
        "DELETE FROM server_documents WHERE kind = ?1 AND id NOT IN (
             SELECT id FROM server_documents WHERE kind = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2)",
        params![kind, keep],
    )
    .map_err(q("pruning documents"))
}
