//! What `/cluster/resources` does not say, kept between scrapes: each guest's config
//! (`onboot`, and the description that names a template version) and its snapshots, and each
//! remote's backups and PVE backup jobs. A scrape re-reads at most [`Details::per_scrape`]
//! guests, those never read first and then the longest unread, so its PVE requests stay
//! bounded however many guests there are; backups are re-read every
//! [`Details::backups_every`]. What the series show is therefore up to
//! `guests / per_scrape` scrapes old, which is fine for snapshot ages measured in days.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use proxctl_client::Client;
use proxctl_types::api::BackupJob;
use proxctl_types::messages::GuestKind;
use proxctl_types::{NodeName, VmId};

use crate::views::{BackupRow, GuestRow};

/// Guests re-read per scrape when not told otherwise: two requests each.
pub const PER_SCRAPE: usize = 50;
/// How often backups are listed again: listing a large backup storage (PBS above all) is
/// the slowest read PVE has.
pub const BACKUPS_EVERY: Duration = Duration::from_secs(300);
/// Guest reads in flight at once, per remote.
const CONCURRENCY: usize = 8;

/// One guest's details as last read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    pub node: String,
    pub kind: String,
    /// When it was last read, as a scrape sequence number; `None` if never.
    pub read: Option<u64>,
    /// `onboot` when the config sets it (the exporter reports only those).
    pub onboot: Option<bool>,
    /// Real snapshots (not `current`): name and creation time.
    pub snapshots: Vec<(String, Option<u64>)>,
    /// A template version proxctl built: name, version, built (RFC 3339).
    pub template: Option<(String, String, String)>,
}

impl Detail {
    /// Whether the guest's details were read at least once.
    pub fn is_read(&self) -> bool {
        self.read.is_some()
    }
}

/// A remote's backups and PVE backup jobs, and when they were read.
#[derive(Debug, Clone)]
pub struct Backups {
    pub at: Instant,
    pub rows: Arc<Vec<BackupRow>>,
    pub pve_jobs: Arc<Vec<BackupJob>>,
}

/// The cache, shared by every scrape of one server.
#[derive(Debug)]
pub struct Details {
    pub per_scrape: usize,
    pub backups_every: Duration,
    guests: Mutex<HashMap<String, BTreeMap<u32, Detail>>>,
    backups: Mutex<HashMap<String, Backups>>,
    scrapes: Mutex<u64>,
}

impl Default for Details {
    fn default() -> Self {
        Details::new(PER_SCRAPE, BACKUPS_EVERY)
    }
}

/// Lock a mutex even if a panicking holder poisoned it: the data is a cache.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Details {
    pub fn new(per_scrape: usize, backups_every: Duration) -> Details {
        Details {
            per_scrape,
            backups_every,
            guests: Mutex::default(),
            backups: Mutex::default(),
            scrapes: Mutex::new(0),
        }
    }

    /// Bring `remote`'s details up to date for `guests` (its guests in this scrape): forget
    /// guests that are gone, then read up to `per_scrape` of them, and the backups if due.
    pub async fn refresh(&self, remote: &str, client: &Client, guests: &[GuestRow]) {
        let seq = {
            let mut n = lock(&self.scrapes);
            *n += 1;
            *n
        };
        let due: Vec<GuestRow> = {
            let mut all = lock(&self.guests);
            let known = all.entry(remote.to_string()).or_default();
            let live: BTreeMap<u32, &GuestRow> = guests.iter().map(|g| (g.vmid, g)).collect();
            known.retain(|vmid, _| live.contains_key(vmid));
            for g in guests {
                let d = known.entry(g.vmid).or_default();
                if d.node != g.node || d.kind != g.kind {
                    // New, or moved: what was read no longer says where it is.
                    *d = Detail { node: g.node.clone(), kind: g.kind.clone(), ..Detail::default() };
                }
            }
            let mut order: Vec<(Option<u64>, u32)> =
                known.iter().map(|(vmid, d)| (d.read, *vmid)).collect();
            order.sort_unstable();
            order
                .into_iter()
                .take(self.per_scrape)
                .filter_map(|(_, vmid)| live.get(&vmid).map(|g| (*g).clone()))
                .collect()
        };
        let reads = futures_util::stream::iter(due)
            .map(|g| async move {
                let d = read_one(client, &g).await;
                (g.vmid, d)
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        {
            let mut all = lock(&self.guests);
            let known = all.entry(remote.to_string()).or_default();
            for (vmid, d) in reads {
                if let (Some(mut d), Some(have)) = (d, known.get_mut(&vmid)) {
                    d.read = Some(seq);
                    *have = d;
                }
            }
        }
        let due =
            lock(&self.backups).get(remote).is_none_or(|b| b.at.elapsed() >= self.backups_every);
        if due {
            match crate::views::backups(client).await {
                Ok(rows) => {
                    let pve_jobs = crate::coverage::pve_backup_jobs(client).await;
                    lock(&self.backups).insert(
                        remote.to_string(),
                        Backups {
                            at: Instant::now(),
                            rows: Arc::new(rows),
                            pve_jobs: Arc::new(pve_jobs),
                        },
                    );
                }
                Err(e) => tracing::warn!(remote, error = %e, "metrics: backups cannot be listed"),
            }
        }
    }

    /// The details of `remote`'s guests as last read.
    pub fn guests(&self, remote: &str) -> BTreeMap<u32, Detail> {
        lock(&self.guests).get(remote).cloned().unwrap_or_default()
    }

    /// `remote`'s backups as last read, if they ever were.
    pub fn backups(&self, remote: &str) -> Option<Backups> {
        lock(&self.backups).get(remote).cloned()
    }
}

/// Read one guest's config and snapshots; `None` if either read fails (it is tried again
/// at a later scrape, and a guest deleted meanwhile is forgotten then).
async fn read_one(client: &Client, g: &GuestRow) -> Option<Detail> {
    let node = NodeName::new(g.node.as_str()).ok()?;
    let vmid = VmId::new(g.vmid).ok()?;
    let kind = if g.kind == "lxc" { GuestKind::Lxc } else { GuestKind::Qemu };
    let config = async {
        match kind {
            GuestKind::Lxc => client.lxc_config(&node, vmid).await,
            GuestKind::Qemu => client.qemu_config(&node, vmid).await,
        }
    };
    let (config, snaps) = tokio::join!(config, client.snapshots(kind, &node, vmid));
    let (config, snaps) = match (config, snaps) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(vmid = g.vmid, error = %e, "metrics: guest details not read");
            return None;
        }
    };
    let onboot = config.get("onboot").and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
        serde_json::Value::String(s) => Some(s == "1"),
        serde_json::Value::Bool(b) => Some(*b),
        _ => None,
    });
    let template = if g.template && g.tags.iter().any(|t| t == crate::template::TEMPLATE_TAG) {
        config.get("description").and_then(|d| d.as_str()).and_then(crate::template::described)
    } else {
        None
    };
    Some(Detail {
        node: g.node.clone(),
        kind: g.kind.clone(),
        read: None,
        onboot,
        snapshots: snaps
            .into_iter()
            .filter(|s| s.name != "current")
            .map(|s| (s.name, s.snaptime))
            .collect(),
        template,
    })
}
