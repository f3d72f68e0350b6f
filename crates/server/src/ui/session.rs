//! Dashboard sessions: an API token, checked once at sign-in, exchanged for a random session
//! id carried in an HttpOnly, Secure, SameSite=Strict cookie, with a CSRF token of its own.
//! Sessions are documents in the state store, so every instance sharing it knows them (a load
//! balancer needs no sticky sessions) and signing out on one ends the session on all. Only a
//! SHA-256 of the session id is stored, and the token's id, never its secret; every request
//! reads the token's row again (at most every few seconds), so revoking it ends its sessions.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use proxctl_ops::OpsError;
use proxctl_ops::state::StateHandle;
use proxctl_state::document::Document;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cookie's name. `__Host-` makes browsers insist on Secure, `Path=/` and no `Domain`.
pub const COOKIE: &str = "__Host-proxctl-session";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// How stale "last used" may get before it is written again: a write per request would be
/// a write per page view; the idle timeout is this much less exact.
const TOUCH_EVERY: i64 = 60;
/// The state store's document kind.
const KIND: &str = "dashboard-session";
/// Sign-ins that sweep ended sessions out of the store: one in this many.
const SWEEP_EVERY: u32 = 32;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The id of the token it signed in with (not its secret), re-checked on every request.
    pub token_id: String,
    /// What forms and htmx requests must send back.
    pub csrf: String,
    /// Unix seconds.
    pub created: i64,
    pub last_used: i64,
}

/// The sessions, in the state store every instance shares.
#[derive(Debug)]
pub struct Sessions {
    state: Arc<StateHandle>,
}

fn random() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The document id a session id is kept under.
fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Sessions {
    pub fn new(state: Arc<StateHandle>) -> Self {
        Self { state }
    }

    async fn put(&self, k: String, s: &Session) -> Result<(), OpsError> {
        let body = serde_json::to_string(s)
            .map_err(|e| OpsError::Invalid(format!("writing a session: {e}")))?;
        let at = jiff::Timestamp::from_second(s.created).unwrap_or_else(|_| jiff::Timestamp::now());
        let doc = Document {
            kind: KIND.into(),
            id: k,
            body,
            created_at: at,
            updated_at: jiff::Timestamp::now(),
        };
        self.state.get().await?.put_document(&doc).await?;
        Ok(())
    }

    /// Start a session for a token already checked (by its id); returns the cookie's value.
    pub async fn create(&self, token_id: &str) -> Result<String, OpsError> {
        if rand::rng().next_u32() % SWEEP_EVERY == 0 {
            self.sweep().await?;
        }
        let id = random();
        let t = now();
        let s = Session { token_id: token_id.into(), csrf: random(), created: t, last_used: t };
        self.put(key(&id), &s).await?;
        Ok(id)
    }

    /// The live session a cookie names, marked as used now.
    pub async fn touch(&self, id: &str) -> Result<Option<Session>, OpsError> {
        let k = key(id);
        let store = self.state.get().await?;
        let Some(doc) = store.document(KIND, &k).await? else { return Ok(None) };
        let Ok(mut s) = serde_json::from_str::<Session>(&doc.body) else {
            store.delete_document(KIND, &k).await?;
            return Ok(None);
        };
        let t = now();
        if !live(&s, t) {
            store.delete_document(KIND, &k).await?;
            return Ok(None);
        }
        if t - s.last_used >= TOUCH_EVERY {
            s.last_used = t;
            self.put(k, &s).await?;
        }
        Ok(Some(s))
    }

    pub async fn end(&self, id: &str) -> Result<(), OpsError> {
        self.state.get().await?.delete_document(KIND, &key(id)).await?;
        Ok(())
    }

    /// Delete ended sessions (a browser that never signed out leaves one behind).
    async fn sweep(&self) -> Result<(), OpsError> {
        let store = self.state.get().await?;
        let t = now();
        for d in store.documents(KIND, 100_000).await? {
            let ended = serde_json::from_str::<Session>(&d.body).map_or(true, |s| !live(&s, t));
            if ended {
                store.delete_document(KIND, &d.id).await?;
            }
        }
        Ok(())
    }
}

fn live(s: &Session, now: i64) -> bool {
    let (idle, absolute) = (IDLE.as_secs() as i64, ABSOLUTE.as_secs() as i64);
    now - s.last_used < idle && now - s.created < absolute
}

/// The `Set-Cookie` value that stores a session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        ABSOLUTE.as_secs()
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id in a request's `Cookie` headers.
pub fn from_headers(h: &axum::http::HeaderMap) -> Option<String> {
    h.get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Compare secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_on_any_instance_and_ends_on_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let spec = proxctl_ops::state::StateSpec::Sqlite(dir.path().join("s.db"));
        let state = Arc::new(StateHandle::new(spec));
        // Two instances sharing one store.
        let (a, b) = (Sessions::new(Arc::clone(&state)), Sessions::new(state));
        let id = a.create("0123456789ab").await.unwrap();
        let got = b.touch(&id).await.unwrap().unwrap();
        assert_eq!(got.token_id, "0123456789ab");
        assert!(got.csrf.len() >= 40);
        assert!(b.touch("other").await.unwrap().is_none());
        b.end(&id).await.unwrap();
        assert!(a.touch(&id).await.unwrap().is_none());
    }

    #[test]
    fn an_idle_or_old_session_is_not_live() {
        let t = 1_000_000;
        let fresh =
            Session { token_id: String::new(), csrf: String::new(), created: t, last_used: t };
        assert!(live(&fresh, t));
        assert!(!live(&fresh, t + IDLE.as_secs() as i64));
        let absolute = ABSOLUTE.as_secs() as i64;
        let busy = Session { last_used: t + absolute, ..fresh };
        assert!(!live(&busy, t + absolute), "used a second ago but signed in 12 hours ago");
    }

    #[test]
    fn the_cookie_is_read_among_others_and_is_strict() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::COOKIE, format!("a=1; {COOKIE}=abc; b=2").parse().unwrap());
        assert_eq!(from_headers(&h).as_deref(), Some("abc"));
        let c = set_cookie("abc");
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
