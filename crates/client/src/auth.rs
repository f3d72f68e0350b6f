//! Credentials: API tokens and password logins, and where their secrets come from (environment,
//! a 0600 file, or a hidden prompt — never argv).

use std::fmt;
use std::path::Path;

use proxctl_types::UserId;
use proxctl_types::secret::Secret;

use crate::ClientError;

/// How the client authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// `PVEAPIToken=<user@realm!tokenid>=<secret>`: no ticket, no CSRF.
    Token { token_id: String, secret: Secret },
    /// Password login for a ticket (renewed before its 2 h expiry), with optional TOTP.
    Password { user: UserId, password: Secret, otp: Option<Secret> },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token { token_id, secret } => {
                f.debug_struct("Token").field("token_id", token_id).field("secret", secret).finish()
            }
            Credentials::Password { user, password, otp } => f
                .debug_struct("Password")
                .field("user", user)
                .field("password", password)
                .field("otp", otp)
                .finish(),
        }
    }
}

impl Credentials {
    /// Parse a whole token, `user@realm!tokenid=secret` (split at the last `=`, as PVE does).
    pub fn from_full_token(full: &str) -> Result<Self, ClientError> {
        let (id, secret) = full.rsplit_once('=').ok_or_else(|| {
            ClientError::Config("API token must look like user@realm!tokenid=secret".into())
        })?;
        Self::token(id, Secret::new(secret))
    }

    /// A token from its id (`user@realm!tokenid`) and secret.
    pub fn token(token_id: &str, secret: Secret) -> Result<Self, ClientError> {
        let bad = || {
            ClientError::Config(format!(
                "API token id '{token_id}' must look like user@realm!tokenid (create one with `pveum user token add`)"
            ))
        };
        let (user, name) = token_id.split_once('!').ok_or_else(bad)?;
        UserId::new(user).map_err(|_| bad())?;
        let n = name.as_bytes();
        let name_ok = n.len() >= 2
            && n[0].is_ascii_alphabetic()
            && n.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
        if !name_ok || secret.is_empty() {
            return Err(bad());
        }
        Ok(Credentials::Token { token_id: token_id.to_string(), secret })
    }

    pub fn password(
        user: &str,
        password: Secret,
        otp: Option<Secret>,
    ) -> Result<Self, ClientError> {
        let user = UserId::new(user).map_err(|_| {
            ClientError::Config(format!("user '{user}' must look like user@realm, e.g. root@pam"))
        })?;
        Ok(Credentials::Password { user, password, otp })
    }

    /// The user (or token) name, safe to print.
    pub fn principal(&self) -> String {
        match self {
            Credentials::Token { token_id, .. } => token_id.clone(),
            Credentials::Password { user, .. } => user.to_string(),
        }
    }
}

/// Read a secret from a file that only its owner can read. Trailing newlines are dropped.
pub fn read_secret_file(path: &Path) -> Result<Secret, ClientError> {
    let shown = path.display().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|source| ClientError::SecretFile { path: shown.clone(), source })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ClientError::SecretFilePermissions { path: shown, mode });
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| ClientError::SecretFile { path: shown, source })?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

/// Ask for a secret on the terminal without echoing it.
pub fn prompt_secret(label: &str) -> Result<Secret, ClientError> {
    rpassword::prompt_password(format!("{label}: "))
        .map(Secret::new)
        .map_err(|source| ClientError::SecretFile { path: "<terminal prompt>".into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_token_splits_at_the_last_equals_sign() {
        let c = Credentials::from_full_token("root@pam!ci=1234-abcd").unwrap();
        let Credentials::Token { token_id, secret } = &c else { panic!("token expected") };
        assert_eq!(token_id, "root@pam!ci");
        assert_eq!(secret.expose(), "1234-abcd");
        assert!(!format!("{c:?}").contains("1234-abcd"));
    }

    #[test]
    fn malformed_tokens_and_users_are_config_errors() {
        assert!(Credentials::from_full_token("root@pam=x").is_err());
        assert!(Credentials::from_full_token("root!ci=x").is_err());
        assert!(Credentials::from_full_token("root@pam!ci=").is_err());
        assert!(Credentials::password("root", Secret::new("x"), None).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_readable_by_others_are_refused_with_the_chmod_to_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("proxctl-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_secret_file(&f).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&f).unwrap().expose(), "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
