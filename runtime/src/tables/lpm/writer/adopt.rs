//! Taking over a table left by a previous writer: the private state is rebuilt from what the
//! table lists, and the shared structures are repaired to match it.

use core::hash::Hash;
use core::sync::atomic::AtomicU64;

use super::super::encoding::{mask, PrefixWord, FLAG_ACTIVE};
use super::super::fasthash::FastMap;
use super::super::mode;
use super::super::nexthops::SLOT_FULL;
use super::super::rib::{Hop, Rank, RouteRec, ADOPTED_RANK};
use super::super::routelist::{RouteSlots, LISTED};
use super::super::small::ArrayState;
use super::{entry, Fib4Writer};
use crate::sync::qsbr::{min_epoch_fenced, ReaderEpochs};
use crate::sync::SeqSlot;
use crate::SharedRow;

impl<'a, N, R> Fib4Writer<'a, N, R>
where
    N: SharedRow + Copy + Eq + Hash,
    R: ReaderEpochs,
{
    pub(super) fn adopt(&mut self) {
        let slots = RouteSlots::new(self.parts.prefixes, self.parts.prefix_slot_words);
        let count = slots.count();
        let mut adopted = vec![false; count];
        let mut ranks: FastMap<(u32, u8), Rank> = Default::default();
        // Active routes first, so that they keep winning their prefixes.
        for active_pass in [true, false] {
            for (i, done) in adopted.iter_mut().enumerate() {
                let Some(s) = slots.try_read(i) else {
                    continue;
                };
                let p = PrefixWord::decode(s.value);
                if s.state != LISTED || (p.flags & FLAG_ACTIVE != 0) != active_pass || p.len > 32 {
                    continue;
                }
                let Some(row) = self.nexthop_row(p.nexthop) else {
                    continue;
                };
                if !self.nexthops.adopt(p.nexthop, row, p.len) {
                    continue;
                }
                let prefix = p.addr & mask(p.len);
                let next = ranks.entry((prefix, p.len)).or_insert(ADOPTED_RANK);
                let rec = RouteRec {
                    rank: *next,
                    hop: Hop::Stored {
                        slot: i as u32,
                        id: p.nexthop,
                    },
                };
                *next += 1;
                match self.rib.get_mut(prefix, p.len) {
                    Some(routes) => {
                        routes.insert(rec);
                    }
                    None => self.rib.insert_prefix(prefix, p.len, rec),
                }
                self.routes += 1;
                self.list.adopt(i as u32);
                *done = true;
            }
        }
        for (i, done) in adopted.iter().enumerate() {
            if !*done && slots.try_read(i).is_none_or(|s| s.state != 0) {
                if let Some(s) = slots.slot(i) {
                    s.write(0, &0u64);
                }
            }
        }
        self.list.finish_adoption(&adopted);
        let epoch = self.clock.retire();
        self.nexthops.finish_adoption(epoch);
        let mut winners = Vec::with_capacity(self.rib.prefixes());
        for (p, l, routes) in self.rib.iter() {
            let w = routes.winner().rank;
            for r in routes.iter() {
                if let Hop::Stored { slot, id } = r.hop {
                    self.list.write(slot, entry(p, l, r.rank == w, id));
                }
            }
            winners.push((p, l, routes.winner().value()));
        }
        if let Some(ix) = &mut self.index {
            let readers = &self.readers;
            let mut cached = None;
            let mut min =
                || *cached.get_or_insert_with(|| min_epoch_fenced::<AtomicU64, _>(readers));
            ix.adopt(&mut winners, &mut self.clock, &mut min);
        }
        // The array readers use stays in use; the other may be mid-scan by a reader of the
        // previous writer's last flip.
        let in_use = (self.mode & (mode::INDEX | mode::OVERFLOW) == 0)
            .then_some((self.mode & mode::SMALL_ARRAY) as usize);
        for (k, a) in self.arrays.iter_mut().enumerate() {
            *a = if Some(k) == in_use {
                ArrayState::InUse
            } else {
                ArrayState::Retired(epoch)
            };
        }
        self.small_stale = true;
        self.finish();
    }

    fn nexthop_row(&self, id: u16) -> Option<N> {
        let w = self.parts.nexthop_slot_words;
        let start = usize::from(id).checked_sub(1)? * w;
        let s = SeqSlot::new(self.parts.nexthops.get(start..start + w)?).try_read::<N>()?;
        (s.state == SLOT_FULL).then_some(s.value)
    }
}
