//! The planner: a pure function from declared resources, the observed cluster and the state
//! store's records to a [`Plan`]. No network, no store, no clock: the same inputs give the same
//! plan, which is what makes plans testable, saveable and benchmarkable. VMIDs, nodes and
//! addresses are all decided here; the executor only carries the steps out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use proxctl_state::{IpAllocation, ResourceRecord, VmidLease};
use proxctl_types::config::QemuConfig;
use proxctl_types::managed::{MANAGED_TAG, resource_of, with_resource};
use proxctl_types::prop::{DriveSlot, IpConfig, NetDevice, NetModel};
use proxctl_types::wire::{DiskSize, encode_sshkeys, normalize_tags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{Body, Declared, IpPoolSpec, VmSpec};
use crate::observe::{Observed, ObservedGuest};

/// Plans are saved as JSON; the format number guards against reading one from another version.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Noop,
}

/// One field that differs: `from` is what PVE has, `to` what the manifest wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Takes effect only after the guest restarts.
    pub reboot: bool,
}

mod ct;
mod guest;
mod ipam;
mod job;
mod step;
mod template;
mod vm;
mod vm_image;

use ct::*;
use ipam::*;
pub use step::Step;
use step::*;
use vm::*;
use vm_image::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `kind/name`.
    pub key: String,
    pub action: Action,
    pub vmid: Option<u32>,
    pub node: Option<String>,
    /// Why, in a few words: `clone of debian-12 (9000)`, `not declared (--prune)`.
    pub summary: String,
    pub diffs: Vec<FieldDiff>,
    pub steps: Vec<Step>,
}

impl Change {
    pub fn needs_reboot(&self) -> bool {
        self.diffs.iter().any(|d| d.reboot)
    }
}

/// What the plan read: each guest's config digest (or absence), checked again before a saved
/// plan is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    pub vmid: u32,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub changes: Vec<Change>,
    pub basis: Vec<Basis>,
    /// VMIDs this plan creates guests with; they must still be free when it is applied.
    pub new_vmids: Vec<u32>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn count(&self, a: Action) -> usize {
        self.changes.iter().filter(|c| c.action == a).count()
    }
    /// `2 create, 0 update, 0 replace, 1 delete`, as confirmations say it.
    pub fn tally(&self) -> String {
        format!(
            "{} create, {} update, {} replace, {} delete",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Replace),
            self.count(Action::Delete)
        )
    }
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Noop)
    }
}

/// Everything the planner reads.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub declared: &'a [Declared],
    pub observed: &'a Observed,
    pub records: &'a [ResourceRecord],
    /// Leases other applies hold: their VMIDs are not free.
    pub leases: &'a [VmidLease],
    pub allocations: &'a [IpAllocation],
    /// The jobs in the state store, for Job resources.
    pub jobs: &'a [proxctl_ops::jobs::Job],
    /// The image catalog, for Template resources.
    pub catalog: Option<&'a proxctl_images::catalog::Catalog>,
    /// Delete managed guests no manifest declares.
    pub prune: bool,
    /// The release this plan is for: prune then deletes only guests carrying its marker, and
    /// a plan for no release never prunes a release's guests (`proxctl release` owns those).
    pub release: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot plan: {}", problems.join("; "))]
pub struct PlanError {
    pub problems: Vec<String>,
}

/// `change` with its declared body in its record step, so the store keeps what was applied
/// for guests (jobs are kept in full already).
fn with_spec(mut change: Change, d: &Declared) -> Change {
    if !matches!(d.body, Body::VirtualMachine { .. } | Body::Container { .. }) {
        return change;
    }
    for step in &mut change.steps {
        if let Step::Record { spec, .. } = step {
            *spec = serde_json::to_value(&d.body).ok();
        }
    }
    change
}

/// The hash of a resource's spec, recorded after apply.
pub fn spec_hash(body: &Body) -> String {
    let json = serde_json::to_string(body).unwrap_or_default();
    hex::encode(Sha256::digest(json.as_bytes()))
}

struct Vmids {
    taken: BTreeSet<u32>,
    next: u32,
}

impl Vmids {
    fn take(&mut self) -> u32 {
        while self.taken.contains(&self.next) {
            self.next += 1;
        }
        self.taken.insert(self.next);
        self.next
    }

    /// The lowest free VMID from `floor` up (templates live apart from ordinary guests).
    fn take_from(&mut self, floor: u32) -> u32 {
        let mut v = floor;
        while self.taken.contains(&v) {
            v += 1;
        }
        self.taken.insert(v);
        v
    }
}

/// What the planners of later kinds see once templates are planned: the cluster (with the
/// templates this plan builds standing in), which guest each key owns, pools and addresses.
struct Context<'a> {
    input: &'a PlanInput<'a>,
    obs: &'a Observed,
    owner: BTreeMap<String, &'a ObservedGuest>,
    records: BTreeMap<String, &'a ResourceRecord>,
    pools: BTreeMap<&'a str, &'a IpPoolSpec>,
    ipam: Ipam<'a>,
    vmids: Vmids,
    new_vmids: Vec<u32>,
    warnings: Vec<String>,
}

/// Before guests are planned: what templates need (VMIDs) and leave behind (stand-ins).
struct Prepare<'a> {
    input: &'a PlanInput<'a>,
    vmids: Vmids,
    new_vmids: Vec<u32>,
    /// Guests this plan will make that later kinds can already use (templates to clone).
    pending: Vec<ObservedGuest>,
}

/// One manifest kind's planner. [`plan`] hands every declared resource to the planner of its
/// kind, twice: `prepare` before any guest is planned (templates, which VMs in the same plan
/// clone), then `plan`; and each managed resource nothing declares any more to `stale`.
trait KindPlanner: Sync {
    /// The first pass; most kinds have nothing to do in it.
    fn prepare(&self, _cx: &mut Prepare<'_>, _d: &Declared) -> Result<Option<Change>, String> {
        Ok(None)
    }
    /// The change for one declared resource (`None`: the kind makes none, as IP pools).
    fn plan(&self, cx: &mut Context<'_>, d: &Declared) -> Result<Option<Change>, String>;
    /// The change (or warning) for a resource of this kind that the store records, or a
    /// guest carries the marker of, but no manifest declares.
    fn stale(&self, _cx: &mut Context<'_>, _key: &str) -> Option<Change> {
        None
    }
}

/// The planner of a declared resource's kind.
fn planner(body: &Body) -> &'static dyn KindPlanner {
    match body {
        Body::VirtualMachine { .. } => &guest::VirtualMachines,
        Body::Container { .. } => &guest::Containers,
        Body::IpPool { .. } => &ipam::IpPools,
        Body::Template { .. } => &template::Templates,
        Body::Job { .. } => &job::Jobs,
    }
}

/// The planner of a resource key's kind (`VirtualMachine/web-1`), for stale resources.
fn planner_of_key(key: &str) -> Option<&'static dyn KindPlanner> {
    Some(match key.split_once('/')?.0 {
        "VirtualMachine" => &guest::VirtualMachines,
        "Container" => &guest::Containers,
        "Job" => &job::Jobs,
        _ => return None,
    })
}

pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let mut problems = Vec::new();
    let mut changes = Vec::new();
    let mut basis = BTreeMap::new();
    let vmids = Vmids {
        taken: input
            .observed
            .guests
            .iter()
            .map(|g| g.vmid)
            .chain(input.leases.iter().map(|l| l.vmid.get()))
            .collect(),
        next: input.observed.next_vmid.max(100),
    };
    // Templates first: a VM declared on a template this plan builds clones from the VMID and
    // node decided here, so the builds become the DAG's first level.
    let mut pre = Prepare { input, vmids, new_vmids: Vec::new(), pending: Vec::new() };
    for d in input.declared {
        match planner(&d.body).prepare(&mut pre, d) {
            Ok(Some(change)) => changes.push(with_spec(change, d)),
            Ok(None) => {}
            Err(e) => problems.push(format!("{}: {e}", d.key())),
        }
    }
    let Prepare { vmids, new_vmids, pending, .. } = pre;
    let augmented;
    let obs = if pending.is_empty() {
        input.observed
    } else {
        let mut o = input.observed.clone();
        o.guests.extend(pending);
        augmented = o;
        &augmented
    };
    let by_vmid: BTreeMap<u32, &ObservedGuest> = obs.guests.iter().map(|g| (g.vmid, g)).collect();
    let records: BTreeMap<String, &ResourceRecord> =
        input.records.iter().map(|r| (r.key.to_string(), r)).collect();
    let pools: BTreeMap<&str, &IpPoolSpec> = input
        .declared
        .iter()
        .filter_map(|d| match &d.body {
            Body::IpPool { metadata, spec } => Some((metadata.name.as_str(), spec)),
            _ => None,
        })
        .collect();

    // Which observed guest each key owns: by state record first, then by marker.
    let mut owner: BTreeMap<String, &ObservedGuest> = BTreeMap::new();
    for (key, rec) in &records {
        if let Some(g) = rec.vmid.and_then(|v| by_vmid.get(&v.get())) {
            owner.insert(key.clone(), g);
        }
    }
    // Two guests carrying one resource's marker (two applies that both created it, or a
    // hand-made copy) are a conflict, never "unchanged": only a person can say which to keep.
    let mut carriers: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for g in &obs.guests {
        if let Some(key) = g.text("description").and_then(resource_of) {
            owner.entry(key.to_string()).or_insert(g);
            if !g.template {
                carriers.entry(key).or_default().push(g.vmid);
            }
        }
    }
    for (key, vmids) in carriers.iter().filter(|(_, v)| v.len() > 1) {
        let list = vmids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        problems.push(format!(
            "{key} is carried by {} guests (VMIDs {list}); keep one with `proxctl resolve {key} \
             --keep VMID` (the others are deleted, or released with --release)",
            vmids.len()
        ));
    }
    for g in owner.values() {
        basis.insert(g.vmid, g.digest().map(String::from));
    }

    let mut cx = Context {
        input,
        obs,
        owner,
        records,
        pools,
        ipam: Ipam::new(input.allocations),
        vmids,
        new_vmids,
        warnings: Vec::new(),
    };
    let declared_keys: BTreeSet<String> = input.declared.iter().map(Declared::key).collect();
    for d in input.declared {
        match planner(&d.body).plan(&mut cx, d) {
            Ok(Some(c)) => changes.push(with_spec(c, d)),
            Ok(None) => {}
            Err(e) => problems.push(format!("{}: {e}", d.key())),
        }
    }

    // Managed resources nobody declares any more.
    let mut stale: BTreeSet<String> = cx.owner.keys().cloned().collect();
    stale.extend(cx.records.keys().cloned());
    for key in stale.into_iter().filter(|k| !declared_keys.contains(k)) {
        if let Some(c) = planner_of_key(&key).and_then(|p| p.stale(&mut cx, &key)) {
            changes.push(c);
        }
    }
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Plan {
        format: PLAN_FORMAT,
        changes,
        basis: basis.into_iter().map(|(vmid, digest)| Basis { vmid, digest }).collect(),
        new_vmids: cx.new_vmids,
        warnings: cx.warnings,
    })
}
