//! The executor: carries out a plan's steps, resource by resource, a bounded number at a time.
//! It decides nothing the plan did not decide. It is limited only by what PVE serialises:
//! clones of a template run together (PVE locks a template shared), allocations on one storage
//! adapt to PVE's pushback ([`crate::limiter`]), lock timeouts and locked guests are retried
//! with backoff, and `--parallel` is the overall cap. It journals every mutating call before
//! making it, leases new VMIDs in the state store first, and records the outcome of the apply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::endpoints::qemu::{CloneRequest, MigrateRequest};
use proxctl_client::{
    ApiErrorKind, ApiRequest, Client, ClientError, DeleteOptions, Endpoint, PowerAction, Started,
    WaitOptions,
};
use proxctl_state::{
    ApplyId, ApplyOutcome, JournalState, NewJournalEntry, ResourceKey, ResourceRecord, StateStore,
};
use proxctl_types::messages::MessageKind;
use proxctl_types::wire::{DiskSize, FormParams, ResizeTo};
use proxctl_types::{NodeName, VmId};
use serde::Serialize;

use crate::locks::Locks;
use crate::plan::{Action, Change, Plan, Step};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "VMID {vmid} for {key} was taken (by another apply or outside proxctl) since the plan; run plan again to pick another"
    )]
    VmidTaken { vmid: u32, key: String },
    #[error(
        "work a stopped apply left on {} settled after this plan was made; run plan again",
        keys.join(", ")
    )]
    SettledAfterPlan { keys: Vec<String> },
    #[error(
        "this apply does not hold the lock of {}; plan again under its locks",
        keys.join(", ")
    )]
    NotLocked { keys: Vec<String> },
    #[error(transparent)]
    Lock(#[from] crate::locks::LockError),
    #[error(transparent)]
    State(#[from] proxctl_state::StateError),
    #[error("cannot list the cluster's guests to confirm the new VMIDs are free")]
    Confirm(#[source] ClientError),
}

/// Called with (resource key, message) as work progresses.
pub type Progress = Arc<dyn Fn(&str, &str) + Send + Sync>;

#[derive(Clone)]
pub struct ApplyOptions {
    /// Resources worked on at once.
    pub parallel: usize,
    /// Who applies (recorded in the history).
    pub actor: String,
    /// This process's identity for locks and VMID leases (see [`crate::locks`]); each apply's
    /// locks add their own counter to it.
    pub holder: String,
    /// Waiting for other applies' locks, and how long ours live without renewal.
    pub locks: crate::locks::LockOptions,
    /// Attempts for a step that hit a lock (lock timeout, guest locked by another task).
    pub lock_attempts: u32,
    /// First backoff after a lock; doubles each time.
    pub lock_backoff: Duration,
    /// The local image cache, for template builds that upload.
    pub image_cache: std::path::PathBuf,
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("parallel", &self.parallel)
            .field("actor", &self.actor)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl ApplyOptions {
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            parallel: 4,
            actor: actor.into(),
            holder: crate::locks::process_holder(),
            locks: crate::locks::LockOptions::default(),
            lock_attempts: 6,
            lock_backoff: Duration::from_millis(500),
            image_cache: proxctl_images::cache::Cache::default_root(&|k| std::env::var(k).ok())
                .unwrap_or_else(|| std::env::temp_dir().join("proxctl-images")),
            progress: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceResult {
    pub key: String,
    pub action: Action,
    pub vmid: Option<u32>,
    /// `ok`, or what failed.
    pub result: String,
    pub ok: bool,
    /// Lock retries this resource needed.
    pub lock_retries: u32,
}

impl proxctl_ops::output::Tabular for ResourceResult {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["RESOURCE", "ACTION", "VMID", "RESULT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.key.clone(),
            format!("{:?}", self.action).to_lowercase(),
            self.vmid.map(|v| v.to_string()).unwrap_or_default(),
            self.result.clone(),
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub apply: ApplyId,
    pub results: Vec<ResourceResult>,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.ok).count()
    }
}

/// One adaptive limit per storage that steps allocate on (see [`crate::limiter`]).
type StorageLimits = BTreeMap<String, crate::limiter::Aimd>;

/// The storage a step allocates volumes on, when the plan says: creates and seeds queue per
/// storage, because each allocation takes that storage's lock.
fn alloc_storage(step: &Step) -> Option<String> {
    let before_colon = |v: &str| v.split_once(':').map(|(s, _)| s.to_string());
    match step {
        Step::CreateCt { params, .. } => params.get("rootfs").and_then(|v| before_colon(v)),
        Step::CreateVm { params, .. } => params.get("scsi0").and_then(|v| before_colon(v)),
        Step::SeedIso { storage, .. } => Some(storage.clone()),
        Step::Clone { storage, .. } => storage.clone(),
        _ => None,
    }
}

/// Apply `plan`, which must have been made under `locks` (see [`crate::session`]).
/// Resources fail independently; the report says which.
pub async fn apply(
    client: &Client,
    store: Arc<dyn StateStore>,
    plan: &Plan,
    opts: &ApplyOptions,
    locks: &Locks,
) -> Result<ApplyReport, ApplyError> {
    let unlocked: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop || !c.steps.is_empty())
        .filter(|c| !locks.covers(&c.key))
        .map(|c| c.key.clone())
        .collect();
    if !unlocked.is_empty() {
        return Err(ApplyError::NotLocked { keys: unlocked });
    }
    // The plan was made from what PVE had before the journal was settled; if that touched a
    // resource this plan changes, the plan may redo work that has since finished.
    let settled = crate::recover::recover(client, store.as_ref(), opts, locks).await?;
    let stale: Vec<String> = settled
        .into_iter()
        .filter(|k| plan.changes.iter().any(|c| &c.key == k && c.action != Action::Noop))
        .collect();
    if !stale.is_empty() {
        return Err(ApplyError::SettledAfterPlan { keys: stale });
    }
    let plan_json = serde_json::to_value(plan).unwrap_or_default();
    let holder = locks.holder().to_string();
    let apply = store.begin_apply(&opts.actor, &holder, &plan_json).await?;
    let now = jiff::Timestamp::now();
    let until = now + jiff::SignedDuration::from_hours(1);
    // Lease every new VMID before touching PVE: a concurrent apply that planned the same one
    // is stopped here, not halfway through a clone. The leases keep other proxctl applies off
    // the VMIDs; one look at the cluster's guests after leasing confirms that nobody else (the
    // web UI, another tool) took one since the plan: one request, where asking
    // `nextid?vmid=` per VMID cost one each. (A VMID taken after that look makes its create
    // fail on its own; PVE's create is atomic.)
    let wanted: Vec<(VmId, ResourceKey, String)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| {
            let id = VmId::new(c.vmid?).ok()?;
            Some((id, c.key.parse::<ResourceKey>().ok()?, c.key.clone()))
        })
        .collect();
    let pairs: Vec<(VmId, ResourceKey)> =
        wanted.iter().map(|(id, owner, _)| (*id, owner.clone())).collect();
    let mut leased: Vec<VmId> = Vec::new();
    let mut failure = match store.lease_vmids(&pairs, &holder, until, now).await {
        Ok(None) => {
            leased = pairs.iter().map(|(id, _)| *id).collect();
            None
        }
        Ok(Some(taken)) => wanted
            .iter()
            .find(|(id, _, _)| *id == taken)
            .map(|(id, _, key)| ApplyError::VmidTaken { vmid: id.get(), key: key.clone() }),
        Err(e) => Some(ApplyError::State(e)),
    };
    if failure.is_none() && !wanted.is_empty() {
        match client.cluster_resources(Some(ResourceType::Vm)).await {
            Ok(guests) => {
                let taken: BTreeSet<u32> =
                    guests.iter().filter_map(|g| g.vmid.map(VmId::get)).collect();
                failure = wanted
                    .iter()
                    .find(|(id, _, _)| taken.contains(&id.get()))
                    .map(|(id, _, key)| ApplyError::VmidTaken { vmid: id.get(), key: key.clone() });
            }
            Err(e) => failure = Some(ApplyError::Confirm(e)),
        }
    }
    if let Some(e) = failure {
        if let Err(e) = store.release_vmids(&leased, &holder).await {
            tracing::warn!(error = %e, "cannot release VMID leases; they expire on their own");
        }
        store.finish_apply(apply, &ApplyOutcome::Failed(e.to_string())).await?;
        return Err(e);
    }
    // Clones of a template take its lock shared, so they need no queue of their own; what PVE
    // serialises is each storage's allocations, and that limit adapts to PVE's answers.
    let storages: StorageLimits = plan
        .changes
        .iter()
        .flat_map(|c| &c.steps)
        .filter_map(alloc_storage)
        .map(|s| (s, crate::limiter::Aimd::new(opts.parallel)))
        .collect();
    let queues = Queues { storages: &storages, locks };
    // Two levels: template builds first, then everything else (which may clone them). A
    // failed build fails the resources that clone it, not the others.
    let work = |builds: bool| {
        plan.changes.iter().filter(move |c| {
            (c.action != Action::Noop || !c.steps.is_empty())
                && c.steps.iter().any(|s| matches!(s, Step::BuildTemplate { .. })) == builds
        })
    };
    let mut results: Vec<ResourceResult> = futures_util::stream::iter(work(true))
        .map(|c| run_change(client, store.as_ref(), apply, c, opts, &queues))
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    let failed_builds: Vec<u32> = results.iter().filter(|r| !r.ok).filter_map(|r| r.vmid).collect();
    for c in work(false) {
        let blocked = c.steps.iter().find_map(|s| match s {
            Step::Clone { source, .. } if failed_builds.contains(source) => Some(*source),
            _ => None,
        });
        if let Some(src) = blocked {
            results.push(ResourceResult {
                key: c.key.clone(),
                action: c.action,
                vmid: c.vmid,
                result: format!("not started: the template build of {src} failed"),
                ok: false,
                lock_retries: 0,
            });
        }
    }
    let rest: Vec<&Change> =
        work(false).filter(|c| !results.iter().any(|r| r.key == c.key)).collect();
    let more: Vec<ResourceResult> = futures_util::stream::iter(rest)
        .map(|c| run_change(client, store.as_ref(), apply, c, opts, &queues))
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    results.extend(more);
    results.sort_by(|a, b| a.key.cmp(&b.key));
    if let Err(e) = store.release_vmids(&leased, &holder).await {
        tracing::warn!(error = %e, "cannot release VMID leases; they expire on their own");
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    let outcome = if failed == 0 {
        ApplyOutcome::Succeeded
    } else {
        ApplyOutcome::Failed(format!("{failed} resource(s) failed"))
    };
    store.finish_apply(apply, &outcome).await?;
    Ok(ApplyReport { apply, results })
}

/// What steps wait under and check: the limits per storage they allocate on, and the locks.
struct Queues<'a> {
    storages: &'a StorageLimits,
    locks: &'a Locks,
}

async fn run_change(
    client: &Client,
    store: &dyn StateStore,
    apply: ApplyId,
    c: &Change,
    opts: &ApplyOptions,
    queues: &Queues<'_>,
) -> ResourceResult {
    let say = |m: &str| {
        if let Some(p) = &opts.progress {
            p(&c.key, m);
        }
    };
    let mut retries = 0;
    let mut result = "ok".to_string();
    let mut ok = true;
    for step in &c.steps {
        match run_step(client, store, apply, c, step, opts, queues).await {
            Ok(n) => retries += n,
            Err(e) => {
                result = format!("{}: {e}", describe(step));
                ok = false;
                say(&format!("FAILED {result}"));
                break;
            }
        }
    }
    if ok && c.action != Action::Noop {
        say("done");
    }
    ResourceResult {
        key: c.key.clone(),
        action: c.action,
        vmid: c.vmid,
        result,
        ok,
        lock_retries: retries,
    }
}

/// A short description of a step for progress lines and errors.
pub fn describe(step: &Step) -> String {
    match step {
        Step::AllocateIp { pool, ip } => format!("allocate {ip} from {pool}"),
        Step::Clone { source, vmid, node, .. } => format!("clone {source} to {vmid} on {node}"),
        Step::CreateCt { vmid, node, .. } => format!("create container {vmid} on {node}"),
        Step::CreateVm { vmid, node, .. } => format!("create VM {vmid} on {node}"),
        Step::SeedIso { storage, filename, .. } => format!("upload seed {storage}:iso/{filename}"),
        Step::DeleteVolume { volid, .. } => format!("delete {volid}"),
        Step::HaSet { sid, state, .. } => format!("HA {sid} {state}"),
        Step::BuildTemplate { name, vmid, node, entry, .. } => {
            format!("build template {name} ({}) as {vmid} on {node}", entry.id)
        }
        Step::Configure { set, .. } => {
            format!("configure {}", set.keys().cloned().collect::<Vec<_>>().join(", "))
        }
        Step::Resize { disk, size, .. } => format!("resize {disk} to {size}"),
        Step::Migrate { to, .. } => format!("migrate to {to}"),
        Step::Start { .. } => "start".into(),
        Step::Shutdown { .. } => "shut down".into(),
        Step::Destroy { vmid, .. } => format!("destroy {vmid}"),
        Step::Record { .. } => "record in state".into(),
        Step::Forget => "forget in state".into(),
        Step::SaveJob { name, spec } => format!("save job {name} ({})", spec.schedule),
        Step::DeleteJob { name } => format!("delete job {name}"),
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::AllocateIp { .. } => "allocate-ip",
        Step::Clone { .. } => "clone",
        Step::CreateCt { .. } | Step::CreateVm { .. } => "create",
        Step::SeedIso { .. } => "seed-iso",
        Step::DeleteVolume { .. } => "delete-volume",
        Step::HaSet { .. } => "ha",
        Step::BuildTemplate { .. } => "build-template",
        Step::Configure { .. } => "configure",
        Step::Resize { .. } => "resize",
        Step::Migrate { .. } => "migrate",
        Step::Start { .. } => "start",
        Step::Shutdown { .. } => "shutdown",
        Step::Destroy { .. } => "destroy",
        Step::Record { .. } => "record",
        Step::Forget => "forget",
        Step::SaveJob { .. } => "save-job",
        Step::DeleteJob { .. } => "delete-job",
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    State(#[from] proxctl_state::StateError),
    #[error("{0}")]
    Other(String),
}

/// Whether waiting and trying again can help: a lock someone else holds.
fn is_lock(e: &StepError) -> bool {
    let StepError::Client(c) = e else { return false };
    if matches!(c.task_kind(), Some(MessageKind::LockTimeout { .. })) {
        return true;
    }
    matches!(
        c.api().map(|a| &a.kind),
        Some(ApiErrorKind::LockTimeout { .. } | ApiErrorKind::Locked { .. })
    )
}

/// Whether a step that got an unexplained 5xx can be sent again: an absolute resize always
/// (it converges), a create or clone when its guest provably does not exist (PVE writes the
/// config, locked, before it answers, so an absent config means it did nothing). The client
/// cannot know this; the executor, holding the VMID's lease, can.
async fn safe_to_resend(client: &Client, step: &Step, e: &StepError) -> bool {
    let StepError::Client(ClientError::Api(a)) = e else { return false };
    if a.status < 500 || a.kind != ApiErrorKind::Other {
        return false;
    }
    let (node, vmid, lxc) = match step {
        Step::Resize { .. } => return true,
        Step::Clone { node, vmid, .. } | Step::CreateVm { node, vmid, .. } => (node, *vmid, false),
        Step::CreateCt { node, vmid, .. } => (node, *vmid, true),
        _ => return false,
    };
    let Ok((n, v)) = ids(node, vmid) else { return false };
    let read = if lxc { client.lxc_config(&n, v).await } else { client.qemu_config(&n, v).await };
    matches!(read, Err(ClientError::Api(a)) if a.kind == ApiErrorKind::DoesNotExist)
}

/// Run one step, journalled if it changes PVE, retrying locks. Returns the retries used.
async fn run_step(
    client: &Client,
    store: &dyn StateStore,
    apply: ApplyId,
    c: &Change,
    step: &Step,
    opts: &ApplyOptions,
    queues: &Queues<'_>,
) -> Result<u32, StepError> {
    let key: ResourceKey = c.key.parse().map_err(|e| StepError::Other(format!("{e}")))?;
    if step.mutates_pve() && queues.locks.is_lost() {
        return Err(StepError::Other(
            "this apply stalled past its lock lease and another run took the resources over; \
             nothing more was sent. Run apply again"
                .into(),
        ));
    }
    let journal = if step.mutates_pve() {
        let e = NewJournalEntry {
            apply,
            resource: key.clone(),
            action: step_name(step).into(),
            params: serde_json::to_value(step).unwrap_or_default(),
        };
        Some(store.journal_intent(&e).await?)
    } else {
        None
    };
    // Announced only once the intent is on record: what the user saw start, a crash recovery
    // will find.
    if c.action != Action::Noop
        && let Some(p) = &opts.progress
    {
        p(&c.key, &describe(step));
    }
    let limit = alloc_storage(step).and_then(|s| queues.storages.get(&s));
    let _slot = match limit {
        Some(l) => Some(l.acquire().await),
        None => None,
    };
    let mut attempt = 0;
    let mut backoff = opts.lock_backoff;
    let result = loop {
        match execute(client, store, &key, step, opts).await {
            Err(e)
                if attempt + 1 < opts.lock_attempts
                    && (is_lock(&e) || safe_to_resend(client, step, &e).await) =>
            {
                if is_lock(&e)
                    && let Some(l) = limit
                {
                    l.pushback();
                }
                attempt += 1;
                tracing::info!(resource = %key, step = step_name(step), attempt, "lock busy; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(15));
            }
            other => break other,
        }
    };
    if let (Some(l), Ok(())) = (limit, &result) {
        l.success();
    }
    if let Some(id) = journal {
        let state = match &result {
            Ok(()) => JournalState::Done,
            Err(e) => JournalState::Failed(e.to_string()),
        };
        store.journal_finish(id, &state).await?;
    }
    result.map(|()| attempt)
}

fn ids(node: &str, vmid: u32) -> Result<(NodeName, VmId), StepError> {
    let n = NodeName::new(node).map_err(|e| StepError::Other(e.to_string()))?;
    let v = VmId::new(vmid).map_err(|e| StepError::Other(e.to_string()))?;
    Ok((n, v))
}

async fn wait(client: &Client, u: proxctl_types::Upid) -> Result<(), StepError> {
    client.wait_task(&u, &WaitOptions::default()).await?;
    Ok(())
}

async fn execute(
    client: &Client,
    store: &dyn StateStore,
    key: &ResourceKey,
    step: &Step,
    opts: &ApplyOptions,
) -> Result<(), StepError> {
    let image_cache = opts.image_cache.as_path();
    match step {
        Step::AllocateIp { pool, ip } => {
            if !store.allocate_ip(pool, *ip, key).await? {
                return Err(StepError::Other(format!(
                    "{ip} in {pool} was taken by another resource since the plan; run plan again"
                )));
            }
        }
        Step::Clone { source, source_node, vmid, node, name, full, storage, pool, description } => {
            let (sn, sv) = ids(source_node, *source)?;
            let (n, v) = ids(node, *vmid)?;
            let req = CloneRequest {
                newid: Some(v),
                name: Some(name.clone()),
                description: Some(description.clone()),
                pool: pool.clone(),
                full: Some(*full),
                storage: storage
                    .as_deref()
                    .map(proxctl_types::StorageId::new)
                    .transpose()
                    .map_err(|e| StepError::Other(e.to_string()))?,
                target: (n != sn).then_some(n),
                ..CloneRequest::default()
            };
            if let Started::Task(u) = client.qemu_clone(&sn, sv, v, &req).await? {
                wait(client, u).await?;
            }
        }
        Step::BuildTemplate { name, vmid, node, entry, storage, vm_storage, disk_size, keep } => {
            let (n, v) = ids(node, *vmid)?;
            let bad = |e: proxctl_types::IdError| StepError::Other(e.to_string());
            let spec = proxctl_ops::template::BuildSpec {
                entry: (**entry).clone(),
                name: name.clone(),
                node: n,
                import_storage: proxctl_types::StorageId::new(storage.as_str()).map_err(bad)?,
                vm_storage: proxctl_types::StorageId::new(vm_storage.as_str()).map_err(bad)?,
                bridge: "vmbr0".into(),
                via: proxctl_ops::template::Via::Auto,
                disk_size: disk_size
                    .as_deref()
                    .map(|s| s.parse().map_err(|_| StepError::Other(format!("bad size {s}"))))
                    .transpose()?,
                keep: *keep,
                expected: None,
                cache_root: image_cache.to_path_buf(),
                vmid: Some(v),
                vmid_floor: proxctl_types::ids::TEMPLATE_VMID_FLOOR,
                local: None,
                machine: None,
                cpu: None,
            };
            proxctl_ops::template::build(
                client,
                &spec,
                &|m: &str| tracing::info!(template = %name, "{m}"),
            )
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        }
        Step::SeedIso { node, storage, filename, files } => {
            let n = NodeName::new(node.as_str()).map_err(|e| StepError::Other(e.to_string()))?;
            let sid = proxctl_types::StorageId::new(storage.as_str())
                .map_err(|e| StepError::Other(e.to_string()))?;
            let volid = format!("{storage}:iso/{filename}");
            // Content-addressed name: if it is there (a retry after a crash), it is right.
            let present = client
                .storage_content(&n, &sid, Some("iso"), None)
                .await?
                .iter()
                .any(|c| c.volid == volid);
            if !present {
                let refs: Vec<(&str, &[u8])> =
                    files.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
                let iso = proxctl_images::iso::build("cidata", &refs);
                let dir =
                    tempfile::tempdir().map_err(|e| StepError::Other(format!("temp dir: {e}")))?;
                let path = dir.path().join(filename);
                std::fs::write(&path, &iso)
                    .map_err(|e| StepError::Other(format!("writing the seed: {e}")))?;
                let hex = {
                    use sha2::Digest;
                    hex::encode(sha2::Sha256::digest(&iso))
                };
                let up = proxctl_client::endpoints::storage::UploadRequest {
                    content: proxctl_client::endpoints::storage::TransferContent::Iso,
                    filename: filename.clone(),
                    checksum: Some(proxctl_client::endpoints::storage::Checksum {
                        algorithm: proxctl_client::endpoints::storage::ChecksumAlgorithm::Sha256,
                        hex,
                    }),
                    path,
                };
                wait(client, client.storage_upload(&n, &sid, &up, None).await?).await?;
            }
        }
        Step::HaSet { sid, state, exists } => client.ha_set(sid, state, *exists).await?,
        Step::DeleteVolume { node, volid } => {
            let n = NodeName::new(node.as_str()).map_err(|e| StepError::Other(e.to_string()))?;
            let v = proxctl_types::VolumeId::new(volid.as_str())
                .map_err(|e| StepError::Other(e.to_string()))?;
            match client.storage_delete_content(&n, &v, None).await {
                Ok(Some(u)) => wait(client, u).await?,
                Ok(None) => {}
                Err(e) if e.api().is_some_and(|a| a.kind == ApiErrorKind::DoesNotExist) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Step::CreateVm { node, vmid, params } => {
            let (n, v) = ids(node, *vmid)?;
            let mut p = FormParams::new();
            p.push("vmid", v.to_string());
            for (k, val) in params {
                p.push(k.as_str(), val.as_str());
            }
            let req = ApiRequest::new(Endpoint::QemuCreate, &[n.as_str()], p);
            let data = client.send(&req).await?;
            let upid = data
                .as_str()
                .and_then(|u| u.parse::<proxctl_types::Upid>().ok())
                .ok_or_else(|| StepError::Other(format!("VM create answered {data}")))?;
            wait(client, upid).await?;
        }
        Step::CreateCt { node, vmid, params } => {
            let (n, v) = ids(node, *vmid)?;
            let mut p = FormParams::new();
            p.push("vmid", v.to_string());
            for (k, val) in params {
                p.push(k.as_str(), val.as_str());
            }
            let req = ApiRequest::new(Endpoint::LxcCreate, &[n.as_str()], p);
            let data = client.send(&req).await?;
            let upid = data
                .as_str()
                .and_then(|u| u.parse::<proxctl_types::Upid>().ok())
                .ok_or_else(|| StepError::Other(format!("container create answered {data}")))?;
            wait(client, upid).await?;
        }
        Step::Configure { node, vmid, set, delete, lxc } => {
            let (n, v) = ids(node, *vmid)?;
            let mut p = FormParams::new();
            for (k, val) in set {
                p.push(k.as_str(), val.as_str());
            }
            if !delete.is_empty() {
                p.push("delete", delete.join(","));
            }
            let vs = v.to_string();
            let endpoint = if *lxc { Endpoint::LxcConfigPut } else { Endpoint::QemuConfigPut };
            client.send(&ApiRequest::new(endpoint, &[n.as_str(), &vs], p)).await?;
        }
        Step::Resize { node, vmid, disk, size, lxc: true } => {
            let (n, v) = ids(node, *vmid)?;
            let size: DiskSize =
                size.parse().map_err(|_| StepError::Other(format!("bad size {size}")))?;
            let u = client.lxc_resize(&n, v, disk, ResizeTo::Absolute(size), None).await?;
            wait(client, u).await?;
        }
        Step::Resize { node, vmid, disk, size, lxc: false } => {
            let (n, v) = ids(node, *vmid)?;
            let slot =
                disk.parse().map_err(|_| StepError::Other(format!("bad disk slot {disk}")))?;
            let size: DiskSize =
                size.parse().map_err(|_| StepError::Other(format!("bad size {size}")))?;
            if let Some(u) = client.qemu_resize(&n, v, slot, ResizeTo::Absolute(size), None).await?
            {
                wait(client, u).await?;
            }
        }
        Step::Migrate { node, vmid, to, online } => {
            let (n, v) = ids(node, *vmid)?;
            let target = NodeName::new(to.as_str()).map_err(|e| StepError::Other(e.to_string()))?;
            let m = MigrateRequest {
                target,
                online: *online,
                with_local_disks: false,
                targetstorage: None,
                bwlimit: None,
            };
            wait(client, client.qemu_migrate(&n, v, &m).await?).await?;
        }
        Step::Start { node, vmid, lxc } => {
            let (n, v) = ids(node, *vmid)?;
            let a = PowerAction::Start { timeout: None };
            let started = async {
                let u = if *lxc {
                    client.lxc_power(&n, v, &a).await?
                } else {
                    client.qemu_power(&n, v, &a).await?
                };
                wait(client, u).await
            };
            match started.await {
                // Started meanwhile (by a stopped apply's task, or by hand): the step's goal holds.
                Err(StepError::Client(e)) if e.to_string().contains("already running") => {}
                other => other?,
            }
        }
        Step::Shutdown { node, vmid, lxc } => {
            let (n, v) = ids(node, *vmid)?;
            let a = PowerAction::Shutdown { timeout: None, force_stop: true };
            let u = if *lxc {
                client.lxc_power(&n, v, &a).await?
            } else {
                client.qemu_power(&n, v, &a).await?
            };
            wait(client, u).await?;
        }
        Step::Destroy { node, vmid, lxc } => {
            let (n, v) = ids(node, *vmid)?;
            let opts = DeleteOptions { purge: true, destroy_unreferenced_disks: true, force: *lxc };
            let u = if *lxc {
                client.lxc_delete(&n, v, &opts).await?
            } else {
                client.qemu_delete(&n, v, &opts).await?
            };
            wait(client, u).await?;
        }
        Step::Record { vmid, node, spec_hash, expect_running, spec } => {
            let rec = ResourceRecord {
                key: key.clone(),
                spec_hash: spec_hash.clone(),
                vmid: vmid
                    .map(VmId::new)
                    .transpose()
                    .map_err(|e| StepError::Other(e.to_string()))?,
                node: node
                    .as_deref()
                    .map(NodeName::new)
                    .transpose()
                    .map_err(|e| StepError::Other(e.to_string()))?,
                updated_at: jiff::Timestamp::now(),
            };
            store.put_resource(&rec).await?;
            crate::expected::record(store, &rec, *expect_running).await?;
            if let Some(spec) = spec {
                crate::applied::record(store, key, spec).await?;
            }
        }
        Step::Forget => {
            store.remove_resource(key).await?;
            store.release_ips(key).await?;
            crate::expected::forget(store, key).await?;
            crate::applied::forget(store, key).await?;
        }
        Step::SaveJob { name, spec } => {
            use proxctl_ops::jobs;
            let now = jiff::Timestamp::now();
            // A job keeps when and by whom it was first made.
            let have = store.document(proxctl_state::document::kind::JOB, name).await?;
            let job = match have.and_then(|d| jobs::parse(&d).ok()) {
                Some(h) => spec.job(name, h.created_at, &h.created_by),
                None => spec.job(name, now, &opts.actor),
            };
            let d = jobs::document(&job, now).map_err(|e| StepError::Other(e.to_string()))?;
            store.put_document(&d).await?;
        }
        Step::DeleteJob { name } => {
            store.delete_document(proxctl_state::document::kind::JOB, name).await?;
        }
    }
    Ok(())
}
