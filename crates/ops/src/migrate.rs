//! Migration with its preconditions checked first, and node drain / undrain honouring the
//! special tags: `maint-ok` guests may be moved, `always-on` guests are never stopped without
//! `force`. Drain marks what it touched with a `drained-from-<node>` tag, so undrain can put
//! things back without any local state.

use proxctl_client::endpoints::qemu::MigrateRequest;
use proxctl_client::{Client, PowerAction, WaitOptions};
use proxctl_types::messages::GuestKind;
use proxctl_types::{NodeName, Upid};

use crate::bulk::{ALWAYS_ON, ItemReport, Outcome};
use crate::views::GuestRow;
use crate::{GuestRef, OpsError};

/// Guests drain may move to another node.
pub const MAINT_OK: &str = "maint-ok";

fn drained_tag(node: &NodeName) -> String {
    format!("drained-from-{node}")
}

/// A typo in a node name must not read as "nothing to do".
async fn ensure_nodes_exist(client: &Client, names: &[&NodeName]) -> Result<(), OpsError> {
    let nodes = client.nodes().await?;
    for name in names {
        if !nodes.iter().any(|n| n.node == **name) {
            let known: Vec<String> = nodes.iter().map(|n| n.node.to_string()).collect();
            return Err(OpsError::Invalid(format!(
                "no node '{name}' in the cluster; nodes: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Where drain sends `maint-ok` guests when the user names no target: the other online node
/// with the most free memory.
pub async fn pick_drain_target(client: &Client, node: &NodeName) -> Result<NodeName, OpsError> {
    client
        .nodes()
        .await?
        .into_iter()
        .filter(|n| n.node != *node && n.status == "online")
        .max_by_key(|n| n.maxmem.unwrap_or(0).saturating_sub(n.mem.unwrap_or(0)))
        .map(|n| n.node)
        .ok_or_else(|| {
            OpsError::Invalid(format!(
                "no other online node to drain {node} to; bring one online or pass --to"
            ))
        })
}

/// Check PVE's preconditions (`GET .../migrate`), then start the migration.
pub async fn migrate(
    client: &Client,
    g: &GuestRef,
    target: &NodeName,
    online: bool,
    with_local_disks: bool,
) -> Result<Upid, OpsError> {
    if *target == g.node {
        return Err(OpsError::Invalid(format!("{} is already on {target}", g.label())));
    }
    if g.kind == GuestKind::Lxc {
        return migrate_container(client, g, target, online).await;
    }
    let pre = client.qemu_migrate_preconditions(&g.node, g.vmid, Some(target)).await?;
    if !pre.allowed_nodes.iter().any(|n| n == target.as_str()) {
        let why = pre
            .not_allowed_nodes
            .get(target.as_str())
            .map(|v| v.to_string())
            .unwrap_or_else(|| "not a cluster node, or offline".into());
        return Err(OpsError::Invalid(format!("{} cannot migrate to {target}: {why}", g.label())));
    }
    if pre.running && !online {
        return Err(OpsError::Invalid(format!(
            "{} is running: pass --online to live-migrate it",
            g.label()
        )));
    }
    let local: Vec<String> = pre
        .local_disks
        .iter()
        .filter(|d| d.get("cdrom").and_then(|c| c.as_u64()) != Some(1))
        .filter_map(|d| d.get("volid").and_then(|v| v.as_str()).map(String::from))
        .collect();
    if !local.is_empty() && !with_local_disks && pre.running {
        return Err(OpsError::Invalid(format!(
            "{} has local disks ({}): pass --with-local-disks to copy them",
            g.label(),
            local.join(", ")
        )));
    }
    let req = MigrateRequest {
        target: target.clone(),
        online: pre.running,
        with_local_disks: with_local_disks || !local.is_empty(),
        targetstorage: None,
        bwlimit: None,
    };
    Ok(client.qemu_migrate(&g.node, g.vmid, &req).await?)
}

/// Containers cannot live-migrate: a running one moves in restart mode (shut down, moved,
/// started on the target), which `online` asks for.
async fn migrate_container(
    client: &Client,
    g: &GuestRef,
    target: &NodeName,
    online: bool,
) -> Result<Upid, OpsError> {
    ensure_nodes_exist(client, &[target]).await?;
    let running = crate::guest::is_running(client, g).await?;
    if running && !online {
        return Err(OpsError::Invalid(format!(
            "{} is running: pass --online to move it with a restart migration (containers \
             cannot live-migrate; it is shut down, moved and started on {target})",
            g.label()
        )));
    }
    Ok(client.lxc_migrate(&g.node, g.vmid, target, running, None).await?)
}

async fn wait(client: &Client, u: Upid) -> Result<(), OpsError> {
    client.wait_task(&u, &WaitOptions::default()).await?;
    Ok(())
}

fn report(g: &GuestRow, outcome: Outcome, detail: impl Into<String>) -> ItemReport {
    ItemReport::of(g, outcome, detail)
}

/// The report line for one guest: `plan` when it worked, the error's first line when not.
fn outcome(g: &GuestRow, plan: String, result: Result<(), OpsError>) -> ItemReport {
    match result {
        Ok(()) => report(g, Outcome::Ok, plan),
        Err(e) => report(g, Outcome::Failed, e.to_string().lines().next().unwrap_or_default()),
    }
}

async fn add_tag(client: &Client, g: &GuestRef, row: &GuestRow, tag: &str) -> Result<(), OpsError> {
    let mut tags = row.tags.clone();
    tags.push(tag.to_string());
    crate::tags::write(client, g, tags).await
}

/// Empty `node`: move `maint-ok` guests to `target`, shut down the other running ones (except
/// `always-on`, unless `force`), and tag everything touched for `undrain`.
pub async fn drain(
    client: &Client,
    node: &NodeName,
    target: &NodeName,
    force: bool,
    dry_run: bool,
) -> Result<Vec<ItemReport>, OpsError> {
    if node == target {
        return Err(OpsError::Invalid(format!(
            "drain needs another node than {node} to move guests to"
        )));
    }
    ensure_nodes_exist(client, &[node, target]).await?;
    let tag = drained_tag(node);
    let mut out = Vec::new();
    for row in crate::views::guests(client, None, false)
        .await?
        .into_iter()
        .filter(|g| g.node == node.as_str() && !g.template)
    {
        let has = |t: &str| row.tags.iter().any(|x| x == t);
        let running = row.status == "running";
        let plan = if has(MAINT_OK) && row.kind == "lxc" && running {
            format!("move to {target} (restart migration: containers cannot live-migrate)")
        } else if has(MAINT_OK) {
            format!("move to {target}")
        } else if !running {
            out.push(report(&row, Outcome::Skipped, "stopped; stays"));
            continue;
        } else if has(ALWAYS_ON) && !force {
            out.push(report(
                &row,
                Outcome::Skipped,
                format!("{ALWAYS_ON}, not {MAINT_OK}: neither moved nor stopped; pass --force"),
            ));
            continue;
        } else {
            format!("shut down (not tagged {MAINT_OK})")
        };
        if dry_run {
            out.push(report(&row, Outcome::Skipped, format!("would {plan}")));
            continue;
        }
        let g = row.guest_ref()?;
        let result = async {
            add_tag(client, &g, &row, &tag).await?;
            if plan.starts_with("move") {
                wait(client, migrate(client, &g, target, true, true).await?).await
            } else {
                wait(
                    client,
                    crate::guest::power(
                        client,
                        &g,
                        &PowerAction::Shutdown { timeout: None, force_stop: true },
                    )
                    .await?,
                )
                .await
            }
        }
        .await;
        out.push(outcome(&row, plan, result));
    }
    Ok(out)
}

/// Undo `drain`: migrate tagged guests back (live if running), start the ones it shut down,
/// and remove the tag.
pub async fn undrain(
    client: &Client,
    node: &NodeName,
    dry_run: bool,
) -> Result<Vec<ItemReport>, OpsError> {
    ensure_nodes_exist(client, &[node]).await?;
    let tag = drained_tag(node);
    let mut out = Vec::new();
    for row in crate::views::guests(client, None, false)
        .await?
        .into_iter()
        .filter(|g| g.tags.contains(&tag))
    {
        let away = row.node != node.as_str();
        let plan = if away { format!("move back to {node}") } else { "start".to_string() };
        if dry_run {
            out.push(report(&row, Outcome::Skipped, format!("would {plan}")));
            continue;
        }
        let g = row.guest_ref()?;
        let result = async {
            let g = if away {
                wait(client, migrate(client, &g, node, true, true).await?).await?;
                GuestRef { node: node.clone(), ..g }
            } else {
                wait(
                    client,
                    crate::guest::power(client, &g, &PowerAction::Start { timeout: None }).await?,
                )
                .await?;
                g
            };
            crate::tags::write(
                client,
                &g,
                row.tags.iter().filter(|t| **t != tag).cloned().collect(),
            )
            .await
        }
        .await;
        out.push(outcome(&row, plan, result));
    }
    Ok(out)
}
