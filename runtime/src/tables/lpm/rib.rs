//! The writer's private, authoritative route set (RIB): every route the writer was given, per
//! prefix sorted by metric. The shared structures (route list, small arrays, index) are derived
//! from it prefix by prefix.
//!
//! One hash map per prefix length (33 maps, keyed by the masked address) plus a bitmap of the
//! lengths in use: an exact lookup is one hash probe, and "longest covering prefix shorter than
//! L" one probe per length in use below L — no walk down a tree whose every node is a likely
//! cache miss at a million prefixes. (Enumerating the prefixes inside a prefix, which a tree
//! would do well, is never needed: the index keeps the per-entry lengths it would be for.)

use super::encoding::{mask, MARKER};
use super::fasthash::FastMap;

/// Metrics as ranked internally: kernel metrics are `u32`; routes adopted from a previous
/// writer (whose metric is unknown) rank after every real metric.
pub(crate) type Rank = u64;
pub(crate) const ADOPTED_RANK: Rank = 1 << 32;

/// Where a route's data is.
pub(crate) enum Hop<N> {
    /// Listed in route-list slot `slot`, with next-hop id `id`.
    Stored { slot: u32, id: u16 },
    /// Not in shared memory (table or next hops full): kept to retry and to mark its addresses.
    Missing(Box<N>),
}

pub(crate) struct RouteRec<N> {
    pub rank: Rank,
    pub hop: Hop<N>,
}

impl<N> RouteRec<N> {
    /// The index value this route publishes when it wins its prefix.
    pub fn value(&self) -> u16 {
        match self.hop {
            Hop::Stored { id, .. } => id,
            Hop::Missing(_) => MARKER,
        }
    }
}

/// The routes of one prefix: the winner (lowest rank) and the others in rank order.
pub(crate) struct Routes<N> {
    first: RouteRec<N>,
    rest: Vec<RouteRec<N>>,
}

impl<N> Routes<N> {
    pub fn new(rec: RouteRec<N>) -> Self {
        Routes {
            first: rec,
            rest: Vec::new(),
        }
    }

    pub fn winner(&self) -> &RouteRec<N> {
        &self.first
    }

    pub fn iter(&self) -> impl Iterator<Item = &RouteRec<N>> {
        core::iter::once(&self.first).chain(self.rest.iter())
    }

    pub fn find_mut(&mut self, rank: Rank) -> Option<&mut RouteRec<N>> {
        if self.first.rank == rank {
            return Some(&mut self.first);
        }
        self.rest.iter_mut().find(|r| r.rank == rank)
    }

    pub fn find(&self, rank: Rank) -> Option<&RouteRec<N>> {
        self.iter().find(|r| r.rank == rank)
    }

    /// Adds a route whose rank is not present; true when it became the winner.
    pub fn insert(&mut self, rec: RouteRec<N>) -> bool {
        if rec.rank < self.first.rank {
            let old = core::mem::replace(&mut self.first, rec);
            self.rest.insert(0, old);
            true
        } else {
            let at = self.rest.partition_point(|r| r.rank < rec.rank);
            self.rest.insert(at, rec);
            false
        }
    }

    /// Removes the route of `rank`: `Some((route, was_winner))`. Removing the last route is
    /// the caller's job ([`Rib::remove_prefix`]), so this refuses it.
    pub fn remove(&mut self, rank: Rank) -> Option<(RouteRec<N>, bool)> {
        if self.first.rank == rank {
            if self.rest.is_empty() {
                return None;
            }
            let next = self.rest.remove(0);
            Some((core::mem::replace(&mut self.first, next), true))
        } else {
            let at = self.rest.iter().position(|r| r.rank == rank)?;
            Some((self.rest.remove(at), false))
        }
    }

    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    pub fn into_winner(self) -> RouteRec<N> {
        self.first
    }
}

pub(crate) struct Rib<N> {
    maps: Vec<FastMap<u32, Routes<N>>>,
    /// Bit `l` set when some prefix of length `l` exists.
    present: u64,
    prefixes: usize,
}

impl<N> Default for Rib<N> {
    fn default() -> Self {
        Rib {
            maps: (0..=32).map(|_| FastMap::default()).collect(),
            present: 0,
            prefixes: 0,
        }
    }
}

impl<N> Rib<N> {
    /// Heap bytes, roughly (the maps' tables; routes beyond the first of a prefix excluded).
    pub fn approx_bytes(&self) -> usize {
        let entry = core::mem::size_of::<(u32, Routes<N>)>() + 1;
        self.maps.iter().map(|m| m.capacity() * entry).sum()
    }

    /// Distinct prefixes (each has exactly one winner).
    pub fn prefixes(&self) -> usize {
        self.prefixes
    }

    pub fn get(&self, prefix: u32, len: u8) -> Option<&Routes<N>> {
        self.maps.get(usize::from(len))?.get(&prefix)
    }

    pub fn get_mut(&mut self, prefix: u32, len: u8) -> Option<&mut Routes<N>> {
        self.maps.get_mut(usize::from(len))?.get_mut(&prefix)
    }

    /// Adds a prefix that has no routes yet (`len <= 32`, `prefix` masked).
    pub fn insert_prefix(&mut self, prefix: u32, len: u8, rec: RouteRec<N>) {
        if let Some(m) = self.maps.get_mut(usize::from(len)) {
            if m.insert(prefix, Routes::new(rec)).is_none() {
                self.prefixes += 1;
            }
            self.present |= 1 << len;
        }
    }

    /// Removes a prefix with all its routes.
    pub fn remove_prefix(&mut self, prefix: u32, len: u8) -> Option<Routes<N>> {
        let m = self.maps.get_mut(usize::from(len))?;
        let r = m.remove(&prefix)?;
        self.prefixes -= 1;
        if m.is_empty() {
            self.present &= !(1 << len);
        }
        // Keep iteration (small-array builds) proportional to the routes, not to the largest
        // size the table ever had.
        if m.capacity() > 64 && m.len() * 8 < m.capacity() {
            m.shrink_to(m.len() * 2);
        }
        Some(r)
    }

    /// The longest prefix of length in `min_len..below` that covers `prefix`: its length and
    /// winner's value.
    pub fn covering(&self, prefix: u32, below: u8, min_len: u8) -> Option<(u8, u16)> {
        let below_bits = if below >= 64 {
            u64::MAX
        } else {
            (1u64 << below) - 1
        };
        let mut bits = self.present & below_bits & !((1u64 << min_len) - 1);
        while bits != 0 {
            let l = 63 - bits.leading_zeros();
            bits &= !(1u64 << l);
            let len = l as u8;
            if let Some(r) = self.maps[l as usize].get(&(prefix & mask(len))) {
                return Some((len, r.winner().value()));
            }
        }
        None
    }

    /// Longest-prefix match over the RIB.
    pub fn best(&self, addr: u32) -> Option<(u32, u8, &Routes<N>)> {
        let mut bits = self.present;
        while bits != 0 {
            let l = 63 - bits.leading_zeros();
            bits &= !(1u64 << l);
            let len = l as u8;
            let p = addr & mask(len);
            if let Some(r) = self.maps[l as usize].get(&p) {
                return Some((p, len, r));
            }
        }
        None
    }

    /// Every prefix with its routes, longest prefixes first.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u8, &Routes<N>)> {
        self.maps
            .iter()
            .enumerate()
            .rev()
            .filter(|(l, _)| self.present & (1 << l) != 0)
            .flat_map(|(l, m)| m.iter().map(move |(p, r)| (*p, l as u8, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rank: Rank, id: u16) -> RouteRec<()> {
        RouteRec {
            rank,
            hop: Hop::Stored { slot: 0, id },
        }
    }

    #[test]
    fn winners_cover_and_match() {
        let mut rib = Rib::default();
        rib.insert_prefix(0x0a00_0000, 8, rec(5, 1));
        rib.insert_prefix(0x0a01_0000, 16, rec(0, 2));
        let r = rib.get_mut(0x0a00_0000, 8).unwrap();
        assert!(r.insert(rec(3, 3)));
        assert!(!r.insert(rec(9, 4)));
        assert_eq!(r.winner().value(), 3);
        assert_eq!(rib.covering(0x0a01_0200, 24, 0), Some((16, 2)));
        assert_eq!(rib.covering(0x0a01_0200, 16, 0), Some((8, 3)));
        assert_eq!(rib.covering(0x0a01_0200, 8, 0), None);
        assert_eq!(rib.best(0x0a01_0203).map(|b| b.1), Some(16));
        assert_eq!(rib.best(0x0b00_0000).map(|b| b.1), None);
        let r = rib.get_mut(0x0a00_0000, 8).unwrap();
        let (gone, was_winner) = r.remove(3).unwrap();
        assert_eq!((gone.value(), was_winner), (3, true));
        assert_eq!(r.winner().value(), 1);
        assert!(r.remove(9).is_some());
        assert!(r.remove(5).is_none(), "the last route goes with its prefix");
        assert!(rib.remove_prefix(0x0a00_0000, 8).is_some());
        assert_eq!(rib.prefixes(), 1);
        assert_eq!(rib.iter().count(), 1);
    }
}
