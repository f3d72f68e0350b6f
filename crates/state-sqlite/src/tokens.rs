//! API tokens and remotes on SQLite. A unique partial index keeps one live token per name, so
//! `token create` runs racing for a name cannot both win.

use jiff::Timestamp;
use proxctl_state::{ApiToken, Result, time_from_us, time_to_us};
use rusqlite::{Connection, OptionalExtension, params};

use crate::q;

const COLUMNS: &str = "id, name, role, scope, hash, created_by, created_at, expires_at, revoked_at";

type Raw = (String, String, String, Option<String>, String, String, i64, Option<i64>, Option<i64>);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
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
    ))
}

fn token(r: Raw) -> Result<ApiToken> {
    let (id, name, role, scope, hash, created_by, created, expires, revoked) = r;
    Ok(ApiToken {
        id,
        name,
        role,
        scope,
        hash,
        created_by,
        created_at: time_from_us("token creation time", created)?,
        expires_at: expires.map(|t| time_from_us("token expiry", t)).transpose()?,
        revoked_at: revoked.map(|t| time_from_us("token revocation time", t)).transpose()?,
    })
}

pub(crate) fn insert(c: &mut Connection, t: &ApiToken) -> Result<bool> {
    let what = "storing a token";
    let n = c
        .execute(
            &format!(
                "INSERT INTO api_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT DO NOTHING"
            ),
            params![
                t.id,
                t.name,
                t.role,
                t.scope,
                t.hash,
                t.created_by,
                time_to_us(t.created_at),
                t.expires_at.map(time_to_us),
                t.revoked_at.map(time_to_us),
            ],
        )
        .map_err(q(what))?;
    Ok(n == 1)
}

pub(crate) fn list(c: &mut Connection) -> Result<Vec<ApiToken>> {
    let what = "listing tokens";
    let mut st = c
        .prepare(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id"))
        .map_err(q(what))?;
    let rows = st.query_map([], raw).map_err(q(what))?;
    rows.map(|r| r.map_err(q(what)).and_then(token)).collect()
}

pub(crate) fn get(c: &mut Connection, id: &str) -> Result<Option<ApiToken>> {
    let what = "reading a token";
    c.query_row(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"), params![id], raw)
        .optional()
        .map_err(q(what))?
        .map(token)
        .transpose()
}

pub(crate) fn revoke(c: &mut Connection, name: &str, at: Timestamp) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, time_to_us(at)],
        )
        .map_err(q("revoking a token"))?;
    Ok(n > 0)
}

// Remotes of `proxctl serve` (the same small-table pattern as tokens).

type RawRemote = (String, String, Option<String>, String, String, i64);

pub(crate) fn remote_insert(c: &mut Connection, r: &proxctl_state::RemoteDef) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO remotes (name, url, fingerprint, token_id, secret_ref, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                r.name,
                r.url,
                r.fingerprint,
                r.token_id,
                r.secret_ref,
                time_to_us(r.created_at)
            ],
        )
        .map_err(q("storing a remote"))?;
    Ok(n == 1)
}

pub(crate) fn remotes(c: &mut Connection) -> Result<Vec<proxctl_state::RemoteDef>> {
    let what = "listing remotes";
    let mut st = c
        .prepare("SELECT name, url, fingerprint, token_id, secret_ref, created_at FROM remotes ORDER BY name")
        .map_err(q(what))?;
    let rows = st
        .query_map([], |r| -> rusqlite::Result<RawRemote> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .map_err(q(what))?;
    rows.map(|r| {
        let (name, url, fingerprint, token_id, secret_ref, created) = r.map_err(q(what))?;
        let created_at = time_from_us("remote creation time", created)?;
        Ok(proxctl_state::RemoteDef { name, url, fingerprint, token_id, secret_ref, created_at })
    })
    .collect()
}

pub(crate) fn remote_delete(c: &mut Connection, name: &str) -> Result<bool> {
    let n = c
        .execute("DELETE FROM remotes WHERE name = ?1", params![name])
        .map_err(q("removing a remote"))?;
    Ok(n > 0)
}
