//! A reader's handle on a hash table: lookups and iteration over a region that may be mapped
//! read-only. Nothing here stores to the region.

use std::collections::HashSet;

use core::mem::size_of;
use core::sync::atomic::AtomicU64;

use super::probe::Lookup;
use super::slots::{region_slots, Slots};
use super::state::FULL;
use super::HashError;
use crate::region::Region;
use crate::sync::seqlock::Busy;
use crate::tables::geometry::Kind;
use crate::tables::header::{stat, word, Header};
use crate::SharedRow;

/// A reader of a hash table (a net tile). Cheap to copy around; any number of readers in any
/// number of processes may use one table while its writer changes it.
pub struct HashReader<'a, T, K, F = fn(&T) -> K> {
    header: Header<'a>,
    slots: Slots<'a, AtomicU64, T, K, F>,
}

impl<'a, T, K, F> HashReader<'a, T, K, F>
where
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// Attaches to the table in `region` after checking its identity (kind, capacity, row
    /// size) in the header. The region may be read-only.
    pub fn attach(region: Region<'a>, capacity: u64, key_of: F) -> Result<Self, HashError> {
        let header = Header::attach(region, Kind::Hash, capacity, size_of::<T>() as u64)?;
        let words = region_slots::<T>(region, capacity)?;
        let slots = Slots::new(words, capacity, header.seed(), key_of)?;
        Ok(HashReader { header, slots })
    }

    /// The row stored under `key`. Never blocks the writer, never returns a torn row or
    /// another key's row; a key that stays stored during the call is always found.
    /// `Busy` when a slot on the path stays mid-write for all of the seqlock's read attempts:
    /// its writer died mid-write, or (transiently, on an oversubscribed machine) the writer
    /// thread was descheduled in the middle of a slot write. Treat it as "try again later".
    #[inline]
    pub fn get(&self, key: &K) -> Result<Option<T>, Busy> {
        self.slots.lookup(key)
    }

    /// One attempt, no spinning: for callers that would rather do something else than retry
    /// (e.g. leave the packet for the next poll iteration).
    #[inline]
    pub fn try_get(&self, key: &K) -> Lookup<T> {
        self.slots.lookup_once(key)
    }

    /// The stored rows, slot by slot, each one consistent on its own. Not a snapshot: rows
    /// changed meanwhile may show old or new values, and a row the writer moves during the
    /// iteration may appear twice (identical) or not at all. See [`HashReader::snapshot`].
    pub fn iter(&self) -> impl Iterator<Item = Result<T, Busy>> + '_ {
        (0..self.slots.capacity()).filter_map(|i| match self.slots.slot(i).read::<T>() {
            Ok(snap) => (snap.state == FULL).then_some(Ok(snap.value)),
            Err(busy) => Some(Err(busy)),
        })
    }

    /// Every stored row, as the table was at one instant (each key once). Reads the table
    /// twice and compares slot versions, like a lookup's miss validation; gives up with `Busy`
    /// after `attempts` tries during which the writer kept changing slots.
    pub fn snapshot(&self, attempts: u32) -> Result<Vec<T>, Busy> {
        for _ in 0..attempts {
            if let Some(rows) = self.snapshot_once() {
                return Ok(rows);
            }
            core::hint::spin_loop();
        }
        Err(Busy)
    }

    fn snapshot_once(&self) -> Option<Vec<T>> {
        let cap = self.slots.capacity();
        let mut rows = Vec::new();
        let mut versions = 0u64;
        for i in 0..cap {
            let snap = self.slots.slot(i).try_read::<T>()?;
            versions = versions.wrapping_add(snap.version);
            if snap.state == FULL {
                rows.push(snap.value);
            }
        }
        let mut again = 0u64;
        for i in 0..cap {
            again = again.wrapping_add(self.slots.slot(i).try_read::<T>()?.version);
        }
        if again != versions {
            return None;
        }
        // The instant may fall inside a compaction move, with the key in two slots (identical).
        let mut seen = HashSet::new();
        rows.retain(|r| seen.insert(self.slots.key_of(r).as_ref().to_vec()));
        Some(rows)
    }

    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Rows stored, as last published by the writer (never more than the capacity).
    pub fn len(&self) -> usize {
        usize::try_from(self.header.load(word::COUNT))
            .unwrap_or(usize::MAX)
            .min(self.capacity())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes whenever the writer changed slots (see [`HashWriter`](super::HashWriter)).
    pub fn generation(&self) -> u64 {
        self.header.load(word::GENERATION)
    }

    /// Rows the writer could not store: while non-zero, a miss may be wrong (the key may
    /// exist in the kernel), and callers should treat it as "unknown" rather than "absent".
    pub fn incomplete(&self) -> u64 {
        self.header.stat(stat::INCOMPLETE)
    }

    pub fn header(&self) -> Header<'a> {
        self.header
    }

    pub fn slots(&self) -> &Slots<'a, AtomicU64, T, K, F> {
        &self.slots
    }
}

impl<T, K, F: Clone> Clone for HashReader<'_, T, K, F> {
    fn clone(&self) -> Self {
        HashReader {
            header: self.header,
            slots: self.slots.clone(),
        }
    }
}
