//! `proxctl-sim`: a stateful simulator of a Proxmox VE cluster that speaks the real API over
//! HTTPS, failure modes included (../shared/pve-semantics.md). Tests start it in-process on
//! port 0; `proxctl sim` runs it standalone.
//!
//! Time is simulated: in `ClockMode::Manual` it only moves when a test calls `advance`/`step`
//! (or `POST /_sim/advance`), so no test sleeps; in `ClockMode::Realtime` it runs at
//! `time_scale` times wall-clock speed.

mod auth;
pub mod clock;
mod console_ws;
pub mod control;
pub mod error;
pub mod faults;
mod fetch;
mod generic;
mod ha;
mod http;
pub mod lock;
mod multipart;
mod node_addresses;
mod params;
pub mod permissions;
mod router;
mod routes;
pub mod scenario;
mod schema_permissions;
pub mod state;
pub mod task;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use proxctl_schema::ApiSchema;
use proxctl_types::secret::Secret;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use auth::Role;
pub use auth::totp;
pub use clock::ClockMode;
pub use faults::{FaultRule, Faults};
pub use state::World;

/// The methods the simulator implements with its own code (stateful), as `(method, path
/// template)`; every other schema method is answered generically when a schema is loaded.
pub fn implemented() -> Vec<(&'static str, &'static str)> {
    routes::all().into_iter().map(|r| (r.method, r.template)).collect()
}

use crate::auth::{AuthDb, SimToken};
use crate::clock::Clock;
use crate::http::Shared;
use crate::router::Env;

/// 2026-01-01T00:00:00Z: where a manual clock starts, so runs are reproducible.
pub const MANUAL_EPOCH_MS: u64 = 1_767_225_600_000;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot set up TLS")]
    Tls(#[from] tls::TlsError),
    #[error("invalid simulator setting: {0}")]
    Config(String),
    #[error("cannot read or write state file {path}")]
    State { path: String, source: std::io::Error },
    #[error("state file {path} is not a simulator state")]
    StateFormat { path: String, source: serde_json::Error },
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub seed: u64,
    pub clock: ClockMode,
    pub time_scale: f64,
    /// root@pam's password; generated when `None`.
    pub root_password: Option<Secret>,
    /// root@pam's TOTP key (raw bytes, as a string); with it, password logins need a code.
    pub totp_key: Option<Secret>,
    /// An admin API token, `user@realm!id=secret`; generated when `None`.
    pub token: Option<Secret>,
    /// A read-only (PVEAuditor-like) token; generated when `None`.
    pub auditor_token: Option<Secret>,
    /// Validate every request against this schema and answer violations with PVE's 400.
    pub schema: Option<Arc<ApiSchema>>,
    /// Simulated delay of 401 answers (PVE: 3 s).
    pub auth_failure_delay_ms: u64,
    /// Load the cluster from (and save it to) this file.
    pub state_file: Option<PathBuf>,
    /// Seed nodes, storages, images and guests from this scenario.
    pub scenario: Option<scenario::Scenario>,
    /// Fault rules to start with (also settable through `/_sim/faults`).
    pub faults: Option<Faults>,
    /// Model the ~10 s RRD lag of `/cluster/resources`.
    pub resources_lag: bool,
    /// Drop connections that take longer than this for the TLS handshake or a request's
    /// headers (real time).
    pub io_timeout: std::time::Duration,
    /// Give every node its own address and certificate (`--node-addresses`).
    pub node_addresses: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 1,
            seed: 1,
            clock: ClockMode::Manual,
            time_scale: 1.0,
            root_password: None,
            totp_key: None,
            token: None,
            auditor_token: None,
            schema: None,
            auth_failure_delay_ms: 3000,
            state_file: None,
            scenario: None,
            faults: None,
            resources_lag: false,
            io_timeout: http::IO_TIMEOUT,
            node_addresses: false,
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    pub addr: SocketAddr,
    /// SHA-256 fingerprint of the node certificate, uppercase and colon-separated.
    pub fingerprint: String,
    pub ca_pem: String,
    pub nodes: Vec<String>,
    /// Each node's URL and certificate fingerprint: one entry per node with
    /// `node_addresses`, else the first node's only.
    pub node_urls: Vec<NodeUrl>,
    pub root_password: Secret,
    /// `user@realm!id=secret`.
    pub token: Secret,
    pub auditor_token: Secret,
    shared: Arc<Shared>,
    shutdown: Arc<Notify>,
    state_file: Option<PathBuf>,
}

/// Where one node answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeUrl {
    pub node: String,
    pub url: String,
    pub fingerprint: String,
}

fn random_secret(prefix: &str) -> String {
    let mut r = rand::rng();
    let b: [u8; 16] = r.random();
    let h = hex::encode(b);
    format!("{prefix}{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn parse_token(full: &Secret, role: Role) -> Result<SimToken, SimError> {
    let (id, secret) = full.expose().rsplit_once('=').ok_or_else(|| {
        SimError::Config("a token must look like user@realm!tokenid=secret".into())
    })?;
    if !id.contains('!') || !id.contains('@') || secret.is_empty() {
        return Err(SimError::Config("a token must look like user@realm!tokenid=secret".into()));
    }
    Ok(SimToken { id: id.to_string(), secret: Secret::new(secret), role })
}

/// Start a simulator listening on `addr` (port 0 picks a free port).
pub async fn start(config: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
    let start_ms = match config.clock {
        ClockMode::Manual => MANUAL_EPOCH_MS,
        ClockMode::Realtime => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(MANUAL_EPOCH_MS),
    };
    let mut world = match &config.state_file {
        Some(p) if p.exists() => load_state(p)?,
        _ => {
            let mut w = World::new(config.nodes, config.seed, start_ms);
            scenario::seed_defaults(&mut w);
            if let Some(s) = &config.scenario {
                s.apply(&mut w).map_err(SimError::Config)?;
            }
            w
        }
    };
    if let Some(f) = &config.faults {
        f.validate().map_err(|e| SimError::Config(format!("fault rules: {e}")))?;
        world.faults = f.clone();
    }
    world.resources_lag = config.resources_lag;
    let now = world.now;
    world.rrd_tick(now);
    if config.clock == ClockMode::Realtime && world.now < start_ms {
        world.now = start_ms;
    }
    let clock = Clock::new(config.clock, config.time_scale, world.now);

    let root_password =
        config.root_password.clone().unwrap_or_else(|| Secret::new(random_secret("")));
    let token = config
        .token
        .clone()
        .unwrap_or_else(|| Secret::new(format!("root@pam!proxctl={}", random_secret(""))));
    let auditor = config
        .auditor_token
        .clone()
        .unwrap_or_else(|| Secret::new(format!("auditor@pve!ro={}", random_secret(""))));
    let tokens = vec![parse_token(&token, Role::Admin)?, parse_token(&auditor, Role::Auditor)?];
    let key: [u8; 32] = rand::rng().random();
    let mut auth = AuthDb::new(root_password.clone(), tokens, key.to_vec());
    auth.totp_key = config.totp_key.clone();

    let node0 = world.first_node();
    let nodes: Vec<String> = world.nodes.keys().cloned().collect();
    let listener =
        TcpListener::bind(addr).await.map_err(|source| SimError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| SimError::Bind { addr, source })?;
    let ca = tls::Ca::new(&world.random_uuid())?;
    let certs = ca.node_cert(&node0, node_addresses::reachable(local).ip())?;
    let tls_cfg = tls::server_config(&certs, tls::pem_to_der(&certs.ca_pem))?;
    let url_of = |a: SocketAddr| {
        let a = node_addresses::reachable(a);
        format!("https://{}:{}", a.ip(), a.port())
    };
    let mut node_urls = vec![NodeUrl {
        node: node0.clone(),
        url: url_of(local),
        fingerprint: certs.fingerprint.clone(),
    }];
    let mut node_listeners = Vec::new();
    if config.node_addresses {
        let bound = node_addresses::bind(local, &nodes)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        if let Some(n) = world.nodes.get_mut(&node0) {
            n.ip = node_addresses::reachable(local).ip().to_string();
        }
        for b in bound {
            let ip = node_addresses::reachable(b.addr).ip();
            let c = ca.node_cert(&b.node, ip)?;
            if let Some(n) = world.nodes.get_mut(&b.node) {
                n.ip = ip.to_string();
            }
            node_urls.push(NodeUrl {
                node: b.node.clone(),
                url: url_of(b.addr),
                fingerprint: c.fingerprint.clone(),
            });
            node_listeners.push((b.listener, tls::server_config(&c, tls::pem_to_der(&c.ca_pem))?));
        }
    }
    let shared = Arc::new(Shared {
        world: std::sync::RwLock::new(world),
        generation: std::sync::atomic::AtomicU64::new(0),
        read_cache: Mutex::new(std::collections::HashMap::new()),
        counters: Mutex::new(state::Counters::new()),
        clock,
        env: Arc::new(Env {
            auth,
            ca_pem: certs.ca_pem.clone(),
            fingerprint: certs.fingerprint.clone(),
            node_fingerprints: node_urls
                .iter()
                .map(|n| (n.node.clone(), n.fingerprint.clone()))
                .collect(),
        }),
        schema: config.schema.clone(),
        routes: routes::all(),
        changed: Notify::new(),
        auth_failure_delay_ms: config.auth_failure_delay_ms,
        schema_violations: Mutex::new(Vec::new()),
        waiting: std::sync::atomic::AtomicUsize::new(0),
    });
    let shutdown = Arc::new(Notify::new());
    tokio::spawn(http::serve(
        listener,
        tls_cfg,
        shared.clone(),
        shutdown.clone(),
        config.io_timeout,
    ));
    for (l, cfg) in node_listeners {
        tokio::spawn(http::serve(l, cfg, shared.clone(), shutdown.clone(), config.io_timeout));
    }
    let host =
        if local.ip().is_unspecified() { "127.0.0.1".to_string() } else { local.ip().to_string() };
    Ok(SimHandle {
        url: format!("https://{host}:{}", local.port()),
        addr: local,
        fingerprint: certs.fingerprint,
        ca_pem: certs.ca_pem,
        nodes,
        node_urls,
        root_password,
        token,
        auditor_token: auditor,
        shared,
        shutdown,
        state_file: config.state_file,
    })
}

fn load_state(p: &PathBuf) -> Result<World, SimError> {
    let text = std::fs::read_to_string(p)
        .map_err(|source| SimError::State { path: p.display().to_string(), source })?;
    let mut w: World = serde_json::from_str(&text)
        .map_err(|source| SimError::StateFormat { path: p.display().to_string(), source })?;
    w.reseed();
    // Tasks that were running when the state was saved cannot resume their steps.
    for t in w.tasks.iter_mut().filter(|t| t.is_running()) {
        t.log.push("TASK ERROR: simulator restarted".into());
        t.state = task::TaskState::Stopped {
            exitstatus: "simulator restarted".into(),
            endtime: w.now / 1000,
        };
    }
    for g in w.guests.values_mut() {
        if matches!(g.conf.get("lock").map(String::as_str), Some("create" | "clone" | "destroyed"))
        {
            g.conf.remove("lock");
        }
    }
    Ok(w)
}

impl SimHandle {
    /// Run `f` on the world, then wake requests waiting on a lock.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let r = {
            let mut w = self.shared.world();
            f(&mut w)
        };
        self.shared.changed.notify_waiters();
        r
    }

    /// Give guest `vmid` a snapshot `name` taken at `taken` (Unix seconds), as if it had been
    /// made long ago (outside any test's clock): for rehearsing what old snapshots trigger.
    /// `false` when there is no such guest.
    pub fn put_snapshot(&self, vmid: u32, name: &str, taken: u64) -> bool {
        self.with_world(|w| {
            let Some(g) = w.guests.get_mut(&vmid) else { return false };
            let snap = state::Snapshot {
                config: g.conf.clone(),
                snaptime: taken,
                description: String::new(),
                parent: g.conf.get("parent").cloned(),
                vmstate: false,
                snapstate: None,
            };
            g.snapshots.insert(name.to_string(), snap);
            true
        })
    }

    /// Advance simulated time by `ms` (manual clock), running every task event on the way.
    pub fn advance(&self, ms: u64) {
        self.with_world(|w| {
            let t = w.now + ms;
            w.advance_to(t);
        });
    }

    /// Advance to the next task event; `false` when no task is pending.
    pub fn step(&self) -> bool {
        self.with_world(control::step)
    }

    /// Advance until every task has finished.
    pub fn settle(&self) {
        self.with_world(control::settle);
    }

    pub fn now_ms(&self) -> u64 {
        self.with_world(|w| w.now)
    }

    pub fn set_faults(&self, f: Faults) {
        self.with_world(|w| {
            w.faults = f;
            ha::wake(w);
        });
    }

    /// Requests so far, per route pattern.
    pub fn counters(&self) -> state::Counters {
        self.shared.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Start counting requests afresh.
    pub fn clear_counters(&self) {
        self.shared.counters.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// How many requests are blocked waiting for a lock right now.
    pub fn waiting_requests(&self) -> usize {
        self.shared.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests the `--schema` validation rejected.
    pub fn schema_violations(&self) -> Vec<String> {
        self.shared.schema_violations.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The URL, fingerprint and node names, as `--ready-file` writes them.
    pub fn ready_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "fingerprint": self.fingerprint,
            "nodes": self.nodes,
            "node_urls": self.node_urls,
        })
    }

    /// Write the cluster to the state file, if one was configured.
    pub fn save_state(&self) -> Result<(), SimError> {
        let Some(p) = &self.state_file else {
            return Ok(());
        };
        let text = self
            .with_world(|w| serde_json::to_string(&*w))
            .map_err(|source| SimError::StateFormat { path: p.display().to_string(), source })?;
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, text)
            .map_err(|source| SimError::State { path: tmp.display().to_string(), source })?;
        std::fs::rename(&tmp, p)
            .map_err(|source| SimError::State { path: p.display().to_string(), source })
    }

    /// Stop accepting connections and save state.
    pub fn shutdown(&self) -> Result<(), SimError> {
        self.shutdown.notify_waiters();
        self.save_state()
    }
}
