//! Dashboard sessions: an API token, checked once at sign-in, exchanged for a random session
//! id carried in an HttpOnly, Secure, SameSite=Strict cookie, with a CSRF token of its own.
//! Sessions live in this instance's memory (only a SHA-256 of each id is kept as the key); every
//! request re-checks the token, so revoking it ends its sessions within seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use proxctl_types::secret::Secret;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The cookie's name. `__Host-` makes browsers insist on Secure, `Path=/` and no `Domain`.
pub const COOKIE: &str = "__Host-proxctl-session";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; signing in beyond that ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token it signed in with, re-checked on every request.
    pub token: Secret,
    /// What forms and htmx requests must send back.
    pub csrf: String,
    pub created: Instant,
    pub last_used: Instant,
}

/// The sessions of this instance.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<[u8; 32], Session>>,
}

fn random() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Start a session for a token already checked; returns the cookie's value.
    pub fn create(&self, token: Secret) -> String {
        let id = random();
        let now = Instant::now();
        let s = Session { token, csrf: random(), created: now, last_used: now };
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, s| live(s, now));
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
        {
            m.remove(&oldest);
        }
        m.insert(key(&id), s);
        id
    }

    /// The live session a cookie names, marked as used now.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(id);
        match m.get_mut(&k) {
            Some(s) if live(s, now) => {
                s.last_used = now;
                Some(s.clone())
            }
            Some(_) => {
                m.remove(&k);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner()).remove(&key(id));
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_used) < IDLE && now.duration_since(s.created) < ABSOLUTE
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

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_on_sign_out() {
        let s = Sessions::default();
        let id = s.create(Secret::new("pxt_x"));
        let got = s.touch(&id).unwrap();
        assert_eq!(got.token.expose(), "pxt_x");
        assert!(got.csrf.len() >= 40);
        assert!(s.touch("other").is_none());
        s.end(&id);
        assert!(s.touch(&id).is_none());
    }

    #[test]
    fn an_idle_or_old_session_is_not_live() {
        let now = Instant::now();
        let fresh =
            Session { token: Secret::new(""), csrf: String::new(), created: now, last_used: now };
        assert!(live(&fresh, now));
        assert!(!live(&fresh, now + IDLE));
        let busy = Session { last_used: now + ABSOLUTE, ..fresh };
        assert!(!live(&busy, now + ABSOLUTE), "used a second ago but signed in 12 hours ago");
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
