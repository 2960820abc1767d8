//! The two-level index (DIR-24-8) as readers and the writer touch it: the published-entry
//! protocol, generic over the 16-bit cell type so that `tests/lpm_loom.rs` models this code.
//!
//! Protocol:
//! * Readers load an entry with a `Relaxed` load followed by an `Acquire` fence, then (for a
//!   group entry) the group's entry the same way. Readers map the table read-only: an atomic
//!   *load* of at most 64 bits is a plain load instruction on every supported target (`mov` on
//!   x86-64, `ldrh`/`ldar` on aarch64) and works on read-only pages; only read-modify-write
//!   operations (and wide atomics emulated with compare-and-swap) would fault. The fence costs
//!   nothing on x86-64 and is the cheapest acquire on aarch64.
//! * The writer publishes everything an entry will point to (next-hop slots, the contents of a
//!   second-level group) first, then issues one `Release` fence ([`Levels::release`]) and then
//!   stores entries with `Relaxed` stores. A reader whose load returns such a store
//!   synchronizes through the fence pair and sees the pointed-to data complete.
//! * Every entry store replaces one complete old value by one complete new value, so a reader
//!   sees, per address, the old answer or the new one — never a torn value.
//! * A group is filled completely before the first-level entry that points to it is stored
//!   ([`Levels::install_group`]); a group that is unlinked is only rewritten after every reader
//!   passed a quiescent point (`sync::qsbr`), so a reader that still holds its index reads the
//!   old contents.

use core::sync::atomic::AtomicU16;
use core::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};

use super::encoding::{GROUP_BIT, NO_ROUTE};

/// A 16-bit atomic cell and the matching fence (loom supplies its own).
pub trait Cell16 {
    fn load(&self, order: Ordering) -> u16;
    fn store(&self, value: u16, order: Ordering);
    fn fence(order: Ordering);
}

impl Cell16 for AtomicU16 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u16 {
        AtomicU16::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u16, order: Ordering) {
        AtomicU16::store(self, value, order)
    }
    #[inline(always)]
    fn fence(order: Ordering) {
        core::sync::atomic::fence(order)
    }
}

/// A first level of `top.len()` entries indexed by `addr >> BITS`, and second-level groups of
/// `2^BITS` entries indexed by the low `BITS` bits. Production: `BITS = 8` (tbl24 + tbl8).
pub struct Levels<'a, C, const BITS: u32> {
    top: &'a [C],
    groups: &'a [C],
}

impl<C, const BITS: u32> Clone for Levels<'_, C, BITS> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, const BITS: u32> Copy for Levels<'_, C, BITS> {}

impl<'a, C: Cell16, const BITS: u32> Levels<'a, C, BITS> {
    pub const GROUP_ENTRIES: usize = 1 << BITS;
    const LOW: usize = (1 << BITS) - 1;

    pub fn new(top: &'a [C], groups: &'a [C]) -> Self {
        Levels { top, groups }
    }

    /// Number of second-level groups the memory holds.
    pub fn group_count(&self) -> usize {
        self.groups.len() >> BITS
    }

    /// Reader: the entry that answers `addr` (a next-hop id, `NO_ROUTE` or `MARKER`; garbage
    /// from a corrupt group, see [`second_level`](Self::second_level)). Entries outside the
    /// memory (a corrupt group index) read as `NO_ROUTE`.
    #[inline(always)]
    pub fn resolve(&self, addr: u32) -> u16 {
        let v = self.first_level(addr);
        C::fence(Acquire);
        self.second_level(v, addr)
    }

    /// Reader, first half of [`resolve`](Self::resolve) (for bursts: the loads of many
    /// addresses are issued together): the first-level entry, *without* the acquire fence the
    /// caller must issue before [`second_level`](Self::second_level) or using the value.
    #[inline(always)]
    pub fn first_level(&self, addr: u32) -> u16 {
        match self.top.get((addr >> BITS) as usize) {
            Some(c) => c.load(Relaxed),
            None => outside(),
        }
    }

    /// Reader: asks the core to start fetching the first-level entry of `addr`, for a burst
    /// that reads it a little later. A hint: it loads nothing and orders nothing, and unlike
    /// a load it does not hold the core's reorder window while the line is on its way.
    #[inline(always)]
    pub fn prefetch(&self, addr: u32) {
        if let Some(c) = self.top.get((addr >> BITS) as usize) {
            crate::hint::prefetch(c);
        }
    }

    /// Reader, second half of [`resolve`](Self::resolve): follows a group entry.
    ///
    /// A group never holds a group entry; a cell that does (a corrupt region) is returned as
    /// it is: callers take any value that is no next-hop id, `NO_ROUTE` or `MARKER` for
    /// garbage anyway, and one more test here cost single lookups 8% on the cloud benchmark.
    #[inline(always)]
    pub fn second_level(&self, v: u16, addr: u32) -> u16 {
        if v & GROUP_BIT == 0 {
            return v;
        }
        let i = (usize::from(v & !GROUP_BIT) << BITS) | (addr as usize & Self::LOW);
        let e = match self.groups.get(i) {
            Some(c) => c.load(Relaxed),
            None => outside(),
        };
        C::fence(Acquire);
        e
    }

    /// Writer: orders everything published so far before the entry stores that follow.
    #[inline]
    pub fn release(&self) {
        C::fence(Release);
    }

    /// Writer: the first-level entry of `block` (the writer reads back its own stores).
    #[inline]
    pub fn top(&self, block: usize) -> u16 {
        self.top.get(block).map_or(NO_ROUTE, |c| c.load(Relaxed))
    }

    /// Writer: stores a first-level entry; call [`release`](Self::release) after publishing
    /// what `value` refers to.
    #[inline]
    pub fn store_top(&self, block: usize, value: u16) {
        if let Some(c) = self.top.get(block) {
            c.store(value, Relaxed);
        }
    }

    /// Writer: the entry `low` of group `group`.
    #[inline]
    pub fn in_group(&self, group: u16, low: usize) -> u16 {
        self.cell(group, low).map_or(NO_ROUTE, |c| c.load(Relaxed))
    }

    /// Writer: stores an entry of a group (same ordering rule as `store_top`).
    #[inline]
    pub fn store_in_group(&self, group: u16, low: usize, value: u16) {
        if let Some(c) = self.cell(group, low) {
            c.store(value, Relaxed);
        }
    }

    /// Writer: fills group `group` with `value_of(low)` for every entry, then links it from
    /// `block`. The group must be unreachable (fresh, or retired and past its grace period).
    pub fn install_group(&self, block: usize, group: u16, mut value_of: impl FnMut(usize) -> u16) {
        for low in 0..Self::GROUP_ENTRIES {
            self.store_in_group(group, low, value_of(low));
        }
        self.release();
        self.store_top(block, GROUP_BIT | group);
    }

    fn cell(&self, group: u16, low: usize) -> Option<&'a C> {
        self.groups
            .get((usize::from(group) << BITS) | (low & Self::LOW))
    }
}

/// What an entry outside the memory reads as. Cold: a failing bounds check means a corrupt
/// region (or, in models, a first level shorter than the address space), and marking it so
/// keeps the lookup's common path straight (as a plain `NO_ROUTE` it cost single lookups
/// 10-20% on the cloud benchmark: the compiler laid the loaded value's uses out of line).
#[cold]
#[inline(never)]
fn outside() -> u16 {
    NO_ROUTE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_groups_and_tolerates_garbage() {
        let top: Vec<AtomicU16> = (0..4).map(|_| AtomicU16::new(0)).collect();
        let groups: Vec<AtomicU16> = (0..8).map(|_| AtomicU16::new(0)).collect();
        let l = Levels::<_, 2>::new(&top, &groups);
        assert_eq!(l.group_count(), 2);
        l.store_top(0, 7);
        assert_eq!(l.resolve(3), 7);
        l.install_group(1, 1, |low| if low == 2 { 9 } else { 7 });
        assert_eq!((l.resolve(4), l.resolve(6)), (7, 9));
        assert_eq!(l.top(1), GROUP_BIT | 1);
        l.store_top(2, GROUP_BIT | 100);
        assert_eq!(l.resolve(8), NO_ROUTE);
        // A group entry inside a group is garbage, passed on for the reader to refuse.
        l.store_in_group(1, 3, GROUP_BIT | 1);
        assert_eq!(l.resolve(7), GROUP_BIT | 1);
        assert_eq!(l.resolve(u32::MAX), NO_ROUTE);
    }
}
