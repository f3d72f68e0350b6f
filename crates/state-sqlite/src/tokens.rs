//! API tokens on SQLite. A unique partial index keeps one live token per name, so two
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
