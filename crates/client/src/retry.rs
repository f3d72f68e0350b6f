//! Bounded exponential backoff with jitter for transient failures.

use std::time::Duration;

use rand::Rng;

/// Retry policy: `initial * 2^(n-1)` capped at `max`, with ±25 % jitter, at most
/// `max_attempts` sends in all. Every retry is logged and counted by the client.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(30),
            max_attempts: 5,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX));
        let base = exp.min(self.max);
        if !self.jitter {
            return base;
        }
        let f: f64 = rand::rng().random_range(0.75..1.25);
        base.mul_f64(f).min(self.max)
    }
}

/// Polling cadence for task status: starts fast, grows, capped.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// Waits without a log to follow: the shortest time between two listings of a node's
    /// tasks (shared by every wait on the node), so an end is noticed within about this long.
    pub round: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
            factor: 1.5,
            round: crate::task::ROUND,
        }
    }
}

impl PollPolicy {
    pub fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_two_seconds_and_cap_at_thirty() {
        let p = RetryPolicy { jitter: false, ..RetryPolicy::default() };
        let d: Vec<u64> = (1..=6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(d, [2, 4, 8, 16, 30, 30]);
        assert_eq!(p.delay(100).as_secs(), 30);
    }

    #[test]
    fn jitter_stays_within_a_quarter_and_under_the_cap() {
        let p = RetryPolicy::default();
        for n in 1..8 {
            let d = p.delay(n);
            let base = RetryPolicy { jitter: false, ..p.clone() }.delay(n);
            assert!(d >= base.mul_f64(0.75) && d <= p.max, "{d:?} for retry {n}");
        }
    }

    #[test]
    fn polling_starts_fast_and_caps() {
        let p = PollPolicy::default();
        let mut d = p.initial;
        for _ in 0..20 {
            d = p.next(d);
        }
        assert_eq!(d, p.max);
        assert!(p.initial < Duration::from_secs(1));
    }
}
