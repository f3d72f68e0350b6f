//! Fault injection: error rates, connection resets and slow responses per route pattern, and
//! task failure rates. Draws come from the world's seeded RNG, so runs are reproducible.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// One rule; `pattern` matches `"<METHOD> <path>"` by substring (e.g. `"POST /nodes/pve1/qemu"`
/// or just `"/clone"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub pattern: String,
    /// Probability of answering `status` instead of handling the request.
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub message: Option<String>,
    /// Probability of closing the connection without an answer.
    #[serde(default)]
    pub reset_rate: f64,
    /// Extra latency in simulated milliseconds.
    #[serde(default)]
    pub slow_ms: u64,
}

fn default_status() -> u16 {
    500
}

impl FaultRule {
    /// Always answer requests matching `pattern` with `status` and `message`.
    pub fn always(pattern: impl Into<String>, status: u16, message: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            error_rate: 1.0,
            status,
            message: Some(message.into()),
            reset_rate: 0.0,
            slow_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Probability that a task fails at its last step.
    #[serde(default)]
    pub task_failure_rate: f64,
    /// Task types the failure rate applies to (all when empty).
    #[serde(default)]
    pub task_failure_types: Vec<String>,
    /// What a failed task reports; default `simulated task failure (fault injection)`. A lock
    /// text such as `can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout`
    /// makes it a lock failure, which clients treat as transient.
    #[serde(default)]
    pub task_failure_message: Option<String>,
    /// Nodes that are down: requests for them fail as pveproxy's do (595 `No route to host`),
    /// their guests and storages are `unknown`, and quorum counts without them. (A scenario's
    /// `online: false` does the same from the start.)
    #[serde(default)]
    pub offline_nodes: Vec<String>,
    /// Storages that are full: allocations on them and backups to them fail with `No space
    /// left on device`, and `/cluster/resources` shows them used up.
    #[serde(default)]
    pub full_storages: Vec<String>,
    /// Tickets older than this many seconds are expired (PVE: 7200), to rehearse renewal and
    /// re-login: `0` expires every ticket already issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_lifetime_s: Option<u64>,
}

impl Faults {
    /// How long tickets live now.
    pub fn ticket_lifetime(&self) -> i64 {
        self.ticket_lifetime_s
            .map_or(crate::auth::TICKET_LIFETIME_S, |s| i64::try_from(s).unwrap_or(i64::MAX))
    }
}

impl Faults {
    /// Whether no request can get a fault (task failures are decided elsewhere).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Refuse rules that cannot mean anything: rates outside 0..=1, statuses that are not HTTP
    /// errors. (A silently clamped `error_rate: 5` hides a typo in a test.)
    pub fn validate(&self) -> Result<(), String> {
        let rate = |what: &str, r: f64| {
            if r.is_finite() && (0.0..=1.0).contains(&r) {
                Ok(())
            } else {
                Err(format!("{what} must be a probability between 0 and 1, not {r}"))
            }
        };
        for (i, r) in self.rules.iter().enumerate() {
            rate(&format!("rules[{i}].error_rate"), r.error_rate)?;
            rate(&format!("rules[{i}].reset_rate"), r.reset_rate)?;
            if !(400..=599).contains(&r.status) {
                return Err(format!(
                    "rules[{i}].status must be an HTTP error status (400-599), not {}",
                    r.status
                ));
            }
        }
        rate("task_failure_rate", self.task_failure_rate)
    }
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    None,
    Error { status: u16, message: String },
    Reset,
    Slow(u64),
}

impl Faults {
    pub fn decide(&self, rng: &mut impl Rng, method: &str, path: &str) -> FaultAction {
        let line = format!("{method} {path}");
        for r in self.rules.iter().filter(|r| line.contains(&r.pattern)) {
            if r.reset_rate > 0.0 && rng.random_bool(r.reset_rate.clamp(0.0, 1.0)) {
                return FaultAction::Reset;
            }
            if r.error_rate > 0.0 && rng.random_bool(r.error_rate.clamp(0.0, 1.0)) {
                let message = r
                    .message
                    .clone()
                    .unwrap_or_else(|| "simulated failure (fault injection)".into());
                return FaultAction::Error { status: r.status, message };
            }
            if r.slow_ms > 0 {
                return FaultAction::Slow(r.slow_ms);
            }
        }
        FaultAction::None
    }

    pub fn task_fails(&self, rng: &mut impl Rng, task_type: &str) -> bool {
        self.task_failure_rate > 0.0
            && (self.task_failure_types.is_empty()
                || self.task_failure_types.iter().any(|t| t == task_type))
            && rng.random_bool(self.task_failure_rate.clamp(0.0, 1.0))
    }
}
