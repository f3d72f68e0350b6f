//! Waiting for PVE tasks: notice the end with a growing interval, stream new log lines as
//! progress, honour a timeout, and turn a failed task into an error carrying the tail of its log.
//! Many waits on one node share one request per round: the node's list of running tasks
//! (`/nodes/{node}/tasks?source=active`), fetched at most every [`ROUND`] and reused by every
//! waiter; a task's status (and log) is read only once it has left that list.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxctl_types::api::{TaskOutcome, TaskStatus};
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
}

impl Default for WaitOptions<'_> {
    fn default() -> Self {
        Self { timeout: None, on_log: None, tail_lines: 10 }
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

/// The shortest time between two listings of one node's running tasks.
pub const ROUND: Duration = Duration::from_millis(100);

/// The first and the longest pause between two looks at a waited task. Short, because a look
/// usually costs nothing (another waiter's listing is reused); capped, so a long task costs a
/// listing a second.
const FIRST_LOOK: Duration = Duration::from_millis(100);
const LONGEST_LOOK: Duration = Duration::from_secs(1);

/// The running-task listings, per node.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    nodes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Listing>>>>,
}

#[derive(Debug, Default)]
struct Listing {
    fetched: Option<Instant>,
    running: Arc<BTreeSet<String>>,
}

impl Watches {
    fn node(&self, node: &NodeName) -> Arc<tokio::sync::Mutex<Listing>> {
        let mut m = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(m.entry(node.to_string()).or_default())
    }
}

impl Client {
    /// The UPIDs running on `node`, from a listing at most [`ROUND`] old. Concurrent callers
    /// wait for one fetch and share it.
    async fn running_on(&self, node: &NodeName) -> Result<Arc<BTreeSet<String>>, ClientError> {
        let slot = self.watches().node(node);
        let mut l = slot.lock().await;
        if l.fetched.is_some_and(|t| t.elapsed() < ROUND) {
            return Ok(Arc::clone(&l.running));
        }
        let filter = crate::endpoints::tasks::TaskFilter {
            source: Some("active".into()),
            // PVE lists 50 by default; a task missing from a short list only costs a status read.
            limit: Some(10_000),
            ..Default::default()
        };
        let list = self.task_list(node, &filter).await?;
        l.running = Arc::new(
            list.iter().filter(|t| t.endtime.is_none()).map(|t| t.upid.to_string()).collect(),
        );
        l.fetched = Some(Instant::now());
        Ok(Arc::clone(&l.running))
    }

    /// Wait until the task stops. `OK` and `WARNINGS: n` are success; anything else is
    /// `ClientError::TaskFailed` with the last lines of the log.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        opts: &WaitOptions<'_>,
    ) -> Result<TaskDone, ClientError> {
        let start = Instant::now();
        let poll = self.settings().poll.clone();
        let mut interval = if opts.on_log.is_some() { poll.initial } else { FIRST_LOOK };
        let mut log_seen = 0u64;
        let key = upid.to_string();
        loop {
            // Without a log to follow, a task still in its node's shared listing needs no
            // request of its own.
            if opts.on_log.is_none() {
                match self.running_on(&upid.node).await {
                    Ok(running) if running.contains(&key) => {
                        if let Some(t) = opts.timeout
                            && start.elapsed() + interval > t
                        {
                            return Err(ClientError::TaskTimeout {
                                upid: upid.clone(),
                                waited: start.elapsed(),
                            });
                        }
                        tokio::time::sleep(interval).await;
                        interval = (interval.mul_f64(1.5)).min(LONGEST_LOOK);
                        continue;
                    }
                    Ok(_) => {}
                    // The listing is an optimisation; the status read below is the truth.
                    Err(e) => {
                        tracing::debug!(node = %upid.node, error = %e, "cannot list running tasks")
                    }
                }
            }
            let status: TaskStatus = self.task_status(&upid.node, upid).await?;
            if let Some(cb) = opts.on_log {
                log_seen = self.forward_log(upid, log_seen, cb).await?;
            }
            let outcome = status.outcome();
            if let (Some(o), Some(hook)) = (&outcome, self.hook()) {
                hook.task_ended(upid, o).await;
            }
            match outcome {
                Some(TaskOutcome::Ok) => {
                    return Ok(TaskDone { upid: upid.clone(), warnings: 0 });
                }
                Some(TaskOutcome::Warnings(n)) => {
                    tracing::info!(%upid, warnings = n, "task finished with warnings");
                    return Ok(TaskDone { upid: upid.clone(), warnings: n });
                }
                Some(TaskOutcome::Failed(exitstatus)) => {
                    let log_tail =
                        self.log_tail(&upid.node, upid, opts.tail_lines).await.unwrap_or_default();
                    return Err(ClientError::TaskFailed {
                        upid: upid.clone(),
                        node: upid.node.clone(),
                        exitstatus,
                        log_tail,
                    });
                }
                None => {}
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
            interval = if opts.on_log.is_some() {
                poll.next(interval)
            } else {
                (interval.mul_f64(1.5)).min(LONGEST_LOOK)
            };
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
