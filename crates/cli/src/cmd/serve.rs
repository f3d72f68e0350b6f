//! `proxctl serve`: run the REST face against the cluster the CLI settings name (profile,
//! `PROXCTL_*`), as the default remote named after the profile, until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proxctl_client::Client;

use crate::flags::ServeArgs;
use crate::settings::Resolved;

pub async fn run(r: &Resolved, a: ServeArgs) -> anyhow::Result<()> {
    let client = Client::new(r.client_settings()?)?;
    if r.audit_policy == proxctl_ops::audit::AuditPolicy::BestEffort {
        eprintln!(
            "warning: audit is best-effort in this profile: a change the audit log cannot \
             record is made anyway, for every caller of this server"
        );
    }
    for w in client.warnings() {
        eprintln!("warning: {w}");
    }

    let data_dir = match a.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    // Settings from the environment alone have no profile name ("-"): call that remote "default".
    let name = match r.profile_name.as_str() {
        "" | "-" => "default".to_string(),
        p => p.to_string(),
    };
    let grace = Duration::from_secs(secs("--shutdown-grace", &a.shutdown_grace)?);
    let config = proxctl_server::ServeConfig {
        listen: a.listen,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        data_dir,
        remotes: vec![proxctl_server::Remote { name, client }],
        state: Arc::clone(&r.state),
        rate_limit: a.rate_limit,
        singleton: proxctl_server::singleton::SingletonOptions {
            lease: Duration::from_secs(secs("--leader-lease", &a.leader_lease)?.max(1)),
            sweep_every: match secs("--sweep-interval", &a.sweep_interval)? {
                0 => None,
                n => Some(Duration::from_secs(n)),
            },
            jobs_every: match secs("--job-interval", &a.job_interval)? {
                0 => None,
                n => Some(Duration::from_secs(n)),
            },
            clock: match a.scheduler_clock_file {
                Some(f) => proxctl_server::singleton::Clock::File(f),
                None => proxctl_server::singleton::Clock::System,
            },
        },
        audit: r.audit_context(),
        metrics_listen: a.metrics_listen.as_deref().map(metrics_address).transpose()?,
        metrics: proxctl_server::MetricsOptions {
            backup_max_age: secs("--metrics-backup-max-age", &a.metrics_backup_max_age)?
                .try_into()
                .unwrap_or(i64::MAX),
            guest_reads: a.metrics_guest_reads,
        },
        mcp: super::mcp::config(&crate::flags::mcp::McpServeArgs {
            mcp_mode: a.mcp_mode,
            auto_approve: a.mcp_auto_approve,
            calls_per_minute: a.mcp_calls_per_minute,
            tool_wait: "60s".into(),
        })?,
    };
    let server = proxctl_server::start(config).await.context("starting the server")?;
    if let Some(p) = &a.ready_file {
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, server.ready_json().to_string())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, p)
            .with_context(|| format!("writing --ready-file {}", p.display()))?;
    }
    eprintln!("proxctl serve: listening on {}", server.url);
    eprintln!("  fingerprint: {}", server.fingerprint);
    if let Some(m) = &server.metrics_url {
        eprintln!("  metrics (no token): {m}/metrics and {m}/pve?target=REMOTE");
    }
    eprintln!(
        "  API reference: {}/api/v1/docs (make a token with `proxctl token create`)",
        server.url
    );
    super::sim::shutdown_signal().await;
    eprintln!(
        "proxctl serve: stopping; requests in flight and running operations get {}s to finish",
        grace.as_secs()
    );
    server.shutdown(grace).await;
    eprintln!("proxctl serve: stopped");
    Ok(())
}

/// `--metrics-listen`: `ADDR:PORT`, or a bare port on the loopback.
fn metrics_address(v: &str) -> anyhow::Result<std::net::SocketAddr> {
    if let Ok(port) = v.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    v.parse().map_err(|_| {
        crate::exit::UserError(format!(
            "--metrics-listen '{v}' is neither a port (on 127.0.0.1) nor an address such as 127.0.0.1:9221"
        ))
        .into()
    })
}

fn secs(flag: &str, v: &str) -> anyhow::Result<u64> {
    proxctl_ops::snapshot::parse_ttl(v).ok().and_then(|s| u64::try_from(s).ok()).ok_or_else(|| {
        crate::exit::UserError(format!("{flag} '{v}' is not a duration such as 15s or 5m")).into()
    })
}

fn default_data_dir() -> anyhow::Result<std::path::PathBuf> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let base = env("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            crate::exit::UserError(
                "no home directory for the server's files; pass --data-dir".into(),
            )
        })?;
    Ok(base.join("proxctl").join("server"))
}
