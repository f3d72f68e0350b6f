//! What can go wrong in a tool call. Every variant becomes a tool result marked as an error,
//! whose text the model reads: it says what failed and what to do instead.

use proxctl_ops::{ErrorClass, OpsError};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's input schema, or make no sense together.
    #[error("invalid arguments: {0}")]
    Invalid(String),
    /// Not found, or outside the token's scope (which looks the same, on purpose).
    #[error("{0}")]
    NotFound(String),
    /// The mode, the role or the scope does not allow it.
    #[error("refused: {0}")]
    Refused(String),
    /// Too many calls from this caller.
    #[error("rate limit: {0}")]
    RateLimited(String),
    /// The cluster changed since a change set was proposed.
    #[error("stale: {0}")]
    Stale(String),
    #[error(transparent)]
    Ops(#[from] OpsError),
    #[error(transparent)]
    Engine(#[from] proxctl_engine::EngineError),
    #[error(transparent)]
    Client(#[from] proxctl_client::ClientError),
    #[error("the state store: {0}")]
    State(#[from] proxctl_state::StateError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ToolError {
    /// The class every face shares, for the audit row.
    pub fn class(&self) -> ErrorClass {
        match self {
            ToolError::Invalid(_) => ErrorClass::Invalid,
            ToolError::NotFound(_) => ErrorClass::NotFound,
            ToolError::Refused(_) | ToolError::RateLimited(_) => ErrorClass::Invalid,
            ToolError::Stale(_) => ErrorClass::Conflict,
            ToolError::Ops(e) => ErrorClass::of(e),
            ToolError::Client(e) => ErrorClass::of_client(e),
            ToolError::Engine(_) | ToolError::State(_) | ToolError::Internal(_) => {
                ErrorClass::System
            }
        }
    }
}

pub type ToolResult<T> = Result<T, ToolError>;
