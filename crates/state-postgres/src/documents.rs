//! Server documents on PostgreSQL: JSON by kind and id, newest first by creation.

use proxctl_state::{Document, Result, StateError, time_from_us, time_to_us};
use tokio_postgres::{Client, Row};

use crate::q;

fn document(r: &Row) -> Result<Document> {
    let get = |e: tokio_postgres::Error| StateError::query("reading a document", e);
    Ok(Document {
        kind: r.try_get(0).map_err(get)?,
        id: r.try_get(1).map_err(get)?,
        body: r.try_get(2).map_err(get)?,
        created_at: time_from_us("document creation time", r.try_get(3).map_err(get)?)?,
        updated_at: time_from_us("document update time", r.try_get(4).map_err(get)?)?,
    })
}

pub(crate) async fn put(c: &Client, d: &Document) -> Result<()> {
    c.execute(
        "INSERT INTO server_documents (kind, id, body, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        &[&d.kind, &d.id, &d.body, &time_to_us(d.created_at), &time_to_us(d.updated_at)],
    )
    .await
    .map_err(q("storing a document"))?;
    Ok(())
}

pub(crate) async fn insert(c: &Client, d: &Document) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO server_documents (kind, id, body, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, id) DO NOTHING",
            &[&d.kind, &d.id, &d.body, &time_to_us(d.created_at), &time_to_us(d.updated_at)],
        )
        .await
        .map_err(q("claiming a document"))?;
    Ok(n == 1)
}

pub(crate) async fn delete(c: &Client, kind: &str, id: &str) -> Result<bool> {
    let n = c
        .execute("DELETE FROM server_documents WHERE kind = $1 AND id = $2", &[&kind, &id])
        .await
        .map_err(q("deleting a document"))?;
    Ok(n == 1)
}

pub(crate) async fn get(c: &Client, kind: &str, id: &str) -> Result<Option<Document>> {
    let rows = c
        .query(
            "SELECT kind, id, body, created_at, updated_at FROM server_documents
             WHERE kind = $1 AND id = $2",
            &[&kind, &id],
        )
        .await
        .map_err(q("reading a document"))?;
    rows.first().map(document).transpose()
}

pub(crate) async fn list(c: &Client, kind: &str, limit: usize) -> Result<Vec<Document>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query(
            "SELECT kind, id, body, created_at, updated_at FROM server_documents
             WHERE kind = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            &[&kind, &limit],
        )
        .await
        .map_err(q("listing documents"))?;
    rows.iter().map(document).collect()
}

pub(crate) async fn prune(c: &Client, kind: &str, keep: usize) -> Result<usize> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let n = c
        .execute(
            "DELETE FROM server_documents WHERE kind = $1 AND id NOT IN (
                 SELECT id FROM server_documents WHERE kind = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2)",
            &[&kind, &keep],
        )
        .await
        .map_err(q("pruning documents"))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
