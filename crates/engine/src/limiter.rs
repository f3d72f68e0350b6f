//! An adaptive concurrency limit (additive increase, multiplicative decrease), for work that
//! PVE serialises behind a lock it does not tell us about in advance: volume allocations on
//! one storage. It starts at the apply's `--parallel`, halves when PVE pushes back (a lock
//! timeout), and grows by one with each success, so the apply runs as fast as PVE's own lock
//! allows and no slower. No constant of ours caps it.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Aimd {
    state: Mutex<State>,
    freed: Notify,
    max: usize,
}

#[derive(Debug, Clone, Copy)]
struct State {
    limit: usize,
    in_flight: usize,
}

/// A slot; dropping it frees it.
#[derive(Debug)]
pub struct Slot<'a> {
    owner: &'a Aimd,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.owner.update(|s| s.in_flight = s.in_flight.saturating_sub(1));
        self.owner.freed.notify_waiters();
    }
}

impl Aimd {
    /// A limit starting (and capped) at `max`.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { state: Mutex::new(State { limit: max, in_flight: 0 }), freed: Notify::new(), max }
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Wait for a slot under the current limit.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            // Register interest before checking, so a release in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let got = self.update(|s| {
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    true
                } else {
                    false
                }
            });
            if got {
                return Slot { owner: self };
            }
            freed.await;
        }
    }

    /// PVE did the work: allow one more at once.
    pub fn success(&self) {
        let max = self.max;
        self.update(|s| s.limit = (s.limit + 1).min(max));
        self.freed.notify_waiters();
    }

    /// PVE pushed back (a lock timeout): halve the limit, never below one.
    pub fn pushback(&self) {
        self.update(|s| s.limit = (s.limit / 2).max(1));
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.update(|s| s.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_halves_on_pushback_and_grows_back_one_by_one() {
        let a = Aimd::new(16);
        assert_eq!(a.limit(), 16);
        a.pushback();
        a.pushback();
        assert_eq!(a.limit(), 4);
        for _ in 0..3 {
            a.success();
        }
        assert_eq!(a.limit(), 7);
        for _ in 0..100 {
            a.success();
        }
        assert_eq!(a.limit(), 16, "never above the apply's --parallel");
        for _ in 0..10 {
            a.pushback();
        }
        assert_eq!(a.limit(), 1, "never below one");
    }

    #[tokio::test]
    async fn slots_beyond_the_limit_wait_until_one_is_freed() {
        let a = std::sync::Arc::new(Aimd::new(2));
        let first = a.acquire().await;
        let _second = a.acquire().await;
        let waiter = {
            let a = std::sync::Arc::clone(&a);
            tokio::spawn(async move {
                let _s = a.acquire().await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a third waits while two are held");
        drop(first);
        waiter.await.unwrap();
    }
}
