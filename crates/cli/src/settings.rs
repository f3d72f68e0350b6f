//! Raw flags, environment and profile resolved into the settings commands run with, in the
//! order flags > environment (`PROXCTL_*`, then the legacy `PVE_*` names) > profile > defaults.
//! Every value remembers where it came from, for `proxctl config show`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use proxctl_client::auth::{prompt_secret, read_secret_file};
use proxctl_client::{ClientSettings, Credentials, TlsMode};
use proxctl_ops::output::Format;
use proxctl_types::secret::Secret;

use crate::exit::UserError;
use crate::flags::GlobalArgs;
use crate::profile::{ConfigFile, Profile};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(String),
    Profile(String),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(n) => write!(f, "env {n}"),
            Source::Profile(p) => write!(f, "profile {p}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One effective setting, as `config show` prints it (secrets already redacted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shown {
    pub key: &'static str,
    pub value: String,
    pub source: String,
}

/// Where a secret will come from, resolved only when a command needs the client.
#[derive(Debug, Clone)]
enum SecretRef {
    Value(Secret),
    File(PathBuf),
    Prompt(String),
}

impl SecretRef {
    fn load(&self) -> Result<Secret, anyhow::Error> {
        Ok(match self {
            SecretRef::Value(s) => s.clone(),
            SecretRef::File(p) => read_secret_file(p)?,
            SecretRef::Prompt(label) => {
                if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    return Err(UserError(format!(
                        "{label} is needed but there is no terminal to ask on; set it through the environment or a 0600 file"
                    ))
                    .into());
                }
                prompt_secret(label)?
            }
        })
    }
}

#[derive(Debug, Clone)]
enum AuthPlan {
    Token { id: String, secret: SecretRef },
    Password { user: String, secret: SecretRef },
    None,
}

#[derive(Debug)]
pub struct Resolved {
    pub output: Format,
    pub yes: bool,
    pub wait: bool,
    pub dry_run: bool,
    pub timeout: Duration,
    pub shown: Vec<Shown>,
    url: Option<String>,
    tls: TlsMode,
    auth: AuthPlan,
    retries: Option<u32>,
    rps: Option<f64>,
    in_flight: Option<usize>,
    node: Option<String>,
    storage: Option<String>,
    /// Default bridge for new guests (profile `bridge`, `PROXCTL_BRIDGE`).
    pub bridge: Option<String>,
    /// `--force`: override always-on and safe mode.
    pub force: bool,
    /// The state store, opened on first use.
    pub state: std::sync::Arc<proxctl_ops::state::StateHandle>,
    pub safe_mode: bool,
    pub audit_file: Option<PathBuf>,
    pub audit_syslog: Option<PathBuf>,
    pub audit_policy: proxctl_ops::audit::AuditPolicy,
    pub profile_name: String,
}

/// Pick the first set value among flag, environment names and profile.
fn pick<T: Clone>(
    flag: Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[&str],
    parse: impl Fn(&str) -> Option<T>,
    profile: Option<T>,
    profile_name: &Option<String>,
) -> Option<(T, Source)> {
    if let Some(v) = flag {
        return Some((v, Source::Flag));
    }
    for n in env_names {
        if let Some(v) = env(n).filter(|v| !v.is_empty()).and_then(|v| parse(&v)) {
            return Some((v, Source::Env((*n).to_string())));
        }
    }
    profile.map(|v| (v, Source::Profile(profile_name.clone().unwrap_or_default())))
}

/// Load a secret named by a reference (`env:NAME`, `file:PATH` or `prompt`), as profiles and
/// `--ci-password-from` give them.
pub fn load_secret(spec: &str, label: &str) -> Result<Secret, anyhow::Error> {
    secret_ref(spec, label)?.load()
}

fn secret_ref(spec: &str, label: &str) -> Result<SecretRef, UserError> {
    if let Some(var) = spec.strip_prefix("env:") {
        return std::env::var(var)
            .map(|v| SecretRef::Value(Secret::new(v)))
            .map_err(|_| UserError(format!("{label}: {var} is not set (named by env:{var})")));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        return Ok(SecretRef::File(PathBuf::from(path)));
    }
    if spec == "prompt" {
        return Ok(SecretRef::Prompt(label.to_string()));
    }
    // Never echo the value: someone may have typed the secret itself where its reference goes.
    Err(UserError(format!(
        "{label}: a secret is given by reference, env:NAME, file:PATH or prompt; what was given \
         is none of these (not shown, in case it is the secret itself)"
    )))
}

pub fn resolve(
    g: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
    cfg: &ConfigFile,
) -> Result<Resolved, anyhow::Error> {
    let (profile_name, profile_src) = match (&g.profile, env("PROXCTL_PROFILE"), &cfg.current) {
        (Some(p), _, _) => (Some(p.clone()), Source::Flag),
        (None, Some(p), _) => (Some(p), Source::Env("PROXCTL_PROFILE".into())),
        (None, None, Some(p)) => (Some(p.clone()), Source::Profile("current".into())),
        _ => (None, Source::Default),
    };
    let profile: Profile = match &profile_name {
        Some(n) => cfg.profiles.get(n).cloned().ok_or_else(|| {
            let known: Vec<&String> = cfg.profiles.keys().collect();
            UserError(format!("no profile '{n}' in the config file (known: {known:?}); see `proxctl config profiles`"))
        })?,
        None => Profile::default(),
    };
    let pn = &profile_name;
    let mut shown = vec![Shown {
        key: "profile",
        value: profile_name.clone().unwrap_or_else(|| "-".into()),
        source: profile_src.to_string(),
    }];
    let mut show = |key: &'static str, value: String, source: &Source| {
        shown.push(Shown { key, value, source: source.to_string() })
    };
    let some = |s: &str| Some(s.to_string());

    let url = pick(g.url.clone(), env, &["PROXCTL_URL", "PVE_HOST"], some, profile.url.clone(), pn);
    match &url {
        Some((u, s)) => show("url", proxctl_client::settings::redact_url(u), s),
        None => show("url", "-".into(), &Source::Default),
    }

    // TLS: --insecure beats a pin, which beats a CA file.
    let truthy = |v: &str| {
        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on").then_some(true)
    };
    let insecure = pick(
        g.insecure.then_some(true),
        env,
        &["PROXCTL_INSECURE"],
        truthy,
        profile.insecure.filter(|b| *b),
        pn,
    );
    let fingerprint = pick(
        g.fingerprint.clone(),
        env,
        &["PROXCTL_FINGERPRINT"],
        some,
        profile.fingerprint.clone(),
        pn,
    );
    let ca = pick(
        g.ca_file.clone(),
        env,
        &["PROXCTL_CA_FILE"],
        |v| Some(PathBuf::from(v)),
        profile.ca_file.clone(),
        pn,
    );
    // An explicit pin and "insecure" contradict each other: the more specific source wins
    // (flag over environment over profile); from equally specific sources it is an error.
    let rank = |s: &Source| match s {
        Source::Flag => 3,
        Source::Env(_) => 2,
        Source::Profile(_) => 1,
        Source::Default => 0,
    };
    let insecure = match (&insecure, &fingerprint) {
        (Some((_, si)), Some((_, sf))) if rank(si) == rank(sf) => {
            return Err(UserError(format!(
                "both insecure ({si}) and a pinned fingerprint ({sf}) are set; a pin verifies the \
                 certificate, insecure skips it: drop one"
            ))
            .into());
        }
        (Some((_, si)), Some((_, sf))) if rank(sf) > rank(si) => None,
        _ => insecure,
    };
    let tls = if let Some((_, s)) = &insecure {
        show("tls", "insecure (no verification)".into(), s);
        TlsMode::Insecure
    } else if let Some((fp, s)) = &fingerprint {
        show("tls", format!("pinned {fp}"), s);
        TlsMode::Pin(fp.parse()?)
    } else if let Some((p, s)) = &ca {
        show("tls", format!("system roots + {}", p.display()), s);
        TlsMode::VerifyWithCa(p.clone())
    } else {
        show("tls", "system roots".into(), &Source::Default);
        TlsMode::Verify
    };

    // Credentials: environment first (whole token, split token, user + password), then profile.
    let auth = if let Some(t) = env("PROXCTL_TOKEN").filter(|v| !v.is_empty()) {
        let (id, secret) = t
            .rsplit_once('=')
            .ok_or_else(|| UserError("PROXCTL_TOKEN must look like user@realm!id=secret".into()))?;
        show("auth", format!("token {id} (secret redacted)"), &Source::Env("PROXCTL_TOKEN".into()));
        AuthPlan::Token { id: id.into(), secret: SecretRef::Value(Secret::new(secret)) }
    } else if let Some(id) = env("PROXCTL_TOKEN_ID").filter(|v| !v.is_empty()) {
        let secret = match (env("PROXCTL_TOKEN_SECRET"), env("PROXCTL_TOKEN_SECRET_FILE")) {
            (Some(s), _) => SecretRef::Value(Secret::new(s)),
            (None, Some(f)) => SecretRef::File(f.into()),
            (None, None) => SecretRef::Prompt(format!("secret of API token {id}")),
        };
        show(
            "auth",
            format!("token {id} (secret redacted)"),
            &Source::Env("PROXCTL_TOKEN_ID".into()),
        );
        AuthPlan::Token { id, secret }
    } else if let Some((user, var)) = ["PROXCTL_USER", "PVE_USER"]
        .iter()
        .find_map(|n| env(n).filter(|v| !v.is_empty()).map(|u| (u, *n)))
    {
        let secret = match (
            env("PROXCTL_PASSWORD").or_else(|| env("PVE_PASSWORD")),
            env("PROXCTL_PASSWORD_FILE"),
        ) {
            (Some(p), _) => SecretRef::Value(Secret::new(p)),
            (None, Some(f)) => SecretRef::File(f.into()),
            (None, None) => SecretRef::Prompt(format!("password of {user}")),
        };
        show("auth", format!("password for {user} (redacted)"), &Source::Env(var.into()));
        AuthPlan::Password { user, secret }
    } else {
        let src = Source::Profile(pn.clone().unwrap_or_default());
        match profile.auth.as_deref() {
            Some("token") => {
                let id = profile
                    .token_id
                    .clone()
                    .ok_or_else(|| UserError("profile auth = \"token\" needs token_id".into()))?;
                let secret = match (&profile.secret, &profile.secret_from) {
                    (Some(s), _) => SecretRef::Value(Secret::new(s.clone())),
                    (None, Some(spec)) => secret_ref(spec, &format!("secret of API token {id}"))?,
                    (None, None) => SecretRef::Prompt(format!("secret of API token {id}")),
                };
                show("auth", format!("token {id} (secret redacted)"), &src);
                AuthPlan::Token { id, secret }
            }
            Some("password") => {
                let user = profile
                    .user
                    .clone()
                    .ok_or_else(|| UserError("profile auth = \"password\" needs user".into()))?;
                let secret = match (&profile.secret, &profile.secret_from) {
                    (Some(s), _) => SecretRef::Value(Secret::new(s.clone())),
                    (None, Some(spec)) => secret_ref(spec, &format!("password of {user}"))?,
                    (None, None) => SecretRef::Prompt(format!("password of {user}")),
                };
                show("auth", format!("password for {user} (redacted)"), &src);
                AuthPlan::Password { user, secret }
            }
            Some(other) => {
                return Err(UserError(format!(
                    "profile auth must be \"token\" or \"password\", not \"{other}\""
                ))
                .into());
            }
            None => {
                show("auth", "-".into(), &Source::Default);
                AuthPlan::None
            }
        }
    };

    let output =
        match pick(g.output.clone(), env, &["PROXCTL_OUTPUT"], some, profile.output.clone(), pn) {
            Some((o, s)) => {
                show("output", o.clone(), &s);
                o.parse::<Format>().map_err(UserError)?
            }
            None => {
                show("output", "table".into(), &Source::Default);
                Format::Table
            }
        };
    let timeout = match pick(
        g.timeout,
        env,
        &["PROXCTL_TIMEOUT"],
        |v| v.parse().ok(),
        profile.timeout_secs,
        pn,
    ) {
        Some((t, s)) => {
            show("timeout", format!("{t}s"), &s);
            Duration::from_secs(t)
        }
        None => {
            show("timeout", "600s".into(), &Source::Default);
            Duration::from_secs(600)
        }
    };
    let node = pick(None, env, &["PROXCTL_NODE", "NODE_NAME"], some, profile.node.clone(), pn);
    let storage =
        pick(None, env, &["PROXCTL_STORAGE", "STORAGE_NAME"], some, profile.storage.clone(), pn);
    let bridge = pick(None, env, &["PROXCTL_BRIDGE"], some, profile.bridge.clone(), pn);
    for (key, v) in [("node", &node), ("storage", &storage), ("bridge", &bridge)] {
        match v {
            Some((val, s)) => show(key, val.clone(), s),
            None => show(key, "-".into(), &Source::Default),
        }
    }
    let state =
        match pick(g.state.clone(), env, &["PROXCTL_STATE"], some, profile.state.clone(), pn) {
            Some((spec, s)) => {
                let spec: proxctl_ops::state::StateSpec = spec.parse()?;
                show("state", spec.to_string(), &s);
                spec
            }
            None => {
                let spec = proxctl_ops::state::StateSpec::default_for(env)?;
                show("state", spec.to_string(), &Source::Default);
                spec
            }
        };
    let safe_mode = pick(
        None,
        env,
        &["PROXCTL_SAFE_MODE"],
        |v| truthy(v).or(Some(false)),
        profile.safe_mode,
        pn,
    );
    match &safe_mode {
        Some((on, s)) => show("safe_mode", on.to_string(), s),
        None => show("safe_mode", "false".into(), &Source::Default),
    }
    use proxctl_ops::audit::AuditPolicy;
    let audit = match (env("PROXCTL_AUDIT").filter(|v| !v.is_empty()), &profile.audit) {
        (Some(v), _) => (v, Source::Env("PROXCTL_AUDIT".into())),
        (None, Some(v)) => (v.clone(), Source::Profile(pn.clone().unwrap_or_default())),
        (None, None) => ("strict".to_string(), Source::Default),
    };
    let audit_policy: AuditPolicy = audit.0.parse().map_err(UserError)?;
    show("audit", audit.0.clone(), &audit.1);
    let path = |v: &str| Some(PathBuf::from(v));
    let audit_file = pick(None, env, &["PROXCTL_AUDIT_FILE"], path, profile.audit_file.clone(), pn);
    let audit_syslog =
        pick(None, env, &["PROXCTL_AUDIT_SYSLOG"], path, profile.audit_syslog.clone(), pn);
    for (key, v) in [("audit_file", &audit_file), ("audit_syslog", &audit_syslog)] {
        match v {
            Some((p, s)) => show(key, p.display().to_string(), s),
            None => show(key, "-".into(), &Source::Default),
        }
    }
    show(
        "dry_run",
        g.dry_run.to_string(),
        if g.dry_run { &Source::Flag } else { &Source::Default },
    );

    Ok(Resolved {
        output,
        yes: g.yes,
        wait: !g.no_wait,
        dry_run: g.dry_run,
        timeout,
        shown,
        url: url.map(|(u, _)| u),
        tls,
        auth,
        retries: profile.retries,
        rps: profile.requests_per_second,
        in_flight: profile.max_in_flight,
        node: node.map(|(n, _)| n),
        storage: storage.map(|(s, _)| s),
        bridge: bridge.map(|(b, _)| b),
        force: g.force,
        state: std::sync::Arc::new(proxctl_ops::state::StateHandle::new(state)),
        safe_mode: safe_mode.is_some_and(|(on, _)| on),
        audit_file: audit_file.map(|(p, _)| p),
        audit_syslog: audit_syslog.map(|(p, _)| p),
        audit_policy,
        profile_name: profile_name.clone().unwrap_or_else(|| "-".into()),
    })
}

impl Resolved {
    /// The default node (flag-less commands): profile `node` or `PROXCTL_NODE`.
    pub fn node_default(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Who the audit log says acted: the PVE identity, and the local user running proxctl.
    pub fn actor(&self) -> String {
        let pve = match &self.auth {
            AuthPlan::Token { id, .. } => id.clone(),
            AuthPlan::Password { user, .. } => user.clone(),
            AuthPlan::None => "-".into(),
        };
        match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
            Ok(local) if !local.is_empty() => format!("{pve} ({local})"),
            _ => pve,
        }
    }

    /// Who acts and under which audit and safe-mode rules.
    pub fn audit_context(&self) -> proxctl_ops::audit::AuditContext {
        proxctl_ops::audit::AuditContext {
            actor: self.actor(),
            profile: self.profile_name.clone(),
            safe_mode: self.safe_mode,
            force: self.force,
            file: self.audit_file.clone(),
            syslog: self.audit_syslog.clone(),
            policy: self.audit_policy,
        }
    }

    /// The audit/safe-mode hook for clients built from these settings.
    pub fn auditor(&self) -> proxctl_ops::audit::Auditor {
        let ctx = self.audit_context();
        if self.audit_policy == proxctl_ops::audit::AuditPolicy::BestEffort {
            eprintln!(
                "warning: audit is best-effort in this profile: a change the audit log cannot \
                 record is made anyway"
            );
        }
        proxctl_ops::audit::Auditor::new(ctx, std::sync::Arc::clone(&self.state))
    }

    /// Client settings, loading secrets (file or prompt) only now that a command needs them.
    pub fn client_settings(&self) -> Result<ClientSettings, anyhow::Error> {
        let url = self.url.as_deref().ok_or_else(|| {
            UserError("no Proxmox URL: set PROXCTL_URL, pass --url, or add a profile (`proxctl config profiles`)".into())
        })?;
        let mut s = ClientSettings::new(url)?;
        s.tls = self.tls.clone();
        s.credentials = match &self.auth {
            AuthPlan::Token { id, secret } => Some(Credentials::token(id, secret.load()?)?),
            AuthPlan::Password { user, secret } => {
                Some(Credentials::password(user, secret.load()?, None)?)
            }
            AuthPlan::None => {
                return Err(UserError(
                    "no credentials: set PROXCTL_TOKEN (user@realm!id=secret), or PROXCTL_USER and PROXCTL_PASSWORD, or a profile"
                        .into(),
                )
                .into());
            }
        };
        if let Some(r) = self.retries {
            s.retry.max_attempts = r.max(1);
        }
        s.requests_per_second = self.rps;
        if let Some(n) = self.in_flight {
            s.max_in_flight = n;
        }
        s.default_node = self.node.clone();
        s.default_storage = self.storage.clone();
        s.dry_run = self.dry_run;
        Ok(s)
    }
}
