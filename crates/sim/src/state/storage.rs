//! Storages (datacenter `storage.cfg`) and the volumes on them, named as PVE names them (§7.2).

use serde::{Deserialize, Serialize};

use super::GIB;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageDef {
    pub id: String,
    /// `dir`, `lvmthin`, `nfs`, ...
    pub storage_type: String,
    pub content: Vec<String>,
    pub shared: bool,
    /// Capacity per node (shared: in total).
    pub total: u64,
    pub path: Option<String>,
    /// Simulated time one allocation holds the storage lock, in ms (slow storage injection).
    pub alloc_ms: u64,
    /// The rest of its `storage.cfg` section as written through `/storage` (`server`,
    /// `export`, `vgname`, `nodes`, `disable`, ...).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

impl StorageDef {
    pub fn defaults() -> Vec<StorageDef> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        vec![
            StorageDef {
                id: "local".into(),
                storage_type: "dir".into(),
                content: s(&["iso", "vztmpl", "import", "backup", "snippets"]),
                shared: false,
                total: 100 * GIB,
                path: Some("/var/lib/vz".into()),
                alloc_ms: 50,
                options: Default::default(),
            },
            StorageDef {
                id: "local-lvm".into(),
                storage_type: "lvmthin".into(),
                content: s(&["images", "rootdir"]),
                shared: false,
                total: 500 * GIB,
                path: None,
                alloc_ms: 50,
                options: Default::default(),
            },
            StorageDef {
                id: "shared".into(),
                storage_type: "nfs".into(),
                content: s(&["images", "rootdir", "iso", "import", "backup"]),
                shared: true,
                total: 2048 * GIB,
                path: Some("/mnt/pve/shared".into()),
                alloc_ms: 100,
                options: Default::default(),
            },
        ]
    }

    /// Whether the storage is configured on `node` (its `nodes` option, when set).
    pub fn on_node(&self, node: &str) -> bool {
        self.options.get("nodes").is_none_or(|n| n.split([',', ';', ' ']).any(|x| x == node))
    }

    /// Whether it is disabled (`disable`), so not active anywhere.
    pub fn disabled(&self) -> bool {
        self.options.get("disable").is_some_and(|d| d == "1")
    }

    pub fn supports(&self, content: &str) -> bool {
        self.content.iter().any(|c| c == content)
    }

    pub fn is_file_based(&self) -> bool {
        matches!(self.storage_type.as_str(), "dir" | "nfs" | "cifs" | "cephfs")
    }

    /// The key volumes on this storage are filed under: `""` for shared, else the node.
    pub fn scope(&self, node: &str) -> String {
        if self.shared { String::new() } else { node.to_string() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub volid: String,
    pub storage: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    pub vmid: Option<u32>,
    pub ctime: u64,
    pub notes: Option<String>,
    pub protected: bool,
    /// Linked clones record their base volume.
    pub parent: Option<String>,
    /// SHA-256 of uploaded or downloaded content, when known.
    pub sha256: Option<String>,
    /// For backups: the guest config at backup time, which a restore recreates.
    #[serde(default)]
    pub guest_conf: Option<std::collections::BTreeMap<String, String>>,
}

impl Volume {
    pub fn volname(&self) -> &str {
        self.volid.split_once(':').map_or("", |(_, v)| v)
    }
}
