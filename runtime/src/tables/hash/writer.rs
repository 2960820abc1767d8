//! The writer's handle on a hash table in a region: slot operations plus the header's counters,
//! statistics and generation.

use std::collections::HashSet;

use core::mem::size_of;
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use super::mutate::{Policy, SlotWriter, Upsert};
use super::repair::Repairs;
use super::slots::{region_slots, Slots};
use super::HashError;
use crate::region::Region;
use crate::tables::geometry::{Kind, TABLE_HEADER_BYTES};
use crate::tables::header::{stat, word, Header, HeaderError};
use crate::SharedRow;

/// The single writer of a hash table (the netlink tile).
///
/// Header words it maintains: `COUNT` and `TOMBSTONES` after every call, `GENERATION` bumped
/// once per call that changed any slot (after the slot writes, so a reader that sees the new
/// generation sees the change; one bump per call keeps the writer free of batching state),
/// statistics `INSERT_FULL` (refused inserts), `INCOMPLETE` (keys refused and not stored or
/// deleted since) and `COMPACTIONS`.
pub struct HashWriter<'a, T, K, F = fn(&T) -> K> {
    header: Header<'a>,
    table: SlotWriter<'a, AtomicU64, T, K, F>,
    /// Keys refused for lack of room: while any is missing, a reader's miss may be wrong.
    missing: HashSet<Box<[u8]>>,
    /// `INCOMPLETE` found at attach: rows a previous writer could not store (their keys are
    /// unknown here, so only [`HashWriter::forget_missing`] clears them).
    inherited_missing: u64,
    generation: u64,
    published_compactions: u64,
    repairs: Repairs,
}

impl<'a, T, K, F> HashWriter<'a, T, K, F>
where
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// Makes an empty table in `region` (writable, at least `table_bytes(Kind::Hash, capacity,
    /// size_of::<T>(), 0)` bytes). Overwrites whatever the region held: use it for a new object
    /// that no reader has attached to yet; a restarted writer uses [`HashWriter::attach`].
    pub fn create(
        region: Region<'a>,
        capacity: u64,
        key_of: F,
        seed: u64,
    ) -> Result<Self, HashError> {
        if !region.is_writable() {
            return Err(HeaderError::ReadOnly.into());
        }
        let words = region_slots::<T>(region, capacity)?;
        let slots = Slots::new(words, capacity, seed, key_of)?;
        // The magic goes first, so a reader attaching now fails instead of reading a half-reset
        // table; `Header::init` publishes it again last.
        for w in &region.words()[..(TABLE_HEADER_BYTES / 8) as usize] {
            w.store(0, Relaxed);
        }
        for w in words {
            w.store(0, Relaxed);
        }
        let header = Header::init(region, Kind::Hash, capacity, size_of::<T>() as u64, seed)?;
        let mut w = HashWriter::new(header, SlotWriter::new(slots), Repairs::default());
        w.publish(true);
        Ok(w)
    }

    /// Re-opens an existing table as its writer (after a writer restart): rebuilds the private
    /// counts from the slots, repairing what a crash mid-operation leaves behind (see
    /// [`Repairs`]), while readers keep using the table.
    pub fn attach(region: Region<'a>, capacity: u64, key_of: F) -> Result<Self, HashError> {
        if !region.is_writable() {
            return Err(HeaderError::ReadOnly.into());
        }
        let header = Header::attach(region, Kind::Hash, capacity, size_of::<T>() as u64)?;
        let words = region_slots::<T>(region, capacity)?;
        let slots = Slots::new(words, capacity, header.seed(), key_of)?;
        let (table, repairs) = SlotWriter::rebuild(slots)?;
        let mut w = HashWriter::new(header, table, repairs);
        w.inherited_missing = header.stat(stat::INCOMPLETE);
        let repaired = repairs.total() > 0 || w.table.compactions() > 0;
        w.publish(repaired);
        Ok(w)
    }

    fn new(
        header: Header<'a>,
        table: SlotWriter<'a, AtomicU64, T, K, F>,
        repairs: Repairs,
    ) -> Self {
        HashWriter {
            header,
            generation: header.load(word::GENERATION),
            // A rebuild's own compaction is counted on top of the predecessor's.
            published_compactions: 0,
            table,
            missing: HashSet::new(),
            inherited_missing: 0,
            repairs,
        }
    }

    /// Publishes counters after a call, and bumps `GENERATION` if slots changed (last, so that
    /// it follows the slot writes and the counters).
    fn publish(&mut self, slots_changed: bool) {
        self.header.store(word::COUNT, self.table.len() as u64);
        self.header
            .store(word::TOMBSTONES, self.table.tombstones() as u64);
        let c = self.table.compactions();
        let compacted = c != self.published_compactions;
        if compacted {
            self.header
                .add_stat(stat::COMPACTIONS, c - self.published_compactions);
            self.published_compactions = c;
        }
        self.header.store(
            word::STATS + stat::INCOMPLETE,
            self.missing.len() as u64 + self.inherited_missing,
        );
        if slots_changed || compacted {
            self.generation = self.generation.wrapping_add(1);
            self.header.store(word::GENERATION, self.generation);
        }
    }

    /// Inserts or replaces the row with `row`'s key.
    ///
    /// A full table refuses new keys with [`HashError::Full`], never silently: `INSERT_FULL`
    /// counts the refusal, and the key stays counted in `INCOMPLETE` until it is stored or
    /// removed (or [`HashWriter::forget_missing`]), so readers know their misses may be wrong.
    pub fn upsert(&mut self, row: &T) -> Result<Upsert, HashError> {
        let result = self.table.upsert(row);
        match result {
            Ok(_) => {
                if !self.missing.is_empty() {
                    let key = self.table.slots().key_of(row);
                    self.missing.remove(key.as_ref());
                }
            }
            Err(HashError::Full) => {
                self.header.add_stat(stat::INSERT_FULL, 1);
                let key = self.table.slots().key_of(row);
                self.missing.insert(key.as_ref().into());
            }
            Err(_) => {}
        }
        self.publish(result.is_ok());
        result
    }

    /// Deletes `key`'s row; `false` if it was not stored. A missing key that is deleted is no
    /// longer missing.
    pub fn remove(&mut self, key: &K) -> bool {
        let removed = self.table.remove(key);
        let was_missing = !self.missing.is_empty() && self.missing.remove(key.as_ref());
        if removed || was_missing {
            self.publish(removed);
        }
        removed
    }

    pub fn get(&self, key: &K) -> Option<T> {
        self.table.get(key)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.table.slots().capacity()
    }

    pub fn tombstones(&self) -> usize {
        self.table.tombstones()
    }

    /// Keys refused for lack of room and not stored or deleted since.
    pub fn missing(&self) -> u64 {
        self.missing.len() as u64 + self.inherited_missing
    }

    /// After a full resync from the kernel (every key re-upserted, stale ones removed), keys
    /// refused earlier are either stored or gone: the table is complete again unless the
    /// resync itself was refused some.
    pub fn forget_missing(&mut self) {
        self.missing.clear();
        self.inherited_missing = 0;
        self.publish(false);
    }

    /// The stored rows, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.table.iter()
    }

    /// Deletes every row (readers see rows disappear one by one, never a broken table).
    pub fn clear_all(&mut self) {
        self.table.clear();
        self.missing.clear();
        self.inherited_missing = 0;
        self.publish(true);
    }

    /// Compacts now (normally automatic, see [`Policy`]); returns the rows moved.
    pub fn compact(&mut self) -> usize {
        let moved = self.table.compact();
        self.publish(true);
        moved
    }

    pub fn policy(&self) -> Policy {
        self.table.policy()
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.table.set_policy(policy);
    }

    /// What [`HashWriter::attach`] had to repair.
    pub fn repairs(&self) -> Repairs {
        self.repairs
    }

    pub fn header(&self) -> Header<'a> {
        self.header
    }

    /// The slot-level writer (for invariant checks in tests).
    pub fn slot_writer(&self) -> &SlotWriter<'a, AtomicU64, T, K, F> {
        &self.table
    }
}
