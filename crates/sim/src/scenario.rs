//! Scenarios: a YAML file that seeds nodes, storages, images and guests (`--scenario`), and the
//! defaults every simulator starts with. The format is documented in docs/simulator.md.

use std::collections::BTreeMap;

use proxctl_types::messages::GuestKind;
use proxctl_types::prop::{Drive, DriveSlot};
use serde::Deserialize;

use crate::faults::Faults;
use crate::routes::common::insert_volume;
use crate::state::{GIB, Guest, Node, RunState, StorageDef, World};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub nodes: Vec<ScenarioNode>,
    #[serde(default)]
    pub storages: Vec<ScenarioStorage>,
    #[serde(default)]
    pub images: Vec<ScenarioImage>,
    #[serde(default)]
    pub guests: Vec<ScenarioGuest>,
    #[serde(default)]
    pub cloud_init_ok: Option<bool>,
    #[serde(default)]
    pub bandwidth_mib_s: Option<u64>,
    #[serde(default)]
    pub faults: Option<Faults>,
    /// HA-managed guests: `{sid: "vm:100", state: started}`.
    #[serde(default)]
    pub ha: Vec<ScenarioHa>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioHa {
    pub sid: String,
    #[serde(default = "default_ha_state")]
    pub state: String,
}

fn default_ha_state() -> String {
    "started".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioNode {
    pub name: String,
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    #[serde(default = "default_mem")]
    pub memory_gib: u64,
    #[serde(default = "default_bridges")]
    pub bridges: Vec<String>,
    #[serde(default = "yes")]
    pub online: bool,
    /// e.g. `Europe/Berlin`; default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
}

fn default_cpus() -> u32 {
    16
}
fn default_mem() -> u64 {
    64
}
fn default_bridges() -> Vec<String> {
    vec!["vmbr0".into()]
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStorage {
    pub id: String,
    #[serde(rename = "type")]
    pub storage_type: String,
    pub content: Vec<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default = "default_total")]
    pub total_gib: u64,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub alloc_ms: Option<u64>,
}

fn default_total() -> u64 {
    500
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioImage {
    /// e.g. `local:import/debian-12.qcow2` or `local:iso/x.iso`.
    pub volid: String,
    /// Only on this node (all nodes when omitted; shared storages ignore it).
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default = "default_image_mib")]
    pub size_mib: u64,
    #[serde(default)]
    pub sha256: Option<String>,
}

fn default_image_mib() -> u64 {
    2048
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioGuest {
    pub vmid: u32,
    #[serde(default = "default_kind")]
    pub kind: GuestKind,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub running: bool,
    /// Config keys as PVE stores them; disk volumes that do not exist are created.
    #[serde(default)]
    pub config: BTreeMap<String, serde_yaml_ng::Value>,
}

fn default_kind() -> GuestKind {
    GuestKind::Qemu
}

impl Scenario {
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_yaml_ng::from_str(text).map_err(|e| format!("scenario is not valid: {e}"))
    }

    pub fn apply(&self, w: &mut World) -> Result<(), String> {
        if !self.nodes.is_empty() {
            let boot = w.now / 1000 - 86_400;
            let pstart = w.nodes.values().next().map_or(0x0100_0000, |n| n.pstart);
            w.nodes.clear();
            for (i, n) in self.nodes.iter().enumerate() {
                proxctl_types::NodeName::new(n.name.as_str()).map_err(|e| e.to_string())?;
                w.nodes.insert(
                    n.name.clone(),
                    Node {
                        name: n.name.clone(),
                        ip: format!("10.0.0.{}", 11 + i),
                        cpus: n.cpus,
                        memory: n.memory_gib * GIB,
                        online: n.online,
                        bridges: n.bridges.clone(),
                        pstart: pstart + i as u64 * 977,
                        boot_time: boot,
                        timezone: n.timezone.clone().unwrap_or_else(|| "UTC".into()),
                    },
                );
            }
            w.volumes.clear();
            seed_defaults(w);
        }
        for s in &self.storages {
            w.storages.insert(
                s.id.clone(),
                StorageDef {
                    id: s.id.clone(),
                    storage_type: s.storage_type.clone(),
                    content: s.content.clone(),
                    shared: s.shared,
                    total: s.total_gib * GIB,
                    path: s.path.clone(),
                    alloc_ms: s.alloc_ms.unwrap_or(50),
                    options: Default::default(),
                },
            );
        }
        for img in &self.images {
            let (store, volname) = img
                .volid
                .split_once(':')
                .ok_or_else(|| format!("image '{}' is not a volume ID", img.volid))?;
            let def = w
                .storages
                .get(store)
                .cloned()
                .ok_or_else(|| format!("image '{}': no storage '{store}'", img.volid))?;
            let content = volname.split('/').next().unwrap_or("import").to_string();
            let fmt = volname.rsplit('.').next().unwrap_or("raw").to_string();
            let nodes: Vec<String> = match &img.node {
                Some(n) => vec![n.clone()],
                None => w.nodes.keys().cloned().collect(),
            };
            for n in nodes {
                insert_volume(
                    w,
                    &def.scope(&n),
                    &img.volid,
                    store,
                    &content,
                    &fmt,
                    img.size_mib * 1024 * 1024,
                    None,
                );
                if let Some(v) = w.volumes.get_mut(&(def.scope(&n), img.volid.clone())) {
                    v.sha256 = img.sha256.clone();
                }
            }
        }
        for g in &self.guests {
            let node = g.node.clone().unwrap_or_else(|| w.first_node());
            if !w.nodes.contains_key(&node) {
                return Err(format!("guest {}: no node '{node}'", g.vmid));
            }
            proxctl_types::VmId::new(g.vmid).map_err(|e| format!("guest {}: {e}", g.vmid))?;
            if w.guests.contains_key(&g.vmid) {
                return Err(format!("guest {} is defined twice", g.vmid));
            }
            let mut guest = Guest::new(g.vmid, g.kind, &node);
            for (k, v) in &g.config {
                let text = match v {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    serde_yaml_ng::Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                    other => serde_yaml_ng::to_string(other)
                        .map_err(|e| e.to_string())?
                        .trim()
                        .to_string(),
                };
                guest.conf.insert(k.clone(), text);
            }
            // Disks that name volumes which do not exist yet are created with their size.
            for (k, v) in guest.conf.clone() {
                let is_disk =
                    k.parse::<DriveSlot>().is_ok() || k == "rootfs" || k.starts_with("mp");
                let Ok(d) = v.parse::<Drive>() else { continue };
                if !is_disk || !d.file.contains(':') || d.is_cdrom() {
                    continue;
                }
                let store = d.file.split(':').next().unwrap_or("");
                let Some(def) = w.storages.get(store).cloned() else {
                    continue;
                };
                let size = d.size.map_or(8 * GIB, |s| s.bytes());
                let content = if g.kind == GuestKind::Lxc { "rootdir" } else { "images" };
                insert_volume(
                    w,
                    &def.scope(&node),
                    &d.file,
                    store,
                    content,
                    "raw",
                    size,
                    Some(g.vmid),
                );
            }
            if g.running {
                guest.run = RunState::Running;
                guest.started_at = w.now / 1000;
            }
            w.guests.insert(g.vmid, guest);
        }
        if let Some(ok) = self.cloud_init_ok {
            w.cloud_init_ok = ok;
        }
        if let Some(b) = self.bandwidth_mib_s {
            w.bandwidth = b * 1024 * 1024;
        }
        if let Some(f) = &self.faults {
            w.faults = f.clone();
        }
        for h in &self.ha {
            let id = h
                .sid
                .strip_prefix("vm:")
                .or_else(|| h.sid.strip_prefix("ct:"))
                .and_then(|i| i.parse::<u32>().ok());
            if !id.is_some_and(|i| w.guests.contains_key(&i)) {
                return Err(format!("HA resource '{}' names no guest of this scenario", h.sid));
            }
            let mut r = crate::state::HaResource::new(h.sid.clone(), h.state.clone());
            // A seeded service already in its requested state starts out settled; any other
            // is queued, and the CRM's first round brings it there.
            let running = id.and_then(|i| w.guests.get(&i)).is_some_and(|g| g.is_running());
            r.crm = match (h.state.as_str(), running) {
                ("started", true) => "started".into(),
                ("stopped" | "disabled", false) => "stopped".into(),
                ("ignored", _) => "ignored".into(),
                _ => String::new(),
            };
            w.ha.insert(h.sid.clone(), r);
        }
        crate::ha::wake(w);
        Ok(())
    }
}

/// What every simulated node has out of the box: a Debian cloud image in `local:import`, an
/// ISO, and a container template.
pub fn seed_defaults(w: &mut World) {
    let nodes: Vec<String> = w.nodes.keys().cloned().collect();
    for n in nodes {
        insert_volume(
            w,
            &n,
            "local:import/debian-12-genericcloud-amd64.qcow2",
            "local",
            "import",
            "qcow2",
            2 * GIB,
            None,
        );
        insert_volume(
            w,
            &n,
            "local:iso/debian-12.7.0-amd64-netinst.iso",
            "local",
            "iso",
            "iso",
            631 * 1024 * 1024,
            None,
        );
        insert_volume(
            w,
            &n,
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "local",
            "vztmpl",
            "tzst",
            120 * 1024 * 1024,
            None,
        );
    }
}

/// Add `count` QEMU guests spread round-robin over the nodes (benchmarks, scale tests). Every
/// fifth one runs; each has a 32 GiB disk and a NIC, as a typical fleet would.
pub fn bulk_guests(w: &mut World, count: usize) {
    let nodes: Vec<String> = w.nodes.keys().cloned().collect();
    if nodes.is_empty() {
        return;
    }
    let first = w.guests.keys().next_back().map_or(100, |m| m + 1);
    for (i, vmid) in (first..).take(count).enumerate() {
        let node = &nodes[i % nodes.len()];
        let mut g = Guest::new(vmid, GuestKind::Qemu, node);
        let mac = w.random_mac();
        g.conf.insert("name".into(), format!("vm-{vmid}"));
        g.conf.insert("memory".into(), "2048".into());
        g.conf.insert("cores".into(), "2".into());
        g.conf.insert("scsi0".into(), format!("local-lvm:vm-{vmid}-disk-0,size=32G"));
        g.conf.insert("net0".into(), format!("virtio={mac},bridge=vmbr0"));
        g.conf.insert("tags".into(), if i % 2 == 0 { "env-prod;web" } else { "env-dev" }.into());
        if i % 5 == 0 {
            g.run = RunState::Running;
            g.started_at = w.now / 1000;
        }
        w.guests.insert(vmid, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_seeds_nodes_images_and_a_template() {
        let s = Scenario::from_yaml(
            r#"
nodes:
  - name: alpha
  - name: beta
images:
  - volid: local:import/ubuntu.qcow2
    size_mib: 1024
guests:
  - vmid: 9000
    node: alpha
    config:
      name: tpl
      template: true
      scsi0: local-lvm:base-9000-disk-0,size=2G
"#,
        )
        .unwrap();
        let mut w = World::new(1, 1, crate::MANUAL_EPOCH_MS);
        s.apply(&mut w).unwrap();
        assert_eq!(w.nodes.keys().collect::<Vec<_>>(), ["alpha", "beta"]);
        assert!(w.guests[&9000].is_template());
        assert!(w.volumes.contains_key(&("alpha".into(), "local-lvm:base-9000-disk-0".into())));
        assert!(w.volumes.contains_key(&("beta".into(), "local:import/ubuntu.qcow2".into())));
    }

    #[test]
    fn bulk_guests_spread_over_all_nodes() {
        let mut w = World::new(10, 1, crate::MANUAL_EPOCH_MS);
        bulk_guests(&mut w, 5_000);
        assert_eq!(w.guests.len(), 5_000);
        assert_eq!(w.guests.values().filter(|g| g.node == "pve3").count(), 500);
    }

    #[test]
    fn unknown_scenario_keys_are_rejected() {
        assert!(Scenario::from_yaml("nodez: []").is_err());
    }
}
