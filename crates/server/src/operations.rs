//! Long work started over the API: it answers `202 Accepted` with an operation id at once and
//! runs on; `GET /api/v1/operations/{id}` says how far it got and how it ended.
//!
//! Every change to an operation is written to the state store (in order, by one writer task),
//! so any instance sharing the store answers for operations another one runs. On shutdown,
//! running operations get until the grace period ends; the ones still running then are
//! recorded as interrupted, so no client waits for an end that never comes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proxctl_ops::state::StateHandle;
use proxctl_state::document::{Document, kind};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::problem::Problem;

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OpState {
    Running,
    Succeeded,
    Failed,
}

/// An operation as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: String,
    /// What it does, e.g. `start web-1 (100 on pve1)`.
    pub description: String,
    /// The token that started it.
    pub actor: String,
    /// The server instance that runs it (`host:pid`).
    #[serde(default)]
    pub instance: String,
    pub state: OpState,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Progress lines, oldest first.
    pub progress: Vec<String>,
    /// What it produced, once it succeeded (an object or a list, by operation).
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<Problem>,
}

/// What the writer task is asked to do.
enum Write {
    Put(Operation),
    /// Answer once everything sent before is written.
    Flush(oneshot::Sender<()>),
}

/// The operations of this instance, and the way to everyone's.
#[derive(Debug)]
pub struct Operations {
    ops: Mutex<HashMap<String, Operation>>,
    events: crate::events::Events,
    state: Arc<StateHandle>,
    instance: String,
    writes: mpsc::UnboundedSender<Write>,
    /// Signalled whenever an operation of this instance ends.
    ended: tokio::sync::Notify,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Put(op) => write!(f, "Put({})", op.id),
            Write::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// How many operations the store keeps.
const KEEP_ENDED: usize = 1000;
/// How many this instance keeps in memory.
const KEEP_LOCAL: usize = 200;

/// This process, as operations name it.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

impl Operations {
    /// Needs a Tokio runtime: the writer task starts here.
    pub fn new(events: crate::events::Events, state: Arc<StateHandle>) -> Self {
        let (writes, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer(Arc::clone(&state), queue));
        Self {
            ops: Mutex::default(),
            events,
            state,
            instance: instance_name(),
            writes,
            ended: tokio::sync::Notify::new(),
        }
    }

    /// Change an operation, tell the event stream, and queue it for the store.
    fn update(&self, id: &str, f: impl FnOnce(&mut Operation)) {
        let snapshot = {
            let mut m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            m.get_mut(id).map(|op| {
                f(op);
                op.clone()
            })
        };
        if let Some(op) = snapshot {
            self.record(op);
        }
    }

    fn record(&self, op: Operation) {
        self.events.publish(op.actor.clone(), crate::events::EventBody::Operation(op.clone()));
        let _ = self.writes.send(Write::Put(op));
    }

    /// One operation, whichever instance runs it.
    pub async fn get(&self, id: &str) -> Option<Operation> {
        if let Some(op) = self.ops.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() {
            return Some(op);
        }
        let store = self.state.get().await.ok()?;
        match store.document(kind::OPERATION, id).await {
            Ok(d) => d.and_then(|d| serde_json::from_str(&d.body).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an operation from the state store");
                None
            }
        }
    }

    /// Every instance's operations, oldest first; this instance's own as they stand now.
    pub async fn list(&self) -> Vec<Operation> {
        let mut all: HashMap<String, Operation> = HashMap::new();
        match self.state.get().await {
            Ok(store) => match store.documents(kind::OPERATION, KEEP_ENDED).await {
                Ok(docs) => {
                    for d in docs {
                        if let Ok(op) = serde_json::from_str::<Operation>(&d.body) {
                            all.insert(op.id.clone(), op);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list operations in the state store"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot open the state store"),
        }
        for op in self.ops.lock().unwrap_or_else(|p| p.into_inner()).values() {
            all.insert(op.id.clone(), op.clone());
        }
        let mut v: Vec<Operation> = all.into_values().collect();
        v.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        v
    }

    /// Whether this instance still runs any operation.
    fn running(&self) -> usize {
        let m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        m.values().filter(|o| o.state == OpState::Running).count()
    }

    /// Return once every change made so far is in the store (or the store gave up on it).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writes.send(Write::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        }
    }

    /// For shutdown: wait until this instance's operations end or `deadline` passes, record
    /// the ones still running as interrupted, and return once the store has everything.
    pub async fn wind_down(&self, deadline: tokio::time::Instant) -> usize {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the check, so an end between the two is not missed.
            ended.as_mut().enable();
            if self.running() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                break;
            }
        }
        let left: Vec<String> = {
            let m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            m.values().filter(|o| o.state == OpState::Running).map(|o| o.id.clone()).collect()
        };
        for id in &left {
            self.update(id, |o| {
                o.state = OpState::Failed;
                o.ended_at = Some(jiff::Timestamp::now().to_string());
                o.error = Some(Problem::unavailable(format!(
                    "interrupted: server instance {} stopped before this operation ended; \
                     look at the guests it touched (and their tasks) before running it again",
                    o.instance
                )));
            });
        }
        self.flush().await;
        left.len()
    }
    /// [`Self::start`] for work whose future the compiler cannot prove `Send` (the engine's
    /// apply and bulk runs: closures in iterator chains held across awaits). It runs on a
    /// blocking thread of its own, acting as `actor` there too.
    pub fn start_pinned<M, F>(
        self: &Arc<Self>,
        actor: &str,
        description: String,
        make: M,
    ) -> Operation
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<serde_json::Value, Problem>> + 'static,
    {
        self.start_pinned_reporting(actor, description, move |_| make())
    }

    /// [`Self::start_pinned`] for work that reports progress lines as it goes.
    pub fn start_pinned_reporting<M, F>(
        self: &Arc<Self>,
        actor: &str,
        description: String,
        make: M,
    ) -> Operation
    where
        M: FnOnce(Reporter) -> F + Send + 'static,
        F: Future<Output = Result<serde_json::Value, Problem>> + 'static,
    {
        let (op, reporter) = self.begin(actor, description);
        let (who, runtime) = (actor.to_string(), tokio::runtime::Handle::current());
        let report = reporter.clone();
        self.spawn(reporter, async move {
            let run = move || runtime.block_on(proxctl_ops::audit::acting_as(who, make(report)));
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| Problem::internal(format!("the operation stopped: {e}")))?
        });
        op
    }

    /// Start `work` as an operation acting as `actor`; returns it as it stands now.
    pub fn start<F>(self: &Arc<Self>, actor: &str, description: String, work: F) -> Operation
    where
        F: Future<Output = Result<serde_json::Value, Problem>> + Send + 'static,
    {
        self.start_reporting(actor, description, move |_| work)
    }

    /// [`Self::start`] for work that reports progress lines as it goes.
    pub fn start_reporting<M, F>(
        self: &Arc<Self>,
        actor: &str,
        description: String,
        make: M,
    ) -> Operation
    where
        M: FnOnce(Reporter) -> F,
        F: Future<Output = Result<serde_json::Value, Problem>> + Send + 'static,
    {
        let (op, reporter) = self.begin(actor, description);
        let work = make(reporter.clone());
        self.spawn(reporter, work);
        op
    }

    /// Record a new running operation.
    fn begin(self: &Arc<Self>, actor: &str, description: String) -> (Operation, Reporter) {
        let mut bytes = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let id = format!("op-{}", hex::encode(bytes));
        let op = Operation {
            id: id.clone(),
            description,
            actor: actor.to_string(),
            instance: self.instance.clone(),
            state: OpState::Running,
            started_at: jiff::Timestamp::now().to_string(),
            ended_at: None,
            progress: Vec::new(),
            result: None,
            error: None,
        };
        {
            let mut m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            // The store keeps them all; locally only what clients of this instance may still
            // be following.
            if m.len() >= KEEP_LOCAL {
                let mut ended: Vec<(String, String)> = m
                    .values()
                    .filter(|o| o.state != OpState::Running)
                    .map(|o| (o.started_at.clone(), o.id.clone()))
                    .collect();
                ended.sort();
                for (_, old) in ended.iter().take(m.len() + 1 - KEEP_LOCAL) {
                    m.remove(old);
                }
            }
            m.insert(id.clone(), op.clone());
        }
        self.record(op.clone());
        (op, Reporter { ops: Arc::clone(self), id })
    }

    /// Run `work` to its end and record how it ended.
    fn spawn<F>(self: &Arc<Self>, reporter: Reporter, work: F)
    where
        F: Future<Output = Result<serde_json::Value, Problem>> + Send + 'static,
    {
        let ops = Arc::clone(self);
        let actor = {
            let m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(&reporter.id) {
                Some(op) => op.actor.clone(),
                None => return,
            }
        };
        tokio::spawn(async move {
            let outcome = proxctl_ops::audit::acting_as(actor, work).await;
            ops.update(&reporter.id, |o| {
                if o.state != OpState::Running {
                    return; // recorded as interrupted by a shutdown meanwhile
                }
                o.ended_at = Some(jiff::Timestamp::now().to_string());
                match outcome {
                    Ok(v) => {
                        o.state = OpState::Succeeded;
                        o.result = Some(v);
                    }
                    Err(p) => {
                        o.state = OpState::Failed;
                        o.error = Some(p);
                    }
                }
            });
            ops.ended.notify_waiters();
        });
    }
}

/// Write operations to the store in the order they changed; of several changes to one
/// operation queued together only the last is written.
async fn writer(state: Arc<StateHandle>, mut queue: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = queue.try_recv() {
            batch.push(more);
        }
        let mut latest: Vec<Operation> = Vec::new();
        let mut flushes = Vec::new();
        for w in batch {
            match w {
                Write::Put(op) => match latest.iter_mut().find(|o| o.id == op.id) {
                    Some(slot) => *slot = op,
                    None => latest.push(op),
                },
                Write::Flush(tx) => flushes.push(tx),
            }
        }
        let ended = latest.iter().any(|o| o.state != OpState::Running);
        if let Err(e) = store(&state, &latest, ended).await {
            tracing::warn!(error = %e, "cannot record operations in the state store; \
                other instances will not see them");
        }
        for tx in flushes {
            let _ = tx.send(());
        }
    }
}

async fn store(state: &StateHandle, ops: &[Operation], prune: bool) -> Result<(), String> {
    let store = state.get().await.map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now();
    for op in ops {
        let body = serde_json::to_string(op).map_err(|e| e.to_string())?;
        let created_at = op.started_at.parse().unwrap_or(now);
        let d = Document {
            kind: kind::OPERATION.into(),
            id: op.id.clone(),
            body,
            created_at,
            updated_at: now,
        };
        store.put_document(&d).await.map_err(|e| e.to_string())?;
    }
    if prune {
        store.prune_documents(kind::OPERATION, KEEP_ENDED).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How running work adds progress lines to its operation (and to the event stream).
#[derive(Debug, Clone)]
pub struct Reporter {
    ops: Arc<Operations>,
    id: String,
}

/// Progress lines kept per operation; later ones replace the last.
const KEEP_PROGRESS: usize = 500;

impl Reporter {
    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        self.ops.update(&self.id, |o| {
            if o.progress.len() >= KEEP_PROGRESS {
                o.progress.pop();
            }
            o.progress.push(line);
        });
    }
}
