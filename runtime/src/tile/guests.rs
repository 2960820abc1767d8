//! Guest reader slots: QSBR participation for short-lived readers that are not tiles.
//!
//! `netbase show`, `route get` and `diff` read the netbase like a net tile does, but they have
//! no status workspace for the writer to watch, so without a slot the writer could reuse memory
//! under them. Each instance has one small object of [`GUEST_SLOTS`] slots, created by the
//! supervisor, mapped read-only by the tables writer (whose reader set includes every slot's
//! quiescent words) and read-write, without the writer lock, by guests.
//!
//! Slot layout (one cache line): word 0 is the owner (0 free, a pid, or [`REAPING`]); words
//! `1..=QSBR_SLOTS` are the quiescent words, [`OFFLINE`] whenever nobody reads.
//!
//! Protocol:
//! - **claim**: CAS owner `0 → pid` (acquire: the previous owner's `OFFLINE` stores are seen,
//!   so the words start offline); then the guest uses [`QsbrReader::online`] per table before
//!   its first lookup and [`GuestSlot`]'s drop puts every word offline again.
//! - **release** (drop): words `OFFLINE`, then owner `0` with release ordering.
//! - **reap** (supervisor, for guests that died holding a slot): CAS owner `pid → REAPING`,
//!   only for a pid it found dead, then words `OFFLINE`, then owner `0`. The CAS, not a load,
//!   is what makes this sound: between "owner is p" and "p is dead" the slot may have been
//!   released by p and claimed by a live guest, whose words must not be forced offline; the
//!   CAS fails in that case. `tests/guest_loom.rs` checks exactly that interleaving.
//!
//! A guest killed mid-read holds reclamation back until the supervisor reaps it (one
//! supervision period); the writer then reports "full" rather than reusing memory early.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::status::QSBR_SLOTS;
use super::ObjectError;
use crate::region::Region;
use crate::sync::qsbr::{QsbrReader, OFFLINE};
use crate::sync::CasWord;

/// Concurrent guests per instance. A guest that finds none free waits or gives up.
pub const GUEST_SLOTS: usize = 16;
/// Words per slot: one cache line, so that guests never share a line.
pub const SLOT_WORDS: usize = 8;
// The owner word plus one quiescent word per table fit in a slot.
const _: () = assert!(QSBR_SLOTS < SLOT_WORDS);
/// Bytes of the guest readers object.
pub const GUEST_READERS_BYTES: u64 = (GUEST_SLOTS * SLOT_WORDS * 8) as u64;
/// Owner value while the supervisor clears a dead guest's slot.
pub const REAPING: u64 = u64::MAX;

/// The guest readers object over words `W` (atomics in shared memory; loom's in the model).
pub struct GuestSlots<'a, W: CasWord> {
    words: &'a [W],
}

// Manual impls: the derives would require `W: Clone` (a reference is copyable regardless).
impl<W: CasWord> Clone for GuestSlots<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<W: CasWord> Copy for GuestSlots<'_, W> {}

impl<W: CasWord> core::fmt::Debug for GuestSlots<'_, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GuestSlots")
            .field("owners", &self.owners())
            .finish()
    }
}

impl<'a> GuestSlots<'a, AtomicU64> {
    /// The object in `region` (at least [`GUEST_READERS_BYTES`] long): [`GUEST_SLOTS`] slots.
    pub fn new(region: Region<'a>) -> Result<Self, ObjectError> {
        let words = region.words();
        let needed = GUEST_SLOTS * SLOT_WORDS;
        if words.len() < needed {
            return Err(ObjectError::TooSmall {
                needed: needed * 8,
                found: words.len() * 8,
            });
        }
        GuestSlots::over(&words[..needed])
    }
}

impl<'a, W: CasWord> GuestSlots<'a, W> {
    /// Slots over `words`: one per 8 words, at least one (models use a single slot).
    pub fn over(words: &'a [W]) -> Result<Self, ObjectError> {
        let slots = words.len() / SLOT_WORDS;
        if slots == 0 {
            return Err(ObjectError::TooSmall {
                needed: SLOT_WORDS * 8,
                found: words.len() * 8,
            });
        }
        Ok(GuestSlots {
            words: &words[..slots * SLOT_WORDS],
        })
    }

    /// How many slots the object has.
    pub fn len(&self) -> usize {
        self.words.len() / SLOT_WORDS
    }

    /// Never true (an object has at least one slot); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    fn owner(&self, slot: usize) -> &'a W {
        &self.words[slot * SLOT_WORDS]
    }

    fn quiescent(&self, slot: usize, table: usize) -> &'a W {
        &self.words[slot * SLOT_WORDS + 1 + table]
    }

    /// Supervisor, before any tile or guest maps the object: every slot free and offline.
    pub fn initialize(&self) {
        for slot in 0..self.len() {
            for t in 0..QSBR_SLOTS {
                self.quiescent(slot, t).store(OFFLINE, Relaxed);
            }
            self.owner(slot).store(0, Release);
        }
    }

    /// Guest: takes a free slot for `pid` (non-zero), or `None` when all are taken.
    pub fn claim(&self, pid: u32) -> Option<GuestSlot<'a, W>> {
        let pid = u64::from(pid.max(1));
        (0..self.len()).find_map(|slot| {
            self.owner(slot)
                .compare_exchange(0, pid, Acquire, Relaxed)
                .ok()
                .map(|_| GuestSlot { slots: *self, slot })
        })
    }

    /// Writer: the quiescent words of every slot for table `table` (QSBR slot index), to add
    /// to its reader set. Free slots read `OFFLINE` and never hold reclamation back.
    pub fn quiescent_words(&self, table: usize) -> impl Iterator<Item = &'a W> + '_ {
        (0..self.len())
            .filter(move |_| table < QSBR_SLOTS)
            .map(move |slot| self.quiescent(slot, table))
    }

    /// Owners of the taken slots (pids; [`REAPING`] slots left out).
    pub fn owners(&self) -> Vec<u32> {
        (0..self.len())
            .map(|slot| self.owner(slot).load(Relaxed))
            .filter(|&o| o != 0 && o != REAPING)
            .map(|o| u32::try_from(o).unwrap_or(u32::MAX))
            .collect()
    }

    /// Supervisor: frees the slots of owners that `dead` says are gone; returns how many.
    /// `dead` must only answer true for a process that can no longer run (see module docs).
    pub fn reap(&self, mut dead: impl FnMut(u32) -> bool) -> usize {
        let mut freed = 0;
        for slot in 0..self.len() {
            let owner = self.owner(slot).load(Relaxed);
            if owner == 0 || owner == REAPING {
                continue;
            }
            let Ok(pid) = u32::try_from(owner) else {
                continue;
            };
            if !dead(pid) {
                continue;
            }
            if self
                .owner(slot)
                .compare_exchange(owner, REAPING, Acquire, Relaxed)
                .is_err()
            {
                continue; // released, and perhaps claimed by a live guest, meanwhile
            }
            for t in 0..QSBR_SLOTS {
                self.quiescent(slot, t).store(OFFLINE, Release);
            }
            self.owner(slot).store(0, Release);
            freed += 1;
        }
        freed
    }
}

/// A claimed slot; dropping it puts its words offline and frees it.
#[derive(Debug)]
#[must_use = "dropping the slot releases it at once"]
pub struct GuestSlot<'a, W: CasWord> {
    slots: GuestSlots<'a, W>,
    slot: usize,
}

impl<'a, W: CasWord> GuestSlot<'a, W> {
    /// The QSBR reader of table `table` (QSBR slot index) whose epoch word is `epoch`, or
    /// `None` beyond [`QSBR_SLOTS`]. Call `online` on it before the first lookup.
    pub fn reader(&self, table: usize, epoch: &'a W) -> Option<QsbrReader<'a, W>> {
        (table < QSBR_SLOTS).then(|| QsbrReader::new(epoch, self.slots.quiescent(self.slot, table)))
    }

    /// Index of the slot (for messages and tests).
    pub fn index(&self) -> usize {
        self.slot
    }
}

impl<W: CasWord> Drop for GuestSlot<'_, W> {
    fn drop(&mut self) {
        for t in 0..QSBR_SLOTS {
            self.slots.quiescent(self.slot, t).store(OFFLINE, Release);
        }
        self.slots.owner(self.slot).store(0, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Vec<AtomicU64> {
        (0..GUEST_SLOTS * SLOT_WORDS)
            .map(|_| AtomicU64::new(7))
            .collect()
    }

    /// The slots' minimum for `table` as the writer would see it (`None`: nothing held).
    fn min(slots: &GuestSlots<'_, AtomicU64>, table: usize) -> Option<u64> {
        slots
            .quiescent_words(table)
            .map(|w| w.load(Relaxed))
            .min()
            .filter(|&m| m != OFFLINE)
    }

    #[test]
    fn claimed_slots_hold_reclamation_until_released() {
        let w = words();
        let slots = GuestSlots::over(&w).unwrap();
        slots.initialize();
        assert_eq!(min(&slots, 0), None);
        let epoch = AtomicU64::new(41);
        let g = slots.claim(100).unwrap();
        g.reader(1, &epoch).unwrap().online();
        assert_eq!(min(&slots, 1), Some(41));
        assert_eq!(min(&slots, 0), None, "only the table it went online for");
        assert_eq!(slots.owners(), vec![100]);
        drop(g);
        assert_eq!(min(&slots, 1), None);
        assert!(slots.owners().is_empty());
    }

    #[test]
    fn every_slot_once_then_none() {
        let w = words();
        let slots = GuestSlots::over(&w).unwrap();
        slots.initialize();
        let held: Vec<_> = (0..GUEST_SLOTS as u32)
            .map(|p| slots.claim(p + 1).unwrap())
            .collect();
        let distinct: std::collections::BTreeSet<_> = held.iter().map(|g| g.index()).collect();
        assert_eq!(distinct.len(), GUEST_SLOTS);
        assert!(slots.claim(999).is_none());
        drop(held);
        assert!(slots.claim(999).is_some());
    }

    #[test]
    fn reap_frees_only_dead_owners() {
        let w = words();
        let slots = GuestSlots::over(&w).unwrap();
        slots.initialize();
        let epoch = AtomicU64::new(5);
        let alive = slots.claim(10).unwrap();
        alive.reader(0, &epoch).unwrap().online();
        let dead = slots.claim(20).unwrap();
        dead.reader(0, &epoch).unwrap().online();
        // A guest that died holding its slot never runs its destructor.
        std::mem::forget(dead);
        assert_eq!(slots.reap(|pid| pid == 20), 1);
        assert_eq!(slots.owners(), vec![10]);
        assert_eq!(
            min(&slots, 0),
            Some(5),
            "the live guest still holds its epoch"
        );
        assert_eq!(slots.reap(|pid| pid == 20), 0);
        drop(alive);
        assert_eq!(min(&slots, 0), None);
    }

    #[test]
    fn short_objects_and_out_of_range_tables_are_refused() {
        let w: Vec<AtomicU64> = (0..SLOT_WORDS - 1).map(|_| AtomicU64::new(0)).collect();
        assert!(GuestSlots::over(&w).is_err());
        let w = words();
        let slots = GuestSlots::over(&w).unwrap();
        slots.initialize();
        let g = slots.claim(1).unwrap();
        let epoch = AtomicU64::new(0);
        assert!(g.reader(QSBR_SLOTS, &epoch).is_none());
        assert_eq!(slots.quiescent_words(QSBR_SLOTS).count(), 0);
    }
}
