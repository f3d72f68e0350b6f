//! Who calls and what they may do: the mode the server runs in (read-only by default), the
//! caller's role and scope (from the API token on `/mcp`; the local user on stdio), per-caller
//! rate limits, and which tools each of those allows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proxctl_types::selector::{Selector, Subject};

use crate::error::ToolError;

/// What the server lets assistants do at all, whatever their token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The default: look, and plan; nothing changes.
    #[default]
    ReadOnly,
    /// Also the operate tools and change sets, as far as the caller's role allows.
    Operate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::Operate => "operate",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read-only" | "readonly" | "read" => Ok(Mode::ReadOnly),
            "operate" => Ok(Mode::Operate),
            other => Err(format!("MCP mode must be read-only or operate, not '{other}'")),
        }
    }
}

/// A caller's role: `proxctl serve`'s token roles; the local user of `proxctl mcp` is an
/// admin, as on the command line.
pub use proxctl_ops::role::Role;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The API token's name (`None` on stdio, where the local user calls).
    pub token: Option<String>,
    pub role: Role,
    /// A token limited to some guests sees and touches only those.
    pub scope: Option<Selector>,
}

impl Principal {
    /// The local user of `proxctl mcp` over stdio.
    pub fn local() -> Self {
        Principal { token: None, role: Role::Admin, scope: None }
    }

    pub fn sees(&self, s: &Subject<'_>) -> bool {
        self.scope.as_ref().is_none_or(|sel| sel.matches(s))
    }

    /// `sel`, narrowed to the scope.
    pub fn within(&self, sel: Selector) -> Selector {
        match &self.scope {
            None => sel,
            Some(scope) => Selector::And(Box::new(sel), Box::new(scope.clone())),
        }
    }

    /// Refuse a scoped caller something that shows or changes the whole cluster.
    pub fn unscoped(&self, what: &str) -> Result<(), ToolError> {
        match &self.scope {
            None => Ok(()),
            Some(_) => Err(ToolError::Refused(format!(
                "this token is limited to a scope; {what} needs a token without one"
            ))),
        }
    }

    /// The key rate limits count under.
    fn key(&self) -> String {
        self.token.clone().unwrap_or_else(|| "local".into())
    }
}

/// What a tool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Always on.
    Read,
    /// Enabled with `--mode operate`, for operators and admins.
    Operate,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Read => "read",
            Tier::Operate => "operate",
        }
    }
}

/// How the MCP face is set up.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Change sets proposed by callers of these roles are approved as they are proposed.
    /// Empty by default: a person approves each one.
    pub auto_approve: Vec<Role>,
    /// Tool calls a caller may make per minute.
    pub calls_per_minute: u32,
    /// How long a tool waits for its work before answering with an operation id to poll.
    pub wait: Duration,
    /// How long a proposed change set may wait for approval and apply.
    pub change_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::ReadOnly,
            auto_approve: Vec::new(),
            calls_per_minute: 120,
            wait: Duration::from_secs(60),
            change_ttl: Duration::from_secs(3600),
        }
    }
}

/// Whether `p` may call a tool of `tier` in `mode`; the refusal says how to get there.
pub fn allow(mode: Mode, p: &Principal, tool: &str, tier: Tier) -> Result<(), ToolError> {
    if tier == Tier::Read {
        return Ok(());
    }
    if mode == Mode::ReadOnly {
        return Err(ToolError::Refused(format!(
            "proxctl's MCP server runs read-only, so '{tool}' (an operate tool) is disabled. \
             Read tools and `plan` work; to change things, an administrator restarts it with \
             `--mcp-mode operate` (proxctl serve) or `--mode operate` (proxctl mcp)."
        )));
    }
    if p.role < Role::Operator {
        return Err(ToolError::Refused(format!(
            "'{tool}' needs the operator or admin role; this token is a {}",
            p.role.as_str()
        )));
    }
    Ok(())
}

/// Calls per caller per minute, in fixed one-minute windows.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn check(&self, p: &Principal, per_minute: u32) -> Result<(), ToolError> {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // Forget idle callers, so the map stays as small as the set of active ones.
        w.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(120));
        let (start, count) = w.entry(p.key()).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(60) {
            *start = now;
            *count = 0;
        }
        if *count >= per_minute {
            let wait = 60u64.saturating_sub(now.duration_since(*start).as_secs());
            return Err(ToolError::RateLimited(format!(
                "at most {per_minute} tool calls a minute per caller; try again in {wait}s"
            )));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_mode_refuses_operate_tools_with_the_way_out() {
        let e = allow(Mode::ReadOnly, &Principal::local(), "start", Tier::Operate).unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
        assert!(e.to_string().contains("--mcp-mode operate"), "{e}");
        assert!(allow(Mode::ReadOnly, &Principal::local(), "list_guests", Tier::Read).is_ok());
    }

    #[test]
    fn viewers_cannot_operate_even_in_operate_mode() {
        let viewer = Principal { token: Some("v".into()), role: Role::Viewer, scope: None };
        assert!(allow(Mode::Operate, &viewer, "start", Tier::Operate).is_err());
        let op = Principal { role: Role::Operator, ..viewer };
        assert!(allow(Mode::Operate, &op, "start", Tier::Operate).is_ok());
    }

    #[test]
    fn the_rate_limit_counts_per_caller() {
        let l = RateLimiter::default();
        let a = Principal { token: Some("a".into()), role: Role::Viewer, scope: None };
        let b = Principal { token: Some("b".into()), ..a.clone() };
        assert!(l.check(&a, 2).is_ok());
        assert!(l.check(&a, 2).is_ok());
        let e = l.check(&a, 2).unwrap_err();
        assert!(e.to_string().contains("at most 2 tool calls a minute"), "{e}");
        assert!(l.check(&b, 2).is_ok());
    }
}
