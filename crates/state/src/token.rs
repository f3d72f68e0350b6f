//! API tokens of `proxctl serve`: who may call the REST API, with which role and scope. Only a
//! password hash of each secret is stored; the secret itself is shown once, when it is made.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One token, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The public part of the token, which finds its row (`pxt_<id>_<secret>`).
    pub id: String,
    /// A name people choose and revoke by: unique among tokens not revoked.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// A selector limiting the token to the guests it matches; `None` is everything.
    pub scope: Option<String>,
    /// The secret's password hash (a PHC string, e.g. argon2id).
    pub hash: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// Neither revoked nor expired at `now`.
    pub fn usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

impl std::fmt::Debug for ApiToken {
    // The hash is not the secret, but it has no business in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}
