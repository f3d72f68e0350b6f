//! Who is working on which resource: an apply takes a lock on every resource it may change
//! (all or none, in the state store), renews them in the background while it runs and
//! releases them at the end. Another apply of the same resources waits (saying for whom) up
//! to a timeout, and only a lock whose holder stopped renewing, or whose holder is provably
//! dead on this machine, is taken over. The journal of a resource is settled only by the
//! holder of its lock, so a live apply's work is never mistaken for a crash leftover.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proxctl_state::{LockInfo, StateError, StateStore};

use crate::apply::Progress;

/// How long to wait for another holder, and how long a lock lives without renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// Give up after this long waiting for another apply; zero refuses at once.
    pub wait: Duration,
    /// A lock not renewed for this long is free. Renewal runs every third of it.
    pub ttl: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self { wait: Duration::from_secs(300), ttl: Duration::from_secs(60) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{} is being changed by another {} (holder {}, since {}); waited {}s. Wait for it to \
         finish, or raise --lock-timeout",
        held.name, held.purpose, held.holder, held.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        waited.as_secs()
    )]
    Busy { held: LockInfo, waited: Duration },
    #[error(transparent)]
    State(#[from] StateError),
}

/// This process's identity: `host:pid:start:random`. The start time (from /proc) tells a
/// reused PID from the original process; the random part tells two holders in one process
/// apart once [`Locks::acquire`] adds its counter.
pub fn process_holder() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded per process from the OS.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    let pid = std::process::id();
    format!("{}:{pid}:{}:{:x}", hostname(), start_time(pid).unwrap_or(0), h.finish() & 0xffff_ffff)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `holder` is a process of this machine that no longer runs. Holders elsewhere, or
/// in an unknown format, are never presumed dead: their locks expire instead.
pub fn provably_dead(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    if host != hostname() || start == 0 {
        return false;
    }
    start_time(pid) != Some(start)
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Locks held on a set of resources, renewed until released or dropped.
#[derive(Debug)]
pub struct Locks {
    store: Arc<dyn StateStore>,
    holder: String,
    purpose: String,
    names: BTreeSet<String>,
    opts: LockOptions,
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// Set when a renewal finds the locks gone (this holder stalled past the TTL and another
    /// took them): the work must stop, it no longer owns the resources.
    lost: Arc<std::sync::atomic::AtomicBool>,
}

impl Locks {
    /// Take `names` for a new holder derived from `process` (waiting for other holders).
    pub async fn acquire(
        store: Arc<dyn StateStore>,
        process: &str,
        purpose: &str,
        names: impl IntoIterator<Item = String>,
        opts: LockOptions,
        progress: Option<&Progress>,
    ) -> Result<Locks, LockError> {
        let holder = format!("{process}#{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut locks = Locks {
            store,
            holder,
            purpose: purpose.to_string(),
            names: BTreeSet::new(),
            opts,
            renewer: None,
            lost: Arc::default(),
        };
        locks.extend(names, progress).await?;
        let (store, holder, ttl) = (Arc::clone(&locks.store), locks.holder.clone(), opts.ttl);
        let lost = Arc::clone(&locks.lost);
        locks.renewer = Some(tokio::spawn(async move {
            let every = (ttl / 3).max(Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                match store.renew_locks(&holder, deadline(ttl)).await {
                    Ok(0) => {
                        tracing::warn!(%holder, "this apply lost its locks");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(%holder, error = %e, "cannot renew locks"),
                }
            }
        }));
        Ok(locks)
    }

    /// Add `names` to the set held, waiting for other holders up to the timeout.
    pub async fn extend(
        &mut self,
        names: impl IntoIterator<Item = String>,
        progress: Option<&Progress>,
    ) -> Result<(), LockError> {
        let mut all: Vec<String> = self.names.iter().cloned().collect();
        let before = all.len();
        all.extend(names.into_iter().filter(|n| !self.names.contains(n)));
        if all.len() == before && before > 0 {
            return Ok(());
        }
        let started = tokio::time::Instant::now();
        let mut said = false;
        let mut pause = Duration::from_millis(50);
        loop {
            let now = Timestamp::now();
            let rows = self.store.locks().await?;
            let breaking: Vec<String> = rows
                .iter()
                .filter(|l| l.holder != self.holder && !l.expired(now) && provably_dead(&l.holder))
                .map(|l| l.holder.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let blocked = self
                .store
                .acquire_locks(
                    &all,
                    &self.holder,
                    &self.purpose,
                    deadline(self.opts.ttl),
                    now,
                    &breaking,
                )
                .await?;
            let Some(first) = blocked.into_iter().next() else {
                self.names = all.into_iter().collect();
                return Ok(());
            };
            let waited = started.elapsed();
            if waited >= self.opts.wait {
                return Err(LockError::Busy { held: first, waited });
            }
            if !said {
                said = true;
                if let Some(p) = progress {
                    p(
                        &first.name,
                        &format!(
                            "waiting for another {} (holder {}) to finish with it",
                            first.purpose, first.holder
                        ),
                    );
                }
            }
            tokio::time::sleep(pause.min(self.opts.wait.saturating_sub(waited))).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Whether this holder has the lock of `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.names.contains(name) && !self.is_lost()
    }

    /// Whether the locks were taken over while this holder worked (it stalled past the TTL).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Release every lock now.
    pub async fn release(mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if let Err(e) = self.store.release_locks(&self.holder).await {
            tracing::warn!(holder = %self.holder, error = %e, "cannot release locks; they expire on their own");
        }
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
            // Dropped without `release` (an error path): free the locks if a runtime is still
            // there to do it; otherwise they expire, or the next apply sees this process dead.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let (store, holder) = (Arc::clone(&self.store), self.holder.clone());
                rt.spawn(async move {
                    let _ = store.release_locks(&holder).await;
                });
            }
        }
    }
}

fn deadline(ttl: Duration) -> Timestamp {
    let ttl = SignedDuration::try_from(ttl).unwrap_or(SignedDuration::from_secs(60));
    Timestamp::now().checked_add(ttl).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_holder_whose_locks_were_taken_over_knows_it_and_covers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(
            proxctl_state_sqlite::SqliteStore::open(&dir.path().join("s.db")).await.unwrap(),
        );
        let opts = LockOptions { wait: Duration::ZERO, ttl: Duration::from_millis(300) };
        let names = ["VirtualMachine/a".to_string()];
        let l = Locks::acquire(Arc::clone(&store), &process_holder(), "apply", names, opts, None)
            .await
            .unwrap();
        assert!(l.covers("VirtualMachine/a") && !l.is_lost());
        // Another run took the resources over (as after this holder stalled past its TTL).
        store.release_locks(l.holder()).await.unwrap();
        // Wait for the condition (the next renewal), with a guard against a hang.
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            while !l.is_lost() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "the renewal noticed the loss");
        assert!(!l.covers("VirtualMachine/a"), "so apply refuses to go on");
    }

    #[test]
    fn this_process_is_alive_and_a_gone_pid_is_dead() {
        let me = process_holder();
        assert!(!provably_dead(&me), "{me}");
        assert!(!provably_dead(&format!("{me}#3")), "a holder id with its counter");
        // PIDs never reach u32::MAX - 1 on Linux.
        let host = hostname();
        assert!(provably_dead(&format!("{host}:4294967294:123:ab#1")));
        assert!(!provably_dead("elsewhere:4294967294:123:ab#1"), "other hosts expire instead");
        assert!(!provably_dead("garbage"));
        // The same PID with another start time is a reused PID: the original is dead.
        let pid = std::process::id();
        assert!(provably_dead(&format!("{host}:{pid}:1:ab#1")));
    }
}
