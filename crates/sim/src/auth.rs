//! Authentication as PVE does it (§2): tickets (`PVE:<user>:<hex time>::<sig>`) sent as the
//! `PVEAuthCookie` cookie with a CSRF token on writes, and API tokens. A read-only
//! (PVEAuditor-like) token gets 403 on every write.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use proxctl_types::secret::Secret;
use sha2::{Digest, Sha256};

/// A ticket lives 2 h, with 5 min of clock-skew allowance.
pub const TICKET_LIFETIME_S: i64 = 7200;
pub const TICKET_SKEW_S: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Auditor,
}

#[derive(Debug, Clone)]
pub struct SimToken {
    /// `user@realm!tokenid`.
    pub id: String,
    pub secret: Secret,
    pub role: Role,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `root@pam` or `root@pam!ci`.
    pub user: String,
    pub role: Role,
    pub via_ticket: bool,
}

#[derive(Debug, Clone)]
pub struct AuthDb {
    pub root_password: Secret,
    pub tokens: Vec<SimToken>,
    key: Vec<u8>,
}

impl AuthDb {
    pub fn new(root_password: Secret, tokens: Vec<SimToken>, key: Vec<u8>) -> Self {
        Self { root_password, tokens, key }
    }

    fn sign(&self, data: &str) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(&self.key);
        h.update(data.as_bytes());
        h.finalize().to_vec()
    }

    /// Username/password check for `POST /access/ticket`. Only root@pam has a password.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        user == "root@pam" && password == self.root_password.expose()
    }

    pub fn issue_ticket(&self, user: &str, now_s: u64) -> String {
        let plain = format!("PVE:{}:{:08X}", user.replace(':', "%3A"), now_s);
        // Real PVE signs with RSA-2048 (~344 base64 characters); two digests keep the length
        // in the same range for clients that store tickets.
        let mut sig = self.sign(&plain);
        sig.extend(self.sign(&format!("{plain}#2")));
        format!("{plain}::{}", STANDARD.encode(sig))
    }

    /// The user a ticket belongs to, if it is ours and within its lifetime.
    pub fn verify_ticket(&self, ticket: &str, now_s: u64) -> Option<String> {
        let (plain, sig) = ticket.split_once("::")?;
        let mut want = self.sign(plain);
        want.extend(self.sign(&format!("{plain}#2")));
        if STANDARD.encode(want) != sig {
            return None;
        }
        let rest = plain.strip_prefix("PVE:")?;
        let (user, time) = rest.rsplit_once(':')?;
        let t = i64::from_str_radix(time, 16).ok()?;
        let age = now_s as i64 - t;
        if !(-TICKET_SKEW_S..=TICKET_LIFETIME_S).contains(&age) {
            return None;
        }
        Some(user.replace("%3A", ":"))
    }

    pub fn issue_csrf(&self, user: &str, now_s: u64) -> String {
        let time = format!("{now_s:08X}");
        format!("{time}:{}", STANDARD_NO_PAD.encode(self.sign(&format!("{time}:{user}"))))
    }

    pub fn verify_csrf(&self, token: &str, user: &str, now_s: u64) -> bool {
        let Some((time, sig)) = token.split_once(':') else {
            return false;
        };
        let Ok(t) = i64::from_str_radix(time, 16) else {
            return false;
        };
        let age = now_s as i64 - t;
        (-TICKET_SKEW_S..=TICKET_LIFETIME_S).contains(&age)
            && STANDARD_NO_PAD.encode(self.sign(&format!("{time}:{user}"))) == sig
    }

    /// Parse `PVEAPIToken=USER@REALM!TOKENID=SECRET` (a space may replace the first `=`).
    pub fn verify_token_header(&self, header: &str) -> Option<Principal> {
        let decoded = percent_encoding::percent_decode_str(header).decode_utf8_lossy().into_owned();
        let v = decoded.split(';').next()?.trim();
        let rest = v.strip_prefix("PVEAPIToken=").or_else(|| v.strip_prefix("PVEAPIToken "))?;
        let (id, secret) = rest.rsplit_once('=')?;
        let t = self.tokens.iter().find(|t| t.id == id && t.secret.expose() == secret)?;
        Some(Principal { user: t.id.clone(), role: t.role, via_ticket: false })
    }
}

/// The `PVEAuthCookie` value from a Cookie header. The name must start the header or follow
/// whitespace: `a=b;PVEAuthCookie=x` is not recognised, as in PVE.
pub fn cookie_ticket(cookie: &str) -> Option<String> {
    let idx = cookie.find("PVEAuthCookie=")?;
    if idx > 0 && !cookie[..idx].ends_with(char::is_whitespace) {
        return None;
    }
    let v = &cookie[idx + "PVEAuthCookie=".len()..];
    let v = v.split(';').next().unwrap_or("").trim_matches('"');
    Some(percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> AuthDb {
        AuthDb::new(
            Secret::new("pw"),
            vec![SimToken {
                id: "root@pam!ci".into(),
                secret: Secret::new("s-1"),
                role: Role::Admin,
            }],
            b"key".to_vec(),
        )
    }

    #[test]
    fn tickets_verify_within_two_hours_and_expire_after() {
        let d = db();
        let t = d.issue_ticket("root@pam", 1_000_000);
        assert!(t.starts_with("PVE:root@pam:000F4240::"));
        assert_eq!(d.verify_ticket(&t, 1_000_000 + 7200).as_deref(), Some("root@pam"));
        assert!(d.verify_ticket(&t, 1_000_000 + 7201).is_none());
        assert!(d.verify_ticket(&t.replace("root", "evil"), 1_000_000).is_none());
    }

    #[test]
    fn csrf_tokens_are_43_characters_and_bound_to_the_user() {
        let d = db();
        let c = d.issue_csrf("root@pam", 1_000_000);
        assert_eq!(c.split_once(':').unwrap().1.len(), 43);
        assert!(d.verify_csrf(&c, "root@pam", 1_000_100));
        assert!(!d.verify_csrf(&c, "other@pve", 1_000_100));
    }

    #[test]
    fn token_header_accepts_both_separators_and_rejects_bad_secrets() {
        let d = db();
        assert!(d.verify_token_header("PVEAPIToken=root@pam!ci=s-1").is_some());
        assert!(d.verify_token_header("PVEAPIToken root@pam!ci=s-1").is_some());
        assert!(d.verify_token_header("PVEAPIToken=root@pam!ci=nope").is_none());
    }

    #[test]
    fn cookie_name_must_start_the_header_or_follow_whitespace() {
        assert_eq!(cookie_ticket("PVEAuthCookie=PVE%3Aa").as_deref(), Some("PVE:a"));
        assert_eq!(cookie_ticket("x=1; PVEAuthCookie=abc").as_deref(), Some("abc"));
        assert!(cookie_ticket("x=1;PVEAuthCookie=abc").is_none());
    }
}
