//! Long work started over the API: it answers `202 Accepted` with an operation id at once and
//! runs on; `GET /api/v1/operations/{id}` says how far it got and how it ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::problem::Problem;

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OpState {
    Running,
    Succeeded,
    Failed,
}

/// An operation as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: String,
    /// What it does, e.g. `start web-1 (100 on pve1)`.
    pub description: String,
    /// The token that started it.
    pub actor: String,
    pub state: OpState,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Progress lines, oldest first.
    pub progress: Vec<String>,
    /// What it produced, once it succeeded.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<Problem>,
}

/// The operations of this instance.
#[derive(Debug, Default)]
pub struct Operations {
    ops: Mutex<HashMap<String, Operation>>,
    events: crate::events::Events,
}

/// How many ended operations are kept for clients to read.
const KEEP_ENDED: usize = 1000;

impl Operations {
    pub fn new(events: crate::events::Events) -> Self {
        Self { ops: Mutex::default(), events }
    }

    /// Change an operation and tell the event stream.
    fn update(&self, id: &str, f: impl FnOnce(&mut Operation)) {
        let snapshot = {
            let mut m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            m.get_mut(id).map(|op| {
                f(op);
                op.clone()
            })
        };
        if let Some(op) = snapshot {
            self.events.publish(op.actor.clone(), crate::events::EventBody::Operation(op));
        }
    }

    pub fn get(&self, id: &str) -> Option<Operation> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    pub fn list(&self) -> Vec<Operation> {
        let mut v: Vec<Operation> =
            self.ops.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        v
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
            state: OpState::Running,
            started_at: jiff::Timestamp::now().to_string(),
            ended_at: None,
            progress: Vec::new(),
            result: None,
            error: None,
        };
        {
            let mut m = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            if m.len() >= KEEP_ENDED {
                let mut ended: Vec<(String, String)> = m
                    .values()
                    .filter(|o| o.state != OpState::Running)
                    .map(|o| (o.started_at.clone(), o.id.clone()))
                    .collect();
                ended.sort();
                for (_, old) in ended.iter().take(m.len() + 1 - KEEP_ENDED) {
                    m.remove(old);
                }
            }
            m.insert(id.clone(), op.clone());
        }
        self.events.publish(op.actor.clone(), crate::events::EventBody::Operation(op.clone()));
        (op, Reporter { ops: Arc::clone(self), id })
    }

    /// Run `work` to its end and record how it ended.
    fn spawn<F>(self: &Arc<Self>, reporter: Reporter, work: F)
    where
        F: Future<Output = Result<serde_json::Value, Problem>> + Send + 'static,
    {
        let ops = Arc::clone(self);
        let actor = match self.get(&reporter.id) {
            Some(op) => op.actor,
            None => return,
        };
        tokio::spawn(async move {
            let outcome = proxctl_ops::audit::acting_as(actor, work).await;
            ops.update(&reporter.id, |o| {
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
        });
    }
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
