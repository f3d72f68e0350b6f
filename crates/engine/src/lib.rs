//! The declarative engine: YAML manifests in, a plan a person can read, an apply that
//! converges safely. The planner is a pure function of declared resources, the observed
//! cluster and the state store's records; the executor only carries out what the plan says.

pub mod applied;
pub mod apply;
mod checks;
mod expected;
pub mod export;
pub mod imperative;
pub mod jobs;
pub mod limiter;
pub mod locks;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod recover;
pub mod render;
pub mod resolve;
pub mod session;
pub mod source;

use std::collections::BTreeSet;
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_state::StateStore;

pub use apply::{ApplyError, ApplyOptions, ApplyReport};
pub use manifest::{Declared, Diagnostic};
pub use plan::{Action, Plan, PlanError};
pub use session::Session;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the manifests have {} problem(s):\n{}", .0.len(), .0.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Manifest(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Client(#[from] proxctl_client::ClientError),
    #[error(transparent)]
    State(#[from] proxctl_state::StateError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Ops(#[from] proxctl_ops::OpsError),
    #[error("the cluster changed since this plan was made, so it was not applied:\n{}\nrun plan again", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Stale(Vec<String>),
    /// Input the engine cannot use: an old plan file, a name already taken, a broken catalog.
    #[error("{0}")]
    Invalid(String),
}

/// The image catalog, when `declared` holds templates to build.
fn catalog_for(
    declared: &[Declared],
) -> Result<Option<proxctl_images::catalog::Catalog>, EngineError> {
    if !session::wants_catalog(declared) {
        return Ok(None);
    }
    proxctl_ops::image::catalog(&|k| std::env::var(k).ok())
        .map(Some)
        .map_err(|e| EngineError::Invalid(e.to_string()))
}

/// Observe the cluster and the store, and plan `declared`.
pub async fn make_plan(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
    prune: bool,
) -> Result<Plan, EngineError> {
    let catalog = catalog_for(declared)?;
    make_plan_with(client, store, declared, prune, catalog.as_ref()).await
}

/// `make_plan` with the image catalog given (Template resources need one).
pub async fn make_plan_with(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
    prune: bool,
    catalog: Option<&proxctl_images::catalog::Catalog>,
) -> Result<Plan, EngineError> {
    plan_in(client, store, declared, prune, catalog, None).await
}

/// The plan of a release's manifests: what they declare, and the deletion of what the release
/// `owns` but no longer declares. Nothing else is touched: prune deletes only guests carrying
/// the release's marker (see [`plan::PlanInput::release`]), and changes to resources outside
/// the release (a forgotten record of another) are left out.
pub async fn make_release_plan(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
    release: &str,
    owned: &BTreeSet<String>,
) -> Result<Plan, EngineError> {
    let catalog = catalog_for(declared)?;
    let mut plan = plan_in(client, store, declared, true, catalog.as_ref(), Some(release)).await?;
    let keys: BTreeSet<String> = declared.iter().map(Declared::key).collect();
    plan.changes.retain(|c| keys.contains(&c.key) || owned.contains(&c.key));
    Ok(plan)
}

/// Which release owns each resource key, from the releases' documents (only their `owned`
/// lists are read; `proxctl-charts` writes them).
async fn release_owners(
    store: &dyn StateStore,
) -> Result<std::collections::BTreeMap<String, String>, EngineError> {
    #[derive(serde::Deserialize)]
    struct Owned {
        name: String,
        #[serde(default)]
        owned: BTreeSet<String>,
    }
    let docs = store.documents(proxctl_state::document::kind::RELEASE, 100_000).await?;
    let mut out = std::collections::BTreeMap::new();
    for d in docs {
        if let Ok(r) = serde_json::from_str::<Owned>(&d.body) {
            out.extend(r.owned.into_iter().map(|k| (k, r.name.clone())));
        }
    }
    Ok(out)
}

async fn plan_in(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
    prune: bool,
    catalog: Option<&proxctl_images::catalog::Catalog>,
    release: Option<&str>,
) -> Result<Plan, EngineError> {
    let records = store.resources().await?;
    let leases = store.vmid_leases(jiff::Timestamp::now()).await?;
    let allocations = store.ip_allocations(None).await?;
    let known: BTreeSet<u32> = records.iter().filter_map(|r| r.vmid.map(|v| v.get())).collect();
    let observed = observe::observe(client, declared, &known).await?;
    let jobs = proxctl_ops::jobs::list_in(store).await?;
    let input = plan::PlanInput {
        jobs: &jobs,
        catalog,
        declared,
        observed: &observed,
        records: &records,
        leases: &leases,
        allocations: &allocations,
        prune,
        release,
    };
    let mut plan = plan::plan(&input)?;
    // What a release owns is the release's to delete: a plan for anything else (a plain
    // apply --prune, another release) leaves it, whatever kind it is.
    let owners = release_owners(store).await?;
    let declared_keys: BTreeSet<String> = declared.iter().map(Declared::key).collect();
    let mut kept = Vec::new();
    for c in std::mem::take(&mut plan.changes) {
        let foreign = owners.get(&c.key).filter(|r| Some(r.as_str()) != release);
        match foreign {
            Some(r) if c.action == Action::Delete && !declared_keys.contains(&c.key) => {
                if prune {
                    plan.warnings.push(format!(
                        "{} belongs to release {r} and is left alone; `proxctl release \
                         uninstall {r}` deletes it",
                        c.key
                    ));
                }
            }
            _ => kept.push(c),
        }
    }
    plan.changes = kept;
    Ok(plan)
}

/// Whether a saved plan still describes the cluster: every guest it read has the same config
/// digest, and every VMID it would create is still free.
pub async fn check_saved(client: &Client, saved: &Plan) -> Result<(), EngineError> {
    if saved.format != plan::PLAN_FORMAT {
        return Err(EngineError::Invalid(format!(
            "the plan file has format {}, this proxctl reads format {}; make the plan again",
            saved.format,
            plan::PLAN_FORMAT
        )));
    }
    let resources = client.cluster_resources(None).await?;
    let mut problems = Vec::new();
    for b in &saved.basis {
        let found = resources.iter().find(|r| r.vmid.map(|v| v.get()) == Some(b.vmid));
        let Some((node, kind)) = found.and_then(|r| Some((r.node.clone()?, r.res_type.clone())))
        else {
            problems.push(format!("guest {} no longer exists", b.vmid));
            continue;
        };
        let Ok(vmid) = proxctl_types::VmId::new(b.vmid) else { continue };
        let cfg = if kind == "lxc" {
            client.lxc_config(&node, vmid).await?
        } else {
            client.qemu_config(&node, vmid).await?
        };
        let digest = cfg.get("digest").and_then(|d| d.as_str()).map(String::from);
        if digest != b.digest {
            problems.push(format!("the config of guest {} changed (digest differs)", b.vmid));
        }
    }
    for v in &saved.new_vmids {
        if resources.iter().any(|r| r.vmid.map(|x| x.get()) == Some(*v)) {
            problems.push(format!("VMID {v}, which the plan creates, is now in use"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(EngineError::Stale(problems)) }
}

/// Apply a plan made earlier (saved by `plan --out`, or kept by the REST face): lock what it
/// changes, settle stopped work, refuse it if the cluster changed since
/// ([`EngineError::Stale`]), then call `before` (which may show the plan and ask; an `Err`
/// stops here, as a refusal) and apply. `None` when the plan changes nothing.
pub async fn apply_saved(
    client: &Client,
    store: Arc<dyn StateStore>,
    plan: &Plan,
    opts: &ApplyOptions,
    before: impl FnOnce(&Plan) -> Result<(), String>,
) -> Result<Option<ApplyReport>, EngineError> {
    let session = Session::for_plan(client, store, plan, opts).await?;
    let outcome = async {
        session.settle().await?;
        check_saved(client, plan).await?;
        if !plan.has_changes() {
            return Ok(None);
        }
        before(plan).map_err(EngineError::Invalid)?;
        Ok(Some(session.apply(plan).await?))
    }
    .await;
    session.end().await;
    outcome
}

/// Plan and apply in one go, in one [`Session`]. If a VMID this plan picked was taken in the
/// meantime (outside proxctl), plan again rather than fail.
pub async fn plan_and_apply(
    client: &Client,
    store: Arc<dyn StateStore>,
    declared: &[Declared],
    prune: bool,
    opts: &ApplyOptions,
) -> Result<(Plan, ApplyReport), EngineError> {
    let mut s = Session::for_manifests(client, store, declared, prune, opts, "apply").await?;
    let mut tries = 0;
    let result = loop {
        let plan = match s.plan(declared, prune).await {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        match s.apply(&plan).await {
            Err(e) if session::replan(&e) && tries < 5 => tries += 1,
            Err(e) => break Err(e.into()),
            Ok(report) => break Ok((plan, report)),
        }
    };
    s.end().await;
    result
}

/// The plan that deletes exactly what `declared` names (IP pools stay: VMs may still use them).
pub async fn plan_delete(
    client: &Client,
    store: &dyn StateStore,
    declared: &[Declared],
) -> Result<Plan, EngineError> {
    let is_pool = |d: &&Declared| matches!(d.body, manifest::Body::IpPool { .. });
    let keys: Vec<String> = declared.iter().filter(|d| !is_pool(d)).map(Declared::key).collect();
    let pools: Vec<Declared> = declared.iter().filter(is_pool).cloned().collect();
    // Plan as if nothing else were declared, with prune, and keep only the named resources.
    let mut plan = make_plan(client, store, &pools, true).await?;
    plan.changes.retain(|c| keys.contains(&c.key));
    plan.warnings.clear();
    Ok(plan)
}

/// One reconcile activation: plan, then apply unless `report_only`. Its outcome is a status
/// line; a failure is simply retried by the next activation.
pub async fn reconcile_once(
    client: &Client,
    store: Arc<dyn StateStore>,
    declared: &[Declared],
    prune: bool,
    report_only: bool,
    opts: &ApplyOptions,
) -> Result<String, EngineError> {
    let drift = |plan: &Plan| -> Vec<String> {
        plan.changes.iter().filter(|c| c.action != Action::Noop).map(|c| c.key.clone()).collect()
    };
    if report_only {
        let plan = make_plan(client, store.as_ref(), declared, prune).await?;
        let drifted = drift(&plan);
        return Ok(if drifted.is_empty() {
            format!("in sync ({} resource(s))", plan.changes.len())
        } else {
            format!("drift in {} resource(s): {}", drifted.len(), drifted.join(", "))
        });
    }
    let mut s = Session::for_manifests(client, store, declared, prune, opts, "reconcile").await?;
    let outcome = async {
        let plan = s.plan(declared, prune).await?;
        let drifted = drift(&plan);
        if drifted.is_empty() {
            return Ok((plan.changes.len(), drifted, None));
        }
        let report = s.apply(&plan).await?;
        Ok::<_, EngineError>((plan.changes.len(), drifted, Some(report)))
    }
    .await;
    s.end().await;
    let (total, drifted, report) = outcome?;
    let Some(report) = report else {
        return Ok(format!("in sync ({total} resource(s))"));
    };
    let failed = report.failed();
    let done = drifted.len().saturating_sub(failed);
    Ok(if failed == 0 {
        format!("applied {done} change(s)")
    } else {
        format!("applied {done} change(s), {failed} failed (retried next activation)")
    })
}
