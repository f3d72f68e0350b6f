//! Resources (the manifest reference and its JSON Schema, the selector language, the safety
//! model) and prompts (investigate a failed task, plan a rolling reboot, check backup health):
//! what an assistant reads before it acts.

use serde_json::{Value, json};

/// `(uri, name, description, mime type)`.
pub const RESOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "proxctl://manifests/reference",
        "Manifest reference",
        "Every kind (VirtualMachine, Container, Template, IPPool, Job) and field of proxctl's \
         declarative manifests, with examples.",
        "text/markdown",
    ),
    (
        "proxctl://manifests/schema.json",
        "Manifest JSON Schema",
        "The JSON Schema manifests are validated against.",
        "application/json",
    ),
    (
        "proxctl://selectors",
        "Selector language",
        "How to pick guests: tags, name, node, pool, VMID ranges, AND, OR, NOT.",
        "text/markdown",
    ),
    (
        "proxctl://safety",
        "Safety model",
        "What this server lets an assistant do, and how destructive changes are approved.",
        "text/markdown",
    ),
];

const SELECTORS: &str = "\
# proxctl's selector language

A selector picks guests (VMs and containers). Terms:

| term | picks |
|---|---|
| `web` | guests tagged `web` (`*` is a wildcard: `env-*`) |
| `name:db-*` | guests whose name matches the glob |
| `node:pve1` | guests on node pve1 |
| `pool:prod` | guests in pool prod |
| `id:100-199` | VMIDs 100 to 199 (`id:105` for one) |
| `all` | every guest |

Combine them: `,`, `&` or a space is AND; `|` is OR; `!` is NOT; parentheses group.

Examples: `env-prod,web` (both tags), `(web | db) & !env-dev`, `name:web-* node:pve1`.
Templates are never picked by bulk actions.
";

pub fn safety(mode: &str) -> String {
    format!(
        "\
# What this MCP server may do

Mode: **{mode}**.

- Read tools are always on and change nothing. `plan` and `drift` only compute.
- Operate tools (start, shutdown, reboot, snapshot_create, backup_create, set_tags,
  clone_from_template) need `operate` mode and the operator or admin role. A call that would
  touch more than one guest first returns the list and a confirmation id; repeat the call with
  it to act. At most 20 guests per call.
- Everything destructive or large (hard stop, delete, rollback, restore, applying manifests,
  bulk over many guests) is a change set: `propose_change` returns an id, a plan and a digest;
  a person approves it with `proxctl mcp approve ID`; `apply_change(id, digest)` runs it only
  if the cluster still matches what was proposed. There is no force option.
- Snapshots always have a TTL. Guests tagged `always-on` are never stopped in bulk. Safe mode,
  when on, refuses changes to guests proxctl does not manage.
- Every tool call is in the audit log as `mcp:<client name>`, with the token.
"
    )
}

pub fn read(uri: &str, mode: &str) -> Option<(String, &'static str)> {
    match uri {
        "proxctl://manifests/reference" => {
            Some((include_str!("../../../docs/manifests.md").to_string(), "text/markdown"))
        }
        "proxctl://manifests/schema.json" => {
            let schema = proxctl_engine::manifest::json_schema();
            Some((serde_json::to_string_pretty(&schema).unwrap_or_default(), "application/json"))
        }
        "proxctl://selectors" => Some((SELECTORS.to_string(), "text/markdown")),
        "proxctl://safety" => Some((safety(mode), "text/markdown")),
        _ => None,
    }
}

/// A prompt's argument: name, description, whether it is required.
type Argument = (&'static str, &'static str, bool);

/// `(name, description, arguments)`.
pub const PROMPTS: &[(&str, &str, &[Argument])] = &[
    (
        "investigate_failed_task",
        "Find out why a Proxmox task failed and what to do about it.",
        &[("upid", "The failed task's UPID; leave out to start from the newest failure.", false)],
    ),
    (
        "plan_rolling_reboot",
        "Plan a reboot of a group of guests one at a time, keeping the service up.",
        &[("selector", "Which guests, in the selector language (e.g. `web`).", true)],
    ),
    (
        "check_backup_health",
        "Check that every guest has a recent, verified backup and a job covering it.",
        &[
            ("selector", "Which guests (default all).", false),
            ("max_age", "How old a backup may be (default 26h).", false),
        ],
    ),
];

pub fn prompt(name: &str, args: &serde_json::Map<String, Value>) -> Option<(String, String)> {
    let arg = |k: &str| args.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let text = match name {
        "investigate_failed_task" => {
            let upid = arg("upid");
            let start = if upid.is_empty() {
                "Call list_tasks with failed_only=true and take the newest failure.".to_string()
            } else {
                format!("The task is {upid}.")
            };
            format!(
                "Investigate a failed Proxmox task. {start} Read its log with task_log. Look at \
                 the guest it concerns with get_guest, the node with list_nodes and the storage \
                 with list_storage when the log points there (space, locks, an offline node). \
                 Check audit_search for recent changes to the same guest. Then explain the cause \
                 in two or three sentences and propose a fix; do not change anything yourself."
            )
        }
        "plan_rolling_reboot" => {
            let sel = arg("selector");
            format!(
                "Plan a rolling reboot of the guests selected by `{sel}`. List them with \
                 list_guests, group them by node, and check cluster_status for quorum and HA. \
                 Propose an order that keeps at least one guest of each role running, with a \
                 snapshot (snapshot_create with a TTL of a day) before each reboot. Present the \
                 plan to the user and wait for their go-ahead before calling reboot for one guest \
                 at a time, checking each is running again before the next."
            )
        }
        "check_backup_health" => {
            let sel = if arg("selector").is_empty() { "all".into() } else { arg("selector") };
            let age = if arg("max_age").is_empty() { "26h".into() } else { arg("max_age") };
            format!(
                "Check backup health for the guests `{sel}`. Call backup_coverage with \
                 max_age={age}. Report guests with no backup, with a backup that is too old, and \
                 with no job covering them; look at list_tasks (failed_only) for failed vzdump \
                 tasks and read their logs. Summarise what is at risk, most important first, and \
                 suggest fixes (a job, more storage, a one-off backup_create)."
            )
        }
        _ => return None,
    };
    let description = PROMPTS.iter().find(|p| p.0 == name).map(|p| p.1).unwrap_or_default();
    Some((description.to_string(), text))
}

pub fn list_prompts() -> Value {
    let prompts: Vec<Value> = PROMPTS
        .iter()
        .map(|(name, description, args)| {
            let args: Vec<Value> = args
                .iter()
                .map(|(n, d, r)| json!({ "name": n, "description": d, "required": r }))
                .collect();
            json!({ "name": name, "description": description, "arguments": args })
        })
        .collect();
    json!({ "prompts": prompts, "resultType": "complete" })
}

pub fn list_resources() -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(uri, name, description, mime)| {
            json!({ "uri": uri, "name": name, "description": description, "mimeType": mime })
        })
        .collect();
    json!({ "resources": resources, "resultType": "complete" })
}
