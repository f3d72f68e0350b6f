//! The simulated cluster: nodes, storages and volumes, guests, tasks, locks, HA and SDN. One
//! `World` value behind one mutex; handlers and the task engine mutate it synchronously.

mod guest;
mod ha;
mod network;
mod notify;
mod storage;

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use guest::{Guest, RunState, Snapshot};
pub use ha::{HaConfig, HaGroup, HaResource, HaRule, node_priorities};
pub use network::{Iface, NodeNet, diff as net_diff, render as render_interfaces};
pub use notify::{Notifications, NotifyEntry, Sent};
pub use storage::{StorageDef, Volume};

use crate::clock::SimMillis;
use crate::faults::Faults;
use crate::lock::Locks;
use crate::task::Task;

/// What a console ticket opens on `vncwebsocket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKind {
    /// `termproxy`: PVE's terminal protocol.
    Term,
    /// `vncproxy`: RFB.
    Vnc,
}

/// A cluster node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub ip: String,
    pub cpus: u32,
    pub memory: u64,
    pub online: bool,
    pub bridges: Vec<String>,
    /// The UPID `pstart` of this node's daemon (clock ticks since boot).
    pub pstart: u64,
    pub boot_time: u64,
    /// The zone local time is reckoned in (`GET /nodes/{node}/time`).
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdnZone {
    pub zone: String,
    pub zone_type: String,
    pub bridge: Option<String>,
    /// The rest of its configuration (`nodes`, `mtu`, `ipam`, `peers`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdnVnet {
    pub vnet: String,
    pub zone: String,
    pub tag: Option<u32>,
    /// `alias`, `vlanaware`, `isolate-ports`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// A subnet of a vnet; its id is `<zone>-<address>-<prefix>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdnSubnet {
    pub id: String,
    pub vnet: String,
    pub cidr: String,
    /// `gateway`, `snat`, `dhcp-range`, `dnszoneprefix`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The SDN configuration as last applied (`PUT /cluster/sdn`); edits are pending until then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SdnApplied {
    pub zones: Vec<SdnZone>,
    pub vnets: Vec<SdnVnet>,
    pub subnets: Vec<SdnSubnet>,
}

/// Counters the control API exposes (per route pattern), for benchmarks to count API calls.
pub type Counters = BTreeMap<String, u64>;

#[derive(Serialize, Deserialize)]
pub struct World {
    pub now: SimMillis,
    pub seed: u64,
    #[serde(skip, default = "default_rng")]
    pub rng: ChaCha8Rng,
    pub cluster_name: String,
    pub nodes: BTreeMap<String, Node>,
    pub storages: BTreeMap<String, StorageDef>,
    /// Volumes by volid; local volumes are per node, so the key is `(node or "", volid)`.
    #[serde(with = "pairs")]
    pub volumes: BTreeMap<(String, String), Volume>,
    pub guests: BTreeMap<u32, Guest>,
    pub tasks: Vec<Task>,
    /// No task before this index runs: where scans for running tasks start (tasks are only
    /// ever appended, and a stopped task never runs again).
    #[serde(skip)]
    pub scan_from: usize,
    #[serde(skip)]
    pub locks: Locks,
    pub ha: BTreeMap<String, HaResource>,
    #[serde(default)]
    pub ha_config: HaConfig,
    /// Nodes whose network was edited; the others have `NodeNet::default_for`.
    #[serde(default)]
    pub node_net: BTreeMap<String, NodeNet>,
    #[serde(default)]
    pub notifications: Notifications,
    /// Console tickets handed out: `<acl path>:<port>` to the console they open.
    #[serde(skip)]
    pub consoles: BTreeMap<String, ConsoleKind>,
    /// When the CRM runs its next round; `None` while it has nothing to do.
    #[serde(default)]
    pub ha_due: Option<SimMillis>,
    pub sdn_zones: Vec<SdnZone>,
    pub sdn_vnets: Vec<SdnVnet>,
    #[serde(default)]
    pub sdn_subnets: Vec<SdnSubnet>,
    /// The running SDN configuration; `None` until the first edit (the same as the edited).
    #[serde(default)]
    pub sdn_running: Option<SdnApplied>,
    /// The global SDN lock's token, while someone holds it.
    #[serde(default)]
    pub sdn_lock: Option<String>,
    /// Datacenter backup jobs (`/cluster/backup`), by id: their settings as PVE stores them.
    #[serde(default)]
    pub backup_jobs: BTreeMap<String, BTreeMap<String, String>>,
    /// Subscriptions by node; a node without one reports `notfound`.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, proxctl_types::api::Subscription>,
    /// Storage replication jobs with their state, listed by their source node.
    #[serde(default)]
    pub replication: Vec<proxctl_types::api::ReplicationJob>,
    /// The cluster's QDevice, as corosync reports it; none by default.
    #[serde(default)]
    pub qdevice: Option<proxctl_types::api::QDevice>,
    /// Firewalls by scope (`cluster`, `node/<name>`, `guest/<vmid>`).
    #[serde(default)]
    pub firewall: BTreeMap<String, crate::routes::firewall::Firewall>,
    /// Resource pools by id.
    #[serde(default)]
    pub pools: BTreeMap<String, crate::routes::pools::Pool>,
    /// Users, groups, custom roles, their API tokens and ACLs.
    #[serde(default)]
    pub access: crate::routes::users::Access,
    pub faults: Faults,
    pub quorate: bool,
    pub next_pid: u32,
    pub next_task_id: u64,
    /// Simulated download bandwidth for download-url, bytes per second.
    pub bandwidth: u64,
    /// Simulated full-clone copy rate, bytes per second.
    pub copy_rate: u64,
    /// How `cloud-init status --wait` answers inside guests: true = done, false = error.
    pub cloud_init_ok: bool,
    /// Model pvestatd's 10 s RRD cycle in `/cluster/resources` (§9): guest status and names
    /// there are as of the last cycle, and new guests show as `unknown`.
    #[serde(default)]
    pub resources_lag: bool,
    /// The last RRD snapshot: vmid → (status, name, template), and when it was taken.
    #[serde(skip)]
    pub rrd: BTreeMap<u32, (String, String, bool)>,
    #[serde(skip)]
    pub rrd_at: Option<SimMillis>,
}

/// pvestatd broadcasts every 10 s.
pub const RRD_CYCLE_MS: u64 = 10_000;

/// JSON object keys must be strings, so tuple-keyed maps are stored as lists of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize + Ord, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

fn default_rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("guests", &self.guests.len())
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

pub const GIB: u64 = 1024 * 1024 * 1024;

/// A node name of this world as the typed id. World node names are validated where they enter
/// (`World::new` makes `pve`/`pveN`, scenarios check theirs), so this cannot fail.
#[allow(clippy::expect_used)]
pub fn node_name(n: &str) -> proxctl_types::NodeName {
    proxctl_types::NodeName::new(n).expect("world node names are validated on entry")
}

/// A guest id of this world as the typed id. Guest ids are validated where they enter (API
/// parameters, scenarios), so this cannot fail.
#[allow(clippy::expect_used)]
pub fn vm_id(id: u32) -> proxctl_types::VmId {
    proxctl_types::VmId::new(id).expect("world guest ids are validated on entry")
}

impl World {
    /// A fresh cluster of `nodes` nodes named `pve1..pveN` (or `pve` for one node).
    pub fn new(nodes: usize, seed: u64, now: SimMillis) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut map = BTreeMap::new();
        let n = nodes.max(1);
        for i in 1..=n {
            let name = if n == 1 { "pve".to_string() } else { format!("pve{i}") };
            map.insert(
                name.clone(),
                Node {
                    ip: format!("10.0.0.{}", 10 + i),
                    name,
                    cpus: 16,
                    memory: 64 * GIB,
                    online: true,
                    bridges: vec!["vmbr0".into(), "vmbr1".into()],
                    pstart: rng.random_range(0x0100_0000..0x0FFF_FFFF),
                    boot_time: now / 1000 - 86_400,
                    timezone: utc(),
                },
            );
        }
        let mut storages = BTreeMap::new();
        for s in StorageDef::defaults() {
            storages.insert(s.id.clone(), s);
        }
        let next_pid = rng.random_range(0x1000..0x40000);
        Self {
            now,
            seed,
            rng,
            cluster_name: "simcluster".into(),
            nodes: map,
            storages,
            volumes: BTreeMap::new(),
            guests: BTreeMap::new(),
            tasks: Vec::new(),
            locks: Locks::default(),
            ha: BTreeMap::new(),
            ha_config: HaConfig::default(),
            node_net: BTreeMap::new(),
            notifications: Notifications::default(),
            consoles: BTreeMap::new(),
            ha_due: None,
            sdn_zones: vec![SdnZone {
                zone: "localnet".into(),
                zone_type: "simple".into(),
                bridge: None,
                options: BTreeMap::new(),
            }],
            sdn_vnets: vec![SdnVnet {
                vnet: "vnet0".into(),
                zone: "localnet".into(),
                tag: None,
                options: BTreeMap::new(),
            }],
            sdn_subnets: Vec::new(),
            sdn_running: None,
            sdn_lock: None,
            backup_jobs: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            replication: Vec::new(),
            qdevice: None,
            pools: BTreeMap::new(),
            firewall: BTreeMap::new(),
            access: Default::default(),
            faults: Faults::default(),
            quorate: true,
            next_pid,
            next_task_id: 1,
            scan_from: 0,
            bandwidth: 100 * 1024 * 1024,
            copy_rate: 500 * 1024 * 1024,
            cloud_init_ok: true,
            resources_lag: false,
            rrd: BTreeMap::new(),
            rrd_at: None,
        }
    }

    /// Take the RRD snapshot if a 10 s cycle boundary lies at or before `upto` and after the
    /// last snapshot. Called as simulated time moves, before events at `upto` run.
    pub fn rrd_tick(&mut self, upto: SimMillis) {
        if !self.resources_lag {
            return;
        }
        let cycle = upto / RRD_CYCLE_MS * RRD_CYCLE_MS;
        if self.rrd_at.is_some_and(|at| at >= cycle) {
            return;
        }
        self.rrd_at = Some(cycle);
        self.rrd = self
            .guests
            .values()
            .map(|g| {
                let status = match g.run {
                    RunState::Running => "running",
                    RunState::Paused => "paused",
                    RunState::Stopped => "stopped",
                };
                let name = g.name().map(String::from).unwrap_or_default();
                (g.vmid, (status.to_string(), name, g.is_template()))
            })
            .collect();
    }

    /// Re-seed the random source after loading persisted state.
    pub fn reseed(&mut self) {
        self.rng = ChaCha8Rng::seed_from_u64(self.seed ^ self.now);
    }

    pub fn now_secs(&self) -> u64 {
        self.now / 1000
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    pub fn first_node(&self) -> String {
        self.nodes.keys().next().cloned().unwrap_or_else(|| "pve".into())
    }

    /// A MAC in the Proxmox OUI, `BC:24:11:XX:XX:XX`.
    pub fn random_mac(&mut self) -> String {
        let b: [u8; 3] = self.rng.random();
        format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
    }

    /// Whether a node is up: online in the scenario and not taken down by a fault.
    pub fn node_online(&self, node: &str) -> bool {
        self.nodes.get(node).is_some_and(|n| n.online)
            && !self.faults.offline_nodes.iter().any(|n| n == node)
    }

    /// Quorum as corosync computes it: more than half of the nodes' votes (one each) are
    /// online, unless the control API took it away.
    pub fn is_quorate(&self) -> bool {
        let online = self.nodes.keys().filter(|n| self.node_online(n)).count();
        self.quorate && online * 2 > self.nodes.len()
    }

    pub fn random_uuid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h = hex::encode(b);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    pub fn random_hex(&mut self, bytes: usize) -> String {
        let v: Vec<u8> = (0..bytes).map(|_| self.rng.random()).collect();
        hex::encode(v)
    }

    /// Whether `vmid` exists anywhere in the cluster.
    pub fn vmid_taken(&self, vmid: u32) -> bool {
        self.guests.contains_key(&vmid)
    }
}
