//! The shared route list: one sequence-locked slot per listed route (prefix, length, active
//! flag, next-hop id), for inspection (`ip route`-style dumps from any process). Lookups never
//! read it, so slots are reused at once: a reader's per-slot seqlock read plus a re-check after
//! reading the next hop (see `Fib4Reader::routes`) is enough for consistent entries.

use core::sync::atomic::AtomicU64;

use super::encoding::PrefixWord;
use crate::sync::{SeqSlot, Snapshot};

pub(crate) const EMPTY: u8 = 0;
pub(crate) const LISTED: u8 = 1;

#[derive(Clone, Copy)]
pub(crate) struct RouteSlots<'a> {
    words: &'a [AtomicU64],
    slot_words: usize,
}

impl<'a> RouteSlots<'a> {
    pub fn new(words: &'a [AtomicU64], slot_words: usize) -> Self {
        RouteSlots { words, slot_words }
    }

    pub fn count(&self) -> usize {
        self.words.len() / self.slot_words.max(1)
    }

    pub fn slot(&self, i: usize) -> Option<SeqSlot<'a, AtomicU64>> {
        let start = i.checked_mul(self.slot_words)?;
        self.words
            .get(start..start + self.slot_words)
            .map(SeqSlot::new)
    }

    /// One attempt to read slot `i`: `None` while it is being written.
    pub fn try_read(&self, i: usize) -> Option<Snapshot<u64>> {
        self.slot(i)?.try_read::<u64>()
    }
}

/// The writer's allocator over the slots.
pub(crate) struct RouteList<'a> {
    slots: RouteSlots<'a>,
    free: Vec<u32>,
    fresh: u32,
    listed: usize,
}

impl<'a> RouteList<'a> {
    pub fn new(slots: RouteSlots<'a>) -> Self {
        RouteList {
            slots,
            free: Vec::new(),
            fresh: 0,
            listed: 0,
        }
    }

    pub fn listed(&self) -> usize {
        self.listed
    }

    /// A free slot, or `None` when all `capacity` are in use.
    pub fn alloc(&mut self) -> Option<u32> {
        let s = match self.free.pop() {
            Some(s) => s,
            None if (self.fresh as usize) < self.slots.count() => {
                self.fresh += 1;
                self.fresh - 1
            }
            None => return None,
        };
        self.listed += 1;
        Some(s)
    }

    pub fn write(&self, slot: u32, p: PrefixWord) {
        if let Some(s) = self.slots.slot(slot as usize) {
            s.write(LISTED, &p.encode());
        }
    }

    pub fn release(&mut self, slot: u32) {
        if let Some(s) = self.slots.slot(slot as usize) {
            s.write(EMPTY, &0u64);
        }
        self.free.push(slot);
        self.listed -= 1;
    }

    /// Adoption: marks `slot` as used (called for every adopted slot, then `finish_adoption`).
    pub fn adopt(&mut self, slot: u32) {
        self.fresh = self.fresh.max(slot + 1);
        self.listed += 1;
    }

    /// Adoption: every slot below the highest adopted one that was not adopted is free.
    pub fn finish_adoption(&mut self, adopted: &[bool]) {
        for s in (0..self.fresh).rev() {
            if !adopted.get(s as usize).copied().unwrap_or(false) {
                self.free.push(s);
            }
        }
    }
}
