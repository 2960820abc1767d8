//! Compaction: reclaims every tombstone while readers keep probing.

use super::mutate::SlotWriter;
use super::state::{EMPTY, FULL, TOMBSTONE};
use crate::sync::Word;
use crate::SharedRow;

impl<W, T, K, F> SlotWriter<'_, W, T, K, F>
where
    W: Word,
    T: SharedRow + Copy,
    K: Copy + Eq + AsRef<[u8]>,
    F: Fn(&T) -> K,
{
    /// Moves each row into the earliest tombstone of its probe path, then empties every
    /// tombstone. Returns the number of rows moved.
    ///
    /// Pass 1 visits the slots in probe order starting after an empty slot, so no probe path
    /// wraps past the start and "earlier" is well defined. A row moves by copy first, then
    /// tombstone: at every instant it is stored somewhere on a path without empty slots (the
    /// reader's miss validation covers a reader that scans past it, see the module
    /// documentation). When a row is visited, its new path `[home, slot]` has no tombstone
    /// left; later moves only create tombstones further on, outside it. So after pass 1 no
    /// live path crosses a tombstone, and pass 2 can empty them all without cutting any path.
    pub fn compact(&mut self) -> usize {
        let cap = self.slots.capacity();
        let Some(start) = (0..cap).find(|&i| self.state(i) == EMPTY) else {
            // Only a corrupt table has no empty slot; without one there is no safe order.
            return 0;
        };
        let mut moved = 0;
        let mut i = start;
        for _ in 1..cap {
            i = self.slots.next(i);
            let Some(row) = self.full_row(i) else {
                continue;
            };
            let home = self.slots.home(&self.slots.key_of(&row));
            if let Some(to) = self.earliest_tombstone(home, i) {
                self.slots.slot(to).write(FULL, &row);
                self.slots.slot(i).set_state(TOMBSTONE);
                moved += 1;
            }
        }
        for j in 0..cap {
            if self.state(j) == TOMBSTONE {
                self.slots.slot(j).set_state(EMPTY);
            }
        }
        self.tombstones = 0;
        self.compactions += 1;
        self.moves += moved as u64;
        moved
    }

    /// The first tombstone in `[from, to)`; none if an empty slot comes first (a row behind an
    /// empty slot is unreachable: only a corrupt table has one, and moving it is not ours to
    /// decide).
    fn earliest_tombstone(&self, from: usize, to: usize) -> Option<usize> {
        let mut j = from;
        while j != to {
            match self.state(j) {
                TOMBSTONE => return Some(j),
                EMPTY => return None,
                _ => {}
            }
            j = self.slots.next(j);
        }
        None
    }
}
