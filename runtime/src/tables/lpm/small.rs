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

/// Reader: the first (longest) entry covering `addr`.
#[inline(always)]
pub(crate) fn scan(array: &[AtomicU64], addr: u32) -> Option<PrefixWord> {
    let (head, entries) = array.split_first()?;
    let n = ((head.load(Relaxed) & 0xff) as usize).min(MAX_ENTRIES);
    let entries = entries.get(..n).unwrap_or(entries);
    for chunk in entries.chunks(CHUNK) {
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
}
