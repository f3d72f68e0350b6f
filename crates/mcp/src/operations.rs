//! Long work started by a tool: it runs in its own task, acting as the MCP actor, and the
//! tool waits for it only so long (`Config::wait`). Past that the tool answers with an
//! operation id the model polls with `operation_status`, instead of hanging. Operations are
//! documents in the state store, so any instance sharing it answers for them.

use std::future::Future;

use proxctl_state::Document;
use proxctl_state::document::kind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ToolError, ToolResult};
use crate::tools::Call;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationDoc {
    pub id: String,
    pub description: String,
    pub actor: String,
    /// The API token that started it (none over stdio).
    pub token: Option<String>,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// Run the work `make` returns acting as the call's actor; its result if it ends within the
/// wait, else the operation to poll. The work runs on a blocking thread of its own: bulk runs
/// and the engine's apply hold closures across awaits that the compiler cannot prove `Send`.
pub async fn run<M, F>(call: &Call, description: String, make: M) -> ToolResult<Value>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future<Output = ToolResult<Value>> + 'static,
{
    let id = format!("mcpop-{}", crate::random_hex(8));
    let mut doc = OperationDoc {
        id: id.clone(),
        description: description.clone(),
        actor: call.actor(),
        token: call.principal.token.clone(),
        status: "running".into(),
        result: None,
        error: None,
    };
    save(call, &doc).await?;
    let actor = call.actor();
    let store_call = call.clone();
    let runtime = tokio::runtime::Handle::current();
    let handle = tokio::task::spawn_blocking(move || {
        let outcome = runtime.block_on(proxctl_ops::audit::acting_as(actor, make()));
        match &outcome {
            Ok(v) => {
                doc.status = "succeeded".into();
                doc.result = Some(v.clone());
            }
            Err(e) => {
                doc.status = "failed".into();
                doc.error = Some(e.to_string());
            }
        }
        if let Err(e) = runtime.block_on(save(&store_call, &doc)) {
            tracing::warn!(operation = %doc.id, error = %e, "cannot record how an MCP operation ended");
        }
        outcome
    });
    match tokio::time::timeout(call.shared.config.wait, handle).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => Err(ToolError::Internal(format!("the operation stopped: {join}"))),
        Err(_) => Ok(json!({
            "operation": id,
            "status": "running",
            "description": description,
            "hint": "still running; call operation_status with this id to follow it",
        })),
    }
}

async fn save(call: &Call, doc: &OperationDoc) -> ToolResult<()> {
    let now = jiff::Timestamp::now();
    let body = serde_json::to_string(doc).map_err(|e| ToolError::Internal(e.to_string()))?;
    call.store()
        .await?
        .put_document(&Document {
            kind: kind::MCP_OPERATION.into(),
            id: doc.id.clone(),
            body,
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok(())
}

/// An operation's state, for the token that started it (another token's are not shown).
pub async fn status(call: &Call, id: &str) -> ToolResult<Value> {
    let missing = || ToolError::NotFound(format!("no operation '{id}'"));
    let doc = call.store().await?.document(kind::MCP_OPERATION, id).await?.ok_or_else(missing)?;
    let op: OperationDoc =
        serde_json::from_str(&doc.body).map_err(|e| ToolError::Internal(e.to_string()))?;
    if op.token != call.principal.token {
        return Err(missing());
    }
    serde_json::to_value(op).map_err(|e| ToolError::Internal(e.to_string()))
}
