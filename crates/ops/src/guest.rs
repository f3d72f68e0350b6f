//! Guests addressed by name or VMID across the whole cluster, and their power actions.

use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::{Client, DeleteOptions, PowerAction};
use proxctl_types::messages::GuestKind;
use proxctl_types::{NodeName, Upid, VmId};
use serde::Serialize;

use crate::OpsError;

/// A guest found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestRef {
    pub vmid: VmId,
    pub node: NodeName,
    pub kind: GuestKind,
    pub name: Option<String>,
}

impl GuestRef {
    /// `web-1 (100 on pve)`, for messages and prompts.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({} on {})", self.vmid, self.node),
            None => format!("{} on {}", self.vmid, self.node),
        }
    }
}

/// Find a guest by VMID or exact name. An ambiguous name is an error listing the matches.
pub async fn resolve_guest(client: &Client, what: &str) -> Result<GuestRef, OpsError> {
    let resources = client.cluster_resources(Some(ResourceType::Vm)).await?;
    let refs = resources.into_iter().filter_map(|r| {
        let kind = match r.res_type.as_str() {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            _ => return None,
        };
        Some(GuestRef { vmid: r.vmid?, node: r.node?, kind, name: r.name })
    });
    let all: Vec<GuestRef> = refs.collect();
    if let Ok(id) = what.parse::<VmId>()
        && let Some(g) = all.iter().find(|g| g.vmid == id)
    {
        return Ok(g.clone());
    }
    let matches: Vec<&GuestRef> = all.iter().filter(|g| g.name.as_deref() == Some(what)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(OpsError::GuestNotFound(what.to_string())),
        many => Err(OpsError::Ambiguous {
            name: what.to_string(),
            matches: many.iter().map(|g| g.label()).collect(),
        }),
    }
}

/// Require a guest of one kind (so `proxctl vm` does not act on a container).
pub fn expect_kind(g: &GuestRef, kind: GuestKind) -> Result<(), OpsError> {
    if g.kind == kind {
        return Ok(());
    }
    let name = |k: GuestKind| if k == GuestKind::Qemu { "VM" } else { "container" };
    Err(OpsError::WrongKind {
        what: g.label(),
        actual: name(g.kind),
        expected: name(kind),
        hint: if g.kind == GuestKind::Qemu { "vm" } else { "ct" },
    })
}

/// Start a power action on a VM or container; returns the task to wait for.
pub async fn power(client: &Client, g: &GuestRef, action: &PowerAction) -> Result<Upid, OpsError> {
    Ok(match g.kind {
        GuestKind::Qemu => client.qemu_power(&g.node, g.vmid, action).await?,
        GuestKind::Lxc => client.lxc_power(&g.node, g.vmid, action).await?,
    })
}

/// Whether a power task only asked PVE's HA manager (`hastart`, `hastop`): the state the
/// guest reaches once the manager has acted (`Some(true)` running, `Some(false)` stopped).
pub fn ha_request(upid: &Upid) -> Option<bool> {
    match upid.task_type.as_str() {
        "hastart" => Some(true),
        "hastop" => Some(false),
        _ => None,
    }
}

/// Wait until the HA manager has brought an HA-managed guest to `running` (or stopped),
/// reading its status every half second; `false` when `limit` passed first. PVE's CRM and LRM
/// each act on a 10 s cycle, so this usually takes 10 to 20 s.
pub async fn await_ha(
    client: &Client,
    g: &GuestRef,
    running: bool,
    limit: std::time::Duration,
) -> Result<bool, OpsError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = match g.kind {
            GuestKind::Qemu => client.qemu_status(&g.node, g.vmid).await?,
            GuestKind::Lxc => client.lxc_status(&g.node, g.vmid).await?,
        };
        if (status.status == "running") == running {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// How long a face waits for the HA manager when it is not told (its cycles take 10 to 20 s).
pub const HA_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// After a power task ended: if it only asked the HA manager, wait until the guest got there,
/// or fail with [`OpsError::HaPending`]. `Ok(true)` when the HA manager was involved.
pub async fn settle_ha(
    client: &Client,
    g: &GuestRef,
    upid: &Upid,
    limit: std::time::Duration,
) -> Result<bool, OpsError> {
    let Some(running) = ha_request(upid) else { return Ok(false) };
    if await_ha(client, g, running, limit).await? {
        return Ok(true);
    }
    Err(OpsError::HaPending {
        what: g.label(),
        state: if running { "running" } else { "stopped" },
        secs: limit.as_secs(),
    })
}

/// After a VM is destroyed, delete the NoCloud seed ISO proxctl made for it (`seed`, read
/// from its config before), so no orphan ISOs pile up. A seed already gone is fine.
pub async fn delete_seed(
    client: &Client,
    node: &proxctl_types::NodeName,
    seed: &str,
) -> Result<(), OpsError> {
    let vol = proxctl_types::VolumeId::new(seed).map_err(|e| OpsError::Invalid(e.to_string()))?;
    match client.storage_delete_content(node, &vol, None).await {
        Ok(Some(u)) => {
            client.wait_task(&u, &proxctl_client::WaitOptions::default()).await?;
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) if e.api().is_some_and(|a| a.kind == proxctl_client::ApiErrorKind::DoesNotExist) => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The seed ISO of a VM, if proxctl made one for it.
pub async fn seed_of(client: &Client, g: &GuestRef) -> Result<Option<String>, OpsError> {
    if g.kind != GuestKind::Qemu {
        return Ok(None);
    }
    let cfg = client.qemu_config(&g.node, g.vmid).await?;
    let ide2 = cfg.get("ide2").and_then(|v| v.as_str());
    Ok(proxctl_types::managed::seed_iso_of(ide2, g.vmid.get()))
}

/// Destroy a guest (the face must have confirmed it).
pub async fn delete(client: &Client, g: &GuestRef, opts: &DeleteOptions) -> Result<Upid, OpsError> {
    Ok(match g.kind {
        GuestKind::Qemu => client.qemu_delete(&g.node, g.vmid, opts).await?,
        GuestKind::Lxc => client.lxc_delete(&g.node, g.vmid, opts).await?,
    })
}

/// Whether the guest runs now (a face says so before deleting it).
pub async fn is_running(client: &Client, g: &GuestRef) -> Result<bool, OpsError> {
    let st = match g.kind {
        GuestKind::Qemu => client.qemu_status(&g.node, g.vmid).await?,
        GuestKind::Lxc => client.lxc_status(&g.node, g.vmid).await?,
    };
    Ok(st.status == "running")
}

/// What [`destroy`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destroyed {
    /// It was running and was stopped first.
    pub stopped: bool,
    /// The NoCloud seed ISO proxctl had made for it, deleted too.
    pub seed: Option<String>,
}

/// Delete a guest the face has confirmed, whatever its state: a running one is stopped first
/// (PVE refuses to destroy it otherwise), and the cloud-init seed proxctl made for it goes too.
pub async fn destroy(client: &Client, g: &GuestRef, purge: bool) -> Result<Destroyed, OpsError> {
    let wait = |u: Upid| async move {
        client.wait_task(&u, &proxctl_client::WaitOptions::default()).await.map(drop)
    };
    let stopped = is_running(client, g).await?;
    if stopped {
        wait(power(client, g, &PowerAction::Stop { timeout: None }).await?).await?;
    }
    let seed = seed_of(client, g).await?;
    let opts = DeleteOptions { purge, ..DeleteOptions::default() };
    wait(delete(client, g, &opts).await?).await?;
    if let Some(s) = &seed {
        delete_seed(client, &g.node, s).await?;
    }
    Ok(Destroyed { stopped, seed })
}

/// Whether an action stops or destroys something, so a face must confirm it.
pub fn is_destructive(action: &PowerAction) -> bool {
    matches!(
        action,
        PowerAction::Stop { .. }
            | PowerAction::Reset
            | PowerAction::Shutdown { .. }
            | PowerAction::Reboot { .. }
    )
}
