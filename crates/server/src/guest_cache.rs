//! Each remote's guest list, shared by the requests that arrive together and kept for a
//! moment: a dashboard or a CI fleet polling `/api/v1/guests` costs the cluster one
//! `/cluster/resources` per second at most, not one per request (PVE spends tens of
//! milliseconds of CPU on each at a few thousand guests). Any change made through this server
//! drops the lists at once; changes made elsewhere show within [`MAX_AGE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proxctl_ops::OpsError;
use proxctl_ops::views::GuestRow;

use crate::Remote;
use crate::events::Events;

/// The oldest list handed out.
pub const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    at: Instant,
    /// The count of changes made through this server when the list was read.
    generation: u64,
    rows: Arc<Vec<GuestRow>>,
}

#[derive(Debug)]
pub struct GuestCache {
    events: Events,
    entries: Mutex<HashMap<String, Entry>>,
    /// One read per remote at a time; the others wait for it and share its answer.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl GuestCache {
    pub fn new(events: Events) -> Self {
        Self { events, entries: Mutex::default(), fetching: Mutex::default() }
    }

    fn fresh(&self, remote: &str) -> Option<Arc<Vec<GuestRow>>> {
        let generation = self.events.mutations();
        let m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.get(remote)
            .filter(|e| e.generation == generation && e.at.elapsed() < MAX_AGE)
            .map(|e| Arc::clone(&e.rows))
    }

    /// The remote's guests (VMs, containers and templates), sorted by VMID.
    pub async fn guests(&self, remote: &Remote) -> Result<Arc<Vec<GuestRow>>, OpsError> {
        if let Some(rows) = self.fresh(&remote.name) {
            return Ok(rows);
        }
        let gate = {
            let mut m = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(m.entry(remote.name.clone()).or_default())
        };
        let _one = gate.lock().await;
        if let Some(rows) = self.fresh(&remote.name) {
            return Ok(rows);
        }
        // Read before the call: a change that lands while it runs makes the entry stale.
        let generation = self.events.mutations();
        let rows = Arc::new(proxctl_ops::views::guests(&remote.client, None, false).await?);
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(
            remote.name.clone(),
            Entry { at: Instant::now(), generation, rows: Arc::clone(&rows) },
        );
        Ok(rows)
    }
}
