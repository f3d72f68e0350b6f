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
    /// A user's token made through `/access`: what it may do comes from the ACLs.
    Acl,
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
    /// root@pam's TOTP key (raw bytes): with it, password logins need a second step (§2.2).
    pub totp_key: Option<Secret>,
    key: Vec<u8>,
}

/// The `!tfa!` user part of a half-ticket, which is no user and so opens nothing but step two.
const TFA_PREFIX: &str = "!tfa!";

impl AuthDb {
    pub fn new(root_password: Secret, tokens: Vec<SimToken>, key: Vec<u8>) -> Self {
        Self { root_password, tokens, totp_key: None, key }
    }

    /// Whether a password login by `user` needs a TOTP code.
    pub fn needs_tfa(&self, user: &str) -> bool {
        user == "root@pam" && self.totp_key.is_some()
    }

    /// The half-ticket of PVE's TFA login: `PVE:!tfa!<challenge-json>:<time>::<sig>`.
    pub fn issue_tfa_challenge(&self, user: &str, now_s: u64) -> String {
        let challenge = serde_json::json!({ "user": user, "totp": true });
        self.issue_ticket(&format!("{TFA_PREFIX}{challenge}"), now_s)
    }

    /// Step two: the half-ticket must be ours, recent and for `user`, and `password` must be
    /// `totp:<code>` with the code of this 30 s step or an adjacent one (clock skew).
    pub fn check_tfa(&self, user: &str, challenge: &str, password: &str, now_s: u64) -> bool {
        let for_user = self
            .verify_ticket(challenge, now_s)
            .and_then(|u| u.strip_prefix(TFA_PREFIX).map(String::from))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
            .is_some_and(|v| v["user"] == user);
        let (Some(key), Some(code)) = (&self.totp_key, password.strip_prefix("totp:")) else {
            return false;
        };
        for_user
            && [now_s.saturating_sub(30), now_s, now_s + 30]
                .iter()
                .any(|t| totp(key.expose().as_bytes(), *t) == code)
    }

    /// The server's signature over `data`, for tickets of its own making (console tickets).
    pub fn sign_b64(&self, data: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.sign(data))
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

    /// The user a ticket belongs to, if it is ours and younger than `lifetime_s` (a fault can
    /// shorten PVE's two hours to rehearse expiry).
    pub fn verify_ticket_within(
        &self,
        ticket: &str,
        now_s: u64,
        lifetime_s: i64,
    ) -> Option<String> {
        let user = self.verify_ticket(ticket, now_s)?;
        let time = ticket.split_once("::")?.0.rsplit_once(':')?.1;
        let age = now_s as i64 - i64::from_str_radix(time, 16).ok()?;
        (age <= lifetime_s).then_some(user)
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
        let (id, secret) = token_header_parts(header)?;
        let t = self.tokens.iter().find(|t| t.id == id && t.secret.expose() == secret)?;
        Some(Principal { user: t.id.clone(), role: t.role, via_ticket: false })
    }
}

/// `(USER@REALM!TOKENID, SECRET)` from `PVEAPIToken=USER@REALM!TOKENID=SECRET` (a space may
/// replace the first `=`).
pub fn token_header_parts(header: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(header).decode_utf8_lossy().into_owned();
    let v = decoded.split(';').next()?.trim();
    let rest = v.strip_prefix("PVEAPIToken=").or_else(|| v.strip_prefix("PVEAPIToken "))?;
    let (id, secret) = rest.rsplit_once('=')?;
    Some((id.to_string(), secret.to_string()))
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

/// RFC 6238 TOTP: HMAC-SHA1 over the 30 s step counter, dynamically truncated to 6 digits.
pub fn totp(key: &[u8], unix_s: u64) -> String {
    let mac = hmac_sha1(key, &(unix_s / 30).to_be_bytes());
    let off = usize::from(mac[19] & 0x0f);
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// RFC 2104 HMAC with SHA-1 (64-byte blocks).
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&sha1::Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = sha1::Sha1::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    sha1::Sha1::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

#[cfg(test)]
mod totp_tests {
    use super::*;

    #[test]
    fn totp_matches_the_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, key "12345678901234567890", last 6 of the 8 digits.
        let key = b"12345678901234567890";
        for (t, want) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(totp(key, t), want, "T={t}");
        }
    }

    #[test]
    fn a_half_ticket_opens_only_step_two_for_its_user_with_a_current_code() {
        let mut db = AuthDb::new(Secret::new("pw"), Vec::new(), b"k".to_vec());
        db.totp_key = Some(Secret::new("12345678901234567890"));
        let now = 1_800_000_000;
        let half = db.issue_tfa_challenge("root@pam", now);
        let code = totp(b"12345678901234567890", now);
        assert!(db.check_tfa("root@pam", &half, &format!("totp:{code}"), now + 10));
        assert!(!db.check_tfa("root@pam", &half, "totp:000000", now), "a wrong code");
        assert!(!db.check_tfa("other@pve", &half, &format!("totp:{code}"), now), "another user");
        assert!(!db.check_tfa("root@pam", &half, &format!("totp:{code}"), now + 120), "too late");
        let full = db.issue_ticket("root@pam", now);
        assert!(
            !db.check_tfa("root@pam", &full, &format!("totp:{code}"), now),
            "not a half-ticket"
        );
        assert_ne!(db.verify_ticket(&half, now).as_deref(), Some("root@pam"), "not a ticket");
    }
}
