//! The reader side (net tiles): lookups and inspection over a read-only mapping.

use core::marker::PhantomData;
use core::sync::atomic::Ordering::{Acquire, Relaxed};
use core::sync::atomic::{fence, AtomicU16, AtomicU64};

use super::dir24::Tbl;
use super::encoding::{PrefixWord, FLAG_ACTIVE, MARKER, MAX_NEXTHOP_ID, NO_ROUTE};
use super::error::FibError;
use super::mode;
use super::nexthops::SLOT_FULL;
use super::parts::Parts;
use super::routelist::{RouteSlots, LISTED};
use super::small;
use super::{ListedRoute, Lookup};
use crate::region::Region;
use crate::sync::qsbr::QsbrReader;
use crate::sync::seqlock::slot_words;
use crate::sync::{Busy, SeqSlot};
use crate::tables::geometry::Kind;
use crate::tables::header::{stat, word, Header};
use crate::SharedRow;

/// How often a lookup retries a next-hop slot caught mid-write. A registered (QSBR) reader
/// never sees one — slots are rewritten only after a grace period — so this only bounds the
/// work of readers that look up without announcing quiescent states.
const NEXTHOP_ATTEMPTS: u32 = 64;

/// Why a lookup has no next-hop row to read.
#[derive(Clone, Copy)]
enum NoRow {
    Miss,
    Incomplete,
}

impl NoRow {
    #[inline(always)]
    fn answer<N>(self) -> Lookup<N> {
        match self {
            NoRow::Miss => Lookup::Miss,
            NoRow::Incomplete => Lookup::Incomplete,
        }
    }
}

/// The index parts a reader uses.
#[derive(Clone, Copy)]
struct IndexView<'a> {
    tbl: Tbl<'a>,
    default: &'a AtomicU16,
}

impl IndexView<'_> {
    /// The /0 route's cell, which answers for entries that hold `NO_ROUTE`.
    #[inline(always)]
    fn default_value(&self) -> u16 {
        let d = self.default.load(Relaxed);
        fence(Acquire);
        d
    }
}

/// A read-only view of an IPv4 LPM table.
pub struct Fib4Reader<'a, N> {
    header: Header<'a>,
    epoch: &'a AtomicU64,
    small: [&'a [AtomicU64]; 2],
    index: Option<IndexView<'a>>,
    nexthops: &'a [AtomicU64],
    routes: RouteSlots<'a>,
    _row: PhantomData<fn() -> N>,
}

impl<N> Clone for Fib4Reader<'_, N> {
    fn clone(&self) -> Self {
        Fib4Reader {
            header: self.header,
            epoch: self.epoch,
            small: self.small,
            index: self.index,
            nexthops: self.nexthops,
            routes: self.routes,
            _row: PhantomData,
        }
    }
}

impl<'a, N: SharedRow + Copy> Fib4Reader<'a, N> {
    /// Attaches to a table created by a [`Fib4Writer`](super::Fib4Writer) with the same
    /// capacity and row type; `region` may be read-only.
    pub fn attach(region: Region<'a>, capacity: u64) -> Result<Self, FibError> {
        let row = core::mem::size_of::<N>() as u64;
        let parts = Parts::resolve(region, capacity, row)?;
        if parts.nexthop_slot_words != slot_words::<N>() {
            return Err(FibError::Layout("next-hop slots do not fit the row type"));
        }
        let header = Header::attach(parts.header, Kind::Lpm, capacity, row)?;
        let epoch = parts
            .header
            .words()
            .get(word::EPOCH)
            .ok_or(FibError::Layout("header too small"))?;
        Ok(Fib4Reader {
            header,
            epoch,
            small: parts.small,
            index: match (parts.index, parts.default) {
                (Some((t24, t8)), Some(default)) => Some(IndexView {
                    tbl: Tbl::new(t24, t8),
                    default,
                }),
                _ => None,
            },
            nexthops: parts.nexthops,
            routes: RouteSlots::new(parts.prefixes, parts.prefix_slot_words),
            _row: PhantomData,
        })
    }

    /// The table's epoch word, for this reader's [`QsbrReader`].
    pub fn epoch_word(&self) -> &'a AtomicU64 {
        self.epoch
    }

    /// A quiescent-state announcer writing to `mine` (memory this reader owns).
    pub fn qsbr<'b>(&self, mine: &'b AtomicU64) -> QsbrReader<'b, AtomicU64>
    where
        'a: 'b,
    {
        QsbrReader::new(self.epoch, mine)
    }

    /// Longest-prefix match for `addr` (host order).
    ///
    /// The answer is exact as of some instant during the call, provided this reader announces
    /// quiescent states (see `sync::qsbr`) and holds no lookup across them. `Incomplete` means
    /// a route covering `addr` could not be stored: the table cannot answer for this address
    /// (the net tile reports `table_incomplete` instead of using a wrong route).
    #[inline(always)]
    pub fn lookup(&self, addr: u32) -> Lookup<N> {
        let m = self.header.load(word::MODE);
        // The common cases inline, the index first (every table past a handful of routes uses
        // it); the rare ones (markers, garbage, overflow) out of line, where they cannot push
        // the common ones off their straight path (the cloud benchmark's single lookups went
        // from 0.80x to 1.0x of linear-hash with this and the cheaper row read).
        // The row is read in one place, `hit`: a second copy for small mode cost the host
        // benchmark 15%.
        let id = 'located: {
            if m == mode::INDEX {
                if let Some(ix) = &self.index {
                    let v = match ix.tbl.resolve(addr) {
                        NO_ROUTE => ix.default_value(),
                        v => v,
                    };
                    if v.wrapping_sub(1) < MAX_NEXTHOP_ID {
                        break 'located v;
                    } else if v == NO_ROUTE {
                        return Lookup::Miss;
                    }
                }
            } else if m & (mode::INDEX | mode::OVERFLOW) == 0 {
                match self.locate_small(addr, (m & mode::SMALL_ARRAY) as usize) {
                    Ok(found) => break 'located found,
                    Err(no) => return no.answer(),
                }
            }
            match self.locate_rare(m, addr) {
                Ok(found) => found,
                Err(no) => return no.answer(),
            }
        };
        self.hit(id)
    }

    /// What `lookup` leaves to the general way (which may redo some of its work).
    #[cold]
    #[inline(never)]
    fn locate_rare(&self, m: u64, addr: u32) -> Result<u16, NoRow> {
        if m & mode::OVERFLOW != 0 {
            return Err(NoRow::Incomplete);
        }
        if m & mode::INDEX == 0 {
            return self.locate_small(addr, (m & mode::SMALL_ARRAY) as usize);
        }
        match &self.index {
            Some(ix) => Self::locate(ix, ix.tbl.resolve(addr)),
            None => Err(NoRow::Miss),
        }
    }

    /// Looks up a burst of addresses (e.g. a batch of packets): `out[i]` gets the answer
    /// `lookup(addrs[i])` would give (for the first `min(len)` of each). Faster than one call
    /// per address on large tables: the first-level lines of the next 32 addresses are
    /// prefetched while the current 32 are looked up, so their cache misses overlap that work
    /// and each other, and the mode is read once. (Prefetch hints rather than early loads: a
    /// load holds the core's reorder window until its line arrives, a hint does not; in the
    /// 1M case of `netbase bench fib4` bursts went from about 80M to 100M lookups/s.)
    pub fn lookup_burst(&self, addrs: &[u32], out: &mut [Lookup<N>]) {
        let n = addrs.len().min(out.len());
        let (addrs, out) = (&addrs[..n], &mut out[..n]);
        let m = self.header.load(word::MODE);
        if m & mode::OVERFLOW != 0 {
            out.fill(Lookup::Incomplete);
            return;
        }
        let ix = match &self.index {
            Some(ix) if m & mode::INDEX != 0 => ix,
            _ => return self.small_burst(m, addrs, out),
        };
        const STEP: usize = 32;
        let prefetch = |a: &[u32]| a.iter().for_each(|&x| ix.tbl.prefetch(x));
        let mut steps = addrs.chunks(STEP).zip(out.chunks_mut(STEP)).peekable();
        if let Some((a, _)) = steps.peek() {
            prefetch(a);
        }
        while let Some((a, o)) = steps.next() {
            if let Some((next, _)) = steps.peek() {
                prefetch(next);
            }
            let mut e = [NO_ROUTE; STEP];
            for (e, &addr) in e.iter_mut().zip(a) {
                *e = ix.tbl.first_level(addr);
            }
            fence(Acquire);
            for (e, &addr) in e.iter_mut().zip(a) {
                *e = ix.tbl.second_level(*e, addr);
            }
            for (o, e) in o.iter_mut().zip(e) {
                *o = self.answer(ix, e);
            }
        }
    }

    /// [`lookup_burst`](Self::lookup_burst) of a table in small mode (mode word `m`): the
    /// array decoded once, then scanned an entry at a time across 64 addresses.
    fn small_burst(&self, m: u64, addrs: &[u32], out: &mut [Lookup<N>]) {
        const STEP: usize = 64;
        let d = small::Decoded::load(self.small[(m & mode::SMALL_ARRAY) as usize & 1]);
        let mut found = [small::UNCOVERED; STEP];
        for (a, o) in addrs.chunks(STEP).zip(out.chunks_mut(STEP)) {
            let found = &mut found[..a.len()];
            d.first_covering(a, found);
            for (o, &k) in o.iter_mut().zip(found.iter()) {
                *o = match k {
                    small::UNCOVERED => Lookup::Miss,
                    k => match d.nexthop(k) {
                        MARKER => Lookup::Incomplete,
                        id => self.hit(id),
                    },
                };
            }
        }
    }

    /// Starts fetching the first-level entries of `addrs` (a hint, see `Levels::prefetch`):
    /// a caller about to look them up after other work (a chain walks `local` before `main`)
    /// overlaps their cache misses with that work. Does nothing for tables without an index.
    #[inline]
    pub fn prefetch(&self, addrs: &[u32]) {
        if let Some(ix) = &self.index {
            if self.header.load(word::MODE) & mode::INDEX != 0 {
                for &a in addrs {
                    ix.tbl.prefetch(a);
                }
            }
        }
    }

    /// The index's answer whatever the mode (tests: the index is maintained in every mode).
    #[doc(hidden)]
    #[inline(always)]
    pub fn lookup_index(&self, addr: u32) -> Lookup<N> {
        match &self.index {
            Some(ix) => self.answer(ix, ix.tbl.resolve(addr)),
            None => Lookup::Miss,
        }
    }

    /// The lookup result of index entry `v`.
    #[inline(always)]
    fn answer(&self, ix: &IndexView<'a>, v: u16) -> Lookup<N> {
        match Self::locate(ix, v) {
            Ok(id) => self.hit(id),
            Err(no) => no.answer(),
        }
    }

    /// The next-hop id that index entry `v` stands for.
    #[inline(always)]
    fn locate(ix: &IndexView<'a>, v: u16) -> Result<u16, NoRow> {
        // One test for the common case, a next-hop id (1..=MAX_NEXTHOP_ID).
        if v.wrapping_sub(1) < MAX_NEXTHOP_ID {
            Ok(v)
        } else {
            Self::special(ix, v)
        }
    }

    /// An entry that is not a next-hop id: `NO_ROUTE` (the /0 route's cell answers, with an
    /// id or not), `MARKER`, or garbage (e.g. a group cell holding a group entry: see
    /// `Levels::second_level`).
    #[inline]
    fn special(ix: &IndexView<'a>, v: u16) -> Result<u16, NoRow> {
        let v = if v == NO_ROUTE { ix.default_value() } else { v };
        match v {
            MARKER => Err(NoRow::Incomplete),
            id if id.wrapping_sub(1) < MAX_NEXTHOP_ID => Ok(id),
            _ => Err(NoRow::Miss),
        }
    }

    /// The next-hop id of the prefix covering `addr` in small array `array`. (Its length is
    /// the id's too: ids name a row and a length.)
    #[inline(always)]
    fn locate_small(&self, addr: u32, array: usize) -> Result<u16, NoRow> {
        match small::scan(self.small[array & 1], addr) {
            None => Err(NoRow::Miss),
            Some(p) if p.nexthop == MARKER => Err(NoRow::Incomplete),
            Some(p) => Ok(p.nexthop),
        }
    }

    #[inline(always)]
    fn hit(&self, id: u16) -> Lookup<N> {
        match self.nexthop(id) {
            Ok(Some((nexthop, prefix_len))) => Lookup::Hit {
                nexthop,
                prefix_len,
            },
            Ok(None) => Lookup::Miss,
            Err(Busy) => Lookup::Busy,
        }
    }

    /// The row of next-hop `id` and its prefix length (`None`: no such slot, an empty one or
    /// a length over 32 — a corrupt entry).
    #[inline(always)]
    fn nexthop(&self, id: u16) -> Result<Option<(N, u8)>, Busy> {
        // A constant slot size (checked at attach) lets the compiler drop the seqlock's own
        // size check and turn the multiplication into address arithmetic.
        let w = slot_words::<N>();
        let Some(start) = usize::from(id).checked_sub(1).map(|s| s * w) else {
            return Ok(None);
        };
        let Some(words) = self.nexthops.get(start..start + w) else {
            return Ok(None);
        };
        // Registered readers never meet a slot mid-write (see NEXTHOP_ATTEMPTS): one attempt
        // with a single test first, the general loop only when it fails.
        if let Some((row, len)) = crate::sync::seqlock::read_in_state::<N, _>(words, SLOT_FULL) {
            return Ok((len <= 32).then_some((row, len)));
        }
        let slot = SeqSlot::new(words);
        for _ in 0..NEXTHOP_ATTEMPTS {
            if let Some(s) = slot.try_read::<N>() {
                return Ok((s.state == SLOT_FULL && s.tag <= 32).then_some((s.value, s.tag)));
            }
            core::hint::spin_loop();
        }
        Err(Busy)
    }

    /// Whether some route is missing from the table (full table, next hops or groups): while
    /// true, lookups in the affected ranges answer `Incomplete`.
    pub fn incomplete(&self) -> bool {
        self.header.stat(stat::INCOMPLETE) != 0
    }

    /// Routes in the shared route list (`COUNT`).
    pub fn len(&self) -> u64 {
        self.header.load(word::COUNT)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bumped by the writer after each batch of changes it published (at its `maintain`).
    pub fn generation(&self) -> u64 {
        self.header.load(word::GENERATION)
    }

    /// A header counter (`header::stat::*`).
    pub fn stat(&self, s: usize) -> u64 {
        self.header.stat(s)
    }

    /// Every listed route (inspection, e.g. a dump to compare with `ip route`), including
    /// routes shadowed by a lower metric (`active == false`). Each entry is consistent (its
    /// prefix and next hop belonged together at one instant); the list as a whole is not a
    /// snapshot. `Err(Busy)` for a slot that stayed mid-write (a writer that died in it).
    pub fn routes(&self) -> impl Iterator<Item = Result<ListedRoute<N>, Busy>> + '_ {
        (0..self.routes.count()).filter_map(move |i| self.listed(i).transpose())
    }

    fn listed(&self, i: usize) -> Result<Option<ListedRoute<N>>, Busy> {
        for _ in 0..NEXTHOP_ATTEMPTS {
            let Some(first) = self.routes.try_read(i) else {
                core::hint::spin_loop();
                continue;
            };
            if first.state != LISTED {
                return Ok(None);
            }
            let p = PrefixWord::decode(first.value);
            let Ok(hop) = self.nexthop(p.nexthop) else {
                continue;
            };
            // The id may have been released and reused while we read its row; an unchanged
            // slot version proves the route (and so its reference to the id) lasted
            // throughout.
            match self.routes.try_read(i) {
                Some(again) if again.version == first.version => {}
                _ => continue,
            }
            return Ok(hop.map(|(nexthop, _)| ListedRoute {
                prefix: p.addr,
                len: p.len,
                nexthop,
                active: p.flags & FLAG_ACTIVE != 0,
            }));
        }
        Err(Busy)
    }
}
