//! Which state store to use and opening it: a path or `sqlite://PATH` for SQLite (the default,
//! under the XDG data directory), `postgres://…` for PostgreSQL. Opened lazily, so commands
//! that never need state never touch it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use proxctl_state::StateStore;

use crate::OpsError;

#[derive(Clone, PartialEq, Eq)]
pub enum StateSpec {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StateSpec {
    /// `$XDG_DATA_HOME/proxctl/state.db`, else `~/.local/share/proxctl/state.db`.
    pub fn default_for(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, OpsError> {
        let base = env("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/share"))
            })
            .ok_or_else(|| {
                OpsError::Invalid(
                    "no home directory to keep state in; set --state PATH or PROXCTL_STATE".into(),
                )
            })?;
        Ok(StateSpec::Sqlite(base.join("proxctl").join("state.db")))
    }
}

impl FromStr for StateSpec {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StateSpec::Postgres(s.to_string()));
        }
        let path = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")).unwrap_or(s);
        if path.is_empty() || s.contains("://") && !s.starts_with("sqlite://") {
            return Err(OpsError::Invalid(format!(
                "'{}' is not a state store; use a file path, sqlite://PATH or postgres://USER@HOST/DB",
                redact(s)
            )));
        }
        Ok(StateSpec::Sqlite(PathBuf::from(path)))
    }
}

/// The URL with any password replaced, for messages and `Debug`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl std::fmt::Display for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSpec::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StateSpec::Postgres(u) => f.write_str(&redact(u)),
        }
    }
}

impl std::fmt::Debug for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateSpec({self})")
    }
}

/// Open the store `spec` names, migrating it if needed.
pub async fn open(spec: &StateSpec) -> Result<Arc<dyn StateStore>, OpsError> {
    Ok(match spec {
        StateSpec::Sqlite(p) => Arc::new(proxctl_state_sqlite::SqliteStore::open(p).await?),
        StateSpec::Postgres(u) => {
            Arc::new(proxctl_state_postgres::PostgresStore::connect(u).await?)
        }
    })
}

/// A store opened on first use and shared by everything in one run.
#[derive(Debug)]
pub struct StateHandle {
    spec: StateSpec,
    store: tokio::sync::OnceCell<Arc<dyn StateStore>>,
}

impl StateHandle {
    pub fn new(spec: StateSpec) -> Self {
        Self { spec, store: tokio::sync::OnceCell::new() }
    }

    /// A handle on an already open store (tests, servers).
    pub fn opened(spec: StateSpec, store: Arc<dyn StateStore>) -> Self {
        Self { spec, store: tokio::sync::OnceCell::new_with(Some(store)) }
    }

    pub fn spec(&self) -> &StateSpec {
        &self.spec
    }

    pub async fn get(&self) -> Result<&Arc<dyn StateStore>, OpsError> {
        self.store.get_or_try_init(|| open(&self.spec)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_paths_sqlite_and_postgres_urls() {
        assert_eq!(
            "/tmp/s.db".parse::<StateSpec>().unwrap(),
            StateSpec::Sqlite("/tmp/s.db".into())
        );
        assert_eq!(
            "sqlite:///var/lib/p.db".parse::<StateSpec>().unwrap(),
            StateSpec::Sqlite("/var/lib/p.db".into())
        );
        assert!(matches!(
            "postgres://u@h/db".parse::<StateSpec>().unwrap(),
            StateSpec::Postgres(_)
        ));
        assert!("mysql://h/db".parse::<StateSpec>().is_err());
        assert!("".parse::<StateSpec>().is_err());
    }

    #[test]
    fn postgres_passwords_never_show() {
        let s: StateSpec = "postgres://alice:hunter2@db/proxctl".parse().unwrap();
        assert_eq!(s.to_string(), "postgres://alice:***@db/proxctl");
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = "mysql://bob:hunter2@h/db".parse::<StateSpec>().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_default_follows_xdg_then_home() {
        let env = |k: &str| match k {
            "XDG_DATA_HOME" => Some("/x".to_string()),
            "HOME" => Some("/home/a".to_string()),
            _ => None,
        };
        assert_eq!(
            StateSpec::default_for(&env).unwrap(),
            StateSpec::Sqlite("/x/proxctl/state.db".into())
        );
        let env = |k: &str| (k == "HOME").then(|| "/home/a".to_string());
        assert_eq!(
            StateSpec::default_for(&env).unwrap(),
            StateSpec::Sqlite("/home/a/.local/share/proxctl/state.db".into())
        );
        assert!(StateSpec::default_for(&|_| None).is_err());
    }
}
