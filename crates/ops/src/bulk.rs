//! Bulk actions over guests picked by a selector: bounded parallelism, continue on error, and a
//! per-guest report. Special tags: `always-on` guests are never stopped, shut down, rebooted or
//! deleted without `force`.

use futures_util::StreamExt;
use proxctl_client::endpoints::storage::{VzdumpRequest, VzdumpStarted};
use proxctl_client::{Client, PowerAction, WaitOptions};
use proxctl_types::selector::Selector;
use proxctl_types::{SnapshotName, StorageId};
use serde::Serialize;

use crate::OpsError;
use crate::output::Tabular;
use crate::state::StateHandle;
use crate::views::{self, GuestRow};

/// The tag that protects a guest from being stopped in bulk.
pub const ALWAYS_ON: &str = "always-on";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Delete,
    /// A snapshot of each; with `expires` (Unix seconds) the sweeper deletes it then.
    Snapshot {
        name: SnapshotName,
        expires: Option<i64>,
    },
    Backup(Option<StorageId>),
    /// Add and remove tags.
    Tag {
        add: Vec<String>,
        remove: Vec<String>,
    },
}

impl BulkAction {
    pub fn verb(&self) -> &'static str {
        match self {
            BulkAction::Start => "start",
            BulkAction::Stop => "stop",
            BulkAction::Shutdown => "shutdown",
            BulkAction::Reboot => "reboot",
            BulkAction::Delete => "delete",
            BulkAction::Snapshot { .. } => "snapshot",
            BulkAction::Backup(_) => "backup",
            BulkAction::Tag { .. } => "tag",
        }
    }

    /// Whether the action takes a guest down (and so respects `always-on`).
    pub fn stops_guests(&self) -> bool {
        matches!(
            self,
            BulkAction::Stop | BulkAction::Shutdown | BulkAction::Reboot | BulkAction::Delete
        )
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Skipped,
    /// Safe mode refused it before anything was sent: the user's to decide (`--force`).
    Refused,
    Failed,
    /// A check found something to look at: drift, a guest without a recent backup.
    Found,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ItemReport {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub outcome: Outcome,
    pub detail: String,
    /// The guest's tags, so notification matchers can select by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl ItemReport {
    /// The report line for guest `g`.
    pub fn of(g: &GuestRow, outcome: Outcome, detail: impl Into<String>) -> Self {
        ItemReport {
            vmid: g.vmid,
            name: g.name.clone(),
            node: g.node.clone(),
            outcome,
            detail: detail.into(),
            tags: g.tags.clone(),
        }
    }
}

impl Tabular for ItemReport {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["VMID", "NAME", "NODE", "RESULT", "DETAIL"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        let r = match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Refused => "refused",
            Outcome::Failed => "FAILED",
            Outcome::Found => "found",
        };
        vec![
            self.vmid.to_string(),
            self.name.clone(),
            self.node.clone(),
            r.into(),
            self.detail.clone(),
        ]
    }
}

/// The guests a selector picks (templates only when asked for by the selector).
pub async fn targets(client: &Client, sel: &Selector) -> Result<Vec<GuestRow>, OpsError> {
    Ok(views::guests(client, None, false)
        .await?
        .into_iter()
        .filter(|g| !g.template && g.selected_by(sel))
        .collect())
}

async fn one(
    client: &Client,
    state: Option<&StateHandle>,
    g: &GuestRow,
    action: &BulkAction,
    force: bool,
) -> ItemReport {
    let report = |outcome, detail: String| ItemReport::of(g, outcome, detail);
    if action.stops_guests() && !force && g.tags.iter().any(|t| t == ALWAYS_ON) {
        return report(
            Outcome::Skipped,
            format!("tagged {ALWAYS_ON}; pass --force to {} it anyway", action.verb()),
        );
    }
    match run_one(client, state, g, action).await {
        Ok(detail) => report(Outcome::Ok, detail),
        Err(e) => {
            let refused =
                matches!(e, OpsError::Client(proxctl_client::ClientError::Refused { .. }));
            let outcome = if refused { Outcome::Refused } else { Outcome::Failed };
            report(outcome, e.to_string().lines().next().unwrap_or_default().to_string())
        }
    }
}

async fn run_one(
    client: &Client,
    state: Option<&StateHandle>,
    g: &GuestRow,
    action: &BulkAction,
) -> Result<String, OpsError> {
    let r = g.guest_ref()?;
    let wait = |u| async move {
        client.wait_task(&u, &WaitOptions::default()).await.map_err(OpsError::from)
    };
    let power = |a: PowerAction| {
        let r = &r;
        async move { crate::guest::power(client, r, &a).await }
    };
    match action {
        BulkAction::Start if g.status == "running" => return Ok("already running".into()),
        BulkAction::Stop | BulkAction::Shutdown if g.status == "stopped" => {
            return Ok("already stopped".into());
        }
        BulkAction::Start | BulkAction::Stop | BulkAction::Shutdown => {
            let a = match action {
                BulkAction::Start => PowerAction::Start { timeout: None },
                BulkAction::Stop => PowerAction::Stop { timeout: None },
                _ => PowerAction::Shutdown { timeout: None, force_stop: false },
            };
            let upid = power(a).await?;
            let done = wait(upid.clone()).await?;
            // An HA-managed guest's request is done when the HA manager has done it.
            if crate::guest::settle_ha(client, &r, &upid, crate::guest::HA_WAIT).await? {
                return Ok("done by PVE's HA manager".into());
            }
            done
        }
        BulkAction::Reboot => wait(power(PowerAction::Reboot { timeout: None }).await?).await?,
        BulkAction::Delete => {
            let done = crate::guest::destroy(client, &g.guest_ref()?, false).await?;
            let what = if done.stopped { "stopped, then deleted" } else { "deleted" };
            return Ok(what.into());
        }
        BulkAction::Snapshot { name, expires } => {
            let r = g.guest_ref()?;
            let description = Some("proxctl bulk snapshot");
            wait(
                crate::snapshot::create_expiring(
                    client,
                    state,
                    &r,
                    name,
                    description,
                    *expires,
                    false,
                )
                .await?,
            )
            .await?
        }
        BulkAction::Backup(storage) => {
            let r = g.guest_ref()?;
            let req = VzdumpRequest {
                vmids: vec![r.vmid],
                storage: storage.clone(),
                compress: Some("zstd".into()),
                ..Default::default()
            };
            match client.vzdump(&r.node, &req).await? {
                VzdumpStarted::Task(u) => wait(u).await?,
                VzdumpStarted::NothingToDo => return Ok("nothing to back up on this node".into()),
            }
        }
        BulkAction::Tag { add, remove } => {
            let r = g.guest_ref()?;
            let mut tags: Vec<String> = g
                .tags
                .iter()
                .filter(|t| !remove.iter().any(|x| x.eq_ignore_ascii_case(t)))
                .cloned()
                .collect();
            tags.extend(add.iter().map(|t| t.to_ascii_lowercase()));
            crate::tags::write(client, &r, tags).await?;
            return Ok("tags updated".into());
        }
    };
    Ok("done".into())
}

/// Run `action` on every target, at most `parallel` at a time, continuing past failures.
/// The report is in VMID order.
pub async fn run(
    client: &Client,
    targets: &[GuestRow],
    action: &BulkAction,
    parallel: usize,
    force: bool,
) -> Vec<ItemReport> {
    run_recorded(client, None, targets, action, parallel, force).await
}

/// [`run`], with the state store that records snapshot expiries (so the sweeper finds them
/// without reading every guest's snapshots).
pub async fn run_recorded(
    client: &Client,
    state: Option<&StateHandle>,
    targets: &[GuestRow],
    action: &BulkAction,
    parallel: usize,
    force: bool,
) -> Vec<ItemReport> {
    let mut out: Vec<ItemReport> = futures_util::stream::iter(targets)
        .map(|g| one(client, state, g, action, force))
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    out.sort_by_key(|r| r.vmid);
    out
}
