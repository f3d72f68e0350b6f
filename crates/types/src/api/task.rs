//! Tasks: status, list items and log lines (§3).

use serde::{Deserialize, Serialize};

use crate::{NodeName, Upid};

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: Upid,
    pub node: NodeName,
    pub pid: u64,
    pub pstart: u64,
    pub starttime: u64,
    #[serde(rename = "type")]
    pub task_type: String,
    pub id: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    /// `running` or `stopped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
}

/// How a finished task ended, read from `exitstatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Ok,
    Warnings(u32),
    Failed(String),
}

impl TaskStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }

    /// `None` while running. Only `OK` and `WARNINGS: n` are success.
    pub fn outcome(&self) -> Option<TaskOutcome> {
        if self.is_running() {
            return None;
        }
        let e = self.exitstatus.as_deref().unwrap_or("unexpected status");
        Some(parse_exitstatus(e))
    }
}

pub fn parse_exitstatus(e: &str) -> TaskOutcome {
    if e == "OK" {
        TaskOutcome::Ok
    } else if let Some(n) = e.strip_prefix("WARNINGS: ").and_then(|n| n.trim().parse().ok()) {
        TaskOutcome::Warnings(n)
    } else {
        TaskOutcome::Failed(e.to_string())
    }
}

/// An item of `GET /nodes/{node}/tasks` or `GET /cluster/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskListItem {
    pub upid: Upid,
    pub node: NodeName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pstart: Option<u64>,
    pub starttime: u64,
    #[serde(rename = "type")]
    pub task_type: String,
    pub id: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endtime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One line of `GET .../tasks/{upid}/log`; `n` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogLine {
    pub n: u64,
    pub t: String,
}
