//! Who is calling, and what they may do: API tokens (`pxt_<id>_<secret>`, only an argon2 hash
//! of which is stored), the built-in roles, the privilege each route declares, and a token's
//! scope (a selector limiting it to some guests, as Datacenter Manager's ACL paths do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use proxctl_ops::state::StateHandle;
use proxctl_state::ApiToken;
use proxctl_types::secret::Secret;
use proxctl_types::selector::{Selector, Subject};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a route needs. Every route declares one (a test walks the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Privilege {
    /// Liveness and readiness probes only.
    Public,
    /// Look at anything in the token's scope.
    Read,
    /// Power actions, snapshots, backups, tags, bulk actions.
    Operate,
    /// Everything else: create, change, delete, apply, tokens.
    Admin,
}

pub use proxctl_ops::role::Role;

/// Whether `role` may use a route that needs `p`.
pub fn allows(role: Role, p: Privilege) -> bool {
    let rank = match role {
        Role::Viewer => Privilege::Read,
        Role::Operator => Privilege::Operate,
        Role::Admin => Privilege::Admin,
    };
    p <= rank
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name: the actor in the audit log.
    pub name: String,
    pub role: Role,
    pub scope: Option<Selector>,
}

impl Caller {
    /// Whether the token's scope covers a guest (no scope covers all).
    pub fn sees(&self, s: &Subject<'_>) -> bool {
        self.scope.as_ref().is_none_or(|sel| sel.matches(s))
    }

    /// `sel`, narrowed to the token's scope.
    pub fn within(&self, sel: Selector) -> Selector {
        match &self.scope {
            None => sel,
            Some(scope) => Selector::And(Box::new(sel), Box::new(scope.clone())),
        }
    }

    /// Refuse a scoped token on a route that cannot keep to a scope: it shows or changes the
    /// whole cluster (manifests, the audit log, tokens).
    pub fn unscoped(&self, what: &str) -> Result<(), crate::problem::Problem> {
        match &self.scope {
            None => Ok(()),
            Some(_) => Err(crate::problem::Problem::forbidden(format!(
                "token '{}' is limited to a scope; {what} needs a token without one",
                self.name
            ))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not valid, or has expired or been revoked")]
    Invalid,
    #[error("the state store cannot be read to check the token")]
    Store(#[source] proxctl_ops::OpsError),
    #[error(
        "too many failed attempts with this token id; wait a minute (a token that leaked \
         should be revoked with `proxctl token revoke`)"
    )]
    TooManyFailures,
}

/// A new token: what to store, and the secret to show once.
#[derive(Debug)]
pub struct Minted {
    pub token: ApiToken,
    pub secret: Secret,
}

/// Make a token. The secret is 256 random bits; the id finds its row.
pub fn mint(
    name: &str,
    role: Role,
    scope: Option<&str>,
    expires_at: Option<jiff::Timestamp>,
    created_by: &str,
) -> Result<Minted, String> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "token name '{name}' must be 1-64 characters of letters, digits, '-', '_' or '.'"
        ));
    }
    if let Some(s) = scope {
        s.parse::<Selector>().map_err(|e| format!("scope '{s}': {e}"))?;
    }
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    rng.fill_bytes(&mut id);
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_secret(&secret)?;
    Ok(Minted {
        token: ApiToken {
            id: id.clone(),
            name: name.to_string(),
            role: role.as_str().to_string(),
            scope: scope.map(String::from),
            hash,
            created_by: created_by.to_string(),
            created_at: jiff::Timestamp::now(),
            expires_at,
            revoked_at: None,
        },
        secret: Secret::new(format!("pxt_{id}_{secret}")),
    })
}

fn hash_secret(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the token: {e}"))
}

/// `pxt_<id>_<secret>` → (id, secret).
/// The id part of a presented token (`pxt_<id>_<secret>`), which is not secret.
pub fn token_id(presented: &str) -> Option<&str> {
    split(presented).map(|(id, _)| id)
}

fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("pxt_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

/// How long a verified token is trusted before its row is read again: a revocation on any
/// instance takes effect within this long. (Verifying the hash on every request would cost
/// tens of milliseconds of CPU each, by design of the hash.)
const RECHECK: Duration = Duration::from_secs(5);

/// Wrong secrets allowed per token id within [`FAILURE_WINDOW`] before the id is refused
/// without hashing: each check costs tens of milliseconds of CPU by design, so unlimited
/// guesses would be a way to stop the server.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Hashes checked at once; the rest wait, so guesses cannot take every core.
const CONCURRENT_HASHES: usize = 2;

/// Checks tokens against the store, remembering recent successes.
#[derive(Debug)]
pub struct Authenticator {
    state: Arc<StateHandle>,
    /// SHA-256 of a presented token → the token row and when it was last read.
    verified: Mutex<HashMap<[u8; 32], (ApiToken, Instant)>>,
    /// Token id → its row and when it was read, for sessions.
    by_id: Mutex<HashMap<String, (ApiToken, Instant)>>,
    /// Token id → wrong secrets seen since the window began.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    hashing: tokio::sync::Semaphore,
}

impl Authenticator {
    pub fn new(state: Arc<StateHandle>) -> Self {
        Self {
            state,
            verified: Mutex::default(),
            by_id: Mutex::default(),
            failures: Mutex::default(),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_HASHES),
        }
    }

    fn locked_out(&self, id: &str) -> bool {
        let m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        m.get(id).is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    fn failed(&self, id: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        let e = m.entry(id.to_string()).or_insert((0, Instant::now()));
        e.0 += 1;
        if e.0 == MAX_FAILURES {
            tracing::warn!(
                token_id = id,
                "too many wrong secrets for a token id; refusing it for a minute"
            );
        }
    }

    /// The token's row, read from the store.
    async fn row(&self, id: &str) -> Result<ApiToken, AuthError> {
        let store = self.state.get().await.map_err(AuthError::Store)?;
        store
            .token(id)
            .await
            .map_err(|e| AuthError::Store(proxctl_ops::OpsError::State(e)))?
            .ok_or(AuthError::Invalid)
    }

    /// The caller a presented token stands for.
    pub async fn check(&self, presented: &str) -> Result<Caller, AuthError> {
        let (id, secret) = split(presented).ok_or(AuthError::Invalid)?;
        let key: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let cached = {
            let m = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            m.get(&key).filter(|(_, at)| at.elapsed() < RECHECK).map(|(t, _)| t.clone())
        };
        let token = match cached {
            Some(t) => t,
            None => {
                let row = self.row(id).await?;
                let was_verified = {
                    let m = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                    m.get(&key).is_some_and(|(t, _)| t.hash == row.hash)
                };
                if !was_verified {
                    if self.locked_out(id) {
                        return Err(AuthError::TooManyFailures);
                    }
                    let _permit = self.hashing.acquire().await.map_err(|_| AuthError::Invalid)?;
                    let secret = secret.to_string();
                    let hash = row.hash.clone();
                    // Argon2 is deliberately slow: keep it off the async workers.
                    let ok = tokio::task::spawn_blocking(move || {
                        PasswordHash::new(&hash).is_ok_and(|h| {
                            Argon2::default().verify_password(secret.as_bytes(), &h).is_ok()
                        })
                    })
                    .await
                    .unwrap_or(false);
                    if !ok {
                        self.failed(id);
                        return Err(AuthError::Invalid);
                    }
                }
                let mut m = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                m.retain(|_, (_, at)| at.elapsed() < RECHECK * 12);
                m.insert(key, (row.clone(), Instant::now()));
                row
            }
        };
        caller_of(token)
    }

    /// The caller a token stands for by its id alone, for a dashboard session whose sign-in
    /// checked the secret: the row is read again (at most every [`RECHECK`]), so a revoked
    /// or expired token ends its sessions on every instance.
    pub async fn by_id(&self, id: &str) -> Result<Caller, AuthError> {
        let cached = {
            let m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
            m.get(id).filter(|(_, at)| at.elapsed() < RECHECK).map(|(t, _)| t.clone())
        };
        let token = match cached {
            Some(t) => t,
            None => {
                let row = self.row(id).await?;
                let mut m = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
                m.retain(|_, (_, at)| at.elapsed() < RECHECK * 12);
                m.insert(id.to_string(), (row.clone(), Instant::now()));
                row
            }
        };
        caller_of(token)
    }
}

/// The caller a token row stands for, if it is still usable.
fn caller_of(token: ApiToken) -> Result<Caller, AuthError> {
    if !token.usable(jiff::Timestamp::now()) {
        return Err(AuthError::Invalid);
    }
    let role = token.role.parse::<Role>().map_err(|_| AuthError::Invalid)?;
    let scope = match &token.scope {
        Some(s) => Some(s.parse::<Selector>().map_err(|_| AuthError::Invalid)?),
        None => None,
    };
    Ok(Caller { name: token.name, role, scope })
}

/// The token in an `Authorization` header: `Bearer <token>`, or Basic with the token as the
/// password (so a browser can open the API reference page).
pub fn presented(header: &str) -> Option<String> {
    if let Some(t) = header.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let b = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_allow_their_privileges_and_those_below() {
        use Privilege::*;
        assert!(allows(Role::Viewer, Read) && !allows(Role::Viewer, Operate));
        assert!(allows(Role::Operator, Operate) && !allows(Role::Operator, Admin));
        assert!(allows(Role::Admin, Admin) && allows(Role::Admin, Public));
    }

    #[test]
    fn a_minted_token_verifies_and_its_debug_output_holds_no_secret() {
        let m = mint("ci", Role::Viewer, Some("web"), None, "test").unwrap();
        let text = m.secret.expose().to_string();
        let (id, secret) = split(&text).unwrap();
        assert_eq!(id, m.token.id);
        let h = PasswordHash::new(&m.token.hash).unwrap();
        assert!(Argon2::default().verify_password(secret.as_bytes(), &h).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &h).is_err());
        assert!(!format!("{m:?}").contains(secret), "Debug shows no secret");
        assert!(!m.token.hash.contains(secret));
    }

    #[test]
    fn bad_names_scopes_and_token_shapes_are_refused() {
        assert!(mint("", Role::Admin, None, None, "t").is_err());
        assert!(mint("a b", Role::Admin, None, None, "t").is_err());
        assert!(mint("ok", Role::Admin, Some("(web"), None, "t").is_err());
        for bad in ["", "pxt_", "pxt_zz_x", "pxt_0123456789ab_", "Bearer x", "pxt_0123456789ab"] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bearer_and_basic_headers_both_carry_the_token() {
        assert_eq!(presented("Bearer pxt_x").as_deref(), Some("pxt_x"));
        let b = base64::engine::general_purpose::STANDARD.encode("any:pxt_y");
        assert_eq!(presented(&format!("Basic {b}")).as_deref(), Some("pxt_y"));
        assert_eq!(presented("Digest abc"), None);
    }
}
