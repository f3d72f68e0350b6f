//! API tokens and remotes on PostgreSQL. A unique partial index keeps one live token per name, so
//! instances creating the same name at once cannot both win.

use jiff::Timestamp;
use proxctl_state::{ApiToken, Result, time_from_us, time_to_us};
use tokio_postgres::{Client, Row};

use crate::q;

const COLUMNS: &str = "id, name, role, scope, hash, created_by, created_at, expires_at, revoked_at";

fn token(r: &Row) -> Result<ApiToken> {
    let get = |e: tokio_postgres::Error| proxctl_state::StateError::query("reading a token", e);
    let opt_time = |i: usize, what: &'static str| -> Result<Option<Timestamp>> {
        r.try_get::<_, Option<i64>>(i).map_err(get)?.map(|t| time_from_us(what, t)).transpose()
    };
    Ok(ApiToken {
        id: r.try_get(0).map_err(get)?,
        name: r.try_get(1).map_err(get)?,
        role: r.try_get(2).map_err(get)?,
        scope: r.try_get(3).map_err(get)?,
        hash: r.try_get(4).map_err(get)?,
        created_by: r.try_get(5).map_err(get)?,
        created_at: time_from_us("token creation time", r.try_get(6).map_err(get)?)?,
        expires_at: opt_time(7, "token expiry")?,
        revoked_at: opt_time(8, "token revocation time")?,
    })
}

pub(crate) async fn insert(c: &Client, t: &ApiToken) -> Result<bool> {
    let n = c
        .execute(
            &format!(
                "INSERT INTO api_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT DO NOTHING"
            ),
            &[
                &t.id,
                &t.name,
                &t.role,
                &t.scope,
                &t.hash,
                &t.created_by,
                &time_to_us(t.created_at),
                &t.expires_at.map(time_to_us),
                &t.revoked_at.map(time_to_us),
            ],
        )
        .await
        .map_err(q("storing a token"))?;
    Ok(n == 1)
}

pub(crate) async fn list(c: &Client) -> Result<Vec<ApiToken>> {
    let rows = c
        .query(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id"), &[])
        .await
        .map_err(q("listing tokens"))?;
    rows.iter().map(token).collect()
}

pub(crate) async fn get(c: &Client, id: &str) -> Result<Option<ApiToken>> {
    let row = c
        .query_opt(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"), &[&id])
        .await
        .map_err(q("reading a token"))?;
    row.as_ref().map(token).transpose()
}

pub(crate) async fn revoke(c: &Client, name: &str, at: Timestamp) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            &[&name, &time_to_us(at)],
        )
        .await
        .map_err(q("revoking a token"))?;
    Ok(n > 0)
}

// Remotes of `proxctl serve` (the same small-table pattern as tokens).

pub(crate) async fn remote_insert(c: &Client, r: &proxctl_state::RemoteDef) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO remotes (name, url, fingerprint, token_id, secret_ref, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &r.name,
                &r.url,
                &r.fingerprint,
                &r.token_id,
                &r.secret_ref,
                &time_to_us(r.created_at),
            ],
        )
        .await
        .map_err(q("storing a remote"))?;
    Ok(n == 1)
}

pub(crate) async fn remotes(c: &Client) -> Result<Vec<proxctl_state::RemoteDef>> {
    let rows = c
        .query("SELECT name, url, fingerprint, token_id, secret_ref, created_at FROM remotes ORDER BY name", &[])
        .await
        .map_err(q("listing remotes"))?;
    let get = |e: tokio_postgres::Error| proxctl_state::StateError::query("reading a remote", e);
    rows.iter()
        .map(|r| {
            Ok(proxctl_state::RemoteDef {
                name: r.try_get(0).map_err(get)?,
                url: r.try_get(1).map_err(get)?,
                fingerprint: r.try_get(2).map_err(get)?,
                token_id: r.try_get(3).map_err(get)?,
                secret_ref: r.try_get(4).map_err(get)?,
                created_at: time_from_us("remote creation time", r.try_get(5).map_err(get)?)?,
            })
        })
        .collect()
}

pub(crate) async fn remote_delete(c: &Client, name: &str) -> Result<bool> {
    let n = c
        .execute("DELETE FROM remotes WHERE name = $1", &[&name])
        .await
        .map_err(q("removing a remote"))?;
    Ok(n > 0)
}
