//! Snapshots with a time to live: the expiry is written into the snapshot description as a
//! machine-readable line, so it survives without any local database, and copied into the state
//! store, so it survives someone editing the description. `sweep` deletes what has expired by
//! either record. Also keep-N rotation and glob deletes.

use proxctl_client::{Client, SnapshotRequest, WaitOptions};
use proxctl_types::SnapshotName;
use proxctl_types::api::SnapshotItem;
use proxctl_types::selector::{Selector, glob_match};
use serde::Serialize;

use crate::output::Tabular;
use crate::state::StateHandle;
use crate::{GuestRef, OpsError};

/// The description line that carries the expiry: `proxctl:expires=<RFC 3339 UTC>`.
pub const EXPIRES_PREFIX: &str = "proxctl:expires=";

/// `30m`, `4h`, `2d`, `1w` (or plain seconds) as seconds.
pub fn parse_ttl(s: &str) -> Result<i64, OpsError> {
    let bad = || OpsError::Invalid(format!("'{s}' is not a duration; use e.g. 30m, 4h, 2d or 1w"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// The description with an expiry line for `expires` (unix seconds), replacing any old one.
pub fn with_expiry(description: &str, expires: i64) -> Result<String, OpsError> {
    let ts = jiff::Timestamp::from_second(expires)
        .map_err(|e| OpsError::Invalid(format!("expiry out of range: {e}")))?;
    let mut lines: Vec<String> =
        description.lines().filter(|l| !l.starts_with(EXPIRES_PREFIX)).map(String::from).collect();
    lines.push(format!("{EXPIRES_PREFIX}{ts}"));
    Ok(lines.join("\n"))
}

/// The expiry (unix seconds) recorded in a description, if any.
pub fn expiry_of(description: &str) -> Option<i64> {
    description
        .lines()
        .find_map(|l| l.strip_prefix(EXPIRES_PREFIX))
        .and_then(|t| t.trim().parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
}

pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

async fn wait(client: &Client, u: proxctl_types::Upid) -> Result<(), OpsError> {
    client.wait_task(&u, &WaitOptions::default()).await?;
    Ok(())
}

/// Take a snapshot; with a TTL, the description and the state store (when given) record when
/// it expires. The store is written first: an expiry without a snapshot is harmless (sweep drops
/// it), a snapshot whose expiry was lost is not.
pub async fn create(
    client: &Client,
    state: Option<&StateHandle>,
    g: &GuestRef,
    name: &SnapshotName,
    description: Option<&str>,
    ttl_secs: Option<i64>,
    ram: bool,
) -> Result<proxctl_types::Upid, OpsError> {
    let expires = ttl_secs.map(|ttl| now_unix() + ttl);
    create_expiring(client, state, g, name, description, expires, ram).await
}

/// [`create`] with the expiry given as a time (unix seconds) rather than from now: what a
/// scheduled job uses, so its snapshots expire by the schedule's clock.
pub async fn create_expiring(
    client: &Client,
    state: Option<&StateHandle>,
    g: &GuestRef,
    name: &SnapshotName,
    description: Option<&str>,
    expires: Option<i64>,
    ram: bool,
) -> Result<proxctl_types::Upid, OpsError> {
    let mut desc = description.unwrap_or("").to_string();
    if let Some(expires) = expires {
        desc = with_expiry(&desc, expires)?;
        if let Some(state) = state.filter(|_| !client.settings().dry_run) {
            let expires_at = jiff::Timestamp::from_second(expires)
                .map_err(|e| OpsError::Invalid(format!("expiry out of range: {e}")))?;
            let t = proxctl_state::SnapshotTtl { vmid: g.vmid, snapshot: name.clone(), expires_at };
            state.get().await?.put_snapshot_ttl(&t).await?;
        }
    }
    let req = SnapshotRequest {
        name: name.clone(),
        description: (!desc.is_empty()).then_some(desc),
        vmstate: ram,
    };
    Ok(client.snapshot_create(g.kind, &g.node, g.vmid, &req).await?)
}

/// Snapshots of a guest without the `current` entry, oldest first.
pub async fn list(client: &Client, g: &GuestRef) -> Result<Vec<SnapshotItem>, OpsError> {
    let mut v: Vec<SnapshotItem> = client
        .snapshots(g.kind, &g.node, g.vmid)
        .await?
        .into_iter()
        .filter(|s| s.name != "current")
        .collect();
    v.sort_by_key(|s| (s.snaptime, s.name.clone()));
    Ok(v)
}

/// Delete snapshots whose name matches `pattern` (`*` wildcards), newest first so children go
/// before parents. Returns the names deleted.
pub async fn delete_matching(
    client: &Client,
    state: Option<&StateHandle>,
    g: &GuestRef,
    pattern: &str,
) -> Result<Vec<String>, OpsError> {
    let mut doomed: Vec<SnapshotItem> =
        list(client, g).await?.into_iter().filter(|s| glob_match(pattern, &s.name)).collect();
    doomed.reverse();
    let mut out = Vec::new();
    for s in doomed {
        let name =
            SnapshotName::new(s.name.as_str()).map_err(|e| OpsError::Invalid(e.to_string()))?;
        wait(client, client.snapshot_delete(g.kind, &g.node, g.vmid, &name, false).await?).await?;
        forget(state, g.vmid, &s.name).await;
        out.push(s.name);
    }
    Ok(out)
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub vmid: u32,
    pub guest: String,
    pub snapshot: String,
    pub reason: String,
    pub result: String,
}

impl Tabular for Removal {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["VMID", "GUEST", "SNAPSHOT", "REASON", "RESULT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.vmid.to_string(),
            self.guest.clone(),
            self.snapshot.clone(),
            self.reason.clone(),
            self.result.clone(),
        ]
    }
}

async fn guests(client: &Client, sel: &Selector) -> Result<Vec<GuestRef>, OpsError> {
    let mut out = Vec::new();
    for g in crate::views::guests(client, None, false)
        .await?
        .into_iter()
        .filter(|g| !g.template && g.selected_by(sel))
    {
        out.push(crate::resolve_guest(client, &g.vmid.to_string()).await?);
    }
    Ok(out)
}

/// Expiries the store holds, by (VMID, snapshot name), in unix seconds.
async fn stored_expiries(
    state: Option<&StateHandle>,
) -> Result<std::collections::BTreeMap<(u32, String), i64>, OpsError> {
    let Some(state) = state else { return Ok(Default::default()) };
    let ttls = state.get().await?.snapshot_ttls().await?;
    Ok(ttls
        .into_iter()
        .map(|t| ((t.vmid.get(), t.snapshot.as_str().to_string()), t.expires_at.as_second()))
        .collect())
}

/// Drop the store's copy of a deleted snapshot's expiry. The snapshot is gone either way, so a
/// failure here only warns: the next sweep drops the stale entry.
async fn forget(state: Option<&StateHandle>, vmid: proxctl_types::VmId, snap: &str) {
    let (Some(state), Ok(name)) = (state, SnapshotName::new(snap)) else { return };
    let r = match state.get().await {
        Ok(store) => store.remove_snapshot_ttl(vmid, &name).await.map_err(OpsError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        tracing::warn!(%vmid, snapshot = snap, error = %e, "cannot drop a stored snapshot expiry");
    }
}

/// Delete every expired snapshot of the selected guests (`now` in unix seconds): expired by its
/// description marker or by the store's copy, whichever is earlier. Safe to run from cron:
/// snapshots with no expiry anywhere are never touched. With `dry_run` nothing is deleted and
/// the result column says so.
pub async fn sweep(
    client: &Client,
    state: Option<&StateHandle>,
    sel: &Selector,
    now: i64,
    dry_run: bool,
) -> Result<Vec<Removal>, OpsError> {
    let stored = stored_expiries(state).await?;
    let mut out = Vec::new();
    for g in guests(client, sel).await? {
        let snaps = list(client, &g).await?;
        if !dry_run {
            // Expiries of snapshots that no longer exist (deleted by hand, or never created).
            for ((vmid, name), _) in stored.range((g.vmid.get(), String::new())..) {
                if *vmid != g.vmid.get() {
                    break;
                }
                if !snaps.iter().any(|s| &s.name == name) {
                    forget(state, g.vmid, name).await;
                }
            }
        }
        for s in snaps.iter().rev() {
            let marker = expiry_of(&s.description);
            let kept = stored.get(&(g.vmid.get(), s.name.clone())).copied();
            let Some(exp) = marker.into_iter().chain(kept).min() else { continue };
            if exp > now {
                continue;
            }
            let reason = format!(
                "expired {}",
                jiff::Timestamp::from_second(exp).map(|t| t.to_string()).unwrap_or_default()
            );
            let removal = remove(client, &g, &s.name, reason, dry_run).await;
            if removal.result == "deleted" {
                forget(state, g.vmid, &s.name).await;
            }
            out.push(removal);
        }
    }
    Ok(out)
}

/// Keep the newest `keep` snapshots whose names start with `prefix` on each selected guest.
pub async fn rotate(
    client: &Client,
    sel: &Selector,
    prefix: &str,
    keep: usize,
    dry_run: bool,
) -> Result<Vec<Removal>, OpsError> {
    let mut out = Vec::new();
    for g in guests(client, sel).await? {
        let ours: Vec<SnapshotItem> =
            list(client, &g).await?.into_iter().filter(|s| s.name.starts_with(prefix)).collect();
        let excess = ours.len().saturating_sub(keep);
        // Oldest first in `ours`; delete the oldest, but newest of those first (children first).
        for s in ours.iter().take(excess).rev() {
            out.push(
                remove(client, &g, &s.name, format!("keep newest {keep} '{prefix}*'"), dry_run)
                    .await,
            );
        }
    }
    Ok(out)
}

async fn remove(
    client: &Client,
    g: &GuestRef,
    snap: &str,
    reason: String,
    dry_run: bool,
) -> Removal {
    let result = if dry_run {
        "would delete".to_string()
    } else {
        match SnapshotName::new(snap) {
            Err(e) => format!("FAILED: {e}"),
            Ok(name) => match client.snapshot_delete(g.kind, &g.node, g.vmid, &name, false).await {
                Ok(u) => match wait(client, u).await {
                    Ok(()) => "deleted".into(),
                    Err(e) => {
                        format!("FAILED: {}", e.to_string().lines().next().unwrap_or_default())
                    }
                },
                Err(e) => format!("FAILED: {}", e.to_string().lines().next().unwrap_or_default()),
            },
        }
    };
    Removal {
        vmid: g.vmid.get(),
        guest: g.name.clone().unwrap_or_default(),
        snapshot: snap.to_string(),
        reason,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_ttl("4h").unwrap(), 14_400);
        assert_eq!(parse_ttl("30m").unwrap(), 1800);
        assert_eq!(parse_ttl("1w").unwrap(), 604_800);
        assert_eq!(parse_ttl("90").unwrap(), 90);
        for bad in ["", "h", "4x", "-1h", "4 h"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_expiry_marker_round_trips_and_replaces_an_old_one() {
        let d = with_expiry("before upgrade", 1_767_225_600).unwrap();
        assert_eq!(d, "before upgrade\nproxctl:expires=2026-01-01T00:00:00Z");
        assert_eq!(expiry_of(&d), Some(1_767_225_600));
        let d2 = with_expiry(&d, 1_767_229_200).unwrap();
        assert_eq!(d2.matches(EXPIRES_PREFIX).count(), 1);
        assert_eq!(expiry_of(&d2), Some(1_767_229_200));
        assert_eq!(expiry_of("no marker here"), None);
    }
}
