//! The writer's slot operations: insert, replace, delete with backward cleanup. Generic over
//! the word type so that loom models this exact code; [`HashWriter`](super::HashWriter) adds
//! the header (counters, statistics, generation) on top.
//!
//! Every transition here keeps invariant P of the module documentation: no live key's probe
//! path crosses an empty slot.

use super::slots::Slots;
use super::state::{EMPTY, FULL, TOMBSTONE};
use super::HashError;
use crate::sync::Word;
use crate::SharedRow;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    /// The key was present: its slot was rewritten in place.
    Replaced,
}

/// Limits that keep probes short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Most live rows; inserts of new keys beyond it are refused.
    pub max_live: usize,
    /// Most slots in use (rows plus tombstones): an insert that would take an empty slot
    /// beyond it compacts first. Always below the capacity, so every probe ends at an empty
    /// slot.
    pub max_used: usize,
    /// Compaction runs when a delete leaves more tombstones than this.
    pub max_tombstones: usize,
}

impl Policy {
    /// Rows in 90% of the slots: linear probing then averages about 5.5 slots per hit and 50
    /// per miss when full, far less at the loads tables normally run at. Tombstones may take
    /// the slots up to 95% (or an eighth of the capacity) before a compaction reclaims them:
    /// the gap between the two limits is what amortizes a compaction (a pass over the whole
    /// table) over many deletes, instead of one pass per insert in a table kept at its limit.
    pub fn for_capacity(capacity: usize) -> Self {
        let max_live = capacity - capacity / 10;
        Policy {
            max_live,
            max_used: max_live + (capacity - max_live) / 2,
            max_tombstones: capacity / 8,
        }
        .clamped(capacity)
    }

    /// The policy with `max_live <= max_used < capacity`.
    pub fn clamped(self, capacity: usize) -> Self {
        let max_used = self.max_used.min(capacity.saturating_sub(1));
        Policy {
            max_live: self.max_live.min(max_used),
            max_used,
            ..self
        }
    }
}

/// Where a key is, and where it would go.
struct Probe {
    at: Option<usize>,
    /// The first tombstone or empty slot of the path, and which of the two it is.
    free: Option<(usize, u8)>,
}

/// The single writer of a slot array, with the counts it maintains in private memory.
pub struct SlotWriter<'a, W, T, K, F = fn(&T) -> K> {
    pub(super) slots: Slots<'a, W, T, K, F>,
    pub(super) live: usize,
    pub(super) tombstones: usize,
    pub(super) policy: Policy,
    pub(super) compactions: u64,
    pub(super) moves: u64,
}

/// The state a writer sees in slot `i`; `u8::MAX` for a slot caught mid-write, which only a
/// foreign writer can cause (treated as occupied by something that is not ours).
pub(super) const UNKNOWN: u8 = u8::MAX;

impl<'a, W, T, K, F> SlotWriter<'a, W, T, K, F>
where
    W: Word,
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// The writer of freshly zeroed slots (all empty). Slots with content go through
    /// [`SlotWriter::rebuild`].
    pub fn new(slots: Slots<'a, W, T, K, F>) -> Self {
        let policy = Policy::for_capacity(slots.capacity());
        SlotWriter {
            slots,
            live: 0,
            tombstones: 0,
            policy,
            compactions: 0,
            moves: 0,
        }
    }

    pub fn slots(&self) -> &Slots<'a, W, T, K, F> {
        &self.slots
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Changes the limits (clamped so that an empty slot always remains); they apply from the
    /// next operation on.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy.clamped(self.slots.capacity());
    }

    /// Compaction passes run so far.
    pub fn compactions(&self) -> u64 {
        self.compactions
    }

    /// Entries moved by compactions so far.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    pub(super) fn used(&self) -> usize {
        self.live + self.tombstones
    }

    #[inline]
    pub(super) fn state(&self, i: usize) -> u8 {
        self.slots.slot(i).state().unwrap_or(UNKNOWN)
    }

    #[inline]
    pub(super) fn full_row(&self, i: usize) -> Option<T> {
        let snap = self.slots.slot(i).try_read::<T>()?;
        (snap.state == FULL).then_some(snap.value)
    }

    fn find(&self, key: &K) -> Probe {
        let mut i = self.slots.home(key);
        let mut free = None;
        for _ in 0..self.slots.capacity() {
            match self.slots.slot(i).try_read::<T>() {
                Some(s) if s.state == EMPTY => {
                    return Probe {
                        at: None,
                        free: free.or(Some((i, EMPTY))),
                    }
                }
                Some(s) if s.state == FULL && self.slots.key_of(&s.value) == *key => {
                    return Probe { at: Some(i), free }
                }
                Some(s) if s.state == TOMBSTONE && free.is_none() => free = Some((i, TOMBSTONE)),
                _ => {}
            }
            i = self.slots.next(i);
        }
        Probe { at: None, free }
    }

    /// The row stored under `key`.
    pub fn get(&self, key: &K) -> Option<T> {
        self.find(key).at.and_then(|i| self.full_row(i))
    }

    /// Inserts `row`, or rewrites the row with the same key in place (never a second slot for
    /// one key: readers would see two versions). Refuses a new key once
    /// [`Policy::max_live`] rows are stored.
    pub fn upsert(&mut self, row: &T) -> Result<Upsert, HashError> {
        let key = self.slots.key_of(row);
        let probe = self.find(&key);
        if let Some(i) = probe.at {
            self.slots.slot(i).write(FULL, row);
            return Ok(Upsert::Replaced);
        }
        if self.live >= self.policy.max_live {
            return Err(HashError::Full);
        }
        let mut free = probe.free;
        let takes_empty = |f: Option<(usize, u8)>| f.is_none_or(|(_, s)| s == EMPTY);
        if takes_empty(free) && self.used() >= self.policy.max_used {
            // One more empty slot in use would exceed the limit: reclaim tombstones first (this
            // moves rows, so the free slot has to be found again).
            self.compact();
            free = self.find(&key).free;
            if takes_empty(free) && self.used() >= self.policy.max_used {
                return Err(HashError::Full);
            }
        }
        let Some((i, was)) = free else {
            return Err(HashError::Full);
        };
        // The slots before `i` on the path are occupied, so P holds for the new key; nothing
        // becomes empty, so P keeps holding for every other key.
        self.slots.slot(i).write(FULL, row);
        self.live += 1;
        if was == TOMBSTONE {
            self.tombstones = self.tombstones.saturating_sub(1);
        }
        Ok(Upsert::Inserted)
    }

    /// Deletes `key`'s row; `false` if it was not stored.
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(i) = self.find(key).at else {
            return false;
        };
        // A tombstone, not an empty slot: keys stored after `i` may have probed past it.
        self.slots.slot(i).set_state(TOMBSTONE);
        self.live = self.live.saturating_sub(1);
        self.tombstones += 1;
        self.release_tombstones_before(self.slots.next(i));
        if self.tombstones > self.policy.max_tombstones {
            self.compact();
        }
        true
    }

    /// If slot `end` is empty, empties the run of tombstones just before it, from the back.
    /// A live key whose path crossed one of them would also cross `end`, which P forbids; so
    /// no lookup of a live key can be cut short by these new empty slots.
    pub(super) fn release_tombstones_before(&mut self, end: usize) {
        if self.state(end) != EMPTY {
            return;
        }
        let mut j = self.slots.prev(end);
        while j != end && self.state(j) == TOMBSTONE {
            self.slots.slot(j).set_state(EMPTY);
            self.tombstones = self.tombstones.saturating_sub(1);
            j = self.slots.prev(j);
        }
    }

    /// Deletes every row: first all become tombstones (lookups keep working meanwhile), then,
    /// with no live key left to protect, every tombstone becomes empty.
    pub fn clear(&mut self) {
        let cap = self.slots.capacity();
        for i in 0..cap {
            if self.state(i) == FULL {
                self.slots.slot(i).set_state(TOMBSTONE);
            }
        }
        for i in 0..cap {
            if self.state(i) == TOMBSTONE {
                self.slots.slot(i).set_state(EMPTY);
            }
        }
        self.live = 0;
        self.tombstones = 0;
    }

    /// The stored rows, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.slots.capacity()).filter_map(|i| self.full_row(i))
    }
}
