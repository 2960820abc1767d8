//! The reader's probe: one attempt at a lookup, with the second pass that makes misses safe
//! against compaction moves (see the module documentation of `hash`).

use super::slots::Slots;
use super::state::{EMPTY, FULL};
use crate::sync::seqlock::{Busy, READ_ATTEMPTS};
use crate::sync::Word;
use crate::SharedRow;

/// The outcome of one lookup attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    /// The key was not stored at some instant during the attempt.
    Absent,
    /// A slot on the path was being written: try again.
    Retry,
}

impl<W, T, K, F> Slots<'_, W, T, K, F>
where
    W: Word,
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// One lookup attempt. Never spins, so a caller with a deadline (a poll loop) can give up,
    /// and loom can model it.
    #[inline]
    pub fn lookup_once(&self, key: &K) -> Lookup<T> {
        let home = self.home(key);
        let mut i = home;
        for before in 0..self.capacity() {
            let Some(snap) = self.slot(i).try_read::<T>() else {
                return Lookup::Retry;
            };
            match snap.state {
                FULL if self.key_of(&snap.value) == *key => return Lookup::Found(snap.value),
                EMPTY => return self.rescan_backward(key, i, before),
                // Tombstones, other keys, and states this version does not know: keep going.
                _ => {}
            }
            i = self.next(i);
        }
        // No empty slot anywhere: only a corrupt table looks like this (the writer always
        // keeps some). The whole table then is the path.
        self.rescan_backward(key, home, self.capacity())
    }

    /// Second pass of a miss: the `len` slots before `end`, walking back to the home slot.
    ///
    /// When the forward pass read `end` empty, a stored key was somewhere in `[home, end)`
    /// (invariant P), and it can only move toward `home` (compaction moves, copy first), never
    /// past a reader walking toward `home` too: each slot the reader finds without the key,
    /// the key is already before, and it cannot be before `home`. So if the key stayed
    /// stored, this pass finds it; if it finds nothing, the key was deleted meanwhile, or
    /// was never there, and "absent" is a correct answer. Unlike a re-validation of versions,
    /// this cannot fail because the writer keeps changing other rows on the path.
    #[cold]
    fn rescan_backward(&self, key: &K, end: usize, len: usize) -> Lookup<T> {
        let mut i = end;
        for _ in 0..len {
            i = self.prev(i);
            let Some(snap) = self.slot(i).try_read::<T>() else {
                return Lookup::Retry;
            };
            if snap.state == FULL && self.key_of(&snap.value) == *key {
                return Lookup::Found(snap.value);
            }
        }
        Lookup::Absent
    }

    /// A lookup that retries while slots on the path are being written. Never blocks the
    /// writer; `Busy` only if a slot stays mid-write for [`READ_ATTEMPTS`] attempts (its writer
    /// died mid-write).
    #[inline]
    pub fn lookup(&self, key: &K) -> Result<Option<T>, Busy> {
        for _ in 0..READ_ATTEMPTS {
            match self.lookup_once(key) {
                Lookup::Found(row) => return Ok(Some(row)),
                Lookup::Absent => return Ok(None),
                Lookup::Retry => core::hint::spin_loop(),
            }
        }
        Err(Busy)
    }
}
