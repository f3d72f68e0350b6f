//! Client settings, and how they are read from the environment (`PROXCTL_*`, with the `PVE_*`
//! names older Proxmox scripts used as fallbacks).

use std::path::PathBuf;
use std::time::Duration;

use proxctl_types::secret::Secret;

use crate::ClientError;
use crate::auth::{Credentials, read_secret_file};
use crate::retry::{PollPolicy, RetryPolicy};
use crate::tls::TlsMode;

/// Everything needed to build a `Client`.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL, e.g. `https://pve.example.com:8006`.
    pub url: String,
    pub credentials: Option<Credentials>,
    pub tls: TlsMode,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
    /// At most this many requests in flight at once.
    pub max_in_flight: usize,
    /// At most this many requests per second (none: unlimited).
    pub requests_per_second: Option<f64>,
    /// Renew the ticket once it is this old; PVE tickets live 2 h.
    pub ticket_renew_after: Duration,
    pub default_node: Option<String>,
    pub default_storage: Option<String>,
    /// Send no request that changes state; such requests fail with `ClientError::DryRun`
    /// carrying the exact call.
    pub dry_run: bool,
}

impl ClientSettings {
    pub fn new(url: &str) -> Result<Self, ClientError> {
        Ok(Self {
            url: normalize_url(url)?,
            credentials: None,
            tls: TlsMode::Verify,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            max_in_flight: 8,
            requests_per_second: None,
            ticket_renew_after: Duration::from_secs(90 * 60),
            default_node: None,
            default_storage: None,
            dry_run: false,
        })
    }

    /// Read settings from environment variables through `get` (so tests need not touch the
    /// process environment). `None` when no URL is set at all.
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ClientError> {
        let var = |names: &[&str]| names.iter().find_map(|n| get(n).filter(|v| !v.is_empty()));
        let Some(url) = var(&["PROXCTL_URL", "PVE_HOST"]) else {
            return Ok(None);
        };
        let mut s = Self::new(&url)?;
        s.credentials = credentials_from_env(&var)?;
        if let Some(fp) = var(&["PROXCTL_FINGERPRINT"]) {
            s.tls = TlsMode::Pin(fp.parse()?);
        } else if let Some(ca) = var(&["PROXCTL_CA_FILE"]) {
            s.tls = TlsMode::VerifyWithCa(PathBuf::from(ca));
        }
        if var(&["PROXCTL_INSECURE"]).is_some_and(|v| is_truthy(&v)) {
            s.tls = TlsMode::Insecure;
        }
        s.default_node = var(&["PROXCTL_NODE", "NODE_NAME"]);
        s.default_storage = var(&["PROXCTL_STORAGE", "STORAGE_NAME"]);
        Ok(Some(s))
    }
}

fn credentials_from_env(
    var: &dyn Fn(&[&str]) -> Option<String>,
) -> Result<Option<Credentials>, ClientError> {
    if let Some(full) = var(&["PROXCTL_TOKEN"]) {
        return Credentials::from_full_token(&full).map(Some);
    }
    if let Some(id) = var(&["PROXCTL_TOKEN_ID"]) {
        let secret = match (var(&["PROXCTL_TOKEN_SECRET"]), var(&["PROXCTL_TOKEN_SECRET_FILE"])) {
            (Some(s), _) => Secret::new(s),
            (None, Some(f)) => read_secret_file(f.as_ref())?,
            (None, None) => {
                return Err(ClientError::Config(
                    "PROXCTL_TOKEN_ID is set but neither PROXCTL_TOKEN_SECRET nor PROXCTL_TOKEN_SECRET_FILE is".into(),
                ));
            }
        };
        return Credentials::token(&id, secret).map(Some);
    }
    if let Some(user) = var(&["PROXCTL_USER", "PVE_USER"]) {
        let password =
            match (var(&["PROXCTL_PASSWORD", "PVE_PASSWORD"]), var(&["PROXCTL_PASSWORD_FILE"])) {
                (Some(p), _) => Secret::new(p),
                (None, Some(f)) => read_secret_file(f.as_ref())?,
                // The caller may still prompt for it.
                (None, None) => return Ok(None),
            };
        let otp = var(&["PROXCTL_OTP"]).map(Secret::new);
        return Credentials::password(&user, password, otp).map(Some);
    }
    Ok(None)
}

fn is_truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// `pve.example.com` → `https://pve.example.com:8006`; explicit URLs keep their scheme and port;
/// a trailing `/` or `/api2/json` is dropped.
pub fn normalize_url(input: &str) -> Result<String, ClientError> {
    if has_userinfo(input) {
        // Never echo it: the part before '@' may be a password.
        return Err(ClientError::Config(format!(
            "the PVE URL {} holds a user name or password before '@'; proxctl takes no \
             credentials in URLs: set PROXCTL_TOKEN, or PROXCTL_USER and PROXCTL_PASSWORD_FILE",
            redact_url(input)
        )));
    }
    if input.trim().to_ascii_lowercase().starts_with("http://") {
        return Err(ClientError::Config(format!(
            "{} is plain http, but PVE serves its API over HTTPS only (port 8006); use {}",
            input.trim(),
            input.trim().replacen("http://", "https://", 1)
        )));
    }
    let s = input.trim().trim_end_matches('/');
    let s = s.strip_suffix("/api2/json").unwrap_or(s);
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        let has_port = s
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
            && !s.ends_with(']');
        if has_port { format!("https://{s}") } else { format!("https://{s}:8006") }
    };
    let ok = (with_scheme.starts_with("https://") || with_scheme.starts_with("http://"))
        && with_scheme.split("://").nth(1).is_some_and(|h| !h.is_empty() && !h.contains(' '));
    if !ok {
        return Err(ClientError::Config(format!(
            "URL '{input}' is not usable; give the node like https://pve.example.com:8006"
        )));
    }
    Ok(with_scheme)
}

/// Whether a URL's authority holds user-info (`user[:password]@`).
fn has_userinfo(url: &str) -> bool {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// `url` with any user-info replaced by `***`, for messages and `config show`.
pub fn redact_url(url: &str) -> String {
    if !has_userinfo(url) {
        return url.to_string();
    }
    let (scheme, rest) = url.trim().split_once("://").map_or(("", url.trim()), |(s, r)| (s, r));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let prefix = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{prefix}***@{host}{path}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_urls_are_refused_without_echo_and_http_is_explained() {
        let e =
            super::normalize_url("https://root:Hunter2-X@pve.lan:8006").unwrap_err().to_string();
        assert!(!e.contains("Hunter2") && !e.contains("root:"), "{e}");
        assert!(e.contains("https://***@pve.lan:8006") && e.contains("PROXCTL_TOKEN"), "{e}");
        assert!(super::normalize_url("root@pve.lan").is_err());
        let e = super::normalize_url("http://pve.lan:8006").unwrap_err().to_string();
        assert!(e.contains("HTTPS only") && e.contains("use https://pve.lan:8006"), "{e}");
        assert_eq!(
            super::redact_url("https://pve.lan/x@y"),
            "https://pve.lan/x@y",
            "@ in a path is fine"
        );
    }

    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn urls_get_https_and_the_pve_port_by_default() {
        assert_eq!(normalize_url("pve.lan").unwrap(), "https://pve.lan:8006");
        assert_eq!(normalize_url("pve.lan:443").unwrap(), "https://pve.lan:443");
        assert_eq!(
            normalize_url("https://pve.lan:8006/api2/json/").unwrap(),
            "https://pve.lan:8006"
        );
        assert!(normalize_url("ftp://x").is_err());
    }

    #[test]
    fn proxctl_token_wins_and_secret_stays_out_of_debug() {
        let s = ClientSettings::from_env(&env(&[
            ("PROXCTL_URL", "pve.lan"),
            ("PROXCTL_TOKEN", "root@pam!ci=SEKRIT-1"),
            ("PVE_USER", "root@pam"),
            ("PVE_PASSWORD", "SEKRIT-2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.credentials.as_ref().unwrap().principal(), "root@pam!ci");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("SEKRIT"), "{dbg}");
    }

    #[test]
    fn legacy_pve_names_are_fallbacks() {
        let s = ClientSettings::from_env(&env(&[
            ("PVE_HOST", "old.lan"),
            ("PVE_USER", "root@pam"),
            ("PVE_PASSWORD", "pw"),
            ("NODE_NAME", "pve2"),
            ("STORAGE_NAME", "tank"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "https://old.lan:8006");
        assert_eq!(s.credentials.unwrap().principal(), "root@pam");
        assert_eq!(s.default_node.as_deref(), Some("pve2"));
        assert_eq!(s.default_storage.as_deref(), Some("tank"));
    }

    #[test]
    fn split_token_id_and_secret_and_tls_flags() {
        let s = ClientSettings::from_env(&env(&[
            ("PROXCTL_URL", "https://pve:8006"),
            ("PROXCTL_TOKEN_ID", "ops@pve!deploy"),
            ("PROXCTL_TOKEN_SECRET", "x-y"),
            ("PROXCTL_FINGERPRINT", &"0a".repeat(32)),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.credentials.unwrap().principal(), "ops@pve!deploy");
        assert!(matches!(s.tls, TlsMode::Pin(_)));
        let s =
            ClientSettings::from_env(&env(&[("PROXCTL_URL", "pve"), ("PROXCTL_INSECURE", "1")]))
                .unwrap()
                .unwrap();
        assert_eq!(s.tls, TlsMode::Insecure);
        assert!(ClientSettings::from_env(&env(&[])).unwrap().is_none());
        assert!(
            ClientSettings::from_env(&env(&[
                ("PROXCTL_URL", "pve"),
                ("PROXCTL_TOKEN_ID", "a@b!cd")
            ]))
            .is_err()
        );
    }
}
