//! The slot array of a hash table: geometry, home slots and slot access, shared by the reader
//! and the writer.

use core::marker::PhantomData;
use core::mem::size_of;
use core::sync::atomic::AtomicU64;

use super::HashError;
use crate::region::Region;
use crate::sync::seqlock::{slot_words, SeqSlot, MAX_ROW_WORDS};
use crate::sync::Word;
use crate::tables::geometry::{slot_bytes, TABLE_HEADER_BYTES};
use crate::tables::hashfn::SeededHash;
use crate::SharedRow;

/// `capacity` sequence-locked slots of rows `T`, keyed by `key_of(row)`.
///
/// `F` is usually a function item or a capture-free closure (zero-sized and inlined into the
/// probe loop); the default, a function pointer, is the nameable choice for struct fields.
pub struct Slots<'a, W, T, K, F = fn(&T) -> K> {
    words: &'a [W],
    mask: usize,
    slot_words: usize,
    hash: SeededHash,
    key_of: F,
    _row: PhantomData<fn(&T) -> K>,
}

impl<W, T, K, F: Clone> Clone for Slots<'_, W, T, K, F> {
    fn clone(&self) -> Self {
        Slots {
            words: self.words,
            mask: self.mask,
            slot_words: self.slot_words,
            hash: self.hash,
            key_of: self.key_of.clone(),
            _row: PhantomData,
        }
    }
}

impl<'a, W, T, K, F> Slots<'a, W, T, K, F>
where
    W: Word,
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// The slots in the first `capacity * slot_words::<T>()` words of `words`.
    pub fn new(words: &'a [W], capacity: u64, seed: u64, key_of: F) -> Result<Self, HashError> {
        if capacity < 2 || !capacity.is_power_of_two() {
            return Err(HashError::Capacity(capacity));
        }
        if size_of::<T>() > MAX_ROW_WORDS * 8 {
            return Err(HashError::RowTooLarge(size_of::<T>()));
        }
        let per_slot = slot_words::<T>();
        let need = usize::try_from(capacity)
            .ok()
            .and_then(|c| c.checked_mul(per_slot))
            .ok_or(HashError::Capacity(capacity))?;
        let words = words.get(..need).ok_or(HashError::RegionTooSmall {
            need: need as u64 * 8,
            have: words.len() as u64 * 8,
        })?;
        Ok(Slots {
            words,
            mask: need / per_slot - 1,
            slot_words: per_slot,
            hash: SeededHash::new(seed),
            key_of,
            _row: PhantomData,
        })
    }

    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    pub fn seed(&self) -> u64 {
        self.hash.seed()
    }

    #[inline(always)]
    pub fn key_of(&self, row: &T) -> K {
        (self.key_of)(row)
    }

    /// Where `key`'s probe starts.
    #[inline(always)]
    pub fn home(&self, key: &K) -> usize {
        self.hash.hash(key.as_ref()) as usize & self.mask
    }

    /// The slot after `i` in probe order.
    #[inline(always)]
    pub fn next(&self, i: usize) -> usize {
        (i + 1) & self.mask
    }

    #[inline(always)]
    pub fn prev(&self, i: usize) -> usize {
        i.wrapping_sub(1) & self.mask
    }

    /// Slot `i` (taken modulo the capacity, so no index can leave the array).
    #[inline(always)]
    pub fn slot(&self, i: usize) -> SeqSlot<'a, W> {
        let start = (i & self.mask) * self.slot_words;
        SeqSlot::new(&self.words[start..start + self.slot_words])
    }
}

/// The words of the `capacity` slots after the header page, checking that the region holds
/// them (the code generator reserves `table_bytes(Kind::Hash, …)`, which does).
pub(super) fn region_slots<T>(
    region: Region<'_>,
    capacity: u64,
) -> Result<&[AtomicU64], HashError> {
    let body = capacity
        .checked_mul(slot_bytes(size_of::<T>() as u64))
        .ok_or(HashError::Capacity(capacity))?;
    let need = TABLE_HEADER_BYTES.saturating_add(body);
    let have = region.len_bytes() as u64;
    if have < need {
        return Err(HashError::RegionTooSmall { need, have });
    }
    let start = (TABLE_HEADER_BYTES / 8) as usize;
    let end = (need / 8) as usize;
    Ok(&region.words()[start..end])
}
