//! Read-only views for `get`: nodes, guests, storage and tasks, as rows every face can render.

use proxctl_client::Client;
use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::endpoints::tasks::TaskFilter;
use serde::Serialize;

use crate::OpsError;
use crate::output::{Tabular, human_bytes, human_duration};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeRow {
    pub node: String,
    pub status: String,
    pub cpu: f64,
    pub maxcpu: u32,
    pub mem: u64,
    pub maxmem: u64,
    pub disk: u64,
    pub maxdisk: u64,
    pub uptime: u64,
    /// `pve-manager/9.1.3/...` from the node's status; empty without Sys.Audit or when offline.
    pub version: Option<String>,
    pub fingerprint: Option<String>,
}

impl Tabular for NodeRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["NODE", "STATUS", "CPU", "MEMORY", "DISK", "UPTIME", "VERSION"];
        if wide {
            h.push("FINGERPRINT");
        }
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let mut c = vec![
            self.node.clone(),
            self.status.clone(),
            format!("{:.0}% of {}", self.cpu * 100.0, self.maxcpu),
            format!("{} / {}", human_bytes(self.mem), human_bytes(self.maxmem)),
            format!("{} / {}", human_bytes(self.disk), human_bytes(self.maxdisk)),
            human_duration(self.uptime),
            self.version.as_deref().map(short_version).unwrap_or_default().to_string(),
        ];
        if wide {
            c.push(self.fingerprint.clone().unwrap_or_default());
        }
        c
    }
}

pub async fn nodes(client: &Client) -> Result<Vec<NodeRow>, OpsError> {
    let mut rows: Vec<NodeRow> = client
        .nodes()
        .await?
        .into_iter()
        .map(|n| NodeRow {
            node: n.node.to_string(),
            status: n.status,
            cpu: n.cpu.unwrap_or(0.0),
            maxcpu: n.maxcpu.unwrap_or(0),
            mem: n.mem.unwrap_or(0),
            maxmem: n.maxmem.unwrap_or(0),
            disk: n.disk.unwrap_or(0),
            maxdisk: n.maxdisk.unwrap_or(0),
            uptime: n.uptime.unwrap_or(0),
            version: None,
            fingerprint: n.ssl_fingerprint,
        })
        .collect();
    for row in rows.iter_mut().filter(|r| r.status == "online") {
        let Ok(node) = proxctl_types::NodeName::new(row.node.as_str()) else { continue };
        // The version is a nicety: a token without Sys.Audit still gets the rest of the table.
        row.version = client.node_status(&node).await.ok().map(|s| s.pveversion);
    }
    rows.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(rows)
}

/// `pve-manager/9.1.3/abcdef01` → `9.1.3`.
fn short_version(v: &str) -> &str {
    v.split('/').nth(1).unwrap_or(v)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestRow {
    pub vmid: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub status: String,
    pub template: bool,
    pub cpus: f64,
    pub maxmem: u64,
    pub maxdisk: u64,
    pub uptime: u64,
    pub tags: Vec<String>,
    pub lock: Option<String>,
    pub pool: Option<String>,
    /// CPU use now, as a fraction of all its cores (0 when stopped).
    pub cpu: f64,
    /// Memory in use now, in bytes.
    pub mem: u64,
}

impl GuestRow {
    /// A guest from its `/cluster/resources` entry; `None` for nodes and storages.
    pub fn from_resource(r: proxctl_types::api::ClusterResource) -> Option<GuestRow> {
        if r.res_type != "qemu" && r.res_type != "lxc" {
            return None;
        }
        Some(GuestRow {
            vmid: r.vmid?.get(),
            name: r.name.unwrap_or_default(),
            kind: r.res_type,
            node: r.node?.to_string(),
            status: r.status.unwrap_or_else(|| "unknown".into()),
            template: r.template == Some(true),
            cpus: r.maxcpu.unwrap_or(0.0),
            maxmem: r.maxmem.unwrap_or(0),
            maxdisk: r.maxdisk.unwrap_or(0),
            uptime: r.uptime.unwrap_or(0),
            tags: r
                .tags
                .map(|t| proxctl_types::wire::split_tags(&t).map(String::from).collect())
                .unwrap_or_default(),
            lock: r.lock,
            pool: r.pool,
            cpu: r.cpu.unwrap_or(0.0),
            mem: r.mem.unwrap_or(0),
        })
    }

    /// The guest as the operations address it.
    pub fn guest_ref(&self) -> Result<crate::GuestRef, crate::OpsError> {
        use proxctl_types::messages::GuestKind;
        let bad = |e: proxctl_types::IdError| crate::OpsError::Invalid(e.to_string());
        Ok(crate::GuestRef {
            vmid: proxctl_types::VmId::new(self.vmid).map_err(bad)?,
            node: proxctl_types::NodeName::new(self.node.as_str()).map_err(bad)?,
            kind: if self.kind == "lxc" { GuestKind::Lxc } else { GuestKind::Qemu },
            name: Some(self.name.clone()),
        })
    }

    /// Whether a `-l` selector picks this guest.
    pub fn selected_by(&self, sel: &proxctl_types::selector::Selector) -> bool {
        sel.matches(&proxctl_types::selector::Subject {
            vmid: self.vmid,
            name: &self.name,
            node: &self.node,
            pool: self.pool.as_deref(),
            tags: &self.tags,
        })
    }
}

impl Tabular for GuestRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["VMID", "NAME", "NODE", "STATUS"];
        if wide {
            h.extend(["CPUS", "MEMORY", "DISK", "UPTIME", "LOCK"]);
        }
        h.push("TAGS");
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let status = if self.template { "template".to_string() } else { self.status.clone() };
        let mut c = vec![self.vmid.to_string(), self.name.clone(), self.node.clone(), status];
        if wide {
            c.extend([
                format!("{}", self.cpus),
                human_bytes(self.maxmem),
                human_bytes(self.maxdisk),
                human_duration(self.uptime),
                self.lock.clone().unwrap_or_default(),
            ]);
        }
        c.push(self.tags.join(","));
        c
    }
}

/// Guests of one type (`qemu`, `lxc`), or all, sorted by VMID. `templates` selects templates only.
pub async fn guests(
    client: &Client,
    kind: Option<&str>,
    templates: bool,
) -> Result<Vec<GuestRow>, OpsError> {
    let mut rows: Vec<GuestRow> = client
        .cluster_resources(Some(ResourceType::Vm))
        .await?
        .into_iter()
        .filter(|r| kind.is_none_or(|k| r.res_type == k))
        .filter(|r| !templates || r.template == Some(true))
        .filter_map(GuestRow::from_resource)
        .collect();
    rows.sort_by_key(|r| r.vmid);
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageRow {
    pub storage: String,
    pub node: String,
    #[serde(rename = "type")]
    pub storage_type: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub used: u64,
    pub total: u64,
}

impl Tabular for StorageRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["STORAGE", "NODE", "TYPE", "SHARED", "USED", "CONTENT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.storage.clone(),
            self.node.clone(),
            self.storage_type.clone(),
            if self.shared { "yes" } else { "no" }.into(),
            format!("{} / {}", human_bytes(self.used), human_bytes(self.total)),
            self.content.join(","),
        ]
    }
}

pub async fn storage(client: &Client) -> Result<Vec<StorageRow>, OpsError> {
    let mut rows: Vec<StorageRow> = client
        .cluster_resources(Some(ResourceType::Storage))
        .await?
        .into_iter()
        .filter_map(|r| {
            let mut content: Vec<String> = r.content?.split(',').map(String::from).collect();
            // PVE joins content types in hash order; sort for a stable view.
            content.sort();
            Some(StorageRow {
                storage: r.storage?,
                node: r.node?.to_string(),
                storage_type: r.plugintype.unwrap_or_default(),
                content,
                shared: r.shared == Some(true),
                used: r.disk.unwrap_or(0),
                total: r.maxdisk.unwrap_or(0),
            })
        })
        .collect();
    rows.sort_by(|a, b| (&a.storage, &a.node).cmp(&(&b.storage, &b.node)));
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskRow {
    pub upid: String,
    pub node: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub id: String,
    pub user: String,
    pub starttime: u64,
    pub status: String,
}

impl Tabular for TaskRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        if wide {
            vec!["TYPE", "ID", "NODE", "USER", "STATUS", "UPID"]
        } else {
            vec!["TYPE", "ID", "NODE", "USER", "STATUS"]
        }
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let mut c = vec![
            self.task_type.clone(),
            self.id.clone(),
            self.node.clone(),
            self.user.clone(),
            self.status.clone(),
        ];
        if wide {
            c.push(self.upid.clone());
        }
        c
    }
}

/// Recent and running tasks of the whole cluster, newest first.
pub async fn tasks(client: &Client, running_only: bool) -> Result<Vec<TaskRow>, OpsError> {
    let mut rows = Vec::new();
    // An offline node cannot be asked (PVE answers 595 after a timeout); its tasks are not
    // known until it is back, and the others' still are.
    for n in client.nodes().await?.into_iter().filter(|n| n.status == "online") {
        let f = TaskFilter {
            source: Some(if running_only { "active" } else { "all" }.into()),
            limit: Some(50),
            ..TaskFilter::default()
        };
        for t in client.task_list(&n.node, &f).await? {
            rows.push(TaskRow {
                upid: t.upid.to_string(),
                node: t.node.to_string(),
                task_type: t.task_type,
                id: t.id,
                user: t.user,
                starttime: t.starttime,
                status: t.status.unwrap_or_else(|| "RUNNING".into()),
            });
        }
    }
    rows.sort_by(|a, b| b.starttime.cmp(&a.starttime).then_with(|| b.upid.cmp(&a.upid)));
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotRow {
    pub vmid: u32,
    pub guest: String,
    pub name: String,
    pub parent: Option<String>,
    pub snaptime: Option<u64>,
    pub vmstate: bool,
    pub description: String,
}

impl Tabular for SnapshotRow {
    fn headers(wide: bool) -> Vec<&'static str> {
        if wide {
            vec!["GUEST", "NAME", "PARENT", "RAM", "DESCRIPTION"]
        } else {
            vec!["GUEST", "NAME", "PARENT", "DESCRIPTION"]
        }
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let mut c = vec![
            self.guest.clone(),
            self.name.clone(),
            self.parent.clone().unwrap_or_else(|| "-".into()),
        ];
        if wide {
            c.push(if self.vmstate { "yes" } else { "" }.into());
        }
        c.push(self.description.lines().next().unwrap_or("").to_string());
        c
    }
}

/// Snapshots of one guest, parents before children, without the `current` pseudo-entry.
pub async fn snapshots(client: &Client, g: &crate::GuestRef) -> Result<Vec<SnapshotRow>, OpsError> {
    let list = client.snapshots(g.kind, &g.node, g.vmid).await?;
    let mut rows: Vec<SnapshotRow> = list
        .into_iter()
        .filter(|s| s.name != "current")
        .map(|s| SnapshotRow {
            vmid: g.vmid.get(),
            guest: g.name.clone().unwrap_or_else(|| g.vmid.to_string()),
            name: s.name,
            parent: s.parent,
            snaptime: s.snaptime,
            vmstate: s.vmstate == Some(true),
            description: s.description,
        })
        .collect();
    // PVE lists snapshots in hash order; creation time gives the tree's order.
    rows.sort_by_key(|r| (r.snaptime, r.name.clone()));
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupRow {
    pub volid: String,
    pub node: String,
    pub storage: String,
    pub vmid: Option<u32>,
    pub size: u64,
    pub ctime: Option<u64>,
    pub protected: bool,
    pub notes: Option<String>,
    /// `ok`/`failed` where the storage verifies backups (Proxmox Backup Server), else empty.
    pub verification: Option<String>,
}

impl Tabular for BackupRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["VMID", "NODE", "SIZE", "PROTECTED", "VERIFIED", "VOLUME", "NOTES"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.vmid.map(|v| v.to_string()).unwrap_or_default(),
            self.node.clone(),
            human_bytes(self.size),
            if self.protected { "yes" } else { "" }.into(),
            self.verification.clone().unwrap_or_default(),
            self.volid.clone(),
            self.notes.clone().unwrap_or_default(),
        ]
    }
}

/// Backups on every storage with `backup` content, on every node (shared ones once).
pub async fn backups(client: &Client) -> Result<Vec<BackupRow>, OpsError> {
    let mut rows: Vec<BackupRow> = Vec::new();
    // A shared storage lists the same archives on every node.
    let mut seen = std::collections::HashSet::new();
    // An offline node's storages cannot be listed; its local backups are not known until
    // it is back (a shared storage's are still listed through the others).
    for n in client.nodes().await?.into_iter().filter(|n| n.status == "online") {
        for st in client.storage_list(&n.node, Some("backup")).await? {
            let Ok(sid) = proxctl_types::StorageId::new(st.storage.as_str()) else { continue };
            for c in client.storage_content(&n.node, &sid, Some("backup"), None).await? {
                if st.shared && !seen.insert(c.volid.clone()) {
                    continue;
                }
                rows.push(BackupRow {
                    volid: c.volid,
                    node: n.node.to_string(),
                    storage: sid.to_string(),
                    vmid: c.vmid.map(|v| v.get()),
                    size: c.size,
                    ctime: c.ctime,
                    protected: c.protected == Some(true),
                    notes: c.notes,
                    verification: c
                        .verification
                        .as_ref()
                        .and_then(|v| v.get("state"))
                        .and_then(|s| s.as_str())
                        .map(str::to_string),
                });
            }
        }
    }
    rows.sort_by(|a, b| (a.vmid, b.ctime).cmp(&(b.vmid, a.ctime)));
    Ok(rows)
}
