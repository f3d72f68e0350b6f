//! The server under test: an in-process simulator with three guests behind an in-process
//! `proxctl serve`, a SQLite state store, and a token per role (plus a scoped one).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use proxctl_client::{Client, ClientSettings, Credentials, TlsMode};
use proxctl_ops::state::{StateHandle, StateSpec};
use proxctl_server::{Remote, Role, ServeConfig};
use reqwest::StatusCode;
use serde_json::Value;

const SCENARIO: &str = "nodes: [{name: pve1}, {name: pve2}]
guests:
  - {vmid: 9000, config: {name: tpl, template: true, scsi0: \"local-lvm:base-9000-disk-0,size=2G\"}}
  - {vmid: 100, config: {name: web-1, tags: web, memory: \"512\", scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, config: {name: web-2, tags: web, memory: \"512\", scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
  - {vmid: 200, config: {name: db-1, tags: db, memory: \"512\", scsi0: \"local-lvm:vm-200-disk-0,size=4G\"}}
";

pub struct Api {
    pub _sim: proxctl_sim::SimHandle,
    pub _dir: tempfile::TempDir,
    pub server: Option<proxctl_server::ServerHandle>,
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<StateHandle>,
    pub tokens: std::collections::BTreeMap<&'static str, String>,
}

impl Api {
    pub async fn start(with_down_remote: bool) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cfg = proxctl_sim::SimConfig {
            clock: proxctl_sim::ClockMode::Realtime,
            time_scale: 50.0,
            auth_failure_delay_ms: 0,
            scenario: Some(proxctl_sim::scenario::Scenario::from_yaml(SCENARIO).unwrap()),
            ..Default::default()
        };
        let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = StateSpec::Sqlite(dir.path().join("state.db"));
        let state = Arc::new(StateHandle::new(spec));
        let mut s = ClientSettings::new(&sim.url).unwrap();
        s.tls = TlsMode::Pin(sim.fingerprint.parse().unwrap());
        s.credentials = Some(Credentials::from_full_token(sim.token.expose()).unwrap());
        let client = Client::new(s).unwrap();
        let mut remotes = vec![Remote { name: "pve".into(), client }];
        if with_down_remote {
            // A port nothing listens on: this remote is down from the start.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("https://{}", l.local_addr().unwrap());
            drop(l);
            let mut s = ClientSettings::new(&url).unwrap();
            s.credentials = Some(Credentials::from_full_token(sim.token.expose()).unwrap());
            s.retry.max_attempts = 1;
            s.connect_timeout = Duration::from_secs(2);
            remotes.push(Remote { name: "down".into(), client: Client::new(s).unwrap() });
        }
        let server = proxctl_server::start(ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: None,
            tls_key: None,
            data_dir: dir.path().join("server"),
            remotes,
            state: Arc::clone(&state),
            rate_limit: 10_000,
            singleton: Default::default(),
            metrics: Default::default(),
            mcp: Default::default(),
            audit: proxctl_ops::audit::AuditContext {
                actor: "server".into(),
                profile: "pve".into(),
                safe_mode: false,
                force: false,
                file: None,
                syslog: None,
                policy: proxctl_ops::audit::AuditPolicy::Strict,
            },
            metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        })
        .await
        .unwrap();
        let mut tokens = std::collections::BTreeMap::new();
        for (name, role, scope) in [
            ("viewer", Role::Viewer, None),
            ("operator", Role::Operator, None),
            ("admin", Role::Admin, None),
            ("scoped", Role::Operator, Some("web")),
            ("scoped-admin", Role::Admin, Some("web")),
        ] {
            let (_, secret) =
                proxctl_server::tokens::create(&state, name, role, scope, None, "test")
                    .await
                    .unwrap();
            tokens.insert(name, secret.expose().to_string());
        }
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        Api {
            url: server.url.clone(),
            server: Some(server),
            _sim: sim,
            _dir: dir,
            http,
            state,
            tokens,
        }
    }

    pub async fn call(
        &self,
        who: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = match method {
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            "PATCH" => self.http.patch(url),
            "GET" => self.http.get(url),
            other => panic!("the test client does not send {other}"),
        };
        if let Some(w) = who {
            req = req.bearer_auth(&self.tokens[w]);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Plan `manifests` and apply exactly that plan as the admin; the operation must succeed.
    pub async fn apply_manifests(&self, manifests: &str) {
        let body = serde_json::json!({"manifests": manifests});
        let (s, plan) = self.call(Some("admin"), "POST", "/api/v1/plans", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{plan}");
        let apply = format!("/api/v1/plans/{}/apply", plan["id"].as_str().unwrap());
        let digest = serde_json::json!({"digest": plan["digest"]});
        let (s, op) = self.call(Some("admin"), "POST", &apply, Some(digest)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{op}");
        let done = self.finished("admin", op["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }

    /// Follow an operation until it ends (polling its state: a condition, not a guess).
    pub async fn finished(&self, who: &str, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (s, op) =
                self.call(Some(who), "GET", &format!("/api/v1/operations/{id}"), None).await;
            assert_eq!(s, StatusCode::OK, "{op}");
            if op["state"] != "running" {
                return op;
            }
            assert!(tokio::time::Instant::now() < deadline, "operation {id} never ended: {op}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
