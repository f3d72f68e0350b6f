//! What happens, as it happens: operations starting and ending, every mutating call proxctl
//! sends to a remote (as the audit log records it) and every task that ends, streamed to
//! clients as server-sent events (`GET /api/v1/events`). The client hook that audits calls is
//! wrapped here, so no call is missed and none is reported that was not made.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use proxctl_client::{ApiRequest, Client, ClientError, MutationHook, MutationResult};
use proxctl_types::Upid;
use proxctl_types::api::TaskOutcome;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::operations::Operation;

/// One event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EventBody {
    /// An operation started, progressed or ended: its whole state.
    Operation(Operation),
    /// A mutating call to a remote: `sending` before it goes, then `ok` or the error.
    Call { target: String, action: String, result: String },
    /// A task ended: `OK`, `WARNINGS: n` or its error.
    Task { upid: String, node: String, outcome: String },
}

/// An event with its sequence number and who caused it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: u64,
    /// The token (or the server's own work) behind it.
    pub actor: String,
    pub time: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The server's event feed; clones share it.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
    seq: Arc<AtomicU64>,
    /// Changes made through this server (calls and task ends): what cached reads compare.
    mutations: Arc<AtomicU64>,
    /// The changes among them that can add or remove snapshots (snapshot calls and tasks,
    /// guests destroyed): what the attention list's snapshot scan compares.
    snapshot_mutations: Arc<AtomicU64>,
}

/// Events a slow client may fall behind by before it misses some (it is told so).
const BACKLOG: usize = 4096;

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            seq: Arc::default(),
            mutations: Arc::default(),
            snapshot_mutations: Arc::default(),
        }
    }

    /// How many changes have been made through this server so far.
    pub fn mutations(&self) -> u64 {
        self.mutations.load(Ordering::SeqCst)
    }

    /// How many changes that may add or remove snapshots have been made through this server.
    pub fn snapshot_mutations(&self) -> u64 {
        self.snapshot_mutations.load(Ordering::SeqCst)
    }

    /// A change was made; `snapshots` when it may have added or removed snapshots.
    fn changed(&self, snapshots: bool) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        if snapshots {
            self.snapshot_mutations.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn publish(&self, actor: String, body: EventBody) {
        let e = Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            actor,
            time: jiff::Timestamp::now().to_string(),
            body,
        };
        // No subscriber is not an error: nobody is listening.
        let _ = self.tx.send(Arc::new(e));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// The actor of the current call: the token an operation runs for, else the server itself.
fn actor() -> String {
    proxctl_ops::audit::current_actor().unwrap_or_else(|| "proxctl serve".into())
}

/// A client hook that lets `inner` (the auditor, with safe mode) decide and record, and
/// publishes what it let through.
#[derive(Debug)]
pub struct PublishingHook {
    inner: Arc<dyn MutationHook>,
    events: Events,
    /// Where failed PVE tasks are raised as notifications (`task-failed`), and the remote's name.
    notify: Option<(Arc<proxctl_ops::state::StateHandle>, String)>,
}

impl PublishingHook {
    pub fn new(inner: Arc<dyn MutationHook>, events: Events) -> Self {
        Self { inner, events, notify: None }
    }

    /// Also raise a notification for every task that fails on `remote`.
    pub fn notifying(mut self, state: Arc<proxctl_ops::state::StateHandle>, remote: &str) -> Self {
        self.notify = Some((state, remote.to_string()));
        self
    }
}

#[async_trait]
impl MutationHook for PublishingHook {
    async fn before(&self, client: &Client, req: &ApiRequest) -> Result<(), ClientError> {
        self.inner.before(client, req).await?;
        let body = EventBody::Call {
            target: proxctl_ops::audit::target_of(req),
            action: format!("{} {}", req.method(), req.endpoint.template()),
            result: "sending".into(),
        };
        self.events.publish(actor(), body);
        Ok(())
    }

    async fn after(&self, req: &ApiRequest, result: MutationResult<'_>) {
        let text = match &result {
            MutationResult::Ok { .. } => "ok".to_string(),
            MutationResult::Failed(e) => format!("failed: {e}"),
        };
        self.inner.after(req, result).await;
        let template = req.endpoint.template();
        self.events.changed(template.contains("/snapshot") || req.method().as_str() == "DELETE");
        let body = EventBody::Call {
            target: proxctl_ops::audit::target_of(req),
            action: format!("{} {}", req.method(), req.endpoint.template()),
            result: text,
        };
        self.events.publish(actor(), body);
    }

    async fn task_ended(&self, upid: &Upid, outcome: &TaskOutcome) {
        self.inner.task_ended(upid, outcome).await;
        let snapshots = upid.task_type.contains("snapshot") || upid.task_type.ends_with("destroy");
        self.events.changed(snapshots);
        if let (TaskOutcome::Failed(e), Some((state, remote))) = (outcome, &self.notify) {
            let event = proxctl_ops::notify::Event::new(
                "task-failed",
                proxctl_ops::notify::Severity::Error,
                format!("PVE task {} failed on {} (remote {remote})", upid.task_type, upid.node),
                e.clone(),
                serde_json::json!({ "upid": upid.to_string(), "remote": remote, "actor": actor() }),
            );
            // The guest a task was about, for matchers with a selector (`id:`, `node:`).
            let guest = upid.id.parse::<u32>().ok();
            let event = event.about(
                guest
                    .map(|vmid| proxctl_ops::notify::EventGuest {
                        vmid,
                        node: upid.node.to_string(),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
            );
            // Off the caller's path: reading the matchers must not slow the API call down.
            let state = Arc::clone(state);
            tokio::spawn(async move {
                proxctl_ops::notify::raise(state, event, Default::default()).await;
            });
        }
        let outcome = match outcome {
            TaskOutcome::Ok => "OK".to_string(),
            TaskOutcome::Warnings(n) => format!("WARNINGS: {n}"),
            TaskOutcome::Failed(e) => e.clone(),
        };
        let body = EventBody::Task { upid: upid.to_string(), node: upid.node.to_string(), outcome };
        self.events.publish(actor(), body);
    }
}
