//! A fixed-size log-linear histogram of round-trip times: constant memory however many
//! samples a run takes, and percentiles within 1/64 (≈1.6 %) of the true value; values below
//! 64 are exact.

/// Sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below `2 * SUB` get a bucket each; each power of two above is split into `SUB`.
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

/// Counts of values in logarithmic buckets, plus the exact minimum and maximum.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("min", &self.min())
            .field("max", &self.max())
            .finish()
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = e - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    SUB + shift as usize * SUB + sub
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, i as u64);
    }
    let shift = ((i - SUB) / SUB) as u32;
    let sub = ((i - SUB) % SUB) as u64;
    let low = (SUB as u64 + sub) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// Adds one value.
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The smallest value recorded.
    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    /// The largest value recorded.
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The nearest-rank `q`-quantile (`q` in 0..=1, clamped): the value below or at which
    /// `ceil(q·n)` of the `n` values lie, as the middle of its bucket kept within the
    /// recorded minimum and maximum. `None` without values.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = lo + (hi - lo) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.len(), 100);
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.01), Some(1));
        assert_eq!(h.quantile(0.0), Some(1));
        // 99 lies in a bucket of width 2 above 64 (98..=99): exact to ±1.
        assert!(h.quantile(0.99).unwrap().abs_diff(99) <= 1);
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!((h.min(), h.max()), (Some(1), Some(100)));
    }

    #[test]
    fn large_values_are_within_relative_error() {
        let mut h = Histogram::default();
        // 1 µs … 10 ms spread: p50 is 5_000_000 ns give or take one bucket.
        let values: Vec<u64> = (1..=10_000u64).map(|i| i * 1_000).collect();
        for v in &values {
            h.record(*v);
        }
        for (q, exact) in [(0.5, 5_000_000u64), (0.99, 9_900_000), (0.9, 9_000_000)] {
            let got = h.quantile(q).unwrap();
            let err = got.abs_diff(exact) as f64 / exact as f64;
            assert!(err <= 1.0 / 64.0, "q{q}: {got} vs {exact} ({err})");
        }
    }

    #[test]
    fn buckets_cover_every_value_and_are_ordered() {
        let mut last = 0;
        for v in (0..20).chain([
            63,
            64,
            65,
            1 << 20,
            (1 << 20) + 12345,
            u64::MAX - 1,
            u64::MAX,
        ]) {
            let b = bucket(v);
            let (lo, hi) = bounds(b);
            assert!(lo <= v && v <= hi, "{v} not in bucket {b} {lo}..={hi}");
            assert!(b >= last);
            last = b;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn empty_and_merge() {
        let mut a = Histogram::default();
        assert_eq!(a.quantile(0.5), None);
        assert_eq!(a.min(), None);
        let mut b = Histogram::default();
        b.record(10);
        b.record(30);
        a.record(20);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.quantile(0.5), Some(20));
        assert_eq!((a.min(), a.max()), (Some(10), Some(30)));
        // Merging an empty histogram keeps min and max.
        a.merge(&Histogram::default());
        assert_eq!((a.min(), a.max()), (Some(10), Some(30)));
    }

    #[test]
    fn single_value_quantiles_are_that_value() {
        let mut h = Histogram::default();
        h.record(123_456_789);
        assert_eq!(h.quantile(0.5), Some(123_456_789));
        assert_eq!(h.quantile(0.99), Some(123_456_789));
    }
}
