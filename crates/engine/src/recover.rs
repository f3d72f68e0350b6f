//! Crash recovery: settle what a stopped apply left in the journal. Only entries of resources
//! this apply holds the lock of are settled (a live apply's entries are its own business), and
//! only after every task still running for them in PVE has ended, so a step is never redone
//! while its first attempt is still at work. PVE is the truth: a create whose guest exists
//! finished; a destroy whose guest is gone finished; anything else is marked interrupted, and
//! the plan, made from what PVE has now, redoes what is still missing. History rows of applies
//! whose holder died get their end (`interrupted`).

use proxctl_client::{Client, WaitOptions};
use proxctl_state::{JournalState, StateStore};
use proxctl_types::{NodeName, VmId};

use crate::apply::{ApplyError, ApplyOptions};
use crate::locks::Locks;

/// Settle the journal entries of the resources `locks` covers. Returns their keys.
pub async fn recover(
    client: &Client,
    store: &dyn StateStore,
    opts: &ApplyOptions,
    locks: &Locks,
) -> Result<Vec<String>, ApplyError> {
    let ended = store.interrupt_orphaned_applies(jiff::Timestamp::now()).await?;
    for a in &ended {
        tracing::info!(apply = %a, "an apply whose process stopped is recorded as interrupted");
    }
    let pending: Vec<_> = store
        .journal_pending()
        .await?
        .into_iter()
        .filter(|e| locks.covers(&e.resource.to_string()))
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    // A killed apply leaves its tasks running in PVE. Until they end, a clone's target is
    // absent or only a `lock: clone` placeholder without our marker, and a start is still
    // starting; settling now would redo them. Wait for them first.
    for e in &pending {
        if let Some((node, id)) = task_scope(&e.action, &e.params) {
            wait_for_active_tasks(client, &node, id, &e.resource.to_string(), opts).await;
        }
    }
    let existing: Vec<u32> = match client.cluster_resources(None).await {
        Ok(r) => r.iter().filter_map(|x| x.vmid.map(|v| v.get())).collect(),
        // Without a listing nothing can be settled; the next apply tries again.
        Err(e) => {
            tracing::warn!(error = %e, "cannot list guests to settle the journal");
            return Ok(Vec::new());
        }
    };
    for e in &pending {
        let vmid = e.params.get("vmid").and_then(serde_json::Value::as_u64);
        let created = vmid.is_some_and(|v| existing.iter().any(|x| u64::from(*x) == v));
        let (state, note) = match e.action.as_str() {
            "clone" | "create" | "build-template" if created => {
                (JournalState::Done, "had finished; the guest exists")
            }
            "destroy" if !created => (JournalState::Done, "had finished; the guest is gone"),
            _ => (
                JournalState::Failed("interrupted (the process stopped); re-planned".into()),
                "was interrupted; the plan redoes what is missing",
            ),
        };
        store.journal_finish(e.id, &state).await?;
        if let Some(p) = &opts.progress {
            p(
                &e.resource.to_string(),
                &format!("recovered: {} of apply {} {note}", e.action, e.apply),
            );
        }
    }
    let mut keys: Vec<String> = pending.iter().map(|e| e.resource.to_string()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Where the task of a journalled step runs and the id PVE files it under: a clone
/// (`qmclone`) runs on the source's node under the **source** VMID; every other step on a
/// guest (create, start, shutdown, resize, destroy…) under the guest's own.
fn task_scope(action: &str, params: &serde_json::Value) -> Option<(NodeName, VmId)> {
    let (node_key, id_key) = match action {
        "clone" => ("source_node", "source"),
        _ => ("node", "vmid"),
    };
    let node = NodeName::new(params.get(node_key)?.as_str()?).ok()?;
    let id = u32::try_from(params.get(id_key)?.as_u64()?).ok()?;
    Some((node, VmId::new(id).ok()?))
}

/// Wait for the running tasks filed under `id` on `node`. A task that fails, or a listing
/// that cannot be had, is left to the settling that follows.
async fn wait_for_active_tasks(
    client: &Client,
    node: &NodeName,
    id: VmId,
    resource: &str,
    opts: &ApplyOptions,
) {
    let filter = proxctl_client::endpoints::tasks::TaskFilter {
        vmid: Some(id),
        source: Some("active".into()),
        ..Default::default()
    };
    let running = match client.task_list(node, &filter).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%node, %id, error = %e, "cannot list running tasks to settle the journal");
            return;
        }
    };
    for t in running.iter().filter(|t| t.endtime.is_none()) {
        if let Some(p) = &opts.progress {
            p(
                resource,
                &format!("waiting for {} ({}) left by a stopped apply", t.task_type, t.upid),
            );
        }
        // The same wait as the executor's own: the client's task timeout bounds it.
        if let Err(e) = client.wait_task(&t.upid, &WaitOptions::default()).await {
            tracing::info!(upid = %t.upid, error = %e, "a task left by a stopped apply did not succeed");
        }
    }
}
