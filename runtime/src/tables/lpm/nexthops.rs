//! Next-hop ids: deduplication, reference counts, allocation, and QSBR-deferred reuse.
//!
//! An id names one `(row, prefix length)` pair: index entries hold only an id, and a lookup
//! must return the matched prefix's length, so the length travels with the id: it is the tag
//! of the id's slot (see `sync::seqlock`), which a lookup gets from the sequence word it loads
//! anyway (a separate per-id length table cost every lookup one more load, dependent on the
//! index entry's cache miss). Real tables have few
//! distinct rows (gateways × interfaces), and a row rarely appears with many lengths, so the
//! 32,766 ids go a long way.
//!
//! Id `i` lives in next-hop slot `i - 1`. A slot is written once when its id is allocated,
//! before any index entry or small-array entry can carry the id, and rewritten only when the id
//! is reused — after its last reference was dropped *and* every reader passed a quiescent
//! point since (the id is retired at the epoch of its last release). An id that is asked for
//! again while it waits is revived without touching its slot.

use core::mem::size_of;
use core::sync::atomic::AtomicU64;

use super::encoding::MAX_NEXTHOP_ID;
use super::fasthash::FastMap;
use crate::sync::qsbr::RetireQueue;
use crate::sync::SeqSlot;
use crate::SharedRow;

/// Slot state of a next-hop slot that holds a row.
pub(crate) const SLOT_FULL: u8 = 1;

pub(crate) struct Nexthops<'a, N> {
    slots: &'a [AtomicU64],
    slot_words: usize,
    ids: FastMap<(N, u8), u16>,
    /// By id (index 0 unused): the key while the id is live or retired.
    keys: Vec<Option<(N, u8)>>,
    refs: Vec<u32>,
    /// By id: the epoch of the retirement that is still valid (stale queue entries of revived
    /// ids are recognised by a mismatch).
    retired_at: Vec<Option<u64>>,
    retired: RetireQueue<u16>,
    /// Ids currently retired (the queue also holds stale entries of revived ids).
    waiting: usize,
    reclaimed: u64,
    free: Vec<u16>,
    fresh: u16,
    max_id: u16,
    live: usize,
}

/// No id can be had now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoId;

impl<'a, N: SharedRow + Copy + Eq + core::hash::Hash> Nexthops<'a, N> {
    pub fn new(slots: &'a [AtomicU64], slot_words: usize, count: usize) -> Self {
        let max_id = count.min(usize::from(MAX_NEXTHOP_ID)) as u16;
        let n = usize::from(max_id) + 1;
        Nexthops {
            slots,
            slot_words,
            ids: FastMap::default(),
            keys: vec![None; n],
            refs: vec![0; n],
            retired_at: vec![None; n],
            retired: RetireQueue::default(),
            waiting: 0,
            reclaimed: 0,
            free: Vec::new(),
            fresh: 1,
            max_id,
            live: 0,
        }
    }

    /// Ids referenced by at least one route.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Ids waiting for readers before reuse.
    pub fn retired(&self) -> usize {
        self.waiting
    }

    /// Heap bytes, roughly.
    pub fn approx_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<Option<(N, u8)>>()
            + self.refs.capacity() * 4
            + self.retired_at.capacity() * size_of::<Option<u64>>()
            + self.ids.capacity() * (size_of::<((N, u8), u16)>() + 1)
            + self.retired.len() * 16
    }

    /// Ids freed after their grace period so far.
    pub fn reclaimed(&self) -> u64 {
        self.reclaimed
    }

    fn slot(&self, id: u16) -> Option<SeqSlot<'a, AtomicU64>> {
        let start = usize::from(id).checked_sub(1)? * self.slot_words;
        self.slots
            .get(start..start + self.slot_words)
            .map(SeqSlot::new)
    }

    pub fn row(&self, id: u16) -> Option<&N> {
        self.keys.get(usize::from(id))?.as_ref().map(|(n, _)| n)
    }

    /// A reference to the id of `(row, len)`, allocating (and publishing the slot) if needed.
    /// `min` gives the readers' minimum epoch, asked only when a retired id must be reused.
    pub fn acquire(
        &mut self,
        row: N,
        len: u8,
        min: &mut impl FnMut() -> Option<u64>,
    ) -> Result<u16, NoId> {
        if let Some(&id) = self.ids.get(&(row, len)) {
            let i = usize::from(id);
            if self.refs[i] == 0 {
                self.retired_at[i] = None;
                self.waiting -= 1;
                self.live += 1;
            }
            self.refs[i] += 1;
            return Ok(id);
        }
        let id = self.allocate(min).ok_or(NoId)?;
        let i = usize::from(id);
        if let Some(slot) = self.slot(id) {
            slot.write_tagged(SLOT_FULL, len, &row);
        }
        self.keys[i] = Some((row, len));
        self.refs[i] = 1;
        self.ids.insert((row, len), id);
        self.live += 1;
        Ok(id)
    }

    fn allocate(&mut self, min: &mut impl FnMut() -> Option<u64>) -> Option<u16> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        if self.fresh <= self.max_id {
            self.fresh += 1;
            return Some(self.fresh - 1);
        }
        if self.retired.is_empty() {
            return None;
        }
        let m = min();
        while let Some((epoch, id)) = self.retired.pop_reusable(m) {
            if self.forget(epoch, id) {
                return Some(id);
            }
        }
        None
    }

    /// Ends the retirement of `id` that began at `epoch` (false for a stale queue entry: the
    /// id was revived since, and possibly retired again later).
    fn forget(&mut self, epoch: u64, id: u16) -> bool {
        let i = usize::from(id);
        if self.retired_at[i] != Some(epoch) {
            return false;
        }
        self.retired_at[i] = None;
        self.waiting -= 1;
        self.reclaimed += 1;
        if let Some(key) = self.keys[i].take() {
            self.ids.remove(&key);
        }
        true
    }

    /// Housekeeping: every retired id whose grace period is over becomes free (so the retire
    /// queue stays as long as the ids actually waiting).
    pub fn collect(&mut self, min: Option<u64>) {
        while let Some((epoch, id)) = self.retired.pop_reusable(min) {
            if self.forget(epoch, id) {
                self.free.push(id);
            }
        }
    }

    /// Drops one reference; the last one retires the id at `epoch`. The caller has already
    /// removed every published reference to it (or will have, before `epoch` ends).
    pub fn release(&mut self, id: u16, epoch: u64) {
        let i = usize::from(id);
        let Some(r) = self.refs.get_mut(i) else {
            return;
        };
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r == 0 {
            self.live -= 1;
            self.waiting += 1;
            self.retired_at[i] = Some(epoch);
            self.retired.push(epoch, id);
            // Revivals leave stale entries behind; drop them before they outgrow the ids.
            if self.retired.len() > 2 * self.waiting + 64 {
                let at = &self.retired_at;
                self.retired
                    .retain(|e, id| at.get(usize::from(*id)).copied().flatten() == Some(e));
            }
        }
    }

    /// Adoption (writer restart): takes a reference to `id` as found in shared memory.
    pub fn adopt(&mut self, id: u16, row: N, len: u8) -> bool {
        let i = usize::from(id);
        if id == 0 || id > self.max_id {
            return false;
        }
        match &self.keys[i] {
            Some(k) if *k != (row, len) => return false,
            Some(_) => {}
            None => {
                self.keys[i] = Some((row, len));
                self.ids.entry((row, len)).or_insert(id);
                self.live += 1;
            }
        }
        self.refs[i] += 1;
        true
    }

    /// Adoption: after every route was adopted, ids nobody references may still be in a
    /// reader's hands (the previous writer may have just dropped them): retire them at `epoch`
    /// instead of freeing them. An adopted id whose slot does not hold its row and length (a
    /// corrupt slot: the route list names the id with a length its slot does not carry) is
    /// rewritten, so lookups answer what the route list says.
    pub fn finish_adoption(&mut self, epoch: u64) {
        self.fresh = self.max_id + 1;
        for id in 1..=self.max_id {
            let i = usize::from(id);
            if self.refs[i] == 0 {
                self.retired_at[i] = Some(epoch);
                self.retired.push(epoch, id);
                self.waiting += 1;
            } else if let (Some(slot), Some((row, len))) = (self.slot(id), self.keys[i]) {
                let holds = slot
                    .try_read::<N>()
                    .is_some_and(|s| (s.state, s.tag, s.value) == (SLOT_FULL, len, row));
                if !holds {
                    slot.write_tagged(SLOT_FULL, len, &row);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_refcount_retire_revive_reuse() {
        let slots: Vec<AtomicU64> = (0..2 * 2).map(|_| AtomicU64::new(0)).collect();
        let mut nh = Nexthops::<u64>::new(&slots, 2, 2);
        let published = |id: u16| {
            let s = nh_slot(&slots, id).read::<u64>().unwrap();
            (s.state, s.tag, s.value)
        };
        let mut none = || None;
        let a = nh.acquire(10, 24, &mut none).unwrap();
        assert_eq!(nh.acquire(10, 24, &mut none), Ok(a));
        let b = nh.acquire(10, 32, &mut none).unwrap();
        assert_ne!(a, b);
        assert_eq!(nh.acquire(11, 8, &mut none), Err(NoId));
        assert_eq!(
            (published(a), published(b)),
            ((SLOT_FULL, 24, 10), (SLOT_FULL, 32, 10))
        );
        nh.release(a, 3);
        nh.release(a, 3);
        assert_eq!(nh.live(), 1);
        // Revived while waiting: same id, no rewrite.
        assert_eq!(nh.acquire(10, 24, &mut none), Ok(a));
        nh.release(a, 4);
        // Readers still at epoch 4: not reusable; at 5 it is.
        assert_eq!(nh.acquire(11, 8, &mut || Some(4)), Err(NoId));
        let c = nh.acquire(11, 8, &mut || Some(5)).unwrap();
        assert_eq!(c, a);
        assert_eq!(nh.row(c), Some(&11));
        assert_eq!(published(c), (SLOT_FULL, 8, 11));
        assert_eq!(published(b), (SLOT_FULL, 32, 10));
    }

    fn nh_slot(slots: &[AtomicU64], id: u16) -> SeqSlot<'_, AtomicU64> {
        let start = (usize::from(id) - 1) * 2;
        SeqSlot::new(&slots[start..start + 2])
    }

    #[test]
    fn adoption_repairs_a_slot_whose_length_disagrees() {
        let slots: Vec<AtomicU64> = (0..2 * 2).map(|_| AtomicU64::new(0)).collect();
        // The previous writer's slot 1 carries the wrong length; slot 2 is right.
        nh_slot(&slots, 1).write_tagged(SLOT_FULL, 16, &10u64);
        nh_slot(&slots, 2).write_tagged(SLOT_FULL, 32, &11u64);
        let version = nh_slot(&slots, 2).read::<u64>().unwrap().version;
        let mut nh = Nexthops::<u64>::new(&slots, 2, 2);
        assert!(nh.adopt(1, 10, 24));
        assert!(nh.adopt(2, 11, 32));
        nh.finish_adoption(1);
        let s = nh_slot(&slots, 1).read::<u64>().unwrap();
        assert_eq!((s.state, s.tag, s.value), (SLOT_FULL, 24, 10));
        let s = nh_slot(&slots, 2).read::<u64>().unwrap();
        assert_eq!(s.version, version, "a right slot is not rewritten");
    }
}
