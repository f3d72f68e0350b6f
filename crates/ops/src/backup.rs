//! Backups: vzdump now, list with filters, protect, notes, delete (never a protected one) and
//! retention with PVE's prune semantics, planned as a pure function so a dry run shows exactly
//! what would go.

use jiff::tz::TimeZone;

use proxctl_client::endpoints::storage::{VzdumpRequest, VzdumpStarted};
use proxctl_client::{Client, WaitOptions};
use proxctl_types::prop::PruneBackups;
use proxctl_types::{NodeName, StorageId, Upid, VmId, VolumeId};
use serde::Serialize;

use crate::OpsError;
use crate::output::Tabular;
use crate::views::BackupRow;

/// Which backups to list: every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct BackupFilter {
    pub vmid: Option<VmId>,
    pub node: Option<NodeName>,
    pub storage: Option<StorageId>,
}

/// Backups matching `f`, newest first within each guest.
pub async fn list(client: &Client, f: &BackupFilter) -> Result<Vec<BackupRow>, OpsError> {
    Ok(crate::views::backups(client)
        .await?
        .into_iter()
        .filter(|b| f.vmid.is_none_or(|v| b.vmid == Some(v.get())))
        .filter(|b| f.node.as_ref().is_none_or(|n| b.node == n.as_str()))
        .filter(|b| f.storage.as_ref().is_none_or(|s| b.storage == s.as_str()))
        .collect())
}

/// Start vzdump on `node`; `None` when no selected guest lives there.
pub async fn create(
    client: &Client,
    node: &NodeName,
    req: &VzdumpRequest,
) -> Result<Option<Upid>, OpsError> {
    if (req.protected || req.notes_template.is_some()) && req.storage.is_none() {
        return Err(OpsError::Invalid(
            "--protected and --notes-template need --storage (PVE requires it)".into(),
        ));
    }
    match client.vzdump(node, req).await? {
        VzdumpStarted::Task(u) => Ok(Some(u)),
        VzdumpStarted::NothingToDo => Ok(None),
    }
}

/// Restore a VM or container backup as a new guest on the node that holds it. The VMID must be free: a
/// restore never overwrites an existing guest.
pub async fn restore(
    client: &Client,
    volid: &VolumeId,
    vmid: Option<VmId>,
    storage: Option<&StorageId>,
) -> Result<(VmId, Upid), OpsError> {
    let b = find(client, volid).await?;
    let is_ct = b.volid.contains("vzdump-lxc-");
    if let Some(v) = vmid {
        match client.next_id(Some(v)).await {
            Ok(_) => {}
            Err(proxctl_client::ClientError::Api(_)) => {
                return Err(OpsError::Invalid(format!(
                    "VMID {v} is in use; pick a free one or leave --vmid out"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let node = node_of(&b)?;
    // Without --vmid, chosen race-free: a VMID another tool takes meanwhile is skipped.
    crate::vmid::with_new_vmid(client, None, vmid, "restore", |v| {
        let node = &node;
        async move {
            Ok(if is_ct {
                client.lxc_restore(node, v, volid, storage).await?
            } else {
                client.qemu_restore(node, v, volid, storage, true).await?
            })
        }
    })
    .await
}

/// Find one backup by its volume ID, to learn its node and protection.
pub async fn find(client: &Client, volid: &VolumeId) -> Result<BackupRow, OpsError> {
    crate::views::backups(client).await?.into_iter().find(|b| b.volid == volid.as_str()).ok_or_else(
        || {
            OpsError::Invalid(format!(
                "no backup '{volid}' on any node; list them with `proxctl backup list`"
            ))
        },
    )
}

fn node_of(b: &BackupRow) -> Result<NodeName, OpsError> {
    NodeName::new(b.node.as_str()).map_err(|e| OpsError::Invalid(e.to_string()))
}

/// Set or clear protection, with the real API call.
pub async fn set_protected(
    client: &Client,
    volid: &VolumeId,
    protected: bool,
) -> Result<(), OpsError> {
    let b = find(client, volid).await?;
    client.storage_update_content(&node_of(&b)?, volid, None, Some(protected)).await?;
    Ok(())
}

/// Replace a backup's notes.
pub async fn set_notes(client: &Client, volid: &VolumeId, notes: &str) -> Result<(), OpsError> {
    let b = find(client, volid).await?;
    client.storage_update_content(&node_of(&b)?, volid, Some(notes), None).await?;
    Ok(())
}

/// Delete a backup; a protected one is refused before any call, with the way out.
pub async fn delete(client: &Client, volid: &VolumeId) -> Result<(), OpsError> {
    let b = find(client, volid).await?;
    delete_row(client, &b).await
}

async fn delete_row(client: &Client, b: &BackupRow) -> Result<(), OpsError> {
    if b.protected {
        return Err(OpsError::Invalid(format!(
            "backup '{}' is protected; run `proxctl backup unprotect {}` first if it really must go",
            b.volid, b.volid
        )));
    }
    delete_volume(client, &b.node, &b.volid).await
}

/// Delete a backup volume and wait; PVE itself still refuses a protected one (failed task).
async fn delete_volume(client: &Client, node: &str, volid: &str) -> Result<(), OpsError> {
    let volid = VolumeId::new(volid).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let node = NodeName::new(node).map_err(|e| OpsError::Invalid(e.to_string()))?;
    if let Some(u) = client.storage_delete_content(&node, &volid, None).await? {
        client.wait_task(&u, &WaitOptions::default()).await?;
    }
    Ok(())
}

pub use proxctl_types::retention::{Mark, PruneInput, prune_marks};

/// The zone a node reckons local time in: its named zone from the tz database, else the fixed
/// offset it reports now, else UTC.
pub fn zone_of(t: &proxctl_types::api::NodeTime) -> TimeZone {
    TimeZone::get(&t.timezone).unwrap_or_else(|_| {
        i32::try_from(t.localtime.saturating_sub(t.time))
            .ok()
            .and_then(|s| jiff::tz::Offset::from_seconds(s).ok())
            .map_or(TimeZone::UTC, TimeZone::fixed)
    })
}

/// One row of a prune plan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PruneRow {
    pub vmid: Option<u32>,
    pub node: String,
    pub volid: String,
    pub ctime: Option<u64>,
    /// `keep`, `remove` or `protected`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub mark: Mark,
    /// Empty when planned; `deleted` or the error once carried out.
    pub result: String,
}

impl Tabular for PruneRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["VMID", "MARK", "CREATED", "VOLUME", "RESULT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.vmid.map(|v| v.to_string()).unwrap_or_default(),
            format!("{:?}", self.mark).to_lowercase(),
            self.ctime
                .and_then(|c| jiff::Timestamp::from_second(c as i64).ok())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            self.volid.clone(),
            self.result.clone(),
        ]
    }
}

/// Plan retention for the backups `f` selects, grouped per guest as PVE does. Nothing is
/// deleted; pass the plan to [`prune_execute`] so what runs is exactly what was shown.
pub async fn prune_plan(
    client: &Client,
    f: &BackupFilter,
    opts: &PruneBackups,
) -> Result<Vec<PruneRow>, OpsError> {
    if opts.keeps_all() {
        return Err(OpsError::Invalid(
            "no retention given, so every backup would be kept; pass --keep-last, \
             --keep-daily, ... (as in PVE's prune-backups)"
                .into(),
        ));
    }
    let rows = list(client, f).await?;
    let mut zones: std::collections::BTreeMap<String, TimeZone> = Default::default();
    for node in rows.iter().map(|b| &b.node) {
        if !zones.contains_key(node) {
            let n = NodeName::new(node.as_str()).map_err(|e| OpsError::Invalid(e.to_string()))?;
            let t = client.node_time(&n).await?;
            zones.insert(node.clone(), zone_of(&t));
        }
    }
    let mut out = Vec::new();
    let mut vmids: Vec<Option<u32>> = rows.iter().map(|b| b.vmid).collect();
    vmids.sort_unstable();
    vmids.dedup();
    for vmid in vmids {
        let group: Vec<&BackupRow> = rows.iter().filter(|b| b.vmid == vmid).collect();
        let input: Vec<PruneInput> = group
            .iter()
            .map(|b| PruneInput {
                ctime: b.ctime.map_or(0, |c| i64::try_from(c).unwrap_or(i64::MAX)),
                protected: b.protected,
            })
            .collect();
        // A guest's backups sit on one node's storage; its zone decides their buckets.
        let tz = group.first().and_then(|b| zones.get(&b.node)).cloned().unwrap_or(TimeZone::UTC);
        out.extend(group.iter().zip(prune_marks(&input, opts, &tz)).map(|(b, mark)| PruneRow {
            vmid: b.vmid,
            node: b.node.clone(),
            volid: b.volid.clone(),
            ctime: b.ctime,
            mark,
            result: String::new(),
        }));
    }
    Ok(out)
}

/// Delete what `plan` marks `remove`, continuing past failures; each row records its result.
pub async fn prune_execute(client: &Client, mut plan: Vec<PruneRow>) -> Vec<PruneRow> {
    for row in plan.iter_mut().filter(|r| r.mark == Mark::Remove) {
        row.result = match delete_volume(client, &row.node, &row.volid).await {
            Ok(()) => "deleted".to_string(),
            Err(e) => e.to_string().lines().next().unwrap_or_default().to_string(),
        };
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_zone_comes_from_its_name_else_from_its_offset_now() {
        let t = |tz: &str, off: i64| proxctl_types::api::NodeTime {
            timezone: tz.into(),
            time: 1_800_000_000,
            localtime: 1_800_000_000 + off,
        };
        assert_eq!(
            zone_of(&t("Not/A_Zone", 3600)).to_offset(jiff::Timestamp::UNIX_EPOCH).seconds(),
            3600
        );
        assert_eq!(
            zone_of(&t("Not/A_Zone", 0)).to_offset(jiff::Timestamp::UNIX_EPOCH).seconds(),
            0
        );
        // Needs the system tz database (Debian's tzdata), as real use does.
        let berlin = TimeZone::get("Europe/Berlin").expect("tzdata at /usr/share/zoneinfo");
        assert_eq!(zone_of(&t("Europe/Berlin", 7200)), berlin, "the name wins: DST history");
    }
}
