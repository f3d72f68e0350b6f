//! A guest (QEMU VM or LXC container): its config as PVE stores it (raw strings, a `[PENDING]`
//! section and snapshot sections), run state, and how GET `config` types its values (§5.3).

use std::collections::BTreeMap;

use proxctl_types::messages::GuestKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha1::{Digest as _, Sha1};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    Stopped,
    Running,
    Paused,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub config: BTreeMap<String, String>,
    pub snaptime: u64,
    pub description: String,
    pub parent: Option<String>,
    pub vmstate: bool,
    /// `prepare` while the snapshot task runs.
    pub snapstate: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guest {
    pub vmid: u32,
    pub kind: GuestKind,
    pub node: String,
    pub conf: BTreeMap<String, String>,
    pub pending: BTreeMap<String, String>,
    /// Pending deletes; `true` marks a forced delete (`!key`).
    pub pending_delete: BTreeMap<String, bool>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub run: RunState,
    pub started_at: u64,
    pub pid: u32,
    /// Cloud-init values as last rendered into the drive (for `GET .../cloudinit`).
    pub ci_generated: BTreeMap<String, String>,
    /// Guest-agent exec results by pid: (exit code, stdout).
    pub agent_exec: BTreeMap<u64, (i64, String)>,
}

/// Keys whose GET-config JSON value is a number (integers and 0/1 booleans).
const QEMU_NUMERIC: &[&str] = &[
    "cores",
    "sockets",
    "vcpus",
    "balloon",
    "cpuunits",
    "shares",
    "migrate_speed",
    "onboot",
    "numa",
    "template",
    "protection",
    "acpi",
    "kvm",
    "tablet",
    "localtime",
    "reboot",
    "freeze",
    "ciupgrade",
    "autostart",
    "keephugepages",
];
const LXC_NUMERIC: &[&str] = &[
    "memory",
    "swap",
    "cores",
    "cpuunits",
    "onboot",
    "protection",
    "template",
    "unprivileged",
    "console",
    "tty",
    "debug",
];

impl Guest {
    pub fn new(vmid: u32, kind: GuestKind, node: &str) -> Self {
        Self {
            vmid,
            kind,
            node: node.to_string(),
            conf: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_delete: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            run: RunState::Stopped,
            started_at: 0,
            pid: 0,
            ci_generated: BTreeMap::new(),
            agent_exec: BTreeMap::new(),
        }
    }

    pub fn lock(&self) -> Option<&str> {
        self.conf.get("lock").map(String::as_str)
    }

    pub fn is_template(&self) -> bool {
        self.conf.get("template").is_some_and(|v| v == "1")
    }

    pub fn is_running(&self) -> bool {
        self.run != RunState::Stopped
    }

    pub fn name(&self) -> Option<&str> {
        match self.kind {
            GuestKind::Qemu => self.conf.get("name"),
            GuestKind::Lxc => self.conf.get("hostname"),
        }
        .map(String::as_str)
    }

    /// The config file text: keys, `[PENDING]`, then snapshot sections. Its SHA-1 is the digest.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.conf {
            s.push_str(&format!("{k}: {v}\n"));
        }
        if !self.pending.is_empty() || !self.pending_delete.is_empty() {
            s.push_str("\n[PENDING]\n");
            for (k, v) in &self.pending {
                s.push_str(&format!("{k}: {v}\n"));
            }
            if !self.pending_delete.is_empty() {
                let d: Vec<String> = self
                    .pending_delete
                    .iter()
                    .map(|(k, f)| if *f { format!("!{k}") } else { k.clone() })
                    .collect();
                s.push_str(&format!("delete: {}\n", d.join(",")));
            }
        }
        for (name, snap) in &self.snapshots {
            s.push_str(&format!("\n[{name}]\n"));
            for (k, v) in &snap.config {
                s.push_str(&format!("{k}: {v}\n"));
            }
        }
        s
    }

    pub fn digest(&self) -> String {
        hex::encode(Sha1::digest(self.render().as_bytes()))
    }

    /// A config value typed the way PVE's GET config types it.
    pub fn typed(&self, key: &str, v: &str) -> Value {
        let numeric = match self.kind {
            GuestKind::Qemu => QEMU_NUMERIC,
            GuestKind::Lxc => LXC_NUMERIC,
        };
        if numeric.contains(&key)
            && let Ok(n) = v.parse::<i64>()
        {
            return Value::from(n);
        }
        Value::String(v.to_string())
    }

    /// GET config: current values with pending ones merged in (unless `current`), pending
    /// deletes removed, `cipassword` masked, and `digest` added.
    pub fn config_view(&self, current: bool) -> serde_json::Map<String, Value> {
        let mut merged = self.conf.clone();
        if !current {
            for (k, v) in &self.pending {
                merged.insert(k.clone(), v.clone());
            }
            for k in self.pending_delete.keys() {
                merged.remove(k);
            }
        }
        let mut out = serde_json::Map::new();
        for (k, v) in &merged {
            let val = if k == "cipassword" {
                Value::String("**********".into())
            } else {
                self.typed(k, v)
            };
            out.insert(k.clone(), val);
        }
        out.insert("digest".into(), Value::String(self.digest()));
        out
    }

    /// Bytes of the boot disk (for `maxdisk`).
    pub fn boot_disk_size(&self) -> u64 {
        let keys: &[&str] = match self.kind {
            GuestKind::Qemu => &["scsi0", "virtio0", "sata0", "ide0"],
            GuestKind::Lxc => &["rootfs"],
        };
        keys.iter().filter_map(|k| self.conf.get(*k)).find_map(|v| size_of_drive(v)).unwrap_or(0)
    }

    pub fn memory_bytes(&self) -> u64 {
        let mib = self
            .conf
            .get("memory")
            .and_then(|m| {
                m.trim_start_matches("current=")
                    .split(',')
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
            })
            .unwrap_or(512);
        mib * 1024 * 1024
    }

    pub fn cpus(&self) -> f64 {
        let cores: f64 = self.conf.get("cores").and_then(|c| c.parse().ok()).unwrap_or(1.0);
        let sockets: f64 = self.conf.get("sockets").and_then(|c| c.parse().ok()).unwrap_or(1.0);
        cores * sockets
    }
}

/// `size=` of a drive string, in bytes.
pub fn size_of_drive(v: &str) -> Option<u64> {
    v.split(',')
        .find_map(|p| p.strip_prefix("size="))
        .and_then(|s| s.parse::<proxctl_types::wire::DiskSize>().ok())
        .map(|d| d.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_changes_with_any_write_including_pending() {
        let mut g = Guest::new(100, GuestKind::Qemu, "pve");
        g.conf.insert("cores".into(), "2".into());
        let d1 = g.digest();
        g.pending.insert("cores".into(), "4".into());
        assert_ne!(d1, g.digest());
    }

    #[test]
    fn config_view_types_integers_and_keeps_property_strings_as_strings() {
        let mut g = Guest::new(100, GuestKind::Qemu, "pve");
        g.conf.insert("cores".into(), "2".into());
        g.conf.insert("memory".into(), "2048".into());
        g.conf.insert("cpulimit".into(), "1.5".into());
        g.conf.insert("cipassword".into(), "$5$hash".into());
        let v = g.config_view(false);
        assert_eq!(v["cores"], Value::from(2));
        assert_eq!(v["memory"], Value::from("2048"));
        assert_eq!(v["cpulimit"], Value::from("1.5"));
        assert_eq!(v["cipassword"], Value::from("**********"));
        assert!(v.contains_key("digest"));
    }
}
