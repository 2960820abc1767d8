//! The writer's side of the DIR-24-8 index: incremental updates of tbl24 and the second-level
//! groups, group allocation and reclamation.
//!
//! Shared entries carry no prefix lengths (unlike DPDK's depth bits): the writer keeps, in its
//! private memory, the length of the winner behind every tbl24 entry (`best`) and, for each
//! /24 with longer prefixes, the length and value behind each of its 256 entries (`Block`).
//! These are derived from the RIB alongside every change, and decide which entries a change
//! rewrites:
//!
//! * a prefix of length `L <= 24` winning (or changing value) rewrites the tbl24 entries in its
//!   range whose current winner is not longer than `L` — for a /24 with a group, the group
//!   entries that no longer prefix covers;
//! * when it goes away, the entries it owned get the next covering winner from the RIB;
//! * the first prefix longer than /24 in a /24 gets a group filled with the final values of all
//!   256 entries *before* tbl24 points to it; further ones rewrite entries inside the group;
//! * when the last prefix longer than /24 goes, tbl24 gets the plain value back (the group is
//!   uniform) and the group is retired; it is reused only after a grace period (QSBR).
//!
//! The /0 route is not written into tbl24 (it would be 2^24 stores per change of a host's
//! default route): its value sits in one cell before the first group, and readers fall back to
//! it for an entry holding `NO_ROUTE`. So entries covered by nothing but /0 hold `NO_ROUTE`.
//!
//! If no group can be had, the /24's tbl24 entry holds `MARKER` (readers answer "incomplete"
//! for that /24, never a wrong route) until [`Index::retry_starved`] finds one.

use core::sync::atomic::AtomicU16;
use core::sync::atomic::Ordering::Relaxed;

use super::encoding::{mask, MARKER, NO_ROUTE};
use super::fasthash::FastMap;
use super::levels::Levels;
use crate::sync::qsbr::{EpochClock, RetireQueue};
use core::sync::atomic::AtomicU64;

/// The production index: 2^24 first-level entries, groups of 256.
pub(crate) type Tbl<'a> = Levels<'a, AtomicU16, 8>;

const GROUP: usize = 256;
/// `best` bit: the /24 has prefixes longer than /24 (it is in `blocks`).
const HAS_LONG: u8 = 0x80;
/// `best` bits: length + 1 of the winner of length <= 24 covering the /24 (0: none).
const LEN_BITS: u8 = 0x3f;

/// A /24 with prefixes longer than /24.
struct Block {
    /// Per entry: length + 1 of the longest covering prefix longer than /24 (0: none).
    lens: [u8; GROUP],
    /// Per entry: the value readers must see.
    vals: [u16; GROUP],
    /// Prefixes longer than /24 in this /24.
    count: u32,
    /// `None` while starved (tbl24 holds `MARKER`).
    group: Option<u16>,
    /// The value of the covering winner of length <= 24.
    base: u16,
}

/// No second-level group was free: the /24 answers "incomplete" until one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Starved;

pub(crate) struct Index<'a> {
    tbl: Tbl<'a>,
    default: &'a AtomicU16,
    best: Vec<u8>,
    blocks: FastMap<u32, Box<Block>>,
    free: Vec<u16>,
    fresh: u16,
    end: u16,
    retired: RetireQueue<u16>,
    starved: usize,
    in_use: usize,
    reclaimed: u64,
}

fn short_range(prefix: u32, len: u8) -> core::ops::Range<usize> {
    let first = (prefix >> 8) as usize;
    first..first + (1usize << (24 - u32::from(len.min(24))))
}

fn long_range(prefix: u32, len: u8) -> core::ops::Range<usize> {
    let first = (prefix & 0xff) as usize;
    first..first + (1usize << (32 - u32::from(len.clamp(25, 32))))
}

impl<'a> Index<'a> {
    /// `first_group`: groups below it hold the default cell.
    pub fn new(tbl: Tbl<'a>, default: &'a AtomicU16, first_group: u16) -> Self {
        let end = tbl.group_count().min(usize::from(u16::MAX >> 1) + 1) as u16;
        Index {
            tbl,
            default,
            best: vec![0; 1 << 24],
            blocks: FastMap::default(),
            free: Vec::new(),
            fresh: first_group.min(end),
            end,
            retired: RetireQueue::default(),
            starved: 0,
            in_use: 0,
            reclaimed: 0,
        }
    }

    #[cfg(test)]
    pub fn tbl(&self) -> &Tbl<'a> {
        &self.tbl
    }

    /// /24s that need a group and have none.
    pub fn starved(&self) -> usize {
        self.starved
    }

    pub fn groups_in_use(&self) -> usize {
        self.in_use
    }

    pub fn retired_groups(&self) -> usize {
        self.retired.len()
    }

    /// Whether `addr`'s /24 is starved (its lookups answer "incomplete").
    pub fn is_starved(&self, addr: u32) -> bool {
        self.blocks
            .get(&(addr >> 8))
            .is_some_and(|b| b.group.is_none())
    }

    fn alloc_group(&mut self, min: &mut impl FnMut() -> Option<u64>) -> Option<u16> {
        if let Some(g) = self.free.pop() {
            return Some(g);
        }
        if self.fresh < self.end {
            self.fresh += 1;
            return Some(self.fresh - 1);
        }
        if self.retired.is_empty() {
            return None;
        }
        let (_, g) = self.retired.pop_reusable(min())?;
        self.reclaimed += 1;
        Some(g)
    }

    /// Heap bytes, roughly.
    pub fn approx_bytes(&self) -> usize {
        self.best.capacity()
            + self.blocks.capacity() * (core::mem::size_of::<(u32, Box<Block>)>() + 1)
            + self.blocks.len() * core::mem::size_of::<Block>()
    }

    /// Groups reused after their grace period so far.
    pub fn reclaimed(&self) -> u64 {
        self.reclaimed
    }

    /// The covering value of a /24 with a group changed to `value`.
    fn set_base(&mut self, block: usize, value: u16) {
        let Some(blk) = self.blocks.get_mut(&(block as u32)) else {
            return;
        };
        blk.base = value;
        for j in 0..GROUP {
            if blk.lens[j] == 0 {
                blk.vals[j] = value;
                if let Some(g) = blk.group {
                    self.tbl.store_in_group(g, j, value);
                }
            }
        }
    }

    fn store_base(&mut self, block: usize, value: u16) {
        if self.best[block] & HAS_LONG != 0 {
            self.set_base(block, value);
        } else {
            self.tbl.store_top(block, value);
        }
    }

    /// The /0 route's value (`NO_ROUTE` when there is none).
    pub fn set_default(&mut self, value: u16) {
        self.tbl.release();
        self.default.store(value, Relaxed);
    }

    /// The winner of `prefix/len` (`1 <= len <= 24`) is new or now has `value`.
    pub fn set_short(&mut self, prefix: u32, len: u8, value: u16) {
        self.tbl.release();
        let me = len + 1;
        for b in short_range(prefix, len) {
            let cur = self.best[b];
            if cur & LEN_BITS <= me {
                self.best[b] = (cur & HAS_LONG) | me;
                self.store_base(b, value);
            }
        }
    }

    /// `prefix/len` (`1 <= len <= 24`) has no routes any more; `cover` is the next covering
    /// winner (length, value) of length in `1..len`.
    pub fn clear_short(&mut self, prefix: u32, len: u8, cover: Option<(u8, u16)>) {
        self.tbl.release();
        let me = len + 1;
        let (cl, cv) = cover.map_or((0, NO_ROUTE), |(l, v)| (l + 1, v));
        for b in short_range(prefix, len) {
            let cur = self.best[b];
            if cur & LEN_BITS == me {
                self.best[b] = (cur & HAS_LONG) | cl;
                self.store_base(b, cv);
            }
        }
    }

    /// The winner of `prefix/len` (`len > 24`) is new (`new_prefix`) or now has `value`.
    pub fn set_long(
        &mut self,
        prefix: u32,
        len: u8,
        value: u16,
        new_prefix: bool,
        min: &mut impl FnMut() -> Option<u64>,
    ) -> Result<(), Starved> {
        self.tbl.release();
        let b = prefix >> 8;
        let me = len + 1;
        if let Some(blk) = self.blocks.get_mut(&b) {
            if new_prefix {
                blk.count += 1;
            }
            for j in long_range(prefix, len) {
                if blk.lens[j] <= me {
                    blk.lens[j] = me;
                    blk.vals[j] = value;
                    if let Some(g) = blk.group {
                        self.tbl.store_in_group(g, j, value);
                    }
                }
            }
            return if blk.group.is_some() {
                Ok(())
            } else {
                Err(Starved)
            };
        }
        let base = self.tbl.top(b as usize);
        let mut blk = Box::new(Block {
            lens: [0; GROUP],
            vals: [base; GROUP],
            count: 1,
            group: None,
            base,
        });
        for j in long_range(prefix, len) {
            blk.lens[j] = me;
            blk.vals[j] = value;
        }
        self.best[b as usize] |= HAS_LONG;
        let result = match self.alloc_group(min) {
            Some(g) => {
                self.tbl.install_group(b as usize, g, |j| blk.vals[j]);
                blk.group = Some(g);
                self.in_use += 1;
                Ok(())
            }
            None => {
                self.tbl.store_top(b as usize, MARKER);
                self.starved += 1;
                Err(Starved)
            }
        };
        self.blocks.insert(b, blk);
        result
    }

    /// `prefix/len` (`len > 24`) has no routes any more; `cover` is the next covering winner
    /// longer than /24 (length, value), if any.
    pub fn clear_long(
        &mut self,
        prefix: u32,
        len: u8,
        cover: Option<(u8, u16)>,
        clock: &mut EpochClock<'_, AtomicU64>,
    ) {
        self.tbl.release();
        let b = prefix >> 8;
        let Some(blk) = self.blocks.get_mut(&b) else {
            return;
        };
        let me = len + 1;
        let (cl, cv) = cover.map_or((0, blk.base), |(l, v)| (l + 1, v));
        for j in long_range(prefix, len) {
            if blk.lens[j] == me {
                blk.lens[j] = cl;
                blk.vals[j] = cv;
                if let Some(g) = blk.group {
                    self.tbl.store_in_group(g, j, cv);
                }
            }
        }
        blk.count = blk.count.saturating_sub(1);
        if blk.count > 0 {
            return;
        }
        // Every entry holds the base value again: the /24 needs no group.
        self.tbl.store_top(b as usize, blk.base);
        match blk.group {
            Some(g) => {
                self.retired.push(clock.retire(), g);
                self.in_use -= 1;
            }
            None => self.starved -= 1,
        }
        self.blocks.remove(&b);
        self.best[b as usize] &= !HAS_LONG;
    }

    /// Gives starved /24s a group where one can be had now; returns how many stay starved.
    pub fn retry_starved(&mut self, min: &mut impl FnMut() -> Option<u64>) -> usize {
        if self.starved == 0 {
            return 0;
        }
        let mut waiting: Vec<u32> = self
            .blocks
            .iter()
            .filter(|(_, blk)| blk.group.is_none())
            .map(|(b, _)| *b)
            .collect();
        waiting.sort_unstable();
        self.tbl.release();
        for b in waiting {
            let Some(g) = self.alloc_group(min) else {
                break;
            };
            if let Some(blk) = self.blocks.get_mut(&b) {
                self.tbl.install_group(b as usize, g, |j| blk.vals[j]);
                blk.group = Some(g);
                self.starved -= 1;
                self.in_use += 1;
            }
        }
        self.starved
    }

    /// Adoption (writer restart): rebuilds the private state from the winners and repairs the
    /// shared index to match them, entry by entry (each store replaces a complete value, so
    /// readers see old or new answers while it runs). Groups not claimed by a /24 that still
    /// needs one are retired at the clock's epoch; /24s that need a new group get one if it
    /// can be reused already, else they stay starved until `retry_starved`.
    pub fn adopt(
        &mut self,
        winners: &mut [(u32, u8, u16)],
        clock: &mut EpochClock<'_, AtomicU64>,
        min: &mut impl FnMut() -> Option<u64>,
    ) {
        winners.sort_unstable_by_key(|w| w.1);
        let mut vals24 = vec![NO_ROUTE; 1 << 24];
        self.best.iter_mut().for_each(|b| *b = 0);
        self.blocks.clear();
        let default = winners.iter().find(|w| w.1 == 0).map_or(NO_ROUTE, |w| w.2);
        self.set_default(default);
        for &(prefix, len, value) in winners.iter().filter(|w| (1..=24).contains(&w.1)) {
            let p = prefix & mask(len);
            for b in short_range(p, len) {
                self.best[b] = len + 1;
                vals24[b] = value;
            }
        }
        for &(prefix, len, value) in winners.iter().filter(|w| w.1 > 24) {
            let p = prefix & mask(len);
            let b = p >> 8;
            let base = vals24[b as usize];
            let blk = self.blocks.entry(b).or_insert_with(|| {
                Box::new(Block {
                    lens: [0; GROUP],
                    vals: [base; GROUP],
                    count: 0,
                    group: None,
                    base,
                })
            });
            blk.count += 1;
            for j in long_range(p, len) {
                blk.lens[j] = len + 1;
                blk.vals[j] = value;
            }
            self.best[b as usize] |= HAS_LONG;
        }
        let first = self.fresh;
        let mut claimed = vec![false; usize::from(self.end)];
        self.tbl.release();
        for (b, want) in vals24.iter().enumerate() {
            let top = self.tbl.top(b);
            if let Some(blk) = self.blocks.get_mut(&(b as u32)) {
                let g = top & !super::encoding::GROUP_BIT;
                let is_group = top & super::encoding::GROUP_BIT != 0;
                if is_group && g >= first && g < self.end && !claimed[usize::from(g)] {
                    claimed[usize::from(g)] = true;
                    for j in 0..GROUP {
                        if self.tbl.in_group(g, j) != blk.vals[j] {
                            self.tbl.store_in_group(g, j, blk.vals[j]);
                        }
                    }
                    blk.group = Some(g);
                    self.in_use += 1;
                }
            } else if top != *want {
                self.tbl.store_top(b, *want);
            }
        }
        self.fresh = self.end;
        let epoch = clock.retire();
        for g in first..self.end {
            if !claimed[usize::from(g)] {
                self.retired.push(epoch, g);
            }
        }
        let mut waiting: Vec<u32> = self
            .blocks
            .iter()
            .filter(|(_, blk)| blk.group.is_none())
            .map(|(b, _)| *b)
            .collect();
        waiting.sort_unstable();
        for b in waiting {
            self.tbl.store_top(b as usize, MARKER);
            self.starved += 1;
        }
        self.retry_starved(min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::lpm::encoding::GROUP_BIT;

    struct Mem {
        top: Vec<AtomicU16>,
        groups: Vec<AtomicU16>,
        default: AtomicU16,
        epoch: AtomicU64,
    }

    fn mem(groups: usize) -> Mem {
        Mem {
            top: (0..1 << 24).map(|_| AtomicU16::new(0)).collect(),
            groups: (0..groups * GROUP).map(|_| AtomicU16::new(0)).collect(),
            default: AtomicU16::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    #[test]
    fn short_and_long_updates_collapse_and_starve() {
        let m = mem(3);
        let mut ix = Index::new(Levels::new(&m.top, &m.groups), &m.default, 1);
        let mut clock = EpochClock::new(&m.epoch);
        let mut none = || None;
        ix.set_short(0x0a00_0000, 8, 1);
        ix.set_short(0x0a01_0000, 16, 2);
        ix.set_short(0x0a00_0000, 8, 3); // value change: /16 keeps its entries
        assert_eq!(ix.tbl().resolve(0x0a01_0203), 2);
        assert_eq!(ix.tbl().resolve(0x0a02_0203), 3);
        assert_eq!(ix.set_long(0x0a01_0280, 25, 4, true, &mut none), Ok(()));
        assert_eq!(ix.tbl().top(0x0a0102) & GROUP_BIT, GROUP_BIT);
        assert_eq!(ix.tbl().resolve(0x0a01_0281), 4);
        assert_eq!(ix.tbl().resolve(0x0a01_0201), 2);
        // A shorter prefix changing value reaches the group's uncovered entries only.
        ix.set_short(0x0a01_0000, 16, 5);
        assert_eq!(ix.tbl().resolve(0x0a01_0201), 5);
        assert_eq!(ix.tbl().resolve(0x0a01_0281), 4);
        // Only one group beyond the reserved one... and a second /24.
        assert_eq!(ix.set_long(0x0a01_0300, 32, 6, true, &mut none), Ok(()));
        assert_eq!(
            ix.set_long(0x0a01_0400, 32, 7, true, &mut none),
            Err(Starved)
        );
        assert_eq!(ix.tbl().resolve(0x0a01_0400), MARKER);
        assert_eq!(ix.tbl().resolve(0x0a01_0401), MARKER);
        assert!(ix.is_starved(0x0a01_04ff));
        // Collapse frees a group for the starved /24 after the grace period.
        ix.clear_long(0x0a01_0280, 25, None, &mut clock);
        clock.advance_if_retired();
        assert_eq!(ix.tbl().top(0x0a0102), 5);
        assert_eq!(
            ix.retry_starved(&mut || Some(0)),
            1,
            "readers still at epoch 0"
        );
        assert_eq!(ix.retry_starved(&mut || Some(1)), 0);
        assert_eq!(ix.tbl().resolve(0x0a01_0400), 7);
        assert_eq!(ix.tbl().resolve(0x0a01_0401), 5);
        ix.clear_short(0x0a01_0000, 16, Some((8, 3)));
        assert_eq!(ix.tbl().resolve(0x0a01_0401), 3);
        assert_eq!(ix.tbl().resolve(0x0a01_0400), 7);
        ix.clear_short(0x0a00_0000, 8, None);
        assert_eq!(ix.tbl().resolve(0x0a01_0401), NO_ROUTE);
        assert_eq!(ix.groups_in_use(), 2);
    }
}
