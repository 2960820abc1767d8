//! The writer side (the netlink tile): the RIB, and every shared structure derived from it.

mod adopt;
mod publish;

use core::hash::Hash;
use core::mem::size_of;
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;
use std::collections::HashSet;

use super::dir24::{Index, Tbl};
use super::encoding::{mask, PrefixWord, FLAG_ACTIVE, NO_ROUTE};
use super::error::FibError;
use super::fasthash::FastHasher;
use super::mode;
use super::nexthops::{Nexthops, NoId};
use super::parts::Parts;
use super::rib::{Hop, Rank, Rib, RouteRec, ADOPTED_RANK};
use super::routelist::{RouteList, RouteSlots};
use super::small::ArrayState;
use super::{Lookup, WriterRoute};
use crate::region::Region;
use crate::sync::qsbr::{min_epoch_fenced, EpochClock, ReaderEpochs};
use crate::sync::MAX_ROW_WORDS;
use crate::tables::geometry::Kind;
use crate::tables::header::{stat, word, Header};
use crate::SharedRow;

/// A table in index mode goes back to a small array only at or below this many prefixes, so
/// that a table hovering around the small array's size does not switch on every change.
pub const SMALL_RETURN: usize = 48;

type Missing = HashSet<(u32, u8, Rank), core::hash::BuildHasherDefault<FastHasher>>;

/// What is still waiting after [`Fib4Writer::maintain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Routes kept by the writer but not in shared memory (table or next hops full).
    pub missing_routes: usize,
    /// /24s without the second-level group they need (they answer "incomplete").
    pub starved_blocks: usize,
    /// A small-mode change readers do not see yet (the other array was still in use).
    pub unpublished: bool,
}

/// How much of each shared resource is in use ([`Fib4Writer::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub listed_routes: usize,
    pub nexthop_ids: usize,
    /// Next-hop ids waiting for readers before reuse.
    pub retired_nexthop_ids: usize,
    pub groups: usize,
    /// Second-level groups waiting for readers before reuse.
    pub retired_groups: usize,
    /// Next-hop ids and groups reused after a grace period, since the writer started.
    pub reclaimed_nexthop_ids: u64,
    pub reclaimed_groups: u64,
    /// The writer's private memory (RIB, index bookkeeping), roughly.
    pub private_bytes: usize,
}

/// The single writer of an IPv4 LPM table.
///
/// * [`insert`](Self::insert) adds a route or replaces the one with the same
///   `(prefix, len, metric)`; among routes to one prefix the lowest metric is used, and
///   removing it reveals the next. `Err` with [`FibError::is_pending`] means the route was kept
///   but readers cannot use it yet: lookups of its addresses answer `Incomplete` (never a wrong
///   route) until [`maintain`](Self::maintain) finds room.
/// * Every change is visible to readers when the call returns (small-only tables excepted:
///   see `maintain`).
/// * Memory that readers may still hold (second-level groups, next-hop slots, small arrays)
///   is reused only after every reader in `readers` passed a quiescent point
///   (`sync::qsbr`); when nothing can be reused yet, the operation reports "full" instead of
///   waiting.
pub struct Fib4Writer<'a, N, R> {
    parts: Parts<'a>,
    header: Header<'a>,
    rib: Rib<N>,
    routes: usize,
    nexthops: Nexthops<'a, N>,
    list: RouteList<'a>,
    index: Option<Index<'a>>,
    arrays: [ArrayState; 2],
    mode: u64,
    /// The small array readers use (or would use) lags the RIB.
    small_stale: bool,
    /// Ids released while the small array in use may still show them.
    held: Vec<u16>,
    /// Ids released by the current operation.
    released: Vec<u16>,
    missing: Missing,
    clock: EpochClock<'a, AtomicU64>,
    readers: R,
    generation: u64,
    /// Something changed since `GENERATION` was last bumped.
    changed: bool,
}

enum Existing {
    Absent,
    Stored { slot: u32, id: u16 },
    Missing,
}

fn check_row<N>() -> Result<u64, FibError> {
    let row = size_of::<N>();
    if row == 0 || row > MAX_ROW_WORDS * 8 {
        return Err(FibError::RowTooLarge {
            row,
            max: MAX_ROW_WORDS * 8,
        });
    }
    Ok(row as u64)
}

impl<'a, N, R> Fib4Writer<'a, N, R>
where
    N: SharedRow + Copy + Eq + Hash,
    R: ReaderEpochs,
{
    /// Creates an empty table in `region` (writable; any previous contents are cleared) for
    /// `capacity` routes of next-hop rows `N`, placed by `geometry::lpm_layout`. `readers`
    /// tells the writer which readers may still hold references (see `sync::qsbr`).
    pub fn create(region: Region<'a>, capacity: u64, readers: R) -> Result<Self, FibError> {
        let row = check_row::<N>()?;
        let parts = Parts::resolve(region, capacity, row)?;
        if !region.is_writable() {
            return Err(FibError::Header(
                crate::tables::header::HeaderError::ReadOnly,
            ));
        }
        let words = (parts.layout.total / 8) as usize;
        for w in region.words().iter().take(words) {
            // Reading first keeps untouched (zero) pages unallocated.
            if w.load(Relaxed) != 0 {
                w.store(0, Relaxed);
            }
        }
        let header = Header::init(parts.header, Kind::Lpm, capacity, row, 0)?;
        let mut w = Self::with_parts(parts, header, readers);
        w.arrays = [ArrayState::InUse, ArrayState::Fresh];
        Ok(w)
    }

    /// Takes over a table left by a previous writer (the netlink tile restarted), without
    /// disturbing readers: routes listed in the table are adopted with unknown metrics (they
    /// rank after any metric given to `insert`), the private state is rebuilt from them and
    /// the index is repaired entry by entry where a writer died mid-update. Re-insert what the
    /// kernel has, then call [`sweep_adopted`](Self::sweep_adopted) to drop the rest.
    pub fn attach(region: Region<'a>, capacity: u64, readers: R) -> Result<Self, FibError> {
        let row = check_row::<N>()?;
        if !region.is_writable() {
            return Err(FibError::Header(
                crate::tables::header::HeaderError::ReadOnly,
            ));
        }
        let parts = Parts::resolve(region, capacity, row)?;
        let header = Header::attach(parts.header, Kind::Lpm, capacity, row)?;
        let mut w = Self::with_parts(parts, header, readers);
        w.adopt();
        Ok(w)
    }

    fn with_parts(parts: Parts<'a>, header: Header<'a>, readers: R) -> Self {
        let epoch_word = &parts.header.words()[word::EPOCH];
        Fib4Writer {
            rib: Rib::default(),
            routes: 0,
            nexthops: Nexthops::new(
                parts.nexthops,
                parts.nexthop_slot_words,
                parts.layout.nexthop_count as usize,
            ),
            list: RouteList::new(RouteSlots::new(parts.prefixes, parts.prefix_slot_words)),
            index: match (parts.index, parts.default) {
                (Some((t24, t8)), Some(default)) => {
                    Some(Index::new(Tbl::new(t24, t8), default, parts.first_group))
                }
                _ => None,
            },
            arrays: [ArrayState::Fresh; 2],
            mode: header.load(word::MODE),
            small_stale: false,
            held: Vec::new(),
            released: Vec::new(),
            missing: Missing::default(),
            clock: EpochClock::new(epoch_word),
            readers,
            generation: header.load(word::GENERATION),
            changed: false,
            parts,
            header,
        }
    }

    /// Routes the writer holds (including shadowed and missing ones).
    pub fn len(&self) -> usize {
        self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    /// Distinct prefixes.
    pub fn prefixes(&self) -> usize {
        self.rib.prefixes()
    }

    /// Whether readers currently use the DIR-24-8 index (else a small array).
    pub fn index_mode(&self) -> bool {
        self.mode & mode::INDEX != 0
    }

    pub fn usage(&self) -> Usage {
        Usage {
            listed_routes: self.list.listed(),
            nexthop_ids: self.nexthops.live(),
            retired_nexthop_ids: self.nexthops.retired(),
            groups: self.index.as_ref().map_or(0, |ix| ix.groups_in_use()),
            retired_groups: self.index.as_ref().map_or(0, |ix| ix.retired_groups()),
            reclaimed_nexthop_ids: self.nexthops.reclaimed(),
            reclaimed_groups: self.index.as_ref().map_or(0, |ix| ix.reclaimed()),
            private_bytes: self.rib.approx_bytes()
                + self.nexthops.approx_bytes()
                + self.index.as_ref().map_or(0, |ix| ix.approx_bytes()),
        }
    }

    pub fn readers(&self) -> &R {
        &self.readers
    }

    /// Adds `prefix/len` (host order; host bits are ignored) via `nexthop` with `metric`, or
    /// replaces the next hop of the route with the same `(prefix, len, metric)`.
    pub fn insert(
        &mut self,
        prefix: u32,
        len: u8,
        metric: u32,
        nexthop: N,
    ) -> Result<(), FibError> {
        let r = self.insert_ranked(prefix, len, Rank::from(metric), nexthop);
        // Counted here, not where room is looked for: `maintain` retries are no new refusals.
        match r {
            Err(FibError::TableFull) => self.header.add_stat(stat::INSERT_FULL, 1),
            Err(FibError::NexthopsFull) => self.header.add_stat(stat::NEXTHOPS_FULL, 1),
            _ => {}
        }
        self.finish();
        if r.is_ok() && self.mode & mode::OVERFLOW != 0 {
            return Err(FibError::SmallFull);
        }
        r
    }

    /// Removes the route `(prefix, len, metric)`; false if there is none.
    pub fn remove(&mut self, prefix: u32, len: u8, metric: u32) -> bool {
        let r = self.remove_ranked(prefix, len, Rank::from(metric));
        if r {
            self.finish();
        }
        r
    }

    /// Removes every route adopted by [`attach`](Self::attach) that was not re-inserted
    /// since (with its real metric).
    pub fn sweep_adopted(&mut self) -> usize {
        let stale: Vec<(u32, u8, Rank)> = self
            .rib
            .iter()
            .flat_map(|(p, l, routes)| {
                routes
                    .iter()
                    .filter(|r| r.rank >= ADOPTED_RANK)
                    .map(move |r| (p, l, r.rank))
            })
            .collect();
        for &(p, l, rank) in &stale {
            self.remove_ranked(p, l, rank);
            self.finish();
        }
        stale.len()
    }

    /// Housekeeping (call it periodically, e.g. each tile housekeeping tick, and after each
    /// batch of changes): stores routes that were refused for lack of room if there is room
    /// now, gives starved /24s a group, publishes a deferred small-array change (tables without
    /// an index publish a small-mode change only once the other array is free of readers),
    /// returns to a small array when an index-mode table shrank, frees next-hop ids whose
    /// grace period is over, and bumps the header's `GENERATION` if anything changed.
    pub fn maintain(&mut self) -> Backlog {
        let mut waiting: Vec<(u32, u8, Rank)> = self.missing.iter().copied().collect();
        waiting.sort_unstable();
        for (p, l, rank) in waiting {
            let _ = self.retry_missing(p, l, rank);
        }
        let min = min_epoch_fenced::<AtomicU64, _>(&self.readers);
        self.nexthops.collect(min);
        if let Some(ix) = &mut self.index {
            ix.retry_starved(&mut || min);
        }
        self.finish();
        // Once per batch, not per change: `MODE` shares a cache line with `GENERATION`, and
        // every reader loads `MODE` on every lookup.
        if core::mem::take(&mut self.changed) {
            self.generation = self.generation.wrapping_add(1);
            self.header.store(word::GENERATION, self.generation);
        }
        Backlog {
            missing_routes: self.missing.len(),
            starved_blocks: self.index.as_ref().map_or(0, |ix| ix.starved()),
            unpublished: self.mode & (mode::INDEX | mode::OVERFLOW) == 0 && self.small_stale,
        }
    }

    /// The answer readers get for `addr` once the last change is published (from the RIB).
    pub fn lookup(&self, addr: u32) -> Lookup<N> {
        if self.mode & mode::OVERFLOW != 0 {
            return Lookup::Incomplete;
        }
        let Some((_, len, routes)) = self.rib.best(addr) else {
            return Lookup::Miss;
        };
        if self.mode & mode::INDEX != 0 && self.index.as_ref().is_some_and(|ix| ix.is_starved(addr))
        {
            return Lookup::Incomplete;
        }
        match &routes.winner().hop {
            Hop::Stored { id, .. } => match self.nexthops.row(*id) {
                Some(n) => Lookup::Hit {
                    nexthop: *n,
                    prefix_len: len,
                },
                None => Lookup::Incomplete,
            },
            Hop::Missing(_) => Lookup::Incomplete,
        }
    }

    /// Every route the writer holds, longest prefixes first.
    pub fn routes(&self) -> impl Iterator<Item = WriterRoute<N>> + '_ {
        self.rib.iter().flat_map(move |(prefix, len, routes)| {
            let winner = routes.winner().rank;
            routes.iter().filter_map(move |r| {
                let (nexthop, listed) = match &r.hop {
                    Hop::Stored { id, .. } => (*self.nexthops.row(*id)?, true),
                    Hop::Missing(n) => (**n, false),
                };
                Some(WriterRoute {
                    prefix,
                    len,
                    metric: u32::try_from(r.rank).ok(),
                    nexthop,
                    listed,
                    active: r.rank == winner,
                })
            })
        })
    }

    // ---- operations ----

    fn insert_ranked(&mut self, prefix: u32, len: u8, rank: Rank, row: N) -> Result<(), FibError> {
        if len > 32 {
            return Err(FibError::BadLength(len));
        }
        let prefix = prefix & mask(len);
        let (before, prev_winner, existing) = match self.rib.get(prefix, len) {
            None => (None, None, Existing::Absent),
            Some(routes) => {
                let w = routes.winner();
                let prev = match w.hop {
                    Hop::Stored { slot, id } => Some((w.rank, slot, id)),
                    Hop::Missing(_) => None,
                };
                let existing = match routes.find(rank).map(|r| &r.hop) {
                    None => Existing::Absent,
                    Some(Hop::Stored { slot, id }) => Existing::Stored {
                        slot: *slot,
                        id: *id,
                    },
                    Some(Hop::Missing(_)) => Existing::Missing,
                };
                (Some(w.value()), prev, existing)
            }
        };
        let mut result = Ok(());
        match existing {
            Existing::Stored { slot, id } => {
                if self.nexthops.row(id) == Some(&row) {
                    return Ok(());
                }
                let hop = match self.acquire(row, len) {
                    Ok(nid) => Hop::Stored { slot, id: nid },
                    Err(e) => {
                        self.list.release(slot);
                        self.missing.insert((prefix, len, rank));
                        result = Err(e);
                        Hop::Missing(Box::new(row))
                    }
                };
                self.released.push(id);
                if let Some(rec) = self.rib.get_mut(prefix, len).and_then(|r| r.find_mut(rank)) {
                    rec.hop = hop;
                }
            }
            Existing::Missing => {
                let (hop, r) = self.install(row, len);
                if matches!(hop, Hop::Stored { .. }) {
                    self.missing.remove(&(prefix, len, rank));
                }
                result = r;
                if let Some(rec) = self.rib.get_mut(prefix, len).and_then(|r| r.find_mut(rank)) {
                    rec.hop = hop;
                }
            }
            Existing::Absent => {
                let (hop, r) = self.install(row, len);
                if matches!(hop, Hop::Missing(_)) {
                    self.missing.insert((prefix, len, rank));
                }
                result = r;
                let rec = RouteRec { rank, hop };
                match self.rib.get_mut(prefix, len) {
                    Some(routes) => {
                        routes.insert(rec);
                    }
                    None => self.rib.insert_prefix(prefix, len, rec),
                }
                self.routes += 1;
            }
        }
        // List the route (its slot's active flag), then demote the previous winner.
        let Some(routes) = self.rib.get(prefix, len) else {
            return result;
        };
        let winner = routes.winner();
        let is_winner = winner.rank == rank;
        if let Some(Hop::Stored { slot, id }) = routes.find(rank).map(|r| &r.hop) {
            self.list.write(*slot, entry(prefix, len, is_winner, *id));
        }
        if let Some((prev_rank, slot, id)) = prev_winner {
            if is_winner && prev_rank != rank {
                self.list.write(slot, entry(prefix, len, false, id));
            }
        }
        let after = Some(winner.value());
        let published = self.apply(prefix, len, before, after);
        result.and(published)
    }

    fn remove_ranked(&mut self, prefix: u32, len: u8, rank: Rank) -> bool {
        if len > 32 {
            return false;
        }
        let prefix = prefix & mask(len);
        let Some(routes) = self.rib.get_mut(prefix, len) else {
            return false;
        };
        let before = routes.winner().value();
        let (rec, after) = if routes.len() == 1 {
            if routes.winner().rank != rank {
                return false;
            }
            let Some(gone) = self.rib.remove_prefix(prefix, len) else {
                return false;
            };
            (gone.into_winner(), None)
        } else {
            let Some((rec, was_winner)) = routes.remove(rank) else {
                return false;
            };
            let w = routes.winner();
            if was_winner {
                if let Hop::Stored { slot, id } = w.hop {
                    self.list.write(slot, entry(prefix, len, true, id));
                }
            }
            (rec, Some(w.value()))
        };
        self.routes -= 1;
        // Unlink from the index before the id can be released.
        let _ = self.apply(prefix, len, Some(before), after);
        match rec.hop {
            Hop::Stored { slot, id } => {
                self.list.release(slot);
                self.released.push(id);
            }
            Hop::Missing(_) => {
                self.missing.remove(&(prefix, len, rank));
            }
        }
        true
    }

    /// Gives a route that was refused for lack of room a slot and an id, if possible now.
    fn retry_missing(&mut self, prefix: u32, len: u8, rank: Rank) -> Result<(), FibError> {
        let Some(routes) = self.rib.get(prefix, len) else {
            self.missing.remove(&(prefix, len, rank));
            return Ok(());
        };
        let before = routes.winner().value();
        let Some(Hop::Missing(row)) = routes.find(rank).map(|r| &r.hop) else {
            self.missing.remove(&(prefix, len, rank));
            return Ok(());
        };
        let row = **row;
        let (hop, r) = self.install(row, len);
        let Hop::Stored { slot, id } = hop else {
            return r;
        };
        self.missing.remove(&(prefix, len, rank));
        let Some(routes) = self.rib.get_mut(prefix, len) else {
            return Ok(());
        };
        let is_winner = routes.winner().rank == rank;
        if let Some(rec) = routes.find_mut(rank) {
            rec.hop = hop;
        }
        self.list.write(slot, entry(prefix, len, is_winner, id));
        let after = self.rib.get(prefix, len).map(|r| r.winner().value());
        self.apply(prefix, len, Some(before), after)
    }

    /// A route-list slot and a next-hop id for a new route, or the reason it stays missing.
    fn install(&mut self, row: N, len: u8) -> (Hop<N>, Result<(), FibError>) {
        let Some(slot) = self.list.alloc() else {
            return (Hop::Missing(Box::new(row)), Err(FibError::TableFull));
        };
        match self.acquire(row, len) {
            Ok(id) => (Hop::Stored { slot, id }, Ok(())),
            Err(e) => {
                self.list.release(slot);
                (Hop::Missing(Box::new(row)), Err(e))
            }
        }
    }

    fn acquire(&mut self, row: N, len: u8) -> Result<u16, FibError> {
        let readers = &self.readers;
        let mut cached = None;
        let mut min = || *cached.get_or_insert_with(|| min_epoch_fenced::<AtomicU64, _>(readers));
        self.nexthops
            .acquire(row, len, &mut min)
            .map_err(|NoId| FibError::NexthopsFull)
    }

    /// Derives the index from a change of the winner value of `prefix/len` (`None`: the
    /// prefix has no route).
    fn apply(
        &mut self,
        prefix: u32,
        len: u8,
        before: Option<u16>,
        after: Option<u16>,
    ) -> Result<(), FibError> {
        if before == after {
            return Ok(());
        }
        self.small_stale = true;
        let Some(ix) = &mut self.index else {
            return Ok(());
        };
        if len == 0 {
            ix.set_default(after.unwrap_or(NO_ROUTE));
            return Ok(());
        }
        if len <= 24 {
            match after {
                Some(v) => ix.set_short(prefix, len, v),
                // The /0 route is not in the entries (see `dir24`), so it is no cover here.
                None => ix.clear_short(prefix, len, self.rib.covering(prefix, len, 1)),
            }
            return Ok(());
        }
        match after {
            Some(v) => {
                let readers = &self.readers;
                let mut cached = None;
                let mut min =
                    || *cached.get_or_insert_with(|| min_epoch_fenced::<AtomicU64, _>(readers));
                let was_starved = ix.is_starved(prefix);
                if ix
                    .set_long(prefix, len, v, before.is_none(), &mut min)
                    .is_err()
                {
                    if !was_starved {
                        self.header.add_stat(stat::GROUPS_FULL, 1);
                    }
                    return Err(FibError::GroupsFull);
                }
            }
            None => {
                let cover = self.rib.covering(prefix, len, 25);
                ix.clear_long(prefix, len, cover, &mut self.clock);
            }
        }
        Ok(())
    }
}

fn entry(prefix: u32, len: u8, active: bool, id: u16) -> PrefixWord {
    PrefixWord {
        addr: prefix,
        len,
        flags: if active { FLAG_ACTIVE } else { 0 },
        nexthop: id,
    }
}
