//! What needs an admin's attention: nodes offline, remotes down, failed PVE tasks, guests
//! without a recent backup, failed jobs, drift found by drift-check jobs, snapshots past their
//! TTL or very old. One list, worked out here, that every face shows the same way: the
//! dashboard's overview, `GET /api/v1/attention` and `proxctl attention`.

use std::collections::BTreeSet;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use proxctl_client::Client;
use proxctl_types::selector::Selector;
use serde::Serialize;

use crate::OpsError;
use crate::bulk::Outcome;
use crate::jobs::runs::{self, RunOutcome};
use crate::jobs::view::JobRow;
use crate::output::Tabular;
use crate::state::StateHandle;
use crate::views::GuestRow;

/// How old is too old, and how much to list.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The oldest a guest's newest backup may be, in seconds.
    pub backup_max_age: i64,
    /// A snapshot older than this, in seconds, is listed as very old.
    pub snapshot_max_age: i64,
    /// Now, in Unix seconds.
    pub now: i64,
    /// Failed tasks (and very old snapshots) listed one by one before the rest are counted.
    pub shown: usize,
}

/// A snapshot is "very old" after this many days unless asked otherwise.
pub const DEFAULT_SNAPSHOT_MAX_AGE: &str = "30d";

impl Options {
    /// The defaults: backups within 26 h, snapshots younger than 30 days, five of each listed.
    pub fn at(now: i64) -> Self {
        Options { backup_max_age: 26 * 3600, snapshot_max_age: 30 * 86_400, now, shown: 5 }
    }
}

/// How urgent an item is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something failed or is down.
    Bad,
    /// Something to look at before it becomes a failure.
    Warn,
}

/// What needs attention, with what a face needs to link to it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Concern {
    NodeOffline {
        node: String,
        status: String,
    },
    RemoteUnreachable {
        detail: String,
    },
    TaskFailed {
        node: String,
        upid: String,
        task_type: String,
        id: String,
        status: String,
    },
    /// Failed tasks beyond those listed.
    MoreTasksFailed {
        count: usize,
    },
    NoRecentBackup {
        vmids: Vec<u32>,
    },
    JobFailed {
        job: String,
        outcome: String,
    },
    Drift {
        job: String,
        resources: usize,
    },
    SnapshotsExpired {
        count: usize,
    },
    SnapshotOld {
        vmid: u32,
        guest: String,
        snapshot: String,
        age_days: i64,
    },
    /// Very old snapshots beyond those listed.
    MoreSnapshotsOld {
        count: usize,
    },
    /// A check could not be made; the list may be missing what it would have found.
    CheckFailed {
        check: String,
        detail: String,
    },
}

impl Concern {
    pub fn level(&self) -> Level {
        match self {
            Concern::NodeOffline { .. }
            | Concern::RemoteUnreachable { .. }
            | Concern::TaskFailed { .. }
            | Concern::MoreTasksFailed { .. }
            | Concern::JobFailed { .. } => Level::Bad,
            _ => Level::Warn,
        }
    }

    /// One line for a person, without the remote.
    pub fn text(&self) -> String {
        match self {
            Concern::NodeOffline { node, status } => format!("node {node} is {status}"),
            Concern::RemoteUnreachable { detail } => format!("does not answer: {detail}"),
            Concern::TaskFailed { task_type, id, status, node, .. } => {
                let what =
                    if id.is_empty() { task_type.clone() } else { format!("{task_type} {id}") };
                format!("task {what} on {node} failed: {status}")
            }
            Concern::MoreTasksFailed { count } => format!("{count} more failed task(s)"),
            Concern::NoRecentBackup { vmids } => {
                format!("{} guest(s) without a recent backup", vmids.len())
            }
            Concern::JobFailed { job, outcome } => format!("job {job} last ended {outcome}"),
            Concern::Drift { job, resources } => {
                format!("{resources} resource(s) drifted from their manifests (job {job})")
            }
            Concern::SnapshotsExpired { count } => {
                format!("{count} snapshot(s) past their TTL, not yet swept")
            }
            Concern::SnapshotOld { vmid, guest, snapshot, age_days } => {
                format!("snapshot {snapshot} of {guest} ({vmid}) is {age_days} days old")
            }
            Concern::MoreSnapshotsOld { count } => format!("{count} more very old snapshot(s)"),
            Concern::CheckFailed { check, detail } => format!("could not check {check}: {detail}"),
        }
    }
}

/// One thing that needs attention.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The remote it is on; none for what the state store knows (jobs, TTLs).
    pub remote: Option<String>,
    pub level: Level,
    /// What it is, in a sentence.
    pub text: String,
    #[serde(flatten)]
    pub concern: Concern,
}

impl Item {
    /// An item on `remote` (none, or empty, for one not on a remote or when there is only one).
    pub fn new(remote: Option<&str>, concern: Concern) -> Self {
        let remote = remote.filter(|r| !r.is_empty());
        let text = match remote {
            Some(r) => format!("{r}: {}", concern.text()),
            None => concern.text(),
        };
        Item { remote: remote.map(str::to_string), level: concern.level(), text, concern }
    }
}

impl Tabular for Item {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["LEVEL", "WHAT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        let level = match self.level {
            Level::Bad => "bad",
            Level::Warn => "warn",
        };
        vec![level.into(), self.text.clone()]
    }
}

/// A snapshot older than the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldSnapshot {
    pub vmid: u32,
    pub guest: String,
    pub snapshot: String,
    pub taken: i64,
}

/// What one remote shows: its guests the selector picks (for the caller to filter what the
/// state store knows) and the items found on it.
#[derive(Debug, Default)]
pub struct RemoteFindings {
    pub guests: Vec<GuestRow>,
    pub items: Vec<Item>,
}

/// Everything on one remote that needs attention, for the guests `sel` picks. `scoped` means
/// the caller may see only those guests: node-wide tasks are then left out. Very old
/// snapshots are not looked for here (it costs a read per guest): see [`old_snapshots`].
pub async fn of_remote(
    client: &Client,
    remote: &str,
    state: &StateHandle,
    sel: &Selector,
    scoped: bool,
    opts: &Options,
) -> RemoteFindings {
    let r = Some(remote);
    let mut out = RemoteFindings::default();
    let nodes = match crate::views::nodes(client).await {
        Ok(n) => n,
        Err(e) => {
            out.items.push(Item::new(r, Concern::RemoteUnreachable { detail: e.to_string() }));
            return out;
        }
    };
    for n in nodes.into_iter().filter(|n| n.status != "online") {
        out.items.push(Item::new(r, Concern::NodeOffline { node: n.node, status: n.status }));
    }
    match crate::bulk::targets(client, sel).await {
        Ok(g) => out.guests = g,
        Err(e) => out.items.push(failed(r, "guests", e)),
    }
    let visible: BTreeSet<u32> = out.guests.iter().map(|g| g.vmid).collect();
    match crate::views::tasks(client, false).await {
        Ok(tasks) => {
            let bad: Vec<_> = tasks
                .into_iter()
                .filter(|t| !matches!(t.status.as_str(), "OK" | "running" | ""))
                .filter(|t| !scoped || t.id.parse::<u32>().is_ok_and(|v| visible.contains(&v)))
                .collect();
            let more = bad.len().saturating_sub(opts.shown);
            for t in bad.into_iter().take(opts.shown) {
                let c = Concern::TaskFailed {
                    node: t.node,
                    upid: t.upid,
                    task_type: t.task_type,
                    id: t.id,
                    status: t.status,
                };
                out.items.push(Item::new(r, c));
            }
            if more > 0 {
                out.items.push(Item::new(r, Concern::MoreTasksFailed { count: more }));
            }
        }
        Err(e) => out.items.push(failed(r, "tasks", e)),
    }
    match coverage(client, state, sel, opts).await {
        Ok(rows) => {
            let vmids: Vec<u32> = rows
                .iter()
                .filter(|c| c.status != crate::coverage::Coverage::Ok)
                .map(|c| c.vmid)
                .collect();
            if !vmids.is_empty() {
                out.items.push(Item::new(r, Concern::NoRecentBackup { vmids }));
            }
        }
        Err(e) => out.items.push(failed(r, "backups", e)),
    }
    out
}

async fn coverage(
    client: &Client,
    state: &StateHandle,
    sel: &Selector,
    opts: &Options,
) -> Result<Vec<crate::coverage::CoverageRow>, OpsError> {
    let jobs = crate::jobs::list(state).await?;
    crate::coverage::coverage(client, &jobs, sel, opts.backup_max_age, opts.now).await
}

/// How many guests' snapshots are read at once.
const SNAPSHOT_READS: usize = 8;

/// Snapshots older than the policy on `guests`, oldest first: one read per guest, eight at a
/// time. A guest whose snapshots cannot be read (it went away meanwhile) is passed over.
pub async fn old_snapshots(
    client: &Client,
    guests: &[GuestRow],
    opts: &Options,
) -> Vec<OldSnapshot> {
    let cutoff = opts.now - opts.snapshot_max_age;
    // The reads are made into boxed futures first: a stream of closures over borrowed
    // guests would not be `Send` for every lifetime, which a server's handler needs.
    let reads: Vec<BoxFuture<'_, Vec<OldSnapshot>>> = guests
        .iter()
        .filter(|g| !g.template)
        .map(|g| snapshots_before(client, g, cutoff).boxed())
        .collect();
    let reads = futures_util::stream::iter(reads).buffer_unordered(SNAPSHOT_READS);
    let mut out: Vec<OldSnapshot> = reads.collect::<Vec<_>>().await.into_iter().flatten().collect();
    out.sort_by_key(|s| (s.taken, s.vmid));
    out
}

async fn snapshots_before(client: &Client, g: &GuestRow, cutoff: i64) -> Vec<OldSnapshot> {
    let Ok(r) = g.guest_ref() else { return Vec::new() };
    let snaps = crate::snapshot::list(client, &r).await.unwrap_or_default();
    snaps
        .into_iter()
        .filter_map(|s| {
            let taken = i64::try_from(s.snaptime?).ok()?;
            (taken < cutoff).then(|| OldSnapshot {
                vmid: g.vmid,
                guest: g.name.clone(),
                snapshot: s.name,
                taken,
            })
        })
        .collect()
}

/// [`old_snapshots`] of the guests in `visible`, as items: the oldest few, then a count.
pub fn old_snapshot_items(
    remote: &str,
    old: &[OldSnapshot],
    visible: Option<&BTreeSet<u32>>,
    opts: &Options,
) -> Vec<Item> {
    let mine: Vec<&OldSnapshot> = old.iter().filter(|s| sees(visible, s.vmid)).collect();
    let mut items: Vec<Item> = mine
        .iter()
        .take(opts.shown)
        .map(|s| {
            let c = Concern::SnapshotOld {
                vmid: s.vmid,
                guest: s.guest.clone(),
                snapshot: s.snapshot.clone(),
                age_days: (opts.now - s.taken) / 86_400,
            };
            Item::new(Some(remote), c)
        })
        .collect();
    let more = mine.len().saturating_sub(opts.shown);
    if more > 0 {
        items.push(Item::new(Some(remote), Concern::MoreSnapshotsOld { count: more }));
    }
    items
}

/// What the state store knows that needs attention: jobs whose last run failed, drift found
/// by drift-check jobs' newest finished runs, and snapshots past their TTL; guest-level
/// findings only for the guests `visible` lets through.
pub async fn of_state(
    state: &StateHandle,
    visible: Option<&BTreeSet<u32>>,
    opts: &Options,
) -> Vec<Item> {
    let mut items = Vec::new();
    let now = jiff::Timestamp::from_second(opts.now).unwrap_or_else(|_| jiff::Timestamp::now());
    match crate::jobs::view::rows(state, now).await {
        Ok(jobs) => {
            for j in &jobs {
                if let Some(o) = j.last_outcome.as_deref()
                    && matches!(o, "failed" | "partial" | "interrupted")
                {
                    let c = Concern::JobFailed { job: j.name.clone(), outcome: o.into() };
                    items.push(Item::new(None, c));
                }
            }
            let drift: Vec<&JobRow> =
                jobs.iter().filter(|j| j.action.starts_with("drift")).collect();
            for j in drift {
                let Ok(runs) = runs::history(state, Some(&j.name), 5).await else { continue };
                let newest = runs.iter().find(|r| r.outcome != RunOutcome::Running);
                let found = newest.map_or(0, |r| {
                    r.items
                        .iter()
                        .filter(|i| i.outcome == Outcome::Found && sees(visible, i.vmid))
                        .count()
                });
                if found > 0 {
                    let c = Concern::Drift { job: j.name.clone(), resources: found };
                    items.push(Item::new(None, c));
                }
            }
        }
        Err(e) => items.push(failed(None, "jobs", e)),
    }
    match ttls(state).await {
        Ok(ttls) => {
            let count = ttls
                .iter()
                .filter(|t| t.expires_at.as_second() < opts.now && sees(visible, t.vmid.get()))
                .count();
            if count > 0 {
                items.push(Item::new(None, Concern::SnapshotsExpired { count }));
            }
        }
        Err(e) => items.push(failed(None, "snapshot TTLs", e)),
    }
    items
}

async fn ttls(state: &StateHandle) -> Result<Vec<proxctl_state::SnapshotTtl>, OpsError> {
    Ok(state.get().await?.snapshot_ttls().await?)
}

fn failed(remote: Option<&str>, check: &str, e: OpsError) -> Item {
    Item::new(remote, Concern::CheckFailed { check: check.into(), detail: e.to_string() })
}

/// Whether `vmid` is among `visible` (none: every guest is).
fn sees(visible: Option<&BTreeSet<u32>>, vmid: u32) -> bool {
    visible.is_none_or(|v| v.contains(&vmid))
}

/// The whole list for one remote, very old snapshots included, for the guests `sel` picks
/// (`scoped`: the caller may see only those, so node-wide tasks and other guests' jobs
/// findings are left out). The CLI and the MCP tool call this; the server keeps the snapshot
/// scan between requests and composes the same parts itself. `remote` names it in each line;
/// empty leaves it out.
pub async fn gather(
    client: &Client,
    remote: &str,
    state: &StateHandle,
    sel: &Selector,
    scoped: bool,
    opts: &Options,
) -> Vec<Item> {
    let found = of_remote(client, remote, state, sel, scoped, opts).await;
    let visible: BTreeSet<u32> = found.guests.iter().map(|g| g.vmid).collect();
    let old = old_snapshots(client, &found.guests, opts).await;
    let mut items = found.items;
    items.extend(old_snapshot_items(remote, &old, Some(&visible), opts));
    items.extend(of_state(state, scoped.then_some(&visible), opts).await);
    sort(&mut items);
    items
}

/// Worst first, then in the order found.
pub fn sort(items: &mut [Item]) {
    items.sort_by_key(|i| i.level);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(vmid: u32, taken: i64) -> OldSnapshot {
        OldSnapshot { vmid, guest: format!("g{vmid}"), snapshot: "before".into(), taken }
    }

    #[test]
    fn very_old_snapshots_list_the_oldest_few_then_count_the_rest_of_the_visible_ones() {
        let opts = Options { shown: 2, ..Options::at(100 * 86_400) };
        let snaps = [old(1, 0), old(2, 86_400), old(3, 2 * 86_400), old(4, 3 * 86_400)];
        let items = old_snapshot_items("pve", &snaps, Some(&[1, 3, 4].into()), &opts);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "pve: snapshot before of g1 (1) is 100 days old",
                "pve: snapshot before of g3 (3) is 98 days old",
                "pve: 1 more very old snapshot(s)",
            ]
        );
        assert!(items.iter().all(|i| i.level == Level::Warn));
    }

    #[test]
    fn failures_sort_before_warnings_and_serialize_with_their_kind() {
        let mut items = vec![
            Item::new(None, Concern::SnapshotsExpired { count: 2 }),
            Item::new(
                Some("b"),
                Concern::NodeOffline { node: "n2".into(), status: "offline".into() },
            ),
        ];
        sort(&mut items);
        assert_eq!(items[0].text, "b: node n2 is offline");
        let v = serde_json::to_value(&items[0]).unwrap();
        assert_eq!(v["kind"], "node-offline");
        assert_eq!(v["level"], "bad");
        assert_eq!(v["node"], "n2");
        assert_eq!(v["remote"], "b");
    }
}
