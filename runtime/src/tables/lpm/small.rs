//! Small mode: the table's prefixes as one sorted array (longest first) scanned linearly —
//! for a handful of routes faster than any index (a host's main table has about three).
//!
//! Two arrays, double-buffered: the writer fills the array readers are not directed to, then
//! points `MODE` at it with a release store. Readers load `MODE` with acquire ordering and scan
//! the array it names; they see it complete, and it does not change under them because the
//! writer rewrites an array only after every reader passed a quiescent point since readers were
//! last directed to it.
//!
//! Array layout: a header word (bits 0..8: entry count), then up to `LPM_SMALL_ENTRIES`
//! prefix words ([`PrefixWord`]: address, length, next-hop id; `MARKER` for a route that could
//! not be stored).

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use super::encoding::{covers, PrefixWord};
use crate::tables::geometry::LPM_SMALL_ENTRIES;

pub(crate) const MAX_ENTRIES: usize = LPM_SMALL_ENTRIES as usize;

/// Entries tested together: one well-predicted branch per chunk instead of one per entry
/// (which entry of a tiny table matches is as random as the traffic).
const CHUNK: usize = 4;

/// Reader: the entry words of `array`, as many as its header counts (at most what the array
/// and `MAX_ENTRIES` hold, whatever a corrupt header says).
#[inline(always)]
fn stored(array: &[AtomicU64]) -> &[AtomicU64] {
    let Some((head, entries)) = array.split_first() else {
        return &[];
    };
    let n = ((head.load(Relaxed) & 0xff) as usize).min(MAX_ENTRIES);
    entries.get(..n).unwrap_or(entries)
}

/// Reader: the first (longest) entry covering `addr`.
#[inline(always)]
pub(crate) fn scan(array: &[AtomicU64], addr: u32) -> Option<PrefixWord> {
    for chunk in stored(array).chunks(CHUNK) {
        // The first covering entry of the chunk, kept in registers by conditional moves (an
        // earlier match overwrites a later one) rather than looked up again in a copy of the
        // chunk: ~5% on the host benchmark.
        let mut found = None;
        for w in chunk.iter().rev() {
            let p = PrefixWord::decode(w.load(Relaxed));
            if covers(p.addr, p.len, addr) {
                found = Some(p);
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The bits of an address that [`covers`] compares for a prefix of length `len`, for every
/// byte value (a length past 32 comes only from a corrupt entry; `covers` shifts by `32 - len`
/// modulo 64, so such lengths compare no bits or a few).
#[inline]
fn covered_bits(len: u8) -> u32 {
    let shift = 32u32.wrapping_sub(u32::from(len)) & 63;
    u32::MAX.checked_shl(shift).unwrap_or(0)
}

/// A small array decoded once for a burst of lookups, scanned one entry at a time across all
/// the burst's addresses (an inner loop of the same compare for every address, which the
/// compiler turns into vector instructions) rather than one address at a time.
pub(crate) struct Decoded {
    n: usize,
    prefix: [u32; MAX_ENTRIES],
    mask: [u32; MAX_ENTRIES],
    nexthop: [u16; MAX_ENTRIES],
}

/// [`Decoded::first_covering`]: no entry covers the address.
pub(crate) const UNCOVERED: u8 = u8::MAX;

impl Decoded {
    /// The entries of `array` as a reader sees them now (an array in use is never rewritten
    /// before the reader's next quiescent state, so the copy stays the array's content).
    #[inline]
    pub(crate) fn load(array: &[AtomicU64]) -> Self {
        let mut d = Decoded {
            n: 0,
            prefix: [0; MAX_ENTRIES],
            mask: [0; MAX_ENTRIES],
            nexthop: [0; MAX_ENTRIES],
        };
        let entries = stored(array);
        d.n = entries.len();
        for (k, w) in entries.iter().enumerate() {
            let p = PrefixWord::decode(w.load(Relaxed));
            let mask = covered_bits(p.len);
            d.mask[k] = mask;
            d.prefix[k] = p.addr & mask;
            d.nexthop[k] = p.nexthop;
        }
        d
    }

    /// `found[i]`: the index of the first entry (the longest prefix) covering `addrs[i]`, or
    /// [`UNCOVERED`], as [`scan`] picks it.
    #[inline]
    pub(crate) fn first_covering(&self, addrs: &[u32], found: &mut [u8]) {
        found.fill(UNCOVERED);
        for k in (0..self.n).rev() {
            let (prefix, mask) = (self.prefix[k], self.mask[k]);
            for (f, &a) in found.iter_mut().zip(addrs) {
                // Branch-free: which entry covers an address is data the branch predictor
                // cannot learn, and the select vectorizes.
                let take = u8::from(a & mask == prefix).wrapping_neg();
                *f = (*f & !take) | (k as u8 & take);
            }
        }
    }

    /// The next-hop id of entry `k` (from [`first_covering`](Self::first_covering)).
    #[inline]
    pub(crate) fn nexthop(&self, k: u8) -> u16 {
        self.nexthop.get(usize::from(k)).copied().unwrap_or(0)
    }
}

/// Writer: fills an array no reader is directed to. `entries` must already be sorted longest
/// first and hold at most `MAX_ENTRIES` prefixes (extra ones are not written).
pub(crate) fn fill(array: &[AtomicU64], entries: &[PrefixWord]) {
    let Some((head, slots)) = array.split_first() else {
        return;
    };
    let n = entries.len().min(MAX_ENTRIES).min(slots.len());
    for (w, p) in slots.iter().zip(&entries[..n]) {
        w.store(p.encode(), Relaxed);
    }
    head.store(n as u64, Relaxed);
}

/// What the writer knows about one array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArrayState {
    /// Never used since the table was created: may be filled at once.
    Fresh,
    /// `MODE` directs readers to it.
    InUse,
    /// Readers were directed away at this epoch.
    Retired(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_first_scan() {
        let a: Vec<AtomicU64> = (0..=MAX_ENTRIES).map(|_| AtomicU64::new(0)).collect();
        assert_eq!(scan(&a, 1), None);
        let e = [
            PrefixWord {
                addr: 0x0a00_0001,
                len: 32,
                flags: 0,
                nexthop: 3,
            },
            PrefixWord {
                addr: 0x0a00_0000,
                len: 24,
                flags: 0,
                nexthop: 2,
            },
            PrefixWord {
                addr: 0,
                len: 0,
                flags: 0,
                nexthop: 1,
            },
        ];
        fill(&a, &e);
        assert_eq!(scan(&a, 0x0a00_0001).map(|p| p.nexthop), Some(3));
        assert_eq!(scan(&a, 0x0a00_0002).map(|p| p.nexthop), Some(2));
        assert_eq!(scan(&a, 0x0b00_0002).map(|p| p.nexthop), Some(1));
        // A corrupt count never reads past the array.
        a[0].store(0xff, Relaxed);
        assert_eq!(scan(&a[..3], 0x0b00_0002).map(|p| p.nexthop), None);
    }

    #[test]
    fn covered_bits_agree_with_covers_for_every_length() {
        let addrs = [
            0,
            1,
            0x8000_0000,
            0x0a00_0001,
            0xffff_ffff,
            0x7f00_0000,
            0x1234_5678,
        ];
        for len in 0..=u8::MAX {
            for &prefix in &addrs {
                for &addr in &addrs {
                    let by_mask = addr & covered_bits(len) == prefix & covered_bits(len);
                    assert_eq!(
                        by_mask,
                        covers(prefix, len, addr),
                        "{prefix:#x}/{len} {addr:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_decoded_burst_finds_what_scan_finds() {
        let a: Vec<AtomicU64> = (0..=MAX_ENTRIES).map(|_| AtomicU64::new(0)).collect();
        let mut rng = crate::rand::SplitMix64::new(7);
        for round in 0..200 {
            // Random entries in the stored order (longest first), some with corrupt lengths.
            let n = rng.below(MAX_ENTRIES as u64 + 1) as usize;
            let mut e: Vec<PrefixWord> = (0..n)
                .map(|i| PrefixWord {
                    addr: 0x0a00_0000 | (rng.next_u64() as u32 & 0xffff),
                    len: if rng.below(20) == 0 {
                        33 + rng.below(200) as u8
                    } else {
                        8 + rng.below(25) as u8
                    },
                    flags: 0,
                    nexthop: i as u16 + 1,
                })
                .collect();
            e.sort_by_key(|p| core::cmp::Reverse(p.len));
            fill(&a, &e);
            let d = Decoded::load(&a);
            let addrs: Vec<u32> = (0..64)
                .map(|_| 0x0a00_0000 | (rng.next_u64() as u32 & 0x1_ffff))
                .collect();
            let mut found = [UNCOVERED; 64];
            d.first_covering(&addrs, &mut found);
            for (&addr, &k) in addrs.iter().zip(&found) {
                let want = scan(&a, addr).map(|p| p.nexthop);
                let got = (k != UNCOVERED).then(|| d.nexthop(k));
                assert_eq!(got, want, "round {round}, {addr:#x}");
            }
        }
    }
}
