//! The operate tools: start, shutdown, reboot, snapshots (with a TTL, always), backups, tags and
//! clones from a template. Off unless the server runs with `--mode operate`; only for operators
//! and admins; only on guests in the caller's scope; safe mode and the audit log apply as for
//! every face (they live in the client's mutation hook). A call that would touch more than one
//! guest first answers with the list and a confirmation id, and acts only when repeated with
//! it; more than [`MAX_DIRECT`] guests is a change set's job.

use futures_util::StreamExt;
use proxctl_client::WaitOptions;
use proxctl_ops::bulk::{BulkAction, ItemReport, Outcome};
use proxctl_ops::views::GuestRow;
use proxctl_types::{SnapshotName, StorageId};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Call, ToolDef, make_tool as tool};
use crate::access::Tier;
use crate::error::{ToolError, ToolResult};

/// The most guests one operate call changes; more goes through `propose_change`.
pub const MAX_DIRECT: usize = 20;

/// Which guests: one by name or VMID, or a selector.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Guests {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// One guest, by name or VMID.
    pub guest: Option<String>,
    /// Several guests, in the selector language (e.g. `web,node:pve1`); give this or `guest`.
    pub selector: Option<String>,
    /// The id a previous identical call returned, to confirm acting on several guests.
    pub confirmation: Option<String>,
}

impl Guests {
    async fn resolve(&self, call: &Call) -> ToolResult<(proxctl_client::Client, Vec<GuestRow>)> {
        let (_, client) = call.client(self.remote.as_deref())?;
        let rows = match (&self.guest, &self.selector) {
            (Some(g), None) => vec![call.guest(&client, g).await?.1],
            (None, Some(s)) => call.targets(&client, s).await?,
            _ => {
                return Err(ToolError::Invalid(
                    "give exactly one of `guest` (a name or VMID) and `selector`".into(),
                ));
            }
        };
        if rows.is_empty() {
            return Err(ToolError::NotFound(
                "the selector matches no guest you can see; list_guests shows them".into(),
            ));
        }
        if rows.len() > MAX_DIRECT {
            return Err(ToolError::Refused(format!(
                "that is {} guests, more than the {MAX_DIRECT} an operate tool changes at once; \
                 use propose_change (a change set a person approves) for large bulk work",
                rows.len()
            )));
        }
        Ok((client, rows))
    }
}

/// `None` when the call may go ahead; otherwise the answer that lists the guests and the
/// confirmation id to repeat the call with. The id binds the tool, its arguments and the
/// exact guests, so a changed selection needs a new confirmation.
fn needs_confirmation(
    call: &Call,
    tool: &str,
    args: &Value,
    given: Option<&str>,
    rows: &[GuestRow],
) -> Option<Value> {
    if rows.len() <= 1 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(tool.as_bytes());
    h.update(args.to_string().as_bytes());
    h.update(call.principal.token.as_deref().unwrap_or("local").as_bytes());
    for r in rows {
        h.update(r.vmid.to_le_bytes());
    }
    let id = format!("cf-{}", &hex::encode(h.finalize())[..16]);
    if given == Some(id.as_str()) {
        return None;
    }
    let listed: Vec<Value> = rows
        .iter()
        .map(|g| json!({ "vmid": g.vmid, "name": g.name, "node": g.node, "status": g.status }))
        .collect();
    let note = if given.is_some() {
        "The confirmation does not match: the guests or the arguments changed since. "
    } else {
        ""
    };
    Some(json!({
        "confirmation_required": true,
        "confirmation": id,
        "guests": listed,
        "message": format!(
            "{note}This would {tool} {} guests (listed). Show them to the user; to go ahead, \
             repeat the same call with confirmation=\"{id}\".",
            rows.len()
        ),
    }))
}

/// The arguments that define the call, without the confirmation.
fn fingerprint<T: serde::Serialize>(v: &T) -> Value {
    let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("confirmation");
    }
    v
}

pub(crate) fn report(verb: &str, items: Vec<ItemReport>) -> Value {
    let failed = items.iter().filter(|i| i.outcome == Outcome::Failed).count();
    let refused = items.iter().filter(|i| i.outcome == Outcome::Refused).count();
    json!({
        "action": verb,
        "ok": items.iter().filter(|i| i.outcome == Outcome::Ok).count(),
        "skipped": items.iter().filter(|i| i.outcome == Outcome::Skipped).count(),
        "refused": refused,
        "failed": failed,
        "guests": items,
    })
}

#[derive(serde::Serialize)]
struct Echo<'a> {
    tool: &'a str,
    remote: &'a Option<String>,
    guest: &'a Option<String>,
    selector: &'a Option<String>,
    extra: Value,
}

async fn bulk(call: Call, a: Guests, action: BulkAction, extra: Value) -> ToolResult<Value> {
    let verb = action.verb();
    let (client, rows) = a.resolve(&call).await?;
    let echo = fingerprint(&Echo {
        tool: verb,
        remote: &a.remote,
        guest: &a.guest,
        selector: &a.selector,
        extra,
    });
    if let Some(ask) = needs_confirmation(&call, verb, &echo, a.confirmation.as_deref(), &rows) {
        return Ok(ask);
    }
    let description = format!("{verb} {} guest(s)", rows.len());
    crate::operations::run(&call, description, move || async move {
        // Never forced: `always-on` guests are skipped, safe mode refusals stand.
        let items = proxctl_ops::bulk::run(&client, &rows, &action, 4, false).await;
        Ok(report(verb, items))
    })
    .await
}

async fn start(call: Call, a: Guests) -> ToolResult<Value> {
    bulk(call, a, BulkAction::Start, Value::Null).await
}

async fn shutdown(call: Call, a: Guests) -> ToolResult<Value> {
    bulk(call, a, BulkAction::Shutdown, Value::Null).await
}

async fn reboot(call: Call, a: Guests) -> ToolResult<Value> {
    bulk(call, a, BulkAction::Reboot, Value::Null).await
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Snapshot {
    #[serde(flatten)]
    pub guests: Guests,
    /// The snapshot's name: letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// Required: how long to keep it (`30m`, `4h`, `2d`, `1w`); it is deleted after that.
    pub ttl: String,
    /// Why it was taken.
    pub description: Option<String>,
}

async fn snapshot_create(call: Call, a: Snapshot) -> ToolResult<Value> {
    let name = SnapshotName::new(&a.name)
        .map_err(|e| ToolError::Invalid(format!("snapshot name: {e}")))?;
    let ttl = proxctl_ops::snapshot::parse_ttl(&a.ttl)?;
    let (client, rows) = a.guests.resolve(&call).await?;
    let echo = fingerprint(&Echo {
        tool: "snapshot",
        remote: &a.guests.remote,
        guest: &a.guests.guest,
        selector: &a.guests.selector,
        extra: json!({ "name": a.name, "ttl": a.ttl, "description": a.description }),
    });
    let confirmation = a.guests.confirmation.as_deref();
    if let Some(ask) = needs_confirmation(&call, "snapshot", &echo, confirmation, &rows) {
        return Ok(ask);
    }
    let state = std::sync::Arc::clone(&call.shared.state);
    let description = a.description.unwrap_or_else(|| format!("taken by {}", call.actor()));
    let what = format!("snapshot {} guest(s) as {name}", rows.len());
    crate::operations::run(&call, what, move || async move {
        let items = snapshot_each(&client, &state, rows, &name, ttl, &description).await;
        Ok(report("snapshot", items))
    })
    .await
}

/// Snapshot each guest with a TTL (recorded in the store first), a few at a time.
pub(crate) async fn snapshot_each(
    client: &proxctl_client::Client,
    state: &proxctl_ops::state::StateHandle,
    rows: Vec<GuestRow>,
    name: &SnapshotName,
    ttl: i64,
    description: &str,
) -> Vec<ItemReport> {
    futures_util::stream::iter(rows)
        .map(|g| async move {
            let done = async {
                let r = g.guest_ref()?;
                let upid = proxctl_ops::snapshot::create(
                    client,
                    Some(state),
                    &r,
                    name,
                    Some(description),
                    Some(ttl),
                    false,
                )
                .await?;
                client.wait_task(&upid, &WaitOptions::default()).await?;
                Ok::<_, ToolError>(())
            }
            .await;
            match done {
                Ok(()) => ItemReport::of(&g, Outcome::Ok, format!("snapshot {name}")),
                Err(e) => ItemReport::of(&g, Outcome::Failed, e.to_string()),
            }
        })
        .buffer_unordered(4)
        .collect()
        .await
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Backup {
    #[serde(flatten)]
    pub guests: Guests,
    /// The backup storage; leave out for the node's default.
    pub storage: Option<String>,
}

async fn backup_create(call: Call, a: Backup) -> ToolResult<Value> {
    let storage = match a.storage.as_deref() {
        Some(s) => {
            Some(StorageId::new(s).map_err(|e| ToolError::Invalid(format!("storage: {e}")))?)
        }
        None => None,
    };
    let extra = json!({ "storage": a.storage });
    bulk(call, a.guests, BulkAction::Backup(storage), extra).await
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Tags {
    #[serde(flatten)]
    pub guests: Guests,
    /// Tags to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

async fn set_tags(call: Call, a: Tags) -> ToolResult<Value> {
    if a.add.is_empty() && a.remove.is_empty() {
        return Err(ToolError::Invalid("give tags to add or to remove".into()));
    }
    proxctl_ops::tags::validate(&a.add)?;
    let extra = json!({ "add": a.add, "remove": a.remove });
    bulk(call, a.guests, BulkAction::Tag { add: a.add, remove: a.remove }, extra).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneFromTemplate {
    /// The remote (cluster); leave out for the default one.
    pub remote: Option<String>,
    /// A template name (its current version) or `NAME@VERSION`; list_templates shows them.
    pub template: String,
    /// The new VM's name (and hostname).
    pub name: String,
    /// The node; leave out for the template's node or the one with the most room.
    pub node: Option<String>,
    /// CPU cores.
    pub cores: Option<u32>,
    /// Memory in MiB.
    pub memory: Option<u64>,
    /// Boot disk size, e.g. `32G` (only grows).
    pub disk: Option<String>,
    /// The network bridge (default `vmbr0`).
    pub bridge: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Start it once created.
    #[serde(default)]
    pub start: bool,
}

async fn clone_from_template(call: Call, a: CloneFromTemplate) -> ToolResult<Value> {
    call.principal.unscoped("creating a guest")?;
    if let Some(c) = a.cores.filter(|c| !(1..=8192).contains(c)) {
        return Err(ToolError::Invalid(format!("cores must be 1 to 8192, not {c}")));
    }
    if let Some(m) = a.memory.filter(|m| !(16..=4_194_304).contains(m)) {
        return Err(ToolError::Invalid(format!("memory must be 16 to 4194304 MiB, not {m}")));
    }
    proxctl_ops::tags::validate(&a.tags)?;
    let (remote, client) = call.client(a.remote.as_deref())?;
    let req = proxctl_engine::imperative::VmRequest {
        name: a.name.clone(),
        template: a.template.clone(),
        node: a.node,
        cores: a.cores,
        memory: a.memory,
        disk: a.disk,
        nics: vec![proxctl_engine::manifest::NicSpec {
            bridge: a.bridge.unwrap_or_else(|| "vmbr0".into()),
            vlan: None,
            model: None,
            firewall: None,
        }],
        tags: a.tags,
        start: a.start,
        cloud_init: proxctl_engine::manifest::CloudInitSpec {
            mode: Some("native".into()),
            ip: [(
                "net0".to_string(),
                proxctl_engine::manifest::IpSpec {
                    address: Some("dhcp".into()),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        },
        password: None,
    };
    // Refused now, not as a failed operation, when it would not make a valid manifest.
    proxctl_engine::imperative::manifest(&req)?;
    let store = call.store().await?;
    let opts = proxctl_engine::ApplyOptions::new(call.actor());
    let what = format!("create VM {} from {} on remote {remote}", a.name, a.template);
    crate::operations::run(&call, what, move || async move {
        let made = proxctl_engine::imperative::create_vm(&client, store, &req, &opts).await?;
        Ok(json!({ "vmid": made.vmid.get(), "node": made.node.to_string(), "name": req.name }))
    })
    .await
}

pub fn tools() -> Vec<ToolDef> {
    let mut t = vec![
        tool(
            "start",
            "Start guests",
            Tier::Operate,
            "Start one guest (`guest`) or several (`selector`, up to 20; the first call returns \
             the list and a confirmation id to repeat the call with).",
            start,
        ),
        tool(
            "shutdown",
            "Shut down guests",
            Tier::Operate,
            "Cleanly shut down guests (ACPI or the guest agent). Guests tagged always-on are \
             skipped. Several guests need a confirmation as for start. A hard stop is a change \
             set (propose_change).",
            shutdown,
        ),
        tool(
            "reboot",
            "Reboot guests",
            Tier::Operate,
            "Reboot guests cleanly; always-on guests are skipped; several need a confirmation.",
            reboot,
        ),
        tool(
            "snapshot_create",
            "Snapshot guests",
            Tier::Operate,
            "Take a snapshot of guests before a risky change. A TTL is required: the snapshot \
             is deleted after it. Several guests need a confirmation.",
            snapshot_create,
        ),
        tool(
            "backup_create",
            "Back up guests",
            Tier::Operate,
            "Back up guests now (vzdump, zstd) to the given or default storage; several guests \
             need a confirmation.",
            backup_create,
        ),
        tool(
            "set_tags",
            "Tag guests",
            Tier::Operate,
            "Add and remove tags on guests; several guests need a confirmation.",
            set_tags,
        ),
        tool(
            "clone_from_template",
            "Create a VM from a template",
            Tier::Operate,
            "Create a new VM from a versioned template, with cloud-init on DHCP, through the \
             declarative engine (it is recorded and marked as proxctl-managed).",
            clone_from_template,
        ),
    ];
    for d in &mut t {
        d.destructive = matches!(d.name, "shutdown" | "reboot");
    }
    t
}
