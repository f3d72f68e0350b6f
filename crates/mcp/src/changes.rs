//! Change sets: how an assistant does anything destructive or large (a hard stop, a delete, a
//! rollback, a restore, an apply of manifests, bulk work over many guests). `propose_change`
//! records what would happen, the facts it was judged on and a digest of both; a person
//! approves it (`proxctl mcp approve ID`), or a configured role's proposals are approved
//! automatically; `apply_change(id, digest)` then runs it only if the digest is the proposal's
//! and the cluster still matches the facts. There is no way to skip any of that.

use std::sync::Arc;

use proxctl_client::{Client, WaitOptions};
use proxctl_ops::bulk::{BulkAction, Outcome};
use proxctl_ops::state::StateHandle;
use proxctl_ops::views::GuestRow;
use proxctl_state::document::kind;
use proxctl_state::{Document, NewAuditEntry};
use proxctl_types::{SnapshotName, VmId, VolumeId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::{Role, Tier};
use crate::error::{ToolError, ToolResult};
use crate::tools::{Call, ToolDef, make_tool as tool};

/// What to do to guests in bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuestOperation {
    Start,
    /// A hard stop (power off): unsaved work in the guest is lost.
    Stop,
    Shutdown,
    Reboot,
    /// Needs `snapshot_name` and `ttl`.
    Snapshot,
    Backup,
    /// Deletes the guests and their disks (running ones are stopped first).
    Delete,
}

/// A change to propose.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// An operation on every guest a selector picks (within the token's scope).
    Guests {
        operation: GuestOperation,
        /// Which guests, in the selector language (`id:105`, `web,node:pve1`, `name:db-*`).
        selector: String,
        /// For `snapshot`: the snapshot's name.
        snapshot_name: Option<String>,
        /// For `snapshot`: how long to keep it (`4h`, `2d`).
        ttl: Option<String>,
    },
    /// Roll a guest back to a snapshot: everything since is lost.
    Rollback {
        /// Name or VMID.
        guest: String,
        snapshot: String,
    },
    /// Restore a backup archive as a new guest (never over an existing one).
    Restore {
        /// The backup's volume id, as list_backups shows it.
        backup: String,
        /// The new guest's VMID; leave out for the next free one.
        vmid: Option<u32>,
    },
    /// Apply manifests: create, update and replace (and with `prune`, delete) to match them.
    Apply {
        manifests: String,
        #[serde(default)]
        prune: bool,
    },
}

impl Change {
    /// The role applying it needs.
    fn needs(&self) -> Role {
        match self {
            Change::Guests { operation, .. } => match operation {
                GuestOperation::Start
                | GuestOperation::Shutdown
                | GuestOperation::Reboot
                | GuestOperation::Snapshot
                | GuestOperation::Backup => Role::Operator,
                GuestOperation::Stop | GuestOperation::Delete => Role::Admin,
            },
            Change::Rollback { .. } | Change::Restore { .. } | Change::Apply { .. } => Role::Admin,
        }
    }
}

/// What a guest looked like when the change was judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub status: String,
    /// PVE's config digest: any change to the guest's configuration changes it.
    pub config_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Proposed,
    Approved,
    Rejected,
    Applying,
    Applied,
    Failed,
    /// The cluster changed after the proposal; it can no longer be applied.
    Stale,
}

/// A stored change set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeSet {
    pub id: String,
    pub remote: String,
    pub change: Change,
    pub reason: Option<String>,
    /// `mcp:<client>`.
    pub proposed_by: String,
    pub token: Option<String>,
    pub created_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    pub status: Status,
    /// SHA-256 of the change and the facts: what was reviewed is what runs.
    pub digest: String,
    /// The plan as people read it.
    pub plan: String,
    pub facts: Vec<Fact>,
    /// For `apply`: the engine's plan, applied exactly (and refused if the cluster changed).
    pub engine_plan: Option<Value>,
    pub approved_by: Option<String>,
    pub outcome: Option<Value>,
    pub error: Option<String>,
}

impl ChangeSet {
    /// What callers see of it: the plan, digest, status and outcome, not the facts.
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "digest": self.digest,
            "status": self.status,
            "remote": self.remote,
            "plan": self.plan,
            "proposed_by": self.proposed_by,
            "expires_at": self.expires_at.to_string(),
            "approved_by": self.approved_by,
            "outcome": self.outcome,
            "error": self.error,
        })
    }
}

fn digest_of(change: &Change, facts: &[Fact], engine_plan: Option<&Value>) -> String {
    let canonical = json!({ "change": change, "facts": facts, "plan": engine_plan });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Read what the change touches, as it is now.
async fn observe(
    call: &Call,
    remote: &str,
    client: &Client,
    change: &Change,
) -> ToolResult<(Vec<Fact>, Option<Value>, String)> {
    match change {
        Change::Guests { operation, selector, snapshot_name, ttl } => {
            if *operation == GuestOperation::Snapshot {
                let (Some(name), Some(ttl)) = (snapshot_name, ttl) else {
                    return Err(ToolError::Invalid(
                        "a snapshot needs snapshot_name and ttl (snapshots always expire)".into(),
                    ));
                };
                SnapshotName::new(name)
                    .map_err(|e| ToolError::Invalid(format!("snapshot name: {e}")))?;
                proxctl_ops::snapshot::parse_ttl(ttl)?;
            }
            let rows = call.targets(client, selector).await?;
            if rows.is_empty() {
                return Err(ToolError::NotFound(format!(
                    "the selector '{selector}' matches no guest you can see"
                )));
            }
            let mut facts = Vec::with_capacity(rows.len());
            for g in &rows {
                facts.push(fact(client, g, false).await?);
            }
            let verb = serde_json::to_value(operation)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let mut text = format!("{verb} {} guest(s):\n", facts.len());
            for f in &facts {
                text.push_str(&format!(
                    "  - {verb} {} {} on {} ({})\n",
                    f.vmid, f.name, f.node, f.status
                ));
            }
            if matches!(operation, GuestOperation::Stop | GuestOperation::Delete) {
                text.push_str("Guests tagged always-on are skipped.\n");
            }
            Ok((facts, None, text))
        }
        Change::Rollback { guest, snapshot } => {
            let (_, row) = call.guest(client, guest).await?;
            let f = fact(client, &row, true).await?;
            if !f.snapshots.iter().any(|s| s == snapshot) {
                return Err(ToolError::NotFound(format!(
                    "{} has no snapshot '{snapshot}'; it has: {}",
                    row.name,
                    f.snapshots.join(", ")
                )));
            }
            let text = format!(
                "roll back {} {} on {} to snapshot '{snapshot}': changes since are lost\n",
                f.vmid, f.name, f.node
            );
            Ok((vec![f], None, text))
        }
        Change::Restore { backup, vmid } => {
            call.principal.unscoped("restoring a backup")?;
            let volid: VolumeId =
                backup.parse().map_err(|e| ToolError::Invalid(format!("backup: {e}")))?;
            let b = proxctl_ops::backup::find(client, &volid).await?;
            let target = match vmid {
                Some(v) => format!("as VMID {v}"),
                None => "as the next free VMID".into(),
            };
            let text = format!(
                "restore {} (of guest {}) on {} {target}\n",
                b.volid,
                b.vmid.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                b.node
            );
            Ok((Vec::new(), Some(json!({ "backup": b.volid, "node": b.node })), text))
        }
        Change::Apply { manifests, prune } => {
            let (_, plan) = crate::tools::plan_of(call, Some(remote), manifests, *prune).await?;
            if !plan.has_changes() {
                return Err(ToolError::Invalid(
                    "the cluster already matches these manifests; there is nothing to apply".into(),
                ));
            }
            let text = proxctl_engine::render::text(&plan, false, false);
            let value =
                serde_json::to_value(&plan).map_err(|e| ToolError::Internal(e.to_string()))?;
            Ok((Vec::new(), Some(value), text))
        }
    }
}

async fn fact(client: &Client, g: &GuestRow, snapshots: bool) -> ToolResult<Fact> {
    let r = g.guest_ref()?;
    let cfg = match r.kind {
        proxctl_types::messages::GuestKind::Qemu => client.qemu_config(&r.node, r.vmid).await?,
        proxctl_types::messages::GuestKind::Lxc => client.lxc_config(&r.node, r.vmid).await?,
    };
    let snapshots = if snapshots {
        proxctl_ops::snapshot::list(client, &r).await?.into_iter().map(|s| s.name).collect()
    } else {
        Vec::new()
    };
    Ok(Fact {
        vmid: g.vmid,
        name: g.name.clone(),
        node: g.node.clone(),
        status: g.status.clone(),
        config_digest: cfg.get("digest").and_then(|d| d.as_str()).map(String::from),
        snapshots,
        tags: g.tags.clone(),
    })
}

/// One change set by id (`NotFound` when there is none).
pub async fn get(state: &StateHandle, id: &str) -> ToolResult<ChangeSet> {
    load(state, id).await
}

async fn load(state: &StateHandle, id: &str) -> ToolResult<ChangeSet> {
    let doc = state
        .get()
        .await?
        .document(kind::MCP_CHANGE, id)
        .await?
        .ok_or_else(|| ToolError::NotFound(format!("no change set '{id}'")))?;
    serde_json::from_str(&doc.body)
        .map_err(|e| ToolError::Internal(format!("change set '{id}' cannot be read: {e}")))
}

async fn save(state: &StateHandle, c: &ChangeSet) -> ToolResult<()> {
    let now = jiff::Timestamp::now();
    let body = serde_json::to_string(c).map_err(|e| ToolError::Internal(e.to_string()))?;
    state
        .get()
        .await?
        .put_document(&Document {
            kind: kind::MCP_CHANGE.into(),
            id: c.id.clone(),
            body,
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Propose {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    pub change: Change,
    /// Why, in a sentence, for the person approving it.
    pub reason: Option<String>,
}

async fn propose_change(call: Call, a: Propose) -> ToolResult<Value> {
    let needs = a.change.needs();
    if call.principal.role < needs {
        return Err(ToolError::Refused(format!(
            "applying this change needs the {} role; this token is a {}",
            needs.as_str(),
            call.principal.role.as_str()
        )));
    }
    let (remote, client) = call.client(a.remote.as_deref())?;
    let (facts, engine_plan, plan) = observe(&call, &remote, &client, &a.change).await?;
    let digest = digest_of(&a.change, &facts, engine_plan.as_ref());
    let now = jiff::Timestamp::now();
    let ttl = jiff::SignedDuration::try_from(call.shared.config.change_ttl)
        .unwrap_or(jiff::SignedDuration::from_hours(1));
    let auto = call.shared.config.auto_approve.contains(&call.principal.role);
    let c = ChangeSet {
        id: format!("ch-{}", crate::random_hex(6)),
        remote,
        change: a.change,
        reason: a.reason,
        proposed_by: call.actor(),
        token: call.principal.token.clone(),
        created_at: now,
        expires_at: now.checked_add(ttl).unwrap_or(now),
        status: if auto { Status::Approved } else { Status::Proposed },
        digest,
        plan,
        facts,
        engine_plan,
        approved_by: auto
            .then(|| format!("auto-approved for the {} role", call.principal.role.as_str())),
        outcome: None,
        error: None,
    };
    save(call.state(), &c).await?;
    let mut out = c.summary();
    out["next"] = Value::String(if auto {
        format!("approved automatically; call apply_change with id \"{}\" and this digest", c.id)
    } else {
        format!(
            "Show the plan to the user. A person approves it with `proxctl mcp approve {}`; then \
             call apply_change with this id and digest. It expires at {}.",
            c.id, c.expires_at
        )
    });
    Ok(out)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyArgs {
    /// The change set's id, from propose_change.
    pub id: String,
    /// The digest propose_change returned: proves the plan you showed is the one that runs.
    pub digest: String,
}

async fn apply_change(call: Call, a: ApplyArgs) -> ToolResult<Value> {
    let mut c = load(call.state(), &a.id).await?;
    if call.principal.scope.is_some() && c.token != call.principal.token {
        return Err(ToolError::NotFound(format!("no change set '{}'", a.id)));
    }
    if a.digest != c.digest {
        return Err(ToolError::Refused(format!(
            "the digest does not match change set {}: pass the digest propose_change returned \
             for it (get_change shows it)",
            c.id
        )));
    }
    let needs = c.change.needs();
    if call.principal.role < needs {
        return Err(ToolError::Refused(format!(
            "applying change set {} needs the {} role; this token is a {}",
            c.id,
            needs.as_str(),
            call.principal.role.as_str()
        )));
    }
    match c.status {
        Status::Approved => {}
        Status::Proposed => {
            return Err(ToolError::Refused(format!(
                "change set {} is not approved yet. Ask the user to review it and run \
                 `proxctl mcp approve {}`, then call apply_change again",
                c.id, c.id
            )));
        }
        Status::Rejected => {
            return Err(ToolError::Refused(format!("change set {} was rejected", c.id)));
        }
        Status::Applying | Status::Applied | Status::Failed => {
            return Err(ToolError::Refused(format!(
                "change set {} has already been applied (status {:?}); propose a new one",
                c.id, c.status
            )));
        }
        Status::Stale => {
            return Err(ToolError::Stale(format!(
                "change set {} no longer matches the cluster; propose it again",
                c.id
            )));
        }
    }
    if jiff::Timestamp::now() > c.expires_at {
        return Err(ToolError::Refused(format!(
            "change set {} expired at {}; propose it again",
            c.id, c.expires_at
        )));
    }
    let (remote, client) = call.client(Some(&c.remote))?;
    // The world must still be what was reviewed (an apply's plan is checked by the engine).
    if !matches!(c.change, Change::Apply { .. }) {
        let (facts, engine_plan, _) = observe(&call, &remote, &client, &c.change).await?;
        let now = digest_of(&c.change, &facts, engine_plan.as_ref());
        if now != c.digest {
            let what = differences(&c.facts, &facts);
            c.status = Status::Stale;
            c.error = Some(what.clone());
            save(call.state(), &c).await?;
            return Err(ToolError::Stale(format!(
                "the cluster changed since change set {} was proposed ({what}); nothing was done. \
                 Propose it again and have the new plan approved",
                c.id
            )));
        }
    }
    // Claiming is inserting: a second caller, here or on another instance, loses.
    let now = jiff::Timestamp::now();
    let claimed = call
        .store()
        .await?
        .insert_document(&Document {
            kind: kind::MCP_CHANGE_CLAIM.into(),
            id: c.id.clone(),
            body: json!({ "by": call.actor() }).to_string(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    if !claimed {
        return Err(ToolError::Refused(format!("change set {} is already being applied", c.id)));
    }
    c.status = Status::Applying;
    save(call.state(), &c).await?;
    let state = Arc::clone(&call.shared.state);
    let store = call.store().await?;
    let actor = call.actor();
    let description = format!("apply change set {}", c.id);
    crate::operations::run(&call, description, move || async move {
        let outcome = execute(&client, &state, store, &c, &actor).await;
        let mut c = c;
        match &outcome {
            Ok(v) => {
                c.status = Status::Applied;
                c.outcome = Some(v.clone());
            }
            Err(e) => {
                c.status = Status::Failed;
                c.error = Some(e.to_string());
            }
        }
        save(&state, &c).await?;
        outcome.map(|v| json!({ "id": c.id, "status": c.status, "outcome": v }))
    })
    .await
}

fn differences(before: &[Fact], now: &[Fact]) -> String {
    let mut out = Vec::new();
    for b in before {
        match now.iter().find(|n| n.vmid == b.vmid) {
            None => out.push(format!("guest {} is gone or no longer selected", b.vmid)),
            Some(n) if n == b => {}
            Some(n) => {
                let mut what = Vec::new();
                if n.config_digest != b.config_digest {
                    what.push("its configuration");
                }
                if n.status != b.status {
                    what.push("its status");
                }
                if n.node != b.node {
                    what.push("its node");
                }
                if n.snapshots != b.snapshots {
                    what.push("its snapshots");
                }
                if n.name != b.name || n.tags != b.tags {
                    what.push("its name or tags");
                }
                out.push(format!("guest {} changed: {}", b.vmid, what.join(", ")));
            }
        }
    }
    for n in now {
        if !before.iter().any(|b| b.vmid == n.vmid) {
            out.push(format!("guest {} is newly selected", n.vmid));
        }
    }
    if out.is_empty() { "the plan differs".into() } else { out.join("; ") }
}

async fn execute(
    client: &Client,
    state: &Arc<StateHandle>,
    store: Arc<dyn proxctl_state::StateStore>,
    c: &ChangeSet,
    actor: &str,
) -> ToolResult<Value> {
    match &c.change {
        Change::Guests { operation, snapshot_name, ttl, .. } => {
            // Exactly the guests reviewed, as they are now.
            let rows: Vec<GuestRow> = proxctl_ops::views::guests(client, None, false)
                .await?
                .into_iter()
                .filter(|g| c.facts.iter().any(|f| f.vmid == g.vmid))
                .collect();
            if *operation == GuestOperation::Snapshot {
                let name = SnapshotName::new(snapshot_name.as_deref().unwrap_or_default())
                    .map_err(|e| ToolError::Invalid(e.to_string()))?;
                let ttl = proxctl_ops::snapshot::parse_ttl(ttl.as_deref().unwrap_or_default())?;
                let description = format!("taken by {actor} (change set {})", c.id);
                let items =
                    crate::tools::snapshot_each(client, state, rows, &name, ttl, &description)
                        .await;
                return Ok(crate::tools::report("snapshot", items));
            }
            let action = match operation {
                GuestOperation::Start => BulkAction::Start,
                GuestOperation::Stop => BulkAction::Stop,
                GuestOperation::Shutdown => BulkAction::Shutdown,
                GuestOperation::Reboot => BulkAction::Reboot,
                GuestOperation::Backup => BulkAction::Backup(None),
                GuestOperation::Delete => BulkAction::Delete,
                GuestOperation::Snapshot => unreachable_snapshot()?,
            };
            let items = proxctl_ops::bulk::run(client, &rows, &action, 4, false).await;
            let failed = items.iter().any(|i| i.outcome == Outcome::Failed);
            let report = crate::tools::report(action.verb(), items);
            if failed {
                return Err(ToolError::Internal(format!("some guests failed: {report}")));
            }
            Ok(report)
        }
        Change::Rollback { snapshot, .. } => {
            let f = c.facts.first().ok_or_else(|| {
                ToolError::Refused(format!(
                    "change set {} records no guest to roll back (it was proposed without one); \
                     propose the rollback again naming the guest",
                    c.id
                ))
            })?;
            let rows = proxctl_ops::views::guests(client, None, false).await?;
            let row = rows
                .iter()
                .find(|g| g.vmid == f.vmid)
                .ok_or_else(|| ToolError::NotFound(format!("guest {} is gone", f.vmid)))?;
            let g = row.guest_ref()?;
            let name =
                SnapshotName::new(snapshot).map_err(|e| ToolError::Invalid(e.to_string()))?;
            let upid = proxctl_ops::lifecycle::rollback(client, &g, &name, false).await?;
            client.wait_task(&upid, &WaitOptions::default()).await?;
            Ok(json!({ "rolled_back": f.vmid, "snapshot": snapshot }))
        }
        Change::Restore { backup, vmid } => {
            let volid: VolumeId =
                backup.parse().map_err(|e| ToolError::Invalid(format!("backup: {e}")))?;
            let vmid = match vmid {
                Some(v) => Some(VmId::new(*v).map_err(|e| ToolError::Invalid(e.to_string()))?),
                None => None,
            };
            let (id, upid) = proxctl_ops::backup::restore(client, &volid, vmid, None).await?;
            client.wait_task(&upid, &WaitOptions::default()).await?;
            Ok(json!({ "restored_as": id.get() }))
        }
        Change::Apply { .. } => {
            let value = c.engine_plan.clone().unwrap_or(Value::Null);
            let plan: proxctl_engine::Plan = serde_json::from_value(value)
                .map_err(|e| ToolError::Internal(format!("the kept plan cannot be read: {e}")))?;
            let opts = proxctl_engine::ApplyOptions::new(actor.to_string());
            let report = proxctl_engine::apply_saved(client, store, &plan, &opts, |_| Ok(()))
                .await
                .map_err(|e| match e {
                    proxctl_engine::EngineError::Stale(p) => ToolError::Stale(format!(
                        "the cluster changed since the proposal: {}; nothing was applied",
                        p.join("; ")
                    )),
                    other => other.into(),
                })?;
            match report {
                None => Ok(json!({ "applied": false, "why": "nothing to change" })),
                Some(r) if r.failed() > 0 => Err(ToolError::Internal(format!(
                    "{} resource(s) failed: {}",
                    r.failed(),
                    serde_json::to_string(&r.results).unwrap_or_default()
                ))),
                Some(r) => Ok(serde_json::to_value(r).unwrap_or(Value::Null)),
            }
        }
    }
}

fn unreachable_snapshot() -> ToolResult<BulkAction> {
    Err(ToolError::Internal("snapshots are handled above".into()))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArg {
    /// The change set's id.
    pub id: String,
}

async fn get_change(call: Call, a: IdArg) -> ToolResult<Value> {
    let c = load(call.state(), &a.id).await?;
    if call.principal.scope.is_some() && c.token != call.principal.token {
        return Err(ToolError::NotFound(format!("no change set '{}'", a.id)));
    }
    Ok(c.summary())
}

/// Who decides on a change set.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    /// The person, as the audit log names them.
    pub name: &'a str,
    /// The API token they decide with (over the REST API); `None` on the command line.
    pub token: Option<&'a str>,
}

/// Approve a proposed change set (a person: `proxctl mcp approve`, or over the REST API with
/// a token other than the one that proposed it); audited.
pub async fn approve(state: &StateHandle, id: &str, by: Decider<'_>) -> ToolResult<ChangeSet> {
    decide(state, id, by, true).await
}

/// Reject a proposed change set; audited.
pub async fn reject(state: &StateHandle, id: &str, by: Decider<'_>) -> ToolResult<ChangeSet> {
    decide(state, id, by, false).await
}

async fn decide(state: &StateHandle, id: &str, d: Decider<'_>, yes: bool) -> ToolResult<ChangeSet> {
    let by = d.name;
    let mut c = load(state, id).await?;
    if yes && d.token.is_some() && d.token == c.token.as_deref() {
        // The assistant holding that token could otherwise approve its own proposal.
        return Err(ToolError::Refused(format!(
            "change set {id} was proposed with this token; a person approves it with another \
             token or with `proxctl mcp approve {id}`"
        )));
    }
    if c.status != Status::Proposed {
        return Err(ToolError::Refused(format!(
            "change set {id} is {:?}, not waiting for a decision",
            c.status
        )));
    }
    if jiff::Timestamp::now() > c.expires_at {
        return Err(ToolError::Refused(format!("change set {id} expired at {}", c.expires_at)));
    }
    let verb = if yes { "approve" } else { "reject" };
    // What cannot be audited is not done: the row goes first.
    state
        .get()
        .await?
        .append_audit(&NewAuditEntry {
            time: jiff::Timestamp::now(),
            actor: by.to_string(),
            profile: "-".into(),
            target: format!("mcp-change/{id}"),
            action: format!("mcp {verb}"),
            params: json!({ "digest": c.digest, "proposed_by": c.proposed_by, "plan": c.plan }),
            result: "ok".into(),
        })
        .await?;
    c.status = if yes { Status::Approved } else { Status::Rejected };
    c.approved_by = Some(by.to_string());
    save(state, &c).await?;
    Ok(c)
}

/// The newest change sets, newest first.
pub async fn list(state: &StateHandle, limit: usize) -> ToolResult<Vec<ChangeSet>> {
    let docs = state.get().await?.documents(kind::MCP_CHANGE, limit).await?;
    Ok(docs.iter().filter_map(|d| serde_json::from_str(&d.body).ok()).collect())
}

pub fn tools() -> Vec<ToolDef> {
    let mut t = vec![
        tool(
            "propose_change",
            "Propose a change set",
            Tier::Operate,
            "Propose something destructive or large: a hard stop, delete, rollback, restore, \
             an apply of manifests, or bulk work over many guests. Nothing changes: it returns \
             an id, the plan for the user to review, and a digest. A person must approve it \
             (`proxctl mcp approve ID`) before apply_change runs it.",
            propose_change,
        ),
        tool(
            "apply_change",
            "Apply an approved change set",
            Tier::Operate,
            "Run an approved change set, given its id and the digest propose_change returned. \
             Refused if it is not approved, expired, already applied, or the cluster changed \
             since the proposal (then propose again).",
            apply_change,
        ),
        tool(
            "get_change",
            "Show a change set",
            Tier::Read,
            "A change set's plan, digest and status (proposed, approved, applied, ...).",
            get_change,
        ),
    ];
    for d in &mut t {
        d.destructive = d.name == "apply_change";
    }
    t
}
