//! `proxctl mcp`: the MCP server over stdio for AI assistants, and the commands people use to
//! decide on the change sets assistants propose.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: Option<McpCommand>,
    #[command(flatten)]
    pub serve: McpServeArgs,
}

/// Serving over stdio (no subcommand).
#[derive(Debug, Args)]
pub struct McpServeArgs {
    /// read-only (the default: read tools and plan only) or operate (also the operate tools
    /// and change sets).
    #[arg(
        long = "mode",
        value_name = "MODE",
        default_value = "read-only",
        env = "PROXCTL_MCP_MODE"
    )]
    pub mcp_mode: String,
    /// Approve change sets as they are proposed instead of waiting for `proxctl mcp approve`
    /// (the local user is an admin, so `admin` does it here). Off by default.
    #[arg(long = "auto-approve", value_name = "ROLE")]
    pub auto_approve: Vec<String>,
    /// Tool calls allowed per minute.
    #[arg(long = "calls-per-minute", value_name = "N", default_value_t = 120)]
    pub calls_per_minute: u32,
    /// How long a tool waits for its work before answering with an operation id to poll.
    #[arg(long = "tool-wait", value_name = "DURATION", default_value = "60s")]
    pub tool_wait: String,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Change sets assistants proposed, newest first.
    Changes {
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// Show one change set: its plan, digest and status.
    Show { id: String },
    /// Approve a proposed change set, after reading its plan (asks unless --yes).
    Approve { id: String },
    /// Reject a proposed change set.
    Reject { id: String },
}
