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

/// A call the executor makes, with every value decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Record an address for the resource in the state store (fails if someone took it).
    AllocateIp {
        pool: String,
        ip: IpAddr,
    },
    Clone {
        source: u32,
        source_node: String,
        vmid: u32,
        node: String,
        name: String,
        full: bool,
        storage: Option<String>,
        pool: Option<String>,
        /// Carries the identity marker from the first moment the guest exists.
        description: String,
    },
    /// Build a versioned template from a catalog image (see `proxctl template build`).
    BuildTemplate {
        name: String,
        vmid: u32,
        node: String,
        entry: Box<proxctl_images::catalog::Entry>,
        storage: String,
        vm_storage: String,
        disk_size: Option<String>,
        keep: usize,
    },
    /// Build a NoCloud seed ISO from these files and upload it as `iso` content.
    SeedIso {
        node: String,
        storage: String,
        filename: String,
        files: BTreeMap<String, String>,
    },
    /// Put a guest under HA in `state` (`exists`: it already is, so only the state changes).
    HaSet {
        sid: String,
        state: String,
        exists: bool,
    },
    /// Delete a volume (an outdated seed ISO). Nothing to do if it is already gone.
    DeleteVolume {
        node: String,
        volid: String,
    },
    /// Create a VM with every parameter decided (a VM from an image: `scsi0` imports it).
    CreateVm {
        node: String,
        vmid: u32,
        params: BTreeMap<String, String>,
    },
    /// Create a container from an OS template, with every parameter decided.
    CreateCt {
        node: String,
        vmid: u32,
        params: BTreeMap<String, String>,
    },
    /// PUT config: values to set and keys to delete.
    Configure {
        node: String,
        vmid: u32,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Resize {
        node: String,
        vmid: u32,
        disk: String,
        size: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Migrate {
        node: String,
        vmid: u32,
        to: String,
        online: bool,
    },
    Start {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Shutdown {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    Destroy {
        node: String,
        vmid: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lxc: bool,
    },
    /// Remember the resource (spec hash, VMID, node) in the state store.
    Record {
        vmid: Option<u32>,
        node: Option<String>,
        spec_hash: String,
    },
    /// Forget the resource and release its addresses.
    Forget,
}

impl Step {
    /// Whether the step changes PVE (and so is journalled).
    pub fn mutates_pve(&self) -> bool {
        !matches!(self, Step::AllocateIp { .. } | Step::Record { .. } | Step::Forget)
    }
}

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
    /// The image catalog, for Template resources.
    pub catalog: Option<&'a proxctl_images::catalog::Catalog>,
    /// Delete managed guests no manifest declares.
    pub prune: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot plan: {}", problems.join("; "))]
pub struct PlanError {
    pub problems: Vec<String>,
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

pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut changes = Vec::new();
    let mut basis = BTreeMap::new();
    let mut new_vmids = Vec::new();
    let mut vmids = Vmids {
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
    let mut pending = Vec::new();
    for d in input.declared {
        let Body::Template { metadata, spec } = &d.body else { continue };
        match plan_template(&d.key(), &metadata.name, spec, input, &mut vmids) {
            Ok((change, synthetic)) => {
                if let Some(g) = synthetic {
                    new_vmids.push(g.vmid);
                    pending.push(g);
                }
                changes.push(change);
            }
            Err(e) => problems.push(format!("{}: {e}", d.key())),
        }
    }
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
    let mut ipam = Ipam::new(input.allocations);

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

    let declared_keys: BTreeSet<String> = input.declared.iter().map(Declared::key).collect();
    for d in input.declared {
        let key = d.key();
        match &d.body {
            Body::IpPool { .. } | Body::Template { .. } => {}
            Body::Container { metadata, spec } => {
                let hash = spec_hash(&d.body);
                let r = match owner.get(&key) {
                    Some(g) => update_ct(&key, &metadata.name, spec, g, &hash),
                    None => {
                        let vmid = vmids.take();
                        new_vmids.push(vmid);
                        create_ct(&key, &metadata.name, spec, vmid, obs, &hash)
                    }
                };
                match r {
                    Ok(c) => changes.push(c),
                    Err(e) => problems.push(format!("{key}: {e}")),
                }
            }
            Body::VirtualMachine { metadata, spec } => {
                let hash = spec_hash(&d.body);
                let r = match owner.get(&key) {
                    Some(g) => update_vm(&key, &metadata.name, spec, g, &hash, &pools, &mut ipam),
                    None => {
                        if let Some(g) = obs
                            .guests
                            .iter()
                            .find(|g| g.kind == "qemu" && g.name == metadata.name && !g.template)
                        {
                            warnings.push(format!(
                                "{key}: a VM named {} exists (VMID {}) but proxctl does not manage it; \
                                 a new one will be created. To take the existing one over, run \
                                 `proxctl adopt`",
                                g.name, g.vmid
                            ));
                        }
                        let vmid = vmids.take();
                        new_vmids.push(vmid);
                        create_vm(&key, &metadata.name, spec, vmid, obs, &hash, &pools, &mut ipam)
                    }
                };
                match r {
                    Ok(c) => changes.push(c),
                    Err(e) => problems.push(format!("{key}: {e}")),
                }
            }
        }
    }

    // Managed guests nobody declares any more.
    let mut stale: BTreeSet<String> = owner.keys().cloned().collect();
    stale.extend(records.keys().cloned());
    for key in stale.into_iter().filter(|k| !declared_keys.contains(k)) {
        if !key.starts_with("VirtualMachine/") && !key.starts_with("Container/") {
            continue;
        }
        match owner.get(&key) {
            Some(g) if input.prune => {
                let node = g.node.clone();
                let lxc = g.kind == "lxc";
                let mut steps = Vec::new();
                if g.running {
                    steps.push(Step::Shutdown { node: node.clone(), vmid: g.vmid, lxc });
                }
                steps.push(Step::Destroy { node: node.clone(), vmid: g.vmid, lxc });
                if let Some(volid) = proxctl_types::managed::seed_iso_of(g.text("ide2"), g.vmid) {
                    steps.push(Step::DeleteVolume { node: node.clone(), volid });
                }
                steps.push(Step::Forget);
                let protected = g
                    .config
                    .as_ref()
                    .and_then(|c| c.get("protection"))
                    .is_some_and(|v| v == 1 || v == "1");
                changes.push(Change {
                    key: key.clone(),
                    action: Action::Delete,
                    vmid: Some(g.vmid),
                    node: Some(node),
                    summary: if protected {
                        "not declared (--prune); PVE protection is on, so PVE will refuse".into()
                    } else {
                        "not declared (--prune)".into()
                    },
                    diffs: Vec::new(),
                    steps,
                });
            }
            Some(g) => warnings.push(format!(
                "{key} (VMID {}) is managed but no longer declared; pass --prune to delete it",
                g.vmid
            )),
            None => changes.push(Change {
                key: key.clone(),
                action: Action::Delete,
                vmid: None,
                node: None,
                summary: "gone from the cluster; forget its record".into(),
                diffs: Vec::new(),
                steps: vec![Step::Forget],
            }),
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
        new_vmids,
        warnings,
    })
}

/// Free addresses from declared pools, around what the store already records.
struct Ipam<'a> {
    taken: BTreeSet<(String, IpAddr)>,
    allocations: &'a [IpAllocation],
}

impl<'a> Ipam<'a> {
    fn new(allocations: &'a [IpAllocation]) -> Self {
        Self { taken: allocations.iter().map(|a| (a.pool.clone(), a.ip)).collect(), allocations }
    }

    /// The address `key` holds in `pool`, or the lowest free one. Returns (address, prefix
    /// length, is new).
    fn address(
        &mut self,
        pool_name: &str,
        pool: &IpPoolSpec,
        key: &str,
    ) -> Result<(IpAddr, u8, bool), String> {
        let net: ipnet::IpNet =
            pool.cidr.parse().map_err(|_| format!("pool {pool_name}: bad cidr"))?;
        if let Some(a) =
            self.allocations.iter().find(|a| a.pool == pool_name && a.owner.to_string() == key)
        {
            return Ok((a.ip, net.prefix_len(), false));
        }
        let gw: Option<IpAddr> = pool.gateway.parse().ok();
        let range = pool
            .range
            .as_ref()
            .and_then(|r| Some((r.start.parse::<IpAddr>().ok()?, r.end.parse::<IpAddr>().ok()?)));
        for ip in net.hosts() {
            if Some(ip) == gw || self.taken.contains(&(pool_name.to_string(), ip)) {
                continue;
            }
            if let Some((s, e)) = range
                && (ip < s || ip > e)
            {
                continue;
            }
            self.taken.insert((pool_name.to_string(), ip));
            return Ok((ip, net.prefix_len(), true));
        }
        Err(format!("IPPool {pool_name} has no free address left"))
    }
}

/// The config a VM should end up with, as PVE wire values, for the keys the spec sets.
struct Desired {
    values: BTreeMap<String, (String, bool)>,
    allocations: Vec<(String, IpAddr)>,
    /// ISO mode: where the seed goes and what it holds.
    seed: Option<SeedIso>,
}

struct SeedIso {
    storage: String,
    filename: String,
    files: BTreeMap<String, String>,
}

/// Replace the native cloud-init keys with a NoCloud seed ISO holding the same settings.
fn into_seed(
    v: &mut BTreeMap<String, (String, bool)>,
    name: &str,
    vmid: u32,
    ci: &crate::manifest::CloudInitSpec,
) -> SeedIso {
    let take = |v: &mut BTreeMap<String, (String, bool)>, k: &str| v.remove(k).map(|(x, _)| x);
    let ipc = take(v, "ipconfig0").and_then(|t| t.parse::<IpConfig>().ok());
    for k in ["ciuser", "sshkeys", "nameserver", "searchdomain"] {
        v.remove(k);
    }
    v.retain(|k, _| !k.starts_with("ipconfig"));
    let seed = proxctl_images::nocloud::Seed {
        hostname: name.to_string(),
        user: ci.user.clone(),
        ssh_keys: ci.ssh_keys.clone(),
        ipv4: ipc.as_ref().and_then(|c| c.ip.as_ref()).map(|i| i.to_string()),
        gateway4: ipc.as_ref().and_then(|c| c.gw).map(|g| g.to_string()),
        ipv6: ipc.as_ref().and_then(|c| c.ip6.as_ref()).map(|i| i.to_string()),
        gateway6: ipc.as_ref().and_then(|c| c.gw6).map(|g| g.to_string()),
        nameservers: ci.nameserver.iter().cloned().collect(),
        search: ci.searchdomain.iter().cloned().collect(),
        mac: None,
        user_data: ci.user_data.clone(),
    };
    let storage = ci.iso_storage.clone().unwrap_or_else(|| "local".into());
    let filename = format!("proxctl-{vmid}-{}.iso", seed.instance_id());
    v.insert("ide2".into(), (format!("{storage}:iso/{filename},media=cdrom"), true));
    SeedIso {
        storage,
        filename,
        files: seed.files().into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
    }
}

/// `observed` is the guest's config (for updates); `inherited` the NIC slots the guest has or
/// will have without the spec (its own, or the template's for a clone), which an address in
/// `cloudInit.ip` may use without a `networks` entry.
#[allow(clippy::too_many_arguments)]
fn desired_config(
    key: &str,
    name: &str,
    vmid: u32,
    spec: &VmSpec,
    observed: Option<&QemuConfig>,
    inherited: &[u8],
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Desired, String> {
    let mut v: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut set = |k: &str, val: String, reboot: bool| {
        v.insert(k.to_string(), (val, reboot));
    };
    set("name", name.to_string(), false);
    if let Some(c) = spec.cores {
        set("cores", c.to_string(), true);
    }
    if let Some(s) = spec.sockets {
        set("sockets", s.to_string(), true);
    }
    if let Some(c) = &spec.cpu {
        set("cpu", c.clone(), true);
    }
    if let Some(m) = spec.memory {
        set("memory", m.to_string(), true);
    }
    if let Some(b) = spec.balloon {
        set("balloon", b.to_string(), false);
    }
    for (k, b) in [("onboot", spec.onboot), ("protection", spec.protection)] {
        if let Some(b) = b {
            set(k, if b { "1" } else { "0" }.into(), false);
        }
    }
    let mut tags: Vec<&str> = spec.tags.iter().map(String::as_str).collect();
    tags.push(MANAGED_TAG);
    set("tags", normalize_tags(tags), false);
    set("description", with_resource(spec.description.as_deref().unwrap_or(""), key), false);
    for (slot, nic) in &spec.networks {
        let model = match nic.model.as_deref().unwrap_or("virtio") {
            "e1000" => NetModel::E1000,
            "e1000e" => NetModel::E1000e,
            "rtl8139" => NetModel::Rtl8139,
            "vmxnet3" => NetModel::Vmxnet3,
            _ => NetModel::Virtio,
        };
        // Keep what PVE has (the MAC above all) and change only what the spec names.
        let have: Option<NetDevice> = observed.and_then(|c| {
            let n: u8 = slot.strip_prefix("net")?.parse().ok()?;
            c.net.get(&n).cloned()
        });
        let mut dev =
            have.clone().unwrap_or_else(|| NetDevice::new(model.clone(), nic.bridge.clone()));
        let model_changed = have.as_ref().is_some_and(|h| h.model != model);
        dev.model = model;
        dev.bridge = Some(nic.bridge.clone());
        dev.tag = nic.vlan;
        if let Some(fw) = nic.firewall {
            dev.firewall = Some(fw);
        }
        set(slot, dev.to_string(), model_changed);
    }
    if let Some(ci) = &spec.cloud_init {
        if let Some(u) = &ci.user {
            set("ciuser", u.clone(), true);
        }
        if !ci.ssh_keys.is_empty() {
            set("sshkeys", encode_sshkeys(&ci.ssh_keys.join("\n")), true);
        }
        if let Some(n) = &ci.nameserver {
            set("nameserver", n.clone(), true);
        }
        if let Some(s) = &ci.searchdomain {
            set("searchdomain", s.clone(), true);
        }
        let mut allocations = Vec::new();
        for (nic, ip) in &ci.ip {
            let n = nic.trim_start_matches("net");
            let has_nic = spec.networks.contains_key(nic)
                || n.parse::<u8>().is_ok_and(|i| inherited.contains(&i));
            if !has_nic {
                return Err(format!(
                    "cloudInit.ip.{nic} gives an address, but the VM has no {nic}: declare it \
                     under spec.networks (the template does not have it either)"
                ));
            }
            let mut parts = Vec::new();
            match (&ip.pool, &ip.address) {
                (Some(p), _) => {
                    let pool = pools.get(p.as_str()).ok_or_else(|| format!("no IPPool {p}"))?;
                    let (addr, prefix, _) = ipam.address(p, pool, key)?;
                    allocations.push((p.clone(), addr));
                    parts.push(format!("ip={addr}/{prefix}"));
                    parts.push(format!("gw={}", ip.gateway.as_deref().unwrap_or(&pool.gateway)));
                }
                (None, Some(a)) => {
                    parts.push(format!("ip={a}"));
                    if let Some(g) = &ip.gateway {
                        parts.push(format!("gw={g}"));
                    }
                }
                (None, None) => {}
            }
            if let Some(a6) = &ip.address6 {
                parts.push(format!("ip6={a6}"));
                if let Some(g6) = &ip.gateway6 {
                    parts.push(format!("gw6={g6}"));
                }
            }
            // Normalise through the typed parser so the text compares equal to PVE's.
            let text = parts.join(",");
            let text = text.parse::<IpConfig>().map(|c| c.to_string()).unwrap_or(text);
            set(&format!("ipconfig{n}"), text, true);
        }
        let seed = (ci.mode.as_deref() == Some("iso")).then(|| into_seed(&mut v, name, vmid, ci));
        return Ok(Desired { values: v, allocations, seed });
    }
    Ok(Desired { values: v, allocations: Vec::new(), seed: None })
}

/// PVE's value for a key, normalised the way `desired_config` writes it.
fn observed_value(key: &str, g: &ObservedGuest, cfg: &QemuConfig) -> Option<String> {
    let raw = g.config.as_ref()?.get(key)?;
    let text = match raw {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match key {
        "tags" => normalize_tags(proxctl_types::wire::split_tags(&text)),
        k if k.starts_with("net") => {
            let n: u8 = k[3..].parse().ok()?;
            cfg.net.get(&n).map(|d| d.to_string()).unwrap_or(text)
        }
        k if k.starts_with("ipconfig") => {
            text.parse::<IpConfig>().map(|c| c.to_string()).unwrap_or(text)
        }
        "memory" => cfg.memory.as_ref().map(|m| m.current.to_string()).unwrap_or(text),
        "description" => text.trim_end().to_string(),
        _ => text,
    })
}

/// A wire value as a person reads it (`sshkeys` travels percent-encoded).
fn shown_value(key: &str, v: &str) -> String {
    if key == "sshkeys" {
        proxctl_types::wire::decode_sshkeys(v).unwrap_or_else(|_| v.to_string())
    } else {
        v.to_string()
    }
}

fn disk_steps(
    spec: &VmSpec,
    cfg: Option<&QemuConfig>,
    node: &str,
    vmid: u32,
    diffs: &mut Vec<FieldDiff>,
    set: &mut BTreeMap<String, String>,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (slot, d) in &spec.disks {
        let want: DiskSize = d.size.parse().map_err(|_| format!("bad size {}", d.size))?;
        let s: DriveSlot = slot.parse().map_err(|_| format!("bad disk slot {slot}"))?;
        let have = cfg.and_then(|c| c.disks.get(&s));
        match have.and_then(|h| h.size) {
            Some(cur) if cur.bytes() > want.bytes() => {
                return Err(format!(
                    "disk {slot} is {cur} and cannot shrink to {want}; raise the size or replace the VM"
                ));
            }
            Some(cur) if cur.bytes() == want.bytes() => {}
            Some(cur) => {
                diffs.push(FieldDiff {
                    field: format!("disks.{slot}.size"),
                    from: Some(cur.to_string()),
                    to: Some(want.to_string()),
                    reboot: false,
                });
                steps.push(Step::Resize {
                    node: node.into(),
                    vmid,
                    disk: slot.clone(),
                    size: want.to_string(),
                    lxc: false,
                });
            }
            None if have.is_some() => {}
            None => {
                // A disk the template lacks: allocate it on the named (or first disk's) storage.
                let storage = d.storage.clone().or_else(|| {
                    cfg.and_then(|c| {
                        c.disks
                            .values()
                            .find_map(|dr| dr.file.split_once(':').map(|(s, _)| s.to_string()))
                    })
                });
                let Some(storage) = storage else {
                    return Err(format!("disk {slot}: name a storage for it"));
                };
                let gib = want.bytes().div_ceil(1 << 30);
                diffs.push(FieldDiff {
                    field: format!("disks.{slot}"),
                    from: None,
                    to: Some(format!("{storage}, {want}")),
                    reboot: false,
                });
                set.insert(slot.clone(), format!("{storage}:{gib}"));
            }
        }
    }
    Ok(steps)
}

fn allowed_nodes(spec: &VmSpec) -> Vec<String> {
    if !spec.allowed_nodes.is_empty() {
        spec.allowed_nodes.clone()
    } else {
        spec.node.iter().cloned().collect()
    }
}

fn update_vm(
    key: &str,
    name: &str,
    spec: &VmSpec,
    g: &ObservedGuest,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    let cfg = g
        .config
        .as_ref()
        .map(QemuConfig::from_api)
        .transpose()
        .map_err(|e| format!("cannot read the config of VMID {}: {e}", g.vmid))?
        .unwrap_or_default();
    let own: Vec<u8> = cfg.net.keys().copied().collect();
    let want = desired_config(key, name, g.vmid, spec, Some(&cfg), &own, pools, ipam)?;
    let mut diffs = Vec::new();
    let mut set = BTreeMap::new();
    for (k, (val, reboot)) in &want.values {
        let have = observed_value(k, g, &cfg);
        if have.as_deref() != Some(val.as_str()) {
            let shown = |v: &str| shown_value(k, v);
            diffs.push(FieldDiff {
                field: k.clone(),
                from: have.as_deref().map(shown),
                to: Some(shown(val)),
                reboot: *reboot,
            });
            set.insert(k.clone(), val.clone());
        }
    }
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    let resize = disk_steps(spec, Some(&cfg), &g.node, g.vmid, &mut diffs, &mut set)?;
    let mut node = g.node.clone();
    let allowed = allowed_nodes(spec);
    let mut migrate = None;
    if !allowed.is_empty() && !allowed.contains(&g.node) {
        let to = spec.node.clone().unwrap_or_else(|| allowed[0].clone());
        diffs.push(FieldDiff {
            field: "node".into(),
            from: Some(g.node.clone()),
            to: Some(to.clone()),
            reboot: false,
        });
        migrate = Some(Step::Migrate {
            node: g.node.clone(),
            vmid: g.vmid,
            to: to.clone(),
            online: g.running,
        });
        node = to;
    }
    if let Some(m) = migrate {
        steps.push(m);
    }
    // A changed seed: upload the new ISO before pointing ide2 at it, drop the old one after.
    let old_seed = proxctl_types::managed::seed_iso_of(g.text("ide2"), g.vmid);
    let new_seed = want.seed.filter(|_| set.contains_key("ide2"));
    if let Some(sd) = &new_seed {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid: g.vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    if let (Some(_), Some(volid)) = (&new_seed, old_seed) {
        steps.push(Step::DeleteVolume { node: node.clone(), volid });
    }
    steps.extend(resize.into_iter().map(|s| match s {
        Step::Resize { vmid, disk, size, lxc, .. } => {
            Step::Resize { node: node.clone(), vmid, disk, size, lxc }
        }
        other => other,
    }));
    power_state(spec.start, g, &node, false, &mut diffs, &mut steps);
    if let Some(h) = &spec.ha
        && g.ha_state.as_deref() != Some(h.state.as_str())
    {
        diffs.push(FieldDiff {
            field: "ha.state".into(),
            from: g.ha_state.clone(),
            to: Some(h.state.clone()),
            reboot: false,
        });
        let sid = format!("vm:{}", g.vmid);
        steps.push(Step::HaSet { sid, state: h.state.clone(), exists: g.ha_state.is_some() });
    }
    let action = if diffs.is_empty() { Action::Noop } else { Action::Update };
    // Even with nothing to change in PVE the record is refreshed: a guest re-adopted by its
    // marker, or one that moved node, is written back to the store.
    steps.push(Step::Record {
        vmid: Some(g.vmid),
        node: Some(node.clone()),
        spec_hash: hash.into(),
    });
    Ok(Change {
        key: key.into(),
        action,
        vmid: Some(g.vmid),
        node: Some(node),
        summary: String::new(),
        diffs,
        steps,
    })
}

#[allow(clippy::too_many_arguments)] // each input is one independent fact the plan needs
fn create_vm(
    key: &str,
    name: &str,
    spec: &VmSpec,
    vmid: u32,
    obs: &Observed,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    if let Some(image) = &spec.image {
        return create_vm_from_image(key, name, spec, image, vmid, obs, hash, pools, ipam);
    }
    let wanted = spec.template.as_deref().ok_or_else(|| {
        "it does not exist yet and names no template or image to create it from; add spec.template"
            .to_string()
    })?;
    // A template by its name or VMID; else a versioned template's stable name, which means
    // its newest version (on the target node if there is one there).
    let templates = || obs.guests.iter().filter(|g| g.template && g.kind == "qemu");
    let versioned_tag = format!("tpl-{wanted}");
    let want_node = spec.node.as_deref().or(spec.allowed_nodes.first().map(String::as_str));
    let template = templates()
        .find(|g| g.name == wanted || g.vmid.to_string() == wanted)
        .or_else(|| {
            let versions: Vec<&ObservedGuest> =
                templates().filter(|g| g.tags.contains(&versioned_tag)).collect();
            // A version pinned by `template rollback` wins; else the newest (on the node).
            let rank =
                |g: &&&ObservedGuest| (g.tags.iter().any(|t| t == "tpl-pinned"), g.name.clone());
            let on_node =
                versions.iter().filter(|g| Some(g.node.as_str()) == want_node).max_by_key(rank);
            on_node.or_else(|| versions.iter().max_by_key(rank)).copied()
        })
        .ok_or_else(|| format!("no template named or numbered '{wanted}' in the cluster"))?;
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .unwrap_or_else(|| template.node.clone());
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    // Disks are sized against the template's, and its NICs are the clone's too.
    let tcfg = template.config.as_ref().and_then(|c| QemuConfig::from_api(c).ok());
    let template_nics: Vec<u8> = tcfg.iter().flat_map(|c| c.net.keys().copied()).collect();
    let want = desired_config(key, name, vmid, spec, None, &template_nics, pools, ipam)?;
    let mut diffs: Vec<FieldDiff> = want
        .values
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(shown_value(k, v)),
            reboot: false,
        })
        .collect();
    let mut set: BTreeMap<String, String> = want
        .values
        .into_iter()
        .filter(|(k, _)| k != "name" && k != "description")
        .map(|(k, (v, _))| (k, v))
        .collect();
    let resize = disk_steps(spec, tcfg.as_ref(), &node, vmid, &mut diffs, &mut set)?;
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    steps.push(Step::Clone {
        source: template.vmid,
        source_node: template.node.clone(),
        vmid,
        node: node.clone(),
        name: name.into(),
        full: spec.full_clone,
        storage: spec.storage.clone(),
        pool: spec.pool.clone(),
        description: with_resource(spec.description.as_deref().unwrap_or(""), key),
    });
    steps.push(Step::Record { vmid: Some(vmid), node: Some(node.clone()), spec_hash: hash.into() });
    if let Some(sd) = &want.seed {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    steps.extend(resize);
    let summary = format!("clone of {} ({})", template.name, template.vmid);
    Ok(finish_create(key, spec, node, vmid, diffs, steps, summary))
}

/// The end of every VM create: start it if asked, put it under HA if asked.
fn finish_create(
    key: &str,
    spec: &VmSpec,
    node: String,
    vmid: u32,
    mut diffs: Vec<FieldDiff>,
    mut steps: Vec<Step>,
    summary: String,
) -> Change {
    if spec.start == Some(true) {
        steps.push(Step::Start { node: node.clone(), vmid, lxc: false });
    }
    if let Some(h) = &spec.ha {
        diffs.push(FieldDiff {
            field: "ha.state".into(),
            from: None,
            to: Some(h.state.clone()),
            reboot: false,
        });
        steps.push(Step::HaSet {
            sid: format!("vm:{vmid}"),
            state: h.state.clone(),
            exists: false,
        });
    }
    Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(node),
        summary,
        diffs,
        steps,
    }
}

/// The container config the spec asks for, as wire values, for the keys it sets.
fn desired_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    observed: Option<&proxctl_types::config::LxcConfig>,
) -> BTreeMap<String, (String, bool)> {
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_string(), (val, false));
    };
    set("hostname", name.to_string());
    if let Some(c) = spec.cores {
        set("cores", c.to_string());
    }
    if let Some(m) = spec.memory {
        set("memory", m.to_string());
    }
    if let Some(m) = spec.swap {
        set("swap", m.to_string());
    }
    for (k, b) in [("onboot", spec.onboot), ("protection", spec.protection)] {
        if let Some(b) = b {
            set(k, if b { "1" } else { "0" }.into());
        }
    }
    let mut tags: Vec<&str> = spec.tags.iter().map(String::as_str).collect();
    tags.push(MANAGED_TAG);
    set("tags", normalize_tags(tags));
    set("description", with_resource(spec.description.as_deref().unwrap_or(""), key));
    if spec.bridge.is_some() || spec.ip.is_some() || spec.vlan.is_some() || observed.is_none() {
        // Keep what PVE has (the MAC above all) and change only what the spec names.
        let fresh = format!("name=eth0,bridge={}", spec.bridge.as_deref().unwrap_or("vmbr0"));
        let mut net = observed
            .and_then(|c| c.net.get(&0).cloned())
            .or_else(|| fresh.parse::<proxctl_types::prop::LxcNet>().ok());
        if let Some(net) = net.as_mut() {
            if let Some(b) = &spec.bridge {
                net.bridge = Some(b.clone());
            }
            if spec.vlan.is_some() {
                net.tag = spec.vlan;
            }
            if let Some(ip) = &spec.ip {
                net.ip = ip.parse().ok();
                net.gw = spec.gateway.as_deref().and_then(|g| g.parse().ok());
            }
            set("net0", net.to_string());
        }
    }
    v
}

fn observed_ct_value(
    key: &str,
    g: &ObservedGuest,
    cfg: &proxctl_types::config::LxcConfig,
) -> Option<String> {
    let raw = g.config.as_ref()?.get(key)?;
    let text = match raw {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match key {
        "tags" => normalize_tags(proxctl_types::wire::split_tags(&text)),
        "net0" => cfg.net.get(&0).map(|n| n.to_string()).unwrap_or(text),
        "description" => text.trim_end().to_string(),
        _ => text,
    })
}

fn create_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    vmid: u32,
    obs: &Observed,
    hash: &str,
) -> Result<Change, String> {
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .or_else(|| obs.nodes.first().cloned())
        .ok_or("no online node to create it on")?;
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    let storage =
        spec.storage.clone().ok_or("a new container needs spec.storage for its root disk")?;
    let size: DiskSize = spec
        .disk_size
        .as_deref()
        .unwrap_or("8G")
        .parse()
        .map_err(|_| "bad diskSize".to_string())?;
    let want = desired_ct(key, name, spec, None);
    let diffs: Vec<FieldDiff> = want
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(v.clone()),
            reboot: false,
        })
        .collect();
    let mut params: BTreeMap<String, String> = want.into_iter().map(|(k, (v, _))| (k, v)).collect();
    params.insert("ostemplate".into(), spec.ostemplate.clone());
    params.insert("rootfs".into(), format!("{storage}:{}", size.bytes().div_ceil(1 << 30)));
    let unprivileged = if spec.unprivileged.unwrap_or(true) { "1" } else { "0" };
    params.insert("unprivileged".into(), unprivileged.into());
    let mut steps = vec![
        Step::CreateCt { node: node.clone(), vmid, params },
        Step::Record { vmid: Some(vmid), node: Some(node.clone()), spec_hash: hash.into() },
    ];
    if spec.start == Some(true) {
        steps.push(Step::Start { node: node.clone(), vmid, lxc: true });
    }
    Ok(Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(node),
        summary: format!("from {}", spec.ostemplate),
        diffs,
        steps,
    })
}

fn update_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    g: &ObservedGuest,
    hash: &str,
) -> Result<Change, String> {
    let cfg = g
        .config
        .as_ref()
        .map(proxctl_types::config::LxcConfig::from_api)
        .transpose()
        .map_err(|e| format!("cannot read the config of CT {}: {e}", g.vmid))?
        .unwrap_or_default();
    // Privileged or not is fixed at creation: changing it means a new container.
    let have_unpriv = cfg.unprivileged.unwrap_or(false);
    if let Some(want) = spec.unprivileged.filter(|w| *w != have_unpriv) {
        return replace_ct(key, name, spec, g, hash, have_unpriv, want);
    }
    let mut diffs = Vec::new();
    let mut set = BTreeMap::new();
    for (k, (val, reboot)) in desired_ct(key, name, spec, Some(&cfg)) {
        let have = observed_ct_value(&k, g, &cfg);
        if have.as_deref() != Some(val.as_str()) {
            diffs.push(FieldDiff { field: k.clone(), from: have, to: Some(val.clone()), reboot });
            set.insert(k, val);
        }
    }
    let node = g.node.clone();
    let mut steps = Vec::new();
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid: g.vmid,
            set,
            delete: Vec::new(),
            lxc: true,
        });
    }
    if let Some(want) = spec.disk_size.as_deref() {
        let want: DiskSize = want.parse().map_err(|_| format!("bad diskSize {want}"))?;
        match cfg.rootfs.as_ref().and_then(|r| r.size) {
            Some(cur) if cur.bytes() > want.bytes() => {
                return Err(format!("rootfs is {cur} and cannot shrink to {want}"));
            }
            Some(cur) if cur.bytes() < want.bytes() => {
                diffs.push(FieldDiff {
                    field: "diskSize".into(),
                    from: Some(cur.to_string()),
                    to: Some(want.to_string()),
                    reboot: false,
                });
                steps.push(Step::Resize {
                    node: node.clone(),
                    vmid: g.vmid,
                    disk: "rootfs".into(),
                    size: want.to_string(),
                    lxc: true,
                });
            }
            _ => {}
        }
    }
    power_state(spec.start, g, &node, true, &mut diffs, &mut steps);
    let action = if diffs.is_empty() { Action::Noop } else { Action::Update };
    steps.push(Step::Record {
        vmid: Some(g.vmid),
        node: Some(node.clone()),
        spec_hash: hash.into(),
    });
    Ok(Change {
        key: key.into(),
        action,
        vmid: Some(g.vmid),
        node: Some(node),
        summary: String::new(),
        diffs,
        steps,
    })
}

/// Start or shut down a guest whose running state differs from `start`.
fn power_state(
    start: Option<bool>,
    g: &ObservedGuest,
    node: &str,
    lxc: bool,
    diffs: &mut Vec<FieldDiff>,
    steps: &mut Vec<Step>,
) {
    let (from, to, step) = match start {
        Some(true) if !g.running => {
            ("stopped", "running", Step::Start { node: node.into(), vmid: g.vmid, lxc })
        }
        Some(false) if g.running => {
            ("running", "stopped", Step::Shutdown { node: node.into(), vmid: g.vmid, lxc })
        }
        _ => return,
    };
    diffs.push(FieldDiff {
        field: "state".into(),
        from: Some(from.into()),
        to: Some(to.into()),
        reboot: false,
    });
    steps.push(step);
}

/// A Template resource: nothing to do when some version exists (rebuilds are explicit, since
/// only the network can tell whether upstream changed); otherwise a build with its VMID
/// decided now, and a stand-in for the future template that VMs in this plan can clone.
fn plan_template(
    key: &str,
    name: &str,
    spec: &crate::manifest::TemplateSpec,
    input: &PlanInput<'_>,
    vmids: &mut Vmids,
) -> Result<(Change, Option<ObservedGuest>), String> {
    let tag = format!("tpl-{name}");
    let newest = input
        .observed
        .guests
        .iter()
        .filter(|g| g.template && g.tags.contains(&tag))
        .max_by(|a, b| a.name.cmp(&b.name));
    if let Some(g) = newest {
        let change = Change {
            key: key.into(),
            action: Action::Noop,
            vmid: Some(g.vmid),
            node: Some(g.node.clone()),
            summary: format!(
                "version {} exists; `proxctl template rebuild` checks upstream",
                g.name
            ),
            diffs: Vec::new(),
            steps: Vec::new(),
        };
        return Ok((change, None));
    }
    let catalog = input.catalog.ok_or("no image catalog was given to the planner")?;
    let entry = catalog.get(&spec.image).ok_or_else(|| {
        format!("image '{}' is not in the catalog; see `proxctl image list`", spec.image)
    })?;
    if !input.observed.nodes.is_empty() && !input.observed.nodes.contains(&spec.node) {
        return Err(format!("node {} is not online", spec.node));
    }
    let vmid = vmids.take_from(proxctl_types::ids::TEMPLATE_VMID_FLOOR);
    let vm_storage = spec.vm_storage.clone().unwrap_or_else(|| "local-lvm".into());
    let size = spec.disk_size.clone().unwrap_or_else(|| entry.disk_size.clone());
    let mut config = proxctl_types::api::GuestConfig::new();
    config.insert(
        "scsi0".into(),
        serde_json::json!(format!("{vm_storage}:base-{vmid}-disk-0,size={size}")),
    );
    let stand_in = ObservedGuest {
        vmid,
        node: spec.node.clone(),
        kind: "qemu".into(),
        name: name.into(),
        template: true,
        running: false,
        tags: vec![tag],
        pool: None,
        ha_state: None,
        config: Some(config),
    };
    let change = Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(spec.node.clone()),
        summary: format!("build from {} ({} {})", entry.id, entry.distro, entry.version),
        diffs: vec![FieldDiff {
            field: "image".into(),
            from: None,
            to: Some(entry.id.clone()),
            reboot: false,
        }],
        steps: vec![Step::BuildTemplate {
            name: name.into(),
            vmid,
            node: spec.node.clone(),
            entry: Box::new(entry.clone()),
            storage: spec.storage.clone().unwrap_or_else(|| "local".into()),
            vm_storage,
            disk_size: spec.disk_size.clone(),
            keep: spec.keep.unwrap_or(3),
        }],
    };
    Ok((change, Some(stand_in)))
}

/// Destroy and recreate a container under the same VMID, for a change PVE cannot make in
/// place. Its data is lost, which the plan says (`-/+ replace`) and apply confirms.
fn replace_ct(
    key: &str,
    name: &str,
    spec: &crate::manifest::CtSpec,
    g: &ObservedGuest,
    hash: &str,
    from: bool,
    to: bool,
) -> Result<Change, String> {
    let obs = Observed { guests: Vec::new(), nodes: vec![g.node.clone()], next_vmid: 0 };
    let mut create = create_ct(key, name, spec, g.vmid, &obs, hash)?;
    let mut steps = Vec::new();
    if g.running {
        steps.push(Step::Shutdown { node: g.node.clone(), vmid: g.vmid, lxc: true });
    }
    steps.push(Step::Destroy { node: g.node.clone(), vmid: g.vmid, lxc: true });
    steps.append(&mut create.steps);
    Ok(Change {
        key: key.into(),
        action: Action::Replace,
        vmid: Some(g.vmid),
        node: Some(g.node.clone()),
        summary: "unprivileged is fixed at creation; the container is destroyed and created again (its data is lost)".into(),
        diffs: vec![FieldDiff {
            field: "unprivileged".into(),
            from: Some(u8::from(from).to_string()),
            to: Some(u8::from(to).to_string()),
            reboot: false,
        }],
        steps,
    })
}

/// A VM created directly from an `import` volume: PVE imports the image as `scsi0`, and the
/// VM gets what a template build gives (cloud-init drive, serial console, agent, boot order)
/// plus the spec's settings, in one create call.
#[allow(clippy::too_many_arguments)] // the same inputs as create_vm
fn create_vm_from_image(
    key: &str,
    name: &str,
    spec: &VmSpec,
    image: &str,
    vmid: u32,
    obs: &Observed,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .or_else(|| obs.nodes.first().cloned())
        .ok_or("no online node to create it on")?;
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    let storage = spec.storage.clone().unwrap_or_else(|| "local-lvm".into());
    let want = desired_config(key, name, vmid, spec, None, &[], pools, ipam)?;
    let diffs: Vec<FieldDiff> = want
        .values
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(shown_value(k, v)),
            reboot: false,
        })
        .collect();
    let mut params: BTreeMap<String, String> =
        want.values.into_iter().map(|(k, (v, _))| (k, v)).collect();
    params.insert("scsi0".into(), format!("{storage}:0,import-from={image},iothread=1"));
    params.insert("scsihw".into(), "virtio-scsi-single".into());
    // A seed ISO is attached after the VM exists (below), so a crash in between leaves a VM
    // the next plan finishes, never an ISO nobody owns.
    let seed_ide2 = if want.seed.is_some() {
        params.remove("ide2")
    } else {
        params.entry("ide2".into()).or_insert_with(|| format!("{storage}:cloudinit,media=cdrom"));
        None
    };
    params.insert("serial0".into(), "socket".into());
    params.insert("vga".into(), "serial0".into());
    params.insert("boot".into(), "order=scsi0".into());
    params.insert("agent".into(), "1".into());
    params.entry("net0".into()).or_insert_with(|| "virtio,bridge=vmbr0".into());
    if let Some(p) = &spec.pool {
        params.insert("pool".into(), p.clone());
    }
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    steps.push(Step::CreateVm { node: node.clone(), vmid, params });
    steps.push(Step::Record { vmid: Some(vmid), node: Some(node.clone()), spec_hash: hash.into() });
    if let (Some(sd), Some(ide2)) = (&want.seed, seed_ide2) {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set: [("ide2".to_string(), ide2)].into(),
            delete: Vec::new(),
            lxc: false,
        });
    }
    let mut diffs = diffs;
    let mut set = BTreeMap::new();
    // The imported disk has the image's size; grow it to what the spec asks.
    for (slot, d) in &spec.disks {
        if slot == "scsi0" {
            let size: DiskSize = d.size.parse().map_err(|_| format!("bad size {}", d.size))?;
            diffs.push(FieldDiff {
                field: "disks.scsi0.size".into(),
                from: None,
                to: Some(size.to_string()),
                reboot: false,
            });
            steps.push(Step::Resize {
                node: node.clone(),
                vmid,
                disk: "scsi0".into(),
                size: size.to_string(),
                lxc: false,
            });
        } else {
            let other = disk_steps(
                &VmSpec { disks: [(slot.clone(), d.clone())].into(), ..spec.clone() },
                None,
                &node,
                vmid,
                &mut diffs,
                &mut set,
            )?;
            steps.extend(other);
        }
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    Ok(finish_create(key, spec, node, vmid, diffs, steps, format!("from image {image}")))
}
