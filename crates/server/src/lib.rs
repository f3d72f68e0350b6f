//! `proxctl serve`: the REST face of proxctl. Handlers call the operations layer and hold no
//! business logic, as the CLI's commands do; what differs is only how callers are identified
//! (API tokens with roles and scopes), how answers are shaped (JSON, RFC 9457 problems,
//! `202` operations) and that one server manages several clusters ("remotes").

pub mod auth;
pub mod events;
pub mod guest_cache;
pub mod http_metrics;
pub mod mcp;
pub mod openapi;
pub mod operations;
pub mod plans;
pub mod problem;
pub mod remotes;
pub mod routes;
pub mod scheduler;
pub mod singleton;
pub mod tls;
pub mod tokens;
pub mod ui;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proxctl_client::Client;
use proxctl_ops::state::StateHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{Caller, Privilege, Role};
pub use problem::Problem;

/// One Proxmox cluster the server manages.
#[derive(Debug, Clone)]
pub struct Remote {
    /// How the API names it (the profile's name for the default remote).
    pub name: String,
    pub client: Client,
}

/// How to run a server.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where the self-signed certificate is kept.
    pub data_dir: PathBuf,
    pub remotes: Vec<Remote>,
    pub state: Arc<StateHandle>,
    /// Requests per second each token may make (bursts up to twice that).
    pub rate_limit: u32,
    /// How instances sharing the store elect the one that does singleton work.
    pub singleton: singleton::SingletonOptions,
    /// Who acts and under which rules (safe mode, audit sinks): each remote's client gets an
    /// auditor from this, with the remote's name as its profile.
    pub audit: proxctl_ops::audit::AuditContext,
    /// Where `/metrics` and `/pve` are also served over plain HTTP without a token, for a
    /// Prometheus on the same host (`None`: only on the API, with a token).
    pub metrics_listen: Option<SocketAddr>,
    pub metrics: MetricsOptions,
    /// The MCP face at `/mcp`: its mode (read-only by default), auto-approval, limits.
    pub mcp: proxctl_mcp::Config,
}

/// How `/metrics` judges and how much it reads per scrape.
#[derive(Debug, Clone, Copy)]
pub struct MetricsOptions {
    /// Seconds a guest's newest backup may be old before it is `too-old`.
    pub backup_max_age: i64,
    /// Guests whose details each scrape re-reads.
    pub guest_reads: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            backup_max_age: proxctl_ops::metrics::fleet::Policy::DEFAULT_BACKUP_MAX_AGE,
            guest_reads: proxctl_ops::metrics::details::PER_SCRAPE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("no remote to serve: configure a profile or PROXCTL_URL")]
    NoRemote,
    #[error("two remotes are called '{0}'")]
    DuplicateRemote(String),
}

/// What every handler shares.
#[derive(Debug)]
pub struct App {
    /// Kept current with the state store's remotes by [`remotes::follow`].
    remotes: std::sync::RwLock<BTreeMap<String, Remote>>,
    pub default_remote: String,
    pub state: Arc<StateHandle>,
    pub auth: auth::Authenticator,
    pub operations: Arc<operations::Operations>,
    pub limits: routes::RateLimits,
    pub leadership: singleton::Leadership,
    pub events: events::Events,
    pub guests: guest_cache::GuestCache,
    pub scheduler: scheduler::Scheduler,
    /// How hard notifications are retried.
    pub notify_retry: proxctl_ops::notify::deliver::Retry,
    /// Request durations, for `/metrics`.
    pub http: http_metrics::HttpMetrics,
    /// What scrapes keep between runs (guest details, backups) and judge by.
    pub scraper: proxctl_ops::metrics::scrape::Scraper,
    /// The MCP endpoint, made once the app is shared (it reaches the remotes through it).
    pub mcp: std::sync::OnceLock<proxctl_mcp::HttpEndpoint>,
    /// The dashboard's signed-in browsers.
    pub ui: ui::session::Sessions,
    /// Each remote's snapshots, for the attention list's "very old" ones.
    pub snapshot_scans: routes::attention::SnapshotScans,
}

impl App {
    pub fn new(
        remotes: Vec<Remote>,
        state: Arc<StateHandle>,
        rate_limit: u32,
        events: events::Events,
    ) -> Result<Self, ServeError> {
        let default_remote = remotes.first().ok_or(ServeError::NoRemote)?.name.clone();
        let mut map = BTreeMap::new();
        for r in remotes {
            if map.contains_key(&r.name) {
                return Err(ServeError::DuplicateRemote(r.name));
            }
            map.insert(r.name.clone(), r);
        }
        Ok(Self {
            remotes: std::sync::RwLock::new(map),
            default_remote,
            auth: auth::Authenticator::new(Arc::clone(&state)),
            operations: Arc::new(operations::Operations::new(events.clone(), Arc::clone(&state))),
            ui: ui::session::Sessions::new(Arc::clone(&state)),
            state,
            limits: routes::RateLimits::new(rate_limit),
            leadership: singleton::Leadership::default(),
            guests: guest_cache::GuestCache::new(events.clone()),
            scheduler: scheduler::Scheduler::default(),
            notify_retry: proxctl_ops::notify::deliver::Retry::default(),
            http: http_metrics::HttpMetrics::default(),
            scraper: proxctl_ops::metrics::scrape::Scraper::default(),
            mcp: std::sync::OnceLock::new(),
            snapshot_scans: routes::attention::SnapshotScans::new(events.clone()),
            events,
        })
    }

    pub fn remote(&self, name: &str) -> Result<Remote, Problem> {
        let m = self.remotes.read().unwrap_or_else(|p| p.into_inner());
        m.get(name).cloned().ok_or_else(|| {
            Problem::not_found(format!("no remote '{name}'; list them with GET /api/v1/remotes"))
        })
    }

    /// Every remote, by name.
    pub fn remotes(&self) -> Vec<Remote> {
        self.remotes.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Replace the remotes that came from the state store (the default one stays).
    pub(crate) fn set_stored_remotes(&self, stored: Vec<Remote>) {
        let mut m = self.remotes.write().unwrap_or_else(|p| p.into_inner());
        m.retain(|name, _| *name == self.default_remote);
        for r in stored {
            if r.name != self.default_remote {
                m.insert(r.name.clone(), r);
            }
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    /// `https://<addr>:<port>`.
    pub url: String,
    pub addr: SocketAddr,
    pub fingerprint: String,
    /// `http://<addr>:<port>` of the unauthenticated metrics listener, when there is one.
    pub metrics_url: Option<String>,
    stop: watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
    singleton: tokio::task::JoinHandle<()>,
    app: Arc<App>,
}

impl ServerHandle {
    /// What `--ready-file` gets once the server listens.
    pub fn ready_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "fingerprint": self.fingerprint,
            "metrics_url": self.metrics_url,
        })
    }

    /// Stop taking connections; let requests in flight and running operations finish until
    /// `grace` has passed; record the operations still running then as interrupted; give up
    /// the lead; return.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout_at(deadline, self.serving).await;
        let interrupted = self.app.operations.wind_down(deadline).await;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "operations still running at shutdown were recorded as interrupted"
            );
        }
        // The lead is given up (its lock released) before the server counts as stopped.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.singleton).await;
    }

    /// The server's shared state, for embedding and tests (e.g. driving the scheduler with
    /// a clock of their own through [`scheduler::tick`]).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Wait until the server stops on its own (it does not, unless shut down).
    pub async fn wait(self) {
        let _ = self.serving.await;
    }
}

/// Listen and serve until shut down.
pub async fn start(config: ServeConfig) -> Result<ServerHandle, ServeError> {
    let identity =
        tls::load(config.tls_cert.as_deref(), config.tls_key.as_deref(), &config.data_dir)?;
    let events = events::Events::new();
    let mut all = config.remotes;
    let (stored, known) = remotes::stored(&config.state).await;
    for r in stored {
        if all.iter().any(|x| x.name == r.name) {
            tracing::warn!(remote = %r.name, "a stored remote has the default remote's name; skipped");
            continue;
        }
        all.push(r);
    }
    remotes::install_hooks(&all, &config.audit, &config.state, &events);
    let mut app = App::new(all, config.state, config.rate_limit, events)?;
    app.scraper = proxctl_ops::metrics::scrape::Scraper::new(
        proxctl_ops::metrics::details::Details::new(
            config.metrics.guest_reads,
            proxctl_ops::metrics::details::BACKUPS_EVERY,
        ),
        proxctl_ops::metrics::fleet::Policy { backup_max_age: config.metrics.backup_max_age },
    );
    let app = Arc::new(app);
    let _ = app.mcp.set(mcp::endpoint(&app, config.mcp));
    let router = routes::router(Arc::clone(&app));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let addr =
        listener.local_addr().map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let host =
        if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let url = match addr {
        SocketAddr::V6(_) if !addr.ip().is_unspecified() => {
            format!("https://[{host}]:{}", addr.port())
        }
        _ => format!("https://{host}:{}", addr.port()),
    };
    let (stop, stopped) = watch::channel(false);
    let metrics_url = match config.metrics_listen {
        Some(at) => {
            let l = TcpListener::bind(at)
                .await
                .map_err(|source| ServeError::Bind { addr: at, source })?;
            let bound = l.local_addr().map_err(|source| ServeError::Bind { addr: at, source })?;
            if !bound.ip().is_loopback() {
                tracing::warn!(%bound, "metrics are served without a token beyond this host");
            }
            tokio::spawn(routes::serve_metrics(l, Arc::clone(&app), stopped.clone()));
            Some(format!("http://{bound}"))
        }
        None => None,
    };
    let singleton =
        tokio::spawn(singleton::run(Arc::clone(&app), config.singleton, stopped.clone()));
    tokio::spawn(remotes::follow(Arc::clone(&app), config.audit, known, stopped.clone()));
    let serving = tokio::spawn(routes::serve_tls(listener, identity.config, router, stopped));
    Ok(ServerHandle {
        url,
        addr,
        fingerprint: identity.fingerprint,
        metrics_url,
        stop,
        serving,
        singleton,
        app,
    })
}
