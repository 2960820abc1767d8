//! Re-opening a table that already has content (a restarted writer), and the invariant check
//! the tests run after every operation.

use super::mutate::{SlotWriter, UNKNOWN};
use super::slots::Slots;
use super::state::{EMPTY, FULL, TOMBSTONE};
use super::HashError;
use crate::sync::Word;
use crate::SharedRow;

/// Slots a re-attaching writer had to turn into tombstones. Every repair only ever makes an
/// occupied slot a tombstone, which keeps every other key's path intact for readers that are
/// probing meanwhile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Caught mid-write: the previous writer died during the write, its row is unknowable.
    pub torn: usize,
    /// A state this version does not define.
    pub unknown_state: usize,
    /// A second copy of a key (the previous writer died between the two steps of a move; the
    /// copy earlier on the path is the one readers find, and it is kept).
    pub duplicates: usize,
    /// Behind an empty slot on its own path: no reader could find it.
    pub unreachable: usize,
}

impl Repairs {
    pub fn total(&self) -> usize {
        self.torn + self.unknown_state + self.duplicates + self.unreachable
    }
}

impl<'a, W, T, K, F> SlotWriter<'a, W, T, K, F>
where
    W: Word,
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// Takes over slots written by an earlier writer: repairs what no writer of this version
    /// leaves behind, recounts, and compacts if the limits are exceeded.
    ///
    /// Fails (after the repairs, which are harmless) if the table has no empty slot or more
    /// live rows than the load limit: no writer of this version leaves either, and there is no
    /// safe way to shrink such a table under running readers; re-create it instead.
    pub fn rebuild(slots: Slots<'a, W, T, K, F>) -> Result<(Self, Repairs), HashError> {
        let mut w = SlotWriter::new(slots);
        let mut repairs = Repairs::default();
        let cap = w.slots.capacity();
        for i in 0..cap {
            let state = w.state(i);
            if state == UNKNOWN || state > TOMBSTONE {
                w.slots.slot(i).set_state(TOMBSTONE);
                if state == UNKNOWN {
                    repairs.torn += 1;
                } else {
                    repairs.unknown_state += 1;
                }
            }
        }
        for i in 0..cap {
            let Some(row) = w.full_row(i) else {
                continue;
            };
            match w.locate(&w.slots.key_of(&row)) {
                Some(j) if j == i => {}
                found => {
                    w.slots.slot(i).set_state(TOMBSTONE);
                    if found.is_some() {
                        repairs.duplicates += 1;
                    } else {
                        repairs.unreachable += 1;
                    }
                }
            }
        }
        let (live, tombstones, empty) = w.census();
        if empty == 0 {
            return Err(HashError::Corrupt("no empty slot"));
        }
        if live > w.policy.max_live {
            return Err(HashError::Corrupt("more rows than the load limit"));
        }
        w.live = live;
        w.tombstones = tombstones;
        if tombstones > w.policy.max_tombstones || w.used() > w.policy.max_used {
            w.compact();
        }
        Ok((w, repairs))
    }

    /// The first slot holding `key` on its path, as a reader would find it.
    fn locate(&self, key: &K) -> Option<usize> {
        let mut i = self.slots.home(key);
        for _ in 0..self.slots.capacity() {
            match self.state(i) {
                EMPTY => return None,
                FULL if self
                    .full_row(i)
                    .is_some_and(|r| self.slots.key_of(&r) == *key) =>
                {
                    return Some(i)
                }
                _ => {}
            }
            i = self.slots.next(i);
        }
        None
    }

    /// (full, tombstone, empty) slots.
    fn census(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for i in 0..self.slots.capacity() {
            match self.state(i) {
                FULL => counts.0 += 1,
                TOMBSTONE => counts.1 += 1,
                EMPTY => counts.2 += 1,
                _ => {}
            }
        }
        counts
    }

    /// Checks everything the protocol relies on: every row is the first slot of its key on a
    /// path without empty slots (invariant P, and no duplicates), the counts match, and the
    /// limits hold. For tests; walks the whole table.
    pub fn check(&self) -> Result<(), String> {
        for i in 0..self.slots.capacity() {
            match self.state(i) {
                EMPTY | TOMBSTONE => {}
                FULL => {
                    let row = self.full_row(i).ok_or(format!("slot {i} unreadable"))?;
                    let found = self.locate(&self.slots.key_of(&row));
                    if found != Some(i) {
                        return Err(format!("slot {i}: its key is found at {found:?}"));
                    }
                }
                s => return Err(format!("slot {i}: state {s}")),
            }
        }
        let (live, tombstones, empty) = self.census();
        if (live, tombstones) != (self.live, self.tombstones) {
            return Err(format!(
                "counted {live} rows and {tombstones} tombstones, writer believes {} and {}",
                self.live, self.tombstones
            ));
        }
        if empty == 0 || self.used() > self.policy.max_used || self.live > self.policy.max_live {
            return Err(format!(
                "{} rows and {} slots used of {}, {:?}",
                self.live,
                self.used(),
                self.slots.capacity(),
                self.policy
            ));
        }
        Ok(())
    }
}
