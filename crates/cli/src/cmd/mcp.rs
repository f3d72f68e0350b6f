//! `proxctl mcp`: serve the MCP tools over stdio for a desktop assistant (stdout carries the
//! protocol, so everything else goes to stderr), and list, show, approve or reject the change
//! sets assistants propose.

use std::sync::Arc;
use std::time::Duration;

use proxctl_mcp::changes::{self, ChangeSet};
use proxctl_mcp::{Config, Mcp, Mode, OneCluster, Principal, Role, ToolError};

use crate::exit::UserError;
use crate::flags::GlobalArgs;
use crate::flags::mcp::{McpArgs, McpCommand, McpServeArgs};
use crate::settings::Resolved;

pub async fn run(g: &GlobalArgs, a: McpArgs) -> anyhow::Result<()> {
    match a.command {
        None => serve(g, a.serve).await,
        Some(c) => {
            let r = super::config::resolve_from_env(g)?;
            decide(&r, c).await
        }
    }
}

/// The flags as the MCP face's settings.
pub fn config(a: &McpServeArgs) -> anyhow::Result<Config> {
    let mode: Mode = a.mcp_mode.parse().map_err(UserError)?;
    let auto_approve = a
        .auto_approve
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(UserError)?;
    let wait = proxctl_ops::snapshot::parse_ttl(&a.tool_wait)
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| {
            UserError(format!("--tool-wait '{}' is not a duration such as 60s", a.tool_wait))
        })?;
    if a.calls_per_minute == 0 {
        return Err(UserError("--calls-per-minute must be at least 1".into()).into());
    }
    Ok(Config {
        mode,
        auto_approve,
        calls_per_minute: a.calls_per_minute,
        wait: Duration::from_secs(wait.max(1)),
        ..Config::default()
    })
}

async fn serve(g: &GlobalArgs, a: McpServeArgs) -> anyhow::Result<()> {
    let config = config(&a)?;
    let (r, client) = super::connect(g)?;
    let name = match r.profile_name.as_str() {
        "" | "-" => "default".to_string(),
        p => p.to_string(),
    };
    eprintln!("proxctl mcp: serving {} ({} mode) over stdio", name, config.mode.as_str());
    let mcp = Mcp::new(
        Arc::new(OneCluster { name, client }),
        Arc::clone(&r.state),
        config,
        r.profile_name.clone(),
    )
    .for_principal(Principal::local());
    mcp.serve_stdio().await?;
    Ok(())
}

fn user(e: ToolError) -> anyhow::Error {
    match e {
        ToolError::NotFound(_) | ToolError::Refused(_) | ToolError::Invalid(_) => {
            UserError(e.to_string()).into()
        }
        other => other.into(),
    }
}

fn describe(c: &ChangeSet) -> String {
    let mut s = format!(
        "change set {} on remote {} ({:?})\n  proposed by {}{} at {}\n  expires at {}\n",
        c.id,
        c.remote,
        c.status,
        c.proposed_by,
        c.token.as_deref().map(|t| format!(" (token {t})")).unwrap_or_default(),
        c.created_at,
        c.expires_at,
    );
    if let Some(why) = &c.reason {
        s.push_str(&format!("  reason: {why}\n"));
    }
    if let Some(by) = &c.approved_by {
        s.push_str(&format!("  decided by: {by}\n"));
    }
    if let Some(e) = &c.error {
        s.push_str(&format!("  error: {e}\n"));
    }
    s.push_str(&format!("  digest: {}\n\n", c.digest));
    for line in c.plan.lines() {
        s.push_str(&format!("  {line}\n"));
    }
    s
}

async fn decide(r: &Resolved, c: McpCommand) -> anyhow::Result<()> {
    match c {
        McpCommand::Changes { last } => {
            let list = changes::list(&r.state, last).await.map_err(user)?;
            if list.is_empty() {
                outln!("no change sets");
            }
            for c in list {
                let first = c.plan.lines().next().unwrap_or_default().to_string();
                outln!(
                    "{}  {:<9}  {}  {}",
                    c.id,
                    format!("{:?}", c.status).to_lowercase(),
                    c.proposed_by,
                    first
                );
            }
        }
        McpCommand::Show { id } => {
            let c = changes::get(&r.state, &id).await.map_err(|e| match e {
                ToolError::NotFound(_) => {
                    UserError(format!("no change set '{id}'; `proxctl mcp changes` lists them"))
                        .into()
                }
                other => user(other),
            })?;
            out!("{}", describe(&c));
        }
        McpCommand::Approve { id } => {
            // Shown before the question, so the person approves what they read; a missing
            // one is refused by approve below with the same words.
            if let Ok(c) = changes::get(&r.state, &id).await {
                eprint!("{}", describe(&c));
            }
            super::confirm(r, &format!("approve change set {id}"))?;
            let who = r.actor();
            let by = changes::Decider { name: &who, token: None };
            let c = changes::approve(&r.state, &id, by).await.map_err(user)?;
            outln!("approved {} (the assistant may now apply it with its digest)", c.id);
        }
        McpCommand::Reject { id } => {
            let who = r.actor();
            let by = changes::Decider { name: &who, token: None };
            let c = changes::reject(&r.state, &id, by).await.map_err(user)?;
            outln!("rejected {}", c.id);
        }
    }
    Ok(())
}
