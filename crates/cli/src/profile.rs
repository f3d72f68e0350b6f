//! `~/.config/proxctl/config.toml`: named profiles (dev, staging, prod) and the current one.
//! A file that holds a secret must be private to its owner, or it is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::UserError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One profile. Secrets are referenced (`env:NAME`, `file:PATH`, `prompt`), or stored inline in
/// `secret`, which makes the whole file private.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub node: Option<String>,
    pub storage: Option<String>,
    pub bridge: Option<String>,
    /// `token` or `password`.
    pub auth: Option<String>,
    pub token_id: Option<String>,
    pub user: Option<String>,
    /// Where the token secret or password comes from: `env:NAME`, `file:PATH` or `prompt`.
    pub secret_from: Option<String>,
    /// An inline secret. Allowed only in a file nobody else can read.
    pub secret: Option<String>,
    pub fingerprint: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub retries: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub max_in_flight: Option<usize>,
    pub output: Option<String>,
    /// State store: a path, sqlite://PATH or postgres://USER@HOST/DB.
    pub state: Option<String>,
    /// Mutations touch only guests proxctl manages, unless --force.
    pub safe_mode: Option<bool>,
    /// Also append every audit row, as JSON, to this file.
    pub audit_file: Option<PathBuf>,
    /// Also send every audit row to this syslog socket, e.g. /dev/log.
    pub audit_syslog: Option<PathBuf>,
    /// `strict` (the default: a change the audit log cannot record is not made) or
    /// `best-effort` (made anyway, with a warning on every run).
    pub audit: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("token_id", &self.token_id)
            .field("user", &self.user)
            .field("secret_from", &self.secret_from)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Set one profile key from text, as `proxctl config set KEY VALUE` does.
pub fn set_key(p: &mut Profile, key: &str, value: &str) -> Result<(), UserError> {
    let num = |what: &str| UserError(format!("{key} must be {what}, not '{value}'"));
    match key {
        "url" => p.url = Some(value.into()),
        "node" => p.node = Some(value.into()),
        "storage" => p.storage = Some(value.into()),
        "bridge" => p.bridge = Some(value.into()),
        "auth" if value == "token" || value == "password" => p.auth = Some(value.into()),
        "auth" => return Err(UserError(format!("auth must be token or password, not '{value}'"))),
        "token_id" => p.token_id = Some(value.into()),
        "user" => p.user = Some(value.into()),
        "secret_from" => p.secret_from = Some(value.into()),
        "fingerprint" => p.fingerprint = Some(value.into()),
        "ca_file" => p.ca_file = Some(value.into()),
        "insecure" => p.insecure = Some(value.parse().map_err(|_| num("true or false"))?),
        "timeout_secs" => {
            p.timeout_secs = Some(value.parse().map_err(|_| num("a number of seconds"))?)
        }
        "retries" => p.retries = Some(value.parse().map_err(|_| num("a whole number"))?),
        "requests_per_second" => {
            p.requests_per_second = Some(value.parse().map_err(|_| num("a number"))?)
        }
        "max_in_flight" => {
            p.max_in_flight = Some(value.parse().map_err(|_| num("a whole number"))?)
        }
        "output" => p.output = Some(value.into()),
        "state" => p.state = Some(value.into()),
        "safe_mode" => p.safe_mode = Some(value.parse().map_err(|_| num("true or false"))?),
        "audit_file" => p.audit_file = Some(value.into()),
        "audit_syslog" => p.audit_syslog = Some(value.into()),
        "audit" => {
            value.parse::<proxctl_ops::audit::AuditPolicy>().map_err(UserError)?;
            p.audit = Some(value.into());
        }
        "secret" => {
            return Err(UserError(
                "secrets are not set from the command line (it would land in shell history); use secret_from = env:NAME, file:PATH or prompt".into(),
            ));
        }
        other => return Err(UserError(format!("unknown profile key '{other}'"))),
    }
    Ok(())
}

/// `$PROXCTL_CONFIG`, else `$XDG_CONFIG_HOME/proxctl/config.toml`, else `~/.config/proxctl/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROXCTL_CONFIG") {
        return Some(p.into());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("proxctl").join("config.toml"))
}

/// Load the file; a missing file is an empty configuration.
pub fn load(path: &Path) -> Result<ConfigFile, UserError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(UserError(format!("cannot read {}: {e}", path.display()))),
    };
    let cfg: ConfigFile = toml::from_str(&text)
        .map_err(|e| UserError(format!("{} is not a valid proxctl config: {e}", path.display())))?;
    // A PostgreSQL URL may carry a password, which makes it a secret too.
    let pg_password = |p: &Profile| {
        p.state.as_deref().and_then(|u| u.split_once("://")).is_some_and(|(scheme, rest)| {
            scheme.starts_with("postgres")
                && rest.split_once('@').is_some_and(|(user, _)| user.contains(':'))
        })
    };
    if cfg.profiles.values().any(|p| p.secret.is_some() || pg_password(p)) {
        check_private(path)?;
    }
    Ok(cfg)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), UserError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    if mode & 0o077 != 0 {
        return Err(UserError(format!(
            "{} holds a secret but is readable by others (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), UserError> {
    Ok(())
}

/// Write the file with owner-only permissions.
pub fn save(path: &Path, cfg: &ConfigFile) -> Result<(), UserError> {
    let text =
        toml::to_string_pretty(cfg).map_err(|e| UserError(format!("cannot encode config: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| UserError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| UserError(format!("cannot write {}: {e}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, path)
        .map_err(|e| UserError(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_unknown_keys_are_refused() {
        let c: ConfigFile = toml::from_str(
            "current = \"dev\"\n[profiles.dev]\nurl = \"https://pve:8006\"\nauth = \"token\"\ntoken_id = \"root@pam!ci\"\nsecret_from = \"env:CI_SECRET\"\n",
        )
        .unwrap();
        assert_eq!(c.profiles["dev"].token_id.as_deref(), Some("root@pam!ci"));
        assert!(toml::from_str::<ConfigFile>("[profiles.dev]\nurll = \"x\"\n").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_with_an_inline_secret_is_refused_with_the_chmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "[profiles.x]\nsecret = \"s3cret\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.0.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&p).is_ok());
        assert!(!format!("{:?}", load(&p).unwrap()).contains("s3cret"));
    }
}
