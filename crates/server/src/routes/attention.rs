//! `GET /api/v1/attention`: what needs an admin's attention across the remotes, as
//! [`proxctl_ops::attention`] works it out, kept to the caller's scope. The dashboard's
//! overview shows this list.
//!
//! Finding very old snapshots costs one read per guest, so each remote's snapshots are kept
//! for a few minutes ([`SnapshotScans`]); a snapshot made, deleted or rolled back, or a guest
//! destroyed, through this server drops them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::{Extension, Json};
use futures_util::future::join_all;
use proxctl_ops::attention::{self, Item, OldSnapshot, Options};
use proxctl_types::selector::{Selector, Term};
use serde::Deserialize;

use crate::events::Events;
use crate::problem::{ApiResult, Problem};
use crate::{App, Caller, Remote};

/// How long a remote's snapshot scan is used before it is made again.
pub const SCAN_MAX_AGE: Duration = Duration::from_secs(300);

/// One remote's snapshots: when read, at which count of changes made through the server.
type Scan = (Instant, u64, Arc<Vec<OldSnapshot>>);

/// Each remote's snapshots (all of them, with when each was taken), read at most every
/// [`SCAN_MAX_AGE`] and shared by every caller (each sees only its own guests' ones).
#[derive(Debug)]
pub struct SnapshotScans {
    events: Events,
    entries: Mutex<HashMap<String, Scan>>,
    /// One scan at a time per remote: callers arriving meanwhile wait for it and share it,
    /// while other remotes scan at the same time.
    scanning: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SnapshotScans {
    pub fn new(events: Events) -> Self {
        Self { events, entries: Mutex::default(), scanning: Mutex::default() }
    }

    /// The lock that serialises scans of one remote.
    fn scan_lock(&self, remote: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.scanning.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(m.entry(remote.to_string()).or_default())
    }

    fn fresh(&self, remote: &str) -> Option<Arc<Vec<OldSnapshot>>> {
        let generation = self.events.snapshot_mutations();
        let m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.get(remote)
            .filter(|(at, g, _)| *g == generation && at.elapsed() < SCAN_MAX_AGE)
            .map(|(_, _, s)| Arc::clone(s))
    }

    /// Every snapshot of the remote's guests, oldest first.
    async fn get(&self, app: &App, remote: &Remote) -> Result<Arc<Vec<OldSnapshot>>, Problem> {
        if let Some(s) = self.fresh(&remote.name) {
            return Ok(s);
        }
        let lock = self.scan_lock(&remote.name);
        let _one = lock.lock().await;
        if let Some(s) = self.fresh(&remote.name) {
            return Ok(s);
        }
        let generation = self.events.snapshot_mutations();
        let guests = app.guests.guests(remote).await.map_err(Problem::from)?;
        // Older than "now" is every snapshot: the caller applies its own cutoff.
        let opts =
            Options { snapshot_max_age: 0, ..Options::at(jiff::Timestamp::now().as_second()) };
        let all = Arc::new(attention::old_snapshots(&remote.client, &guests, &opts).await);
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(remote.name.clone(), (Instant::now(), generation, Arc::clone(&all)));
        Ok(all)
    }
}

/// What counts as too old.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttentionQuery {
    /// Only this remote (default all).
    pub remote: Option<String>,
    /// The oldest a guest's newest backup may be (default `26h`).
    pub backup_age: Option<String>,
    /// Snapshots older than this are listed (default `30d`).
    pub snapshot_age: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/attention", tag = "cluster", params(AttentionQuery),
    responses((status = 200, body = [Item]), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AttentionQuery>,
) -> ApiResult<Json<Vec<Item>>> {
    let age = |v: Option<&str>, default: &str, what: &str| {
        proxctl_ops::snapshot::parse_ttl(v.unwrap_or(default))
            .map_err(|e| Problem::bad_request(format!("{what}: {e}")))
    };
    let mut opts = Options::at(jiff::Timestamp::now().as_second());
    opts.backup_max_age =
        age(q.backup_age.as_deref(), proxctl_ops::coverage::DEFAULT_MAX_AGE, "backup_age")?;
    opts.snapshot_max_age =
        age(q.snapshot_age.as_deref(), attention::DEFAULT_SNAPSHOT_MAX_AGE, "snapshot_age")?;
    let remotes: Vec<Remote> = match q.remote.as_deref().filter(|r| !r.is_empty()) {
        Some(name) => vec![app.remote(name)?],
        None => app.remotes(),
    };
    let sel = caller.within(Selector::Term(Term::All));
    let scoped = caller.scope.is_some();
    let (shared, all_sel) = (Arc::clone(&app), sel.clone());
    let per_remote = remotes.into_iter().map(move |r| {
        let (app, sel) = (Arc::clone(&shared), all_sel.clone());
        async move { of_remote(&app, &r, &sel, scoped, &opts).await }
    });
    let mut items = Vec::new();
    let mut visible = BTreeSet::new();
    for (i, v) in join_all(per_remote).await {
        items.extend(i);
        visible.extend(v);
    }
    // What the state store knows is not per remote: a scoped caller sees it for the guests
    // it can see on any remote.
    let mine = scoped.then_some(&visible);
    items.extend(attention::of_state(&app.state, mine, &opts).await);
    attention::sort(&mut items);
    Ok(Json(items))
}

/// One remote's items, very old snapshots included, and the guests the caller sees there.
async fn of_remote(
    app: &App,
    r: &Remote,
    sel: &Selector,
    scoped: bool,
    opts: &Options,
) -> (Vec<Item>, BTreeSet<u32>) {
    let found = attention::of_remote(&r.client, &r.name, &app.state, sel, scoped, opts).await;
    let visible: BTreeSet<u32> = found.guests.iter().map(|g| g.vmid).collect();
    let mut items = found.items;
    match app.snapshot_scans.get(app, r).await {
        Ok(all) => {
            let cutoff = opts.now - opts.snapshot_max_age;
            let old: Vec<OldSnapshot> = all.iter().filter(|s| s.taken < cutoff).cloned().collect();
            items.extend(attention::old_snapshot_items(&r.name, &old, Some(&visible), opts));
        }
        Err(p) => {
            let c = attention::Concern::CheckFailed { check: "snapshots".into(), detail: p.detail };
            items.push(Item::new(Some(&r.name), c));
        }
    }
    (items, visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_of_one_remote_share_a_lock_and_other_remotes_do_not_wait_on_it() {
        let scans = SnapshotScans::new(Events::new());
        assert!(Arc::ptr_eq(&scans.scan_lock("a"), &scans.scan_lock("a")));
        assert!(!Arc::ptr_eq(&scans.scan_lock("a"), &scans.scan_lock("b")));
        let held = scans.scan_lock("a");
        let _g = held.try_lock().expect("free");
        assert!(scans.scan_lock("b").try_lock().is_ok(), "b scans while a is scanning");
        assert!(scans.scan_lock("a").try_lock().is_err());
    }
}
