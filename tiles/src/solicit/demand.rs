//! Decaying count-min sketch of request demand per address, in fixed memory.
//!
//! A flood of spoofed addresses must not be able to push a legitimate address out of our
//! memory, which any bounded exact table allows (each new spoofed key evicts something). A
//! sketch has no eviction: every key always has an estimate, which only overestimates, and the
//! overestimate from collisions is the same for every key, so the ranking between a frequently
//! requested address and one-shot addresses survives any number of distinct keys.
//! Counters halve every `half_life` so the estimate tracks recent demand.

use std::time::Duration;

// The SplitMix64 finaliser: good enough avalanche for bucket indexes.
use netbase_runtime::rand::mix64;

const DEPTH: usize = 4;
const WIDTH: usize = 4096;

pub struct DemandSketch {
    rows: Box<[[u32; WIDTH]; DEPTH]>,
    seeds: [u64; DEPTH],
    half_life: Duration,
    last_decay: Duration,
}

impl DemandSketch {
    /// `seed` should be random per process: with public hash seeds an attacker could choose
    /// spoofed addresses that collide with a victim's cells and inflate their own estimates.
    pub fn new(seed: u64, half_life: Duration) -> Self {
        let mut seeds = [0u64; DEPTH];
        let mut s = seed;
        for v in &mut seeds {
            s = mix64(s.wrapping_add(0x9e37_79b9_7f4a_7c15));
            *v = s;
        }
        Self {
            rows: Box::new([[0; WIDTH]; DEPTH]),
            seeds,
            half_life,
            last_decay: Duration::ZERO,
        }
    }

    fn decay(&mut self, now: Duration) {
        if self.half_life.is_zero() || now <= self.last_decay {
            return;
        }
        let periods = (now - self.last_decay).as_nanos() / self.half_life.as_nanos();
        if periods == 0 {
            return;
        }
        // More than 31 halvings empties a u32 anyway.
        let shift = u32::try_from(periods.min(32)).unwrap_or(32);
        for row in self.rows.iter_mut() {
            for c in row.iter_mut() {
                *c = c.checked_shr(shift).unwrap_or(0);
            }
        }
        // Advance by whole periods so the decay schedule does not drift with call times.
        let step = self
            .half_life
            .saturating_mul(u32::try_from(periods).unwrap_or(u32::MAX));
        self.last_decay = self.last_decay.saturating_add(step).min(now);
    }

    /// Counts one request for `key` and returns its estimated recent demand (>= 1).
    pub fn add(&mut self, now: Duration, key: u64) -> u32 {
        self.decay(now);
        let mut est = u32::MAX;
        for (row, seed) in self.rows.iter_mut().zip(self.seeds) {
            // WIDTH is a power of two: masking keeps the index in range.
            let c = &mut row[(mix64(key ^ seed) as usize) & (WIDTH - 1)];
            *c = c.saturating_add(1);
            est = est.min(*c);
        }
        est
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_key_outranks_many_light_keys() {
        let mut s = DemandSketch::new(7, Duration::from_secs(1));
        let t = Duration::from_millis(10);
        let mut heavy = 0;
        let mut light_max = 0;
        for i in 0..100_000u64 {
            if i % 100 == 0 {
                heavy = s.add(t, 1 << 40);
            } else {
                light_max = light_max.max(s.add(t, i % 20_000));
            }
        }
        assert!(heavy >= 1000, "{heavy}");
        assert!(light_max < heavy / 2, "{light_max} vs {heavy}");
    }

    #[test]
    fn halves_per_half_life() {
        let mut s = DemandSketch::new(1, Duration::from_secs(1));
        for _ in 0..100 {
            s.add(Duration::ZERO, 5);
        }
        assert_eq!(s.add(Duration::from_millis(1500), 5), 51);
        assert_eq!(s.add(Duration::from_secs(60), 5), 1);
    }
}
