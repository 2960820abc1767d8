//! Token bucket in fixed point (1e-9 token units) with time passed in, so it is exact and
//! deterministic in simulation: no float drift, no clock reads.

use std::time::Duration;

/// One token in bucket units.
const UNIT: u128 = 1_000_000_000;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Tokens per second; one second adds `rate * UNIT` units, so one nanosecond adds `rate`.
    rate: u128,
    cap: u128,
    level: u128,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket (a fresh start may spend its burst at once).
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let cap = u128::from(burst) * UNIT;
        Self {
            rate: u128::from(rate_per_sec),
            cap,
            level: cap,
            last: Duration::ZERO,
        }
    }

    fn refill(&mut self, now: Duration) {
        // Time that goes backwards (a caller bug or two clocks) adds nothing rather than
        // underflowing; the bucket resumes once `now` passes `last` again.
        if now > self.last {
            let dt = (now - self.last).as_nanos();
            self.level = self
                .level
                .saturating_add(dt.saturating_mul(self.rate))
                .min(self.cap);
            self.last = now;
        }
    }

    /// Whole tokens available at `now`.
    pub fn tokens(&mut self, now: Duration) -> u64 {
        self.refill(now);
        u64::try_from(self.level / UNIT).unwrap_or(u64::MAX)
    }

    /// Takes one token if more than `floor` whole tokens would remain available before the
    /// take: `floor` is the share reserved for higher-priority users.
    pub fn take(&mut self, now: Duration, floor: u32) -> bool {
        self.refill(now);
        let need = (u128::from(floor) + 1) * UNIT;
        if self.level >= need {
            self.level -= UNIT;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 5);
        let t0 = Duration::ZERO;
        assert_eq!((0..100).filter(|_| b.take(t0, 0)).count(), 5);
        // 10/s: one token per 100 ms, none before.
        assert!(!b.take(Duration::from_millis(99), 0));
        assert!(b.take(Duration::from_millis(100), 0));
        // A long idle period fills to the burst, not beyond.
        assert_eq!(b.tokens(Duration::from_secs(100)), 5);
    }

    #[test]
    fn floor_reserves_tokens() {
        let mut b = TokenBucket::new(1, 4);
        let t = Duration::ZERO;
        assert_eq!((0..10).filter(|_| b.take(t, 2)).count(), 2);
        assert_eq!((0..10).filter(|_| b.take(t, 0)).count(), 2);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut b = TokenBucket::new(1, 1);
        assert!(b.take(Duration::from_secs(10), 0));
        assert!(!b.take(Duration::from_secs(5), 0));
        assert!(b.take(Duration::from_secs(11), 0));
    }
}
