//! Documents the server keeps for every instance sharing the store: operations (long work
//! started over the API, so any instance can answer `GET /operations/{id}`) and plans kept for
//! a later apply. The store holds each as JSON under a kind and an id and does not look inside.

use jiff::Timestamp;

/// What kinds of documents there are.
pub mod kind {
    pub const OPERATION: &str = "operation";
    pub const PLAN: &str = "plan";
    pub const JOB: &str = "job";
    /// One run of a job, by job name and scheduled time: claiming it is inserting it.
    pub const JOB_RUN: &str = "job-run";
    /// A declared guest whose manifest says `start: true`, by resource key: monitoring
    /// alerts when it is not running.
    pub const EXPECTED_RUNNING: &str = "expected-running";
    /// A change set an MCP client proposed, by id: its plan, digest, approval and outcome.
    pub const MCP_CHANGE: &str = "mcp-change";
    /// The claim to apply a change set, by its id: inserting it is claiming it, so two
    /// callers (or instances) never apply one change set twice.
    pub const MCP_CHANGE_CLAIM: &str = "mcp-change-claim";
    /// Long work an MCP tool handed back as an operation id.
    pub const MCP_OPERATION: &str = "mcp-operation";
    /// A release (`proxctl release`), by name: its revisions and the resources it owns
    /// (`owned`, which the engine reads so a plan for anything else leaves them alone).
    pub const RELEASE: &str = "release";
    /// A managed guest's manifest body as last applied, by resource key: what its
    /// desired-versus-actual difference is planned from.
    pub const APPLIED_SPEC: &str = "applied-spec";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: String,
    pub id: String,
    /// JSON.
    pub body: String,
    /// Set by the first write; later writes keep it.
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
