//! Guests a manifest declares `start: true`, kept as documents beside their records so
//! monitoring (`proxctl_guest_declared_running`) can tell when one is not running.

use proxctl_state::ResourceRecord;
use proxctl_state::document::{Document, kind};

use crate::apply::StepError;

/// Keep monitoring's list of guests a manifest wants running in step with the record.
pub(crate) async fn record(
    store: &dyn proxctl_state::StateStore,
    rec: &ResourceRecord,
    expect: bool,
) -> Result<(), StepError> {
    let id = rec.key.to_string();
    if !expect {
        store.delete_document(kind::EXPECTED_RUNNING, &id).await?;
        return Ok(());
    }
    let body = serde_json::json!({
        "vmid": rec.vmid.map(|v| v.get()),
        "node": rec.node.as_ref().map(|n| n.to_string()),
    });
    let now = jiff::Timestamp::now();
    store
        .put_document(&Document {
            kind: kind::EXPECTED_RUNNING.into(),
            id,
            body: body.to_string(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok(())
}

/// The resource is forgotten: nothing is expected of it any more.
pub(crate) async fn forget(
    store: &dyn proxctl_state::StateStore,
    key: &proxctl_state::ResourceKey,
) -> Result<(), StepError> {
    store.delete_document(kind::EXPECTED_RUNNING, &key.to_string()).await?;
    Ok(())
}
