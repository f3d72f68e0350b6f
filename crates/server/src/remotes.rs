//! The clusters a server manages: the one its settings name (the default remote) and those
//! kept in the state store (`proxctl remote add`). Each remote's client gets its own audit
//! hook, so audit rows say which remote a call went to, wrapped by the event feed's hook.

use std::sync::Arc;

use proxctl_client::{Client, ClientError, ClientSettings, Credentials, TlsMode};
use proxctl_ops::audit::{AuditContext, Auditor};
use proxctl_ops::state::StateHandle;
use proxctl_state::RemoteDef;
use proxctl_types::secret::Secret;

use crate::Remote;
use crate::events::{Events, PublishingHook};

/// A secret named by reference: `env:NAME`, or `file:PATH` (readable by its owner only).
pub fn load_secret(reference: &str) -> Result<Secret, ClientError> {
    if let Some(var) = reference.strip_prefix("env:") {
        return std::env::var(var)
            .map(Secret::new)
            .map_err(|_| ClientError::Config(format!("the secret's variable {var} is not set")));
    }
    if let Some(path) = reference.strip_prefix("file:") {
        return proxctl_client::auth::read_secret_file(std::path::Path::new(path));
    }
    Err(ClientError::Config(
        "a remote's secret is given as env:NAME or file:PATH (what is stored is neither)".into(),
    ))
}

/// The client for a stored remote. A secret that cannot be read leaves the remote without
/// credentials: it is listed, and answers as unavailable with the reason, until it is fixed.
pub fn client_for(def: &RemoteDef) -> Result<(Client, Option<String>), ClientError> {
    let (s, problem) = settings_for(def)?;
    Ok((Client::new(s)?, problem))
}

/// The client settings of a stored remote, and why it has no credentials if it has none.
pub fn settings_for(def: &RemoteDef) -> Result<(ClientSettings, Option<String>), ClientError> {
    let mut s = ClientSettings::new(&def.url)?;
    s.tls = match &def.fingerprint {
        Some(fp) => {
            TlsMode::Pin(fp.parse().map_err(|e| ClientError::Config(format!("fingerprint: {e}")))?)
        }
        None => TlsMode::Verify,
    };
    let mut problem = None;
    match load_secret(&def.secret_ref).and_then(|secret| Credentials::token(&def.token_id, secret))
    {
        Ok(c) => s.credentials = Some(c),
        Err(e) => problem = Some(format!("remote {}: {e}", def.name)),
    }
    Ok((s, problem))
}

/// Refuse a remote name the API could not use in a path.
pub fn check_name(name: &str) -> Result<(), proxctl_ops::OpsError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(proxctl_ops::OpsError::Invalid(format!(
            "remote name '{name}' must be letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// Store a remote after checking it answers with its token (one attempt: a wrong URL says so
/// at once, not after retries). Returns the PVE version it runs. What every face that adds
/// remotes calls.
pub async fn add(state: &StateHandle, def: &RemoteDef) -> Result<String, proxctl_ops::OpsError> {
    use proxctl_ops::OpsError;
    check_name(&def.name)?;
    if !(def.secret_ref.starts_with("env:") || def.secret_ref.starts_with("file:")) {
        return Err(OpsError::Invalid(
            "the secret is given by reference, env:NAME or file:PATH (what was given is not \
             shown, in case it is the secret itself)"
                .into(),
        ));
    }
    let (mut settings, problem) = settings_for(def)?;
    if let Some(p) = problem {
        return Err(OpsError::Invalid(format!("{p}; not added")));
    }
    settings.retry.max_attempts = 1;
    settings.connect_timeout = std::time::Duration::from_secs(10);
    let v = Client::new(settings)?.version().await.map_err(|e| {
        OpsError::Invalid(format!(
            "cannot reach remote {} at {}: {e}; not added",
            def.name, def.url
        ))
    })?;
    if !state.get().await?.remote_insert(def).await? {
        return Err(OpsError::Invalid(format!(
            "a remote called '{}' exists; remove it first (proxctl remote remove {})",
            def.name, def.name
        )));
    }
    Ok(v.version)
}

/// Give every remote's client its audit and event hooks.
pub fn install_hooks(
    remotes: &[Remote],
    audit: &AuditContext,
    state: &Arc<StateHandle>,
    events: &Events,
) {
    for r in remotes {
        let ctx = AuditContext { profile: r.name.clone(), ..audit.clone() };
        let auditor = Arc::new(Auditor::new(ctx, Arc::clone(state)));
        let hook =
            PublishingHook::new(auditor, events.clone()).notifying(Arc::clone(state), &r.name);
        if !r.client.set_hook(Arc::new(hook)) {
            tracing::warn!(remote = %r.name, "the remote's client already had a hook; kept it");
        }
    }
}

/// The stored remotes' definitions.
async fn stored_defs(state: &StateHandle) -> Result<Vec<RemoteDef>, String> {
    let store = state.get().await.map_err(|e| format!("cannot open the state store: {e}"))?;
    store.remotes().await.map_err(|e| format!("cannot read the stored remotes: {e}"))
}

/// Clients for stored remotes. One that cannot be set up is skipped with a warning.
fn clients(defs: &[RemoteDef]) -> Vec<Remote> {
    let mut out = Vec::new();
    for d in defs {
        match client_for(d) {
            Ok((client, problem)) => {
                if let Some(p) = problem {
                    tracing::warn!("{p}");
                }
                out.push(Remote { name: d.name.clone(), client });
            }
            Err(e) => tracing::warn!(remote = %d.name, error = %e, "cannot set up a stored remote"),
        }
    }
    out
}

/// The stored remotes, as clients, and their definitions (empty, with a warning, when the
/// store cannot be read).
pub async fn stored(state: &StateHandle) -> (Vec<Remote>, Vec<RemoteDef>) {
    match stored_defs(state).await {
        Ok(defs) => (clients(&defs), defs),
        Err(e) => {
            tracing::warn!("{e}");
            (Vec::new(), Vec::new())
        }
    }
}

/// How often a server reads the stored remotes again, so `proxctl remote add` and `remove`
/// reach every running instance without a restart.
pub const RELOAD: std::time::Duration = std::time::Duration::from_secs(5);

/// Keep the server's remotes the same as the store's until it stops. `known` is what it
/// started with.
pub async fn follow(
    app: Arc<crate::App>,
    audit: AuditContext,
    mut known: Vec<RemoteDef>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RELOAD) => {}
            _ = stopped.changed() => return,
        }
        let defs = match stored_defs(&app.state).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("{e}; keeping the remotes as they were");
                continue;
            }
        };
        if defs == known {
            continue;
        }
        let remotes: Vec<Remote> =
            clients(&defs).into_iter().filter(|r| r.name != app.default_remote).collect();
        install_hooks(&remotes, &audit, &app.state, &app.events);
        let names: Vec<&str> = remotes.iter().map(|r| r.name.as_str()).collect();
        tracing::info!(remotes = ?names, "the stored remotes changed");
        app.set_stored_remotes(remotes);
        known = defs;
    }
}
