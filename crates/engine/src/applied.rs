//! What was last applied to each managed guest (its manifest body), kept as documents beside
//! its record, so a face can show the guest's desired-versus-actual difference without the
//! manifest file: the kept body is planned again against the cluster as it is now.

use std::path::PathBuf;

use proxctl_state::document::{Document, kind};
use proxctl_state::{ResourceKey, StateStore};
use serde::Serialize;

use crate::EngineError;
use crate::apply::StepError;
use crate::manifest::{Body, Declared, Origin};
use crate::plan::{Action, Change};

/// Keep `spec` as what `key` was last applied with.
pub(crate) async fn record(
    store: &dyn StateStore,
    key: &ResourceKey,
    spec: &serde_json::Value,
) -> Result<(), StepError> {
    let now = jiff::Timestamp::now();
    let doc = Document {
        kind: kind::APPLIED_SPEC.into(),
        id: key.to_string(),
        body: spec.to_string(),
        created_at: now,
        updated_at: now,
    };
    store.put_document(&doc).await?;
    Ok(())
}

/// The resource is forgotten: nothing was applied to it any more.
pub(crate) async fn forget(store: &dyn StateStore, key: &ResourceKey) -> Result<(), StepError> {
    store.delete_document(kind::APPLIED_SPEC, &key.to_string()).await?;
    Ok(())
}

/// A managed guest's desired state against its actual one.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// `kind/name` of the resource that manages the guest.
    pub key: String,
    /// When its manifest was last applied.
    pub applied_at: String,
    /// Whether the guest still matches what was applied.
    pub in_sync: bool,
    /// What applying the manifest again would do (`noop` when in sync).
    pub action: Action,
    /// Field by field: the guest's value now and the manifest's.
    pub change: Change,
}

/// How guest `vmid` differs from the manifest last applied to it: `None` when no manifest
/// manages it, or it was applied before proxctl kept what it applied (apply it again).
pub async fn difference(
    client: &proxctl_client::Client,
    store: &dyn StateStore,
    vmid: u32,
) -> Result<Option<Difference>, EngineError> {
    let records = store.resources().await?;
    let Some(rec) = records.iter().find(|r| r.vmid.is_some_and(|v| v.get() == vmid)) else {
        return Ok(None);
    };
    let key = rec.key.to_string();
    let Some(doc) = store.document(kind::APPLIED_SPEC, &key).await? else {
        return Ok(None);
    };
    let body: Body = serde_json::from_str(&doc.body).map_err(|e| {
        EngineError::Invalid(format!("the spec kept for {key} cannot be read: {e}"))
    })?;
    let origin = Origin { file: PathBuf::from(format!("applied:{key}")), line: 1 };
    let declared = [Declared { origin, body }];
    let plan = crate::make_plan(client, store, &declared, false).await?;
    let Some(change) = plan.changes.into_iter().find(|c| c.key == key) else {
        return Ok(None);
    };
    Ok(Some(Difference {
        key,
        applied_at: doc.updated_at.to_string(),
        in_sync: change.action == Action::Noop,
        action: change.action,
        change,
    }))
}
