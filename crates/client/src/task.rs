//! Waiting for PVE tasks: notice the end soon after it happens, stream new log lines as
//! progress, honour a timeout, and turn a failed task into an error carrying the tail of its log.
//! Many waits on one node share one request per round: the node's task list since the oldest
//! waited task began (`/nodes/{node}/tasks?source=all&since=...`), fetched at most every round
//! and reused by every waiter. It says of each task whether it runs and, once it ended, how, so
//! a task's own status is read only when the list does not show it, and its log only when it
//! failed. A wait alone on its node first looks shortly before the task should end: what the
//! caller expects, else what tasks of its type took lately.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxctl_types::api::{TaskOutcome, TaskStatus, parse_exitstatus};
use proxctl_types::{NodeName, Upid};
use tokio::time::Instant;

use crate::{Client, ClientError};

/// A finished task that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDone {
    pub upid: Upid,
    /// `WARNINGS: n` counts as success; n is kept so callers can surface it.
    pub warnings: u32,
}

/// Options for `wait_task`.
pub struct WaitOptions<'a> {
    pub timeout: Option<Duration>,
    /// Called with each new task log line, in order.
    pub on_log: Option<&'a (dyn Fn(&str) + Send + Sync)>,
    /// How many log lines a failure error carries.
    pub tail_lines: u64,
    /// How long the task should take, when the caller can tell (from sizes); otherwise what
    /// tasks of its type took lately sets the first look.
    pub expected: Option<Duration>,
}

impl Default for WaitOptions<'_> {
    fn default() -> Self {
        Self { timeout: None, on_log: None, tail_lines: 10, expected: None }
    }
}

impl std::fmt::Debug for WaitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .field("tail_lines", &self.tail_lines)
            .finish()
    }
}

/// The default shortest time between two listings of one node's tasks
/// ([`crate::PollPolicy::round`]).
pub const ROUND: Duration = Duration::from_millis(100);

/// The longest pause between two looks at a waited task. A look costs at most one listing per
/// node and round, whoever asks; a wait looks about ten times over the time it has waited so
/// far (every round at first), so a long task costs a listing a second at most and its end is
/// noticed within a tenth of its run.
const LONGEST_LOOK: Duration = Duration::from_secs(1);

/// The task lists, per node, and how long tasks of each type took here lately.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    nodes: Mutex<HashMap<String, Arc<NodeWatch>>>,
    typical: Mutex<HashMap<String, Duration>>,
}

#[derive(Debug, Default)]
struct NodeWatch {
    state: Mutex<Listing>,
    /// One fetch at a time; the others wait for it and use its answer.
    fetch: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Listing {
    fetched: Option<Instant>,
    /// What the last list said of each task: `None` while it runs, its status once ended.
    seen: Arc<HashMap<String, Option<String>>>,
    /// The waits in progress on this node, by UPID: how many, and when the task began (the
    /// node's clock, from the UPID, which is what `since` compares with).
    watched: BTreeMap<String, (usize, u64)>,
}

/// What a node's list says of a task.
enum Look {
    Running,
    Ended(String),
    /// Not in the list: begun after it was fetched, or beyond its limit.
    Unknown,
}

/// A wait registered on its node; dropping it ends the registration.
struct Watched {
    node: Arc<NodeWatch>,
    key: String,
}

impl Watched {
    /// Whether no other wait follows a task on this node.
    fn alone(&self) -> bool {
        let s = self.node.state.lock().unwrap_or_else(|p| p.into_inner());
        s.watched.len() <= 1
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut s = self.node.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, _)) = s.watched.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                s.watched.remove(&self.key);
            }
        }
    }
}

impl Watches {
    /// How long a task of `task_type` usually takes (waits seen end), if any was seen.
    fn typical(&self, task_type: &str) -> Option<Duration> {
        self.typical.lock().unwrap_or_else(|p| p.into_inner()).get(task_type).copied()
    }

    /// Learn from a wait that saw its task end after `took`: a moving average, so one odd
    /// task (a clone onto a slow storage) does not set the next waits' first look alone.
    fn learn(&self, task_type: &str, took: Duration) {
        let mut m = self.typical.lock().unwrap_or_else(|p| p.into_inner());
        let t = m.entry(task_type.to_string()).or_insert(took);
        *t = t.mul_f64(0.7) + took.mul_f64(0.3);
    }

    fn node(&self, node: &NodeName) -> Arc<NodeWatch> {
        let mut m = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(m.entry(node.to_string()).or_default())
    }

    fn watch(&self, upid: &Upid) -> Watched {
        let node = self.node(&upid.node);
        let key = upid.to_string();
        {
            let mut s = node.state.lock().unwrap_or_else(|p| p.into_inner());
            s.watched.entry(key.clone()).or_insert((0, u64::from(upid.starttime))).0 += 1;
        }
        Watched { node, key }
    }
}

fn state(w: &Watched) -> std::sync::MutexGuard<'_, Listing> {
    w.node.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Listing {
    fn look(&self, key: &str, round: Duration) -> Option<Look> {
        if self.fetched.is_none_or(|t| t.elapsed() >= round) {
            return None;
        }
        Some(match self.seen.get(key) {
            Some(None) => Look::Running,
            Some(Some(status)) => Look::Ended(status.clone()),
            None => Look::Unknown,
        })
    }
}

impl Client {
    /// What `node`'s task list says of `upid`, from a list at most a round old. Concurrent
    /// callers wait for one fetch and share it.
    async fn look(&self, w: &Watched, upid: &Upid) -> Result<Look, ClientError> {
        let round = self.settings().poll.round;
        if let Some(l) = state(w).look(&w.key, round) {
            return Ok(l);
        }
        let _one = w.node.fetch.lock().await;
        let since = {
            let s = state(w);
            if let Some(l) = s.look(&w.key, round) {
                return Ok(l);
            }
            s.watched.values().map(|(_, t)| *t).min()
        };
        let filter = crate::endpoints::tasks::TaskFilter {
            source: Some("all".into()),
            since,
            // PVE lists 50 by default; a task missing from a short list only costs a status read.
            limit: Some(10_000),
            ..Default::default()
        };
        let list = self.task_list(&upid.node, &filter).await?;
        let seen: HashMap<String, Option<String>> = list
            .into_iter()
            .map(|t| {
                let ended =
                    t.endtime.is_some() || t.status.as_deref().is_some_and(|s| s != "RUNNING");
                (t.upid.to_string(), if ended { Some(t.status.unwrap_or_default()) } else { None })
            })
            .collect();
        let mut s = state(w);
        s.seen = Arc::new(seen);
        s.fetched = Some(Instant::now());
        Ok(s.look(&w.key, Duration::MAX).unwrap_or(Look::Unknown))
    }

    /// Wait until the task stops. `OK` and `WARNINGS: n` are success; anything else is
    /// `ClientError::TaskFailed` with the last lines of the log.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        opts: &WaitOptions<'_>,
    ) -> Result<TaskDone, ClientError> {
        if opts.on_log.is_some() {
            return self.follow_task(upid, opts).await;
        }
        let start = Instant::now();
        let watched = self.watches().watch(upid);
        let round = self.settings().poll.round;
        // A task expected to take a while is first looked at shortly before it should end; a
        // short or unknown one at once (single waits stay as quick as they can be). Beside
        // other waits on the node, looks are free (their listing is shared) and a queued task
        // may end well before its type's usual time, so then there is no first pause.
        let expected = opts.expected.or_else(|| self.watches().typical(&upid.task_type));
        let alone = watched.alone();
        if let Some(e) = expected.filter(|e| alone && *e > round * 2) {
            let first_look = e.mul_f64(0.8).min(opts.timeout.unwrap_or(Duration::MAX));
            tokio::time::sleep(first_look).await;
        }
        let mut first = true;
        loop {
            let outcome = match self.look(&watched, upid).await {
                Ok(Look::Running) => None,
                Ok(Look::Ended(status)) => Some(parse_exitstatus(&status)),
                // A list fetched just before the task began does not show it; the next does.
                Ok(Look::Unknown) if first => None,
                // The list is an optimisation; the task's own status is the truth.
                Ok(Look::Unknown) | Err(_) => self.task_status(&upid.node, upid).await?.outcome(),
            };
            first = false;
            if let Some(o) = outcome {
                self.watches().learn(&upid.task_type, start.elapsed());
                return self.ended(upid, o, opts).await;
            }
            // Around the expected end, every round (so the end is noticed within one); past
            // it, or with nothing expected, about ten looks over the time waited so far.
            let near_end = expected.is_some_and(|e| start.elapsed() < e.mul_f64(1.5));
            let pause = if near_end {
                round
            } else {
                (start.elapsed() / 10).clamp(round, LONGEST_LOOK.max(round))
            };
            if let Some(t) = opts.timeout
                && start.elapsed() + pause > t
            {
                return Err(ClientError::TaskTimeout {
                    upid: upid.clone(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// A wait that streams the task's log: its status and new log lines, read each poll.
    async fn follow_task(
        &self,
        upid: &Upid,
        opts: &WaitOptions<'_>,
    ) -> Result<TaskDone, ClientError> {
        let start = Instant::now();
        let poll = self.settings().poll.clone();
        let mut interval = poll.initial;
        let mut log_seen = 0u64;
        loop {
            let status: TaskStatus = self.task_status(&upid.node, upid).await?;
            if let Some(cb) = opts.on_log {
                log_seen = self.forward_log(upid, log_seen, cb).await?;
            }
            if let Some(o) = status.outcome() {
                return self.ended(upid, o, opts).await;
            }
            if let Some(t) = opts.timeout
                && start.elapsed() + interval > t
            {
                return Err(ClientError::TaskTimeout {
                    upid: upid.clone(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(interval).await;
            interval = poll.next(interval);
        }
    }

    /// A task ended: tell the hook, and turn a failure into an error with its log's tail.
    async fn ended(
        &self,
        upid: &Upid,
        outcome: TaskOutcome,
        opts: &WaitOptions<'_>,
    ) -> Result<TaskDone, ClientError> {
        if let Some(hook) = self.hook() {
            hook.task_ended(upid, &outcome).await;
        }
        match outcome {
            TaskOutcome::Ok => Ok(TaskDone { upid: upid.clone(), warnings: 0 }),
            TaskOutcome::Warnings(n) => {
                tracing::info!(%upid, warnings = n, "task finished with warnings");
                Ok(TaskDone { upid: upid.clone(), warnings: n })
            }
            TaskOutcome::Failed(exitstatus) => {
                let log_tail =
                    self.log_tail(&upid.node, upid, opts.tail_lines).await.unwrap_or_default();
                Err(ClientError::TaskFailed {
                    upid: upid.clone(),
                    node: upid.node.clone(),
                    exitstatus,
                    log_tail,
                })
            }
        }
    }

    async fn forward_log(
        &self,
        upid: &Upid,
        seen: u64,
        cb: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<u64, ClientError> {
        let (lines, _) = self.task_log(&upid.node, upid, seen, 0).await?;
        let mut n = seen;
        for l in lines {
            if l.n > n && !(l.n == 1 && l.t == "no content") {
                cb(&l.t);
                n = l.n;
            }
        }
        Ok(n)
    }

    /// The last `lines` lines of a task's log.
    pub async fn log_tail(
        &self,
        node: &NodeName,
        upid: &Upid,
        lines: u64,
    ) -> Result<Vec<String>, ClientError> {
        let (_, total) = self.task_log(node, upid, 0, 1).await?;
        let start = total.unwrap_or(0).saturating_sub(lines);
        let (log, _) = self.task_log(node, upid, start, lines).await?;
        Ok(log.into_iter().map(|l| l.t).collect())
    }
}
