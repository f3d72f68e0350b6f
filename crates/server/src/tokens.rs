//! Managing API tokens, for every face that does it (`proxctl token`, the API's admin
//! routes): make one (its secret is returned once), list them without secrets, revoke one.

use jiff::Timestamp;
use proxctl_ops::OpsError;
use proxctl_ops::output::Tabular;
use proxctl_ops::state::StateHandle;
use proxctl_state::ApiToken;
use proxctl_types::secret::Secret;
use serde::Serialize;

use crate::auth::{Role, mint};

/// A token, without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: String,
    pub scope: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenInfo {
    fn from(t: ApiToken) -> Self {
        Self {
            name: t.name,
            role: t.role,
            scope: t.scope,
            created_by: t.created_by,
            created_at: t.created_at.to_string(),
            expires_at: t.expires_at.map(|x| x.to_string()),
            revoked_at: t.revoked_at.map(|x| x.to_string()),
        }
    }
}

impl Tabular for TokenInfo {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NAME", "ROLE", "SCOPE", "CREATED", "EXPIRES", "REVOKED"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        let day = |t: &str| t.get(..10).unwrap_or(t).to_string();
        vec![
            self.name.clone(),
            self.role.clone(),
            self.scope.clone().unwrap_or_else(|| "all".into()),
            day(&self.created_at),
            self.expires_at.as_deref().map_or_else(|| "never".into(), day),
            self.revoked_at.as_deref().map(day).unwrap_or_default(),
        ]
    }
}

/// Make and store a token; the secret is in the answer and nowhere else.
pub async fn create(
    state: &StateHandle,
    name: &str,
    role: Role,
    scope: Option<&str>,
    expires_at: Option<Timestamp>,
    created_by: &str,
) -> Result<(TokenInfo, Secret), OpsError> {
    let m = mint(name, role, scope, expires_at, created_by).map_err(OpsError::Invalid)?;
    let store = state.get().await?;
    if !store.token_insert(&m.token).await? {
        return Err(OpsError::Invalid(format!(
            "a token called '{name}' exists; revoke it first (proxctl token revoke {name}) or pick another name"
        )));
    }
    Ok((m.token.into(), m.secret))
}

pub async fn list(state: &StateHandle) -> Result<Vec<TokenInfo>, OpsError> {
    Ok(state.get().await?.tokens().await?.into_iter().map(TokenInfo::from).collect())
}

pub async fn revoke(state: &StateHandle, name: &str) -> Result<(), OpsError> {
    if state.get().await?.token_revoke(name, Timestamp::now()).await? {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!("no live token called '{name}'; see `proxctl token list`")))
    }
}
