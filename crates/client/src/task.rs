//! Waiting for PVE tasks: poll status with a growing interval, stream new log lines as progress,
//! honour a timeout, and turn a failed task into an error carrying the tail of its log.

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

impl Client {
    /// Wait until the task stops. `OK` and `WARNINGS: n` are success; anything else is
    /// `ClientError::TaskFailed` with the last lines of the log.
    pub async fn wait_task(
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
            interval = poll.next(interval);
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
