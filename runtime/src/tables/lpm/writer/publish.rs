//! Publication after each operation: which representation readers use (small array or
//! index), releases that had to wait for it, the epoch, and the header words.

use core::hash::Hash;
use core::sync::atomic::AtomicU64;

use super::super::encoding::PrefixWord;
use super::super::mode;
use super::super::small::{self, ArrayState, MAX_ENTRIES};
use super::{Fib4Writer, SMALL_RETURN};
use crate::sync::qsbr::{grace_elapsed, min_epoch_fenced, ReaderEpochs};
use crate::tables::header::{stat, word};
use crate::SharedRow;

impl<'a, N, R> Fib4Writer<'a, N, R>
where
    N: SharedRow + Copy + Eq + Hash,
    R: ReaderEpochs,
{
    /// After every operation: representation, deferred releases, epoch, header words.
    pub(super) fn finish(&mut self) {
        self.publish_mode();
        let hold = self.mode & (mode::INDEX | mode::OVERFLOW) == 0 && self.small_stale;
        for id in core::mem::take(&mut self.released) {
            if hold {
                self.held.push(id);
            } else {
                let e = self.clock.retire();
                self.nexthops.release(id, e);
            }
        }
        self.clock.advance_if_retired();
        let winners = self.rib.prefixes();
        let overflow = if self.mode & mode::OVERFLOW != 0 {
            winners.saturating_sub(MAX_ENTRIES)
        } else {
            0
        };
        let starved = self.index.as_ref().map_or(0, |ix| ix.starved());
        let incomplete = (self.missing.len() + starved + overflow) as u64;
        let retired = self.index.as_ref().map_or(0, |ix| ix.retired_groups()) as u64;
        self.set_stat(stat::INCOMPLETE, incomplete);
        self.set_stat(stat::RETIRED_GROUPS, retired);
        self.header.store(word::COUNT, self.list.listed() as u64);
        self.changed = true;
    }

    fn set_stat(&self, s: usize, v: u64) {
        if self.header.stat(s) != v {
            self.header.store(word::STATS + s, v);
        }
    }

    fn publish_mode(&mut self) {
        let winners = self.rib.prefixes();
        if self.index.is_some() {
            if self.mode & mode::INDEX != 0 {
                if winners <= SMALL_RETURN {
                    self.try_publish_small();
                }
            } else if winners > MAX_ENTRIES || (self.small_stale && !self.try_publish_small()) {
                // The index is always current: switching to it loses nothing.
                self.switch_to(mode::INDEX);
            }
        } else if winners > MAX_ENTRIES {
            if self.mode & mode::OVERFLOW == 0 {
                self.switch_to(mode::OVERFLOW);
            }
        } else if self.small_stale || self.mode & mode::OVERFLOW != 0 {
            self.try_publish_small();
        }
    }

    fn store_mode(&mut self, m: u64) {
        if (m ^ self.mode) & (mode::INDEX | mode::OVERFLOW) != 0 {
            self.header.add_stat(stat::MODE_SWITCHES, 1);
        }
        self.mode = m;
        self.header.store(word::MODE, m);
        // Readers are directed away from the array in use: it and every id only it could
        // still show wait for the same grace period.
        for a in &mut self.arrays {
            if *a == ArrayState::InUse {
                *a = ArrayState::Retired(self.clock.retire());
            }
        }
    }

    fn switch_to(&mut self, m: u64) {
        self.store_mode(m);
        self.release_held();
    }

    fn release_held(&mut self) {
        for id in core::mem::take(&mut self.held) {
            let e = self.clock.retire();
            self.nexthops.release(id, e);
        }
    }

    /// Fills a free array from the RIB and directs readers to it; false if both arrays may
    /// still be read.
    fn try_publish_small(&mut self) -> bool {
        let readers = &self.readers;
        let mut cached = None;
        let mut min = || *cached.get_or_insert_with(|| min_epoch_fenced::<AtomicU64, _>(readers));
        let mut target = None;
        for (k, a) in self.arrays.iter().enumerate() {
            let free = match a {
                ArrayState::Fresh => true,
                ArrayState::InUse => false,
                ArrayState::Retired(e) => grace_elapsed(*e, min()),
            };
            if free {
                target = Some(k);
                if *a == ArrayState::Fresh {
                    break;
                }
            }
        }
        let Some(k) = target else {
            return false;
        };
        let entries: Vec<PrefixWord> = self
            .rib
            .iter()
            .take(MAX_ENTRIES)
            .map(|(p, l, routes)| PrefixWord {
                addr: p,
                len: l,
                flags: 0,
                nexthop: routes.winner().value(),
            })
            .collect();
        small::fill(self.parts.small[k], &entries);
        self.store_mode(k as u64);
        self.arrays[k] = ArrayState::InUse;
        self.small_stale = false;
        self.release_held();
        true
    }
}
