//! Who holds each UMEM frame, so that addresses coming back from the kernel are believed only
//! when they name a frame the kernel really holds for that purpose.
//!
//! The UMEM is `count` frames of `2^shift` bytes (aligned chunk mode: a descriptor address
//! names the frame `addr >> shift`). At open, the first half goes to receiving (through the
//! fill ring) and the rest to a free list for sending. A frame then cycles
//! - RX: fill stash → kernel (fill ring, then RX ring) → handed to the caller → fill stash;
//! - TX: free list → being built → kernel (TX ring, then completion ring) → free list.
//!
//! A descriptor naming a frame in any other state (a duplicate, a TX frame on the RX ring, an
//! address past the UMEM) is rejected and counted by the socket; such a frame is never recycled
//! twice, which would let the kernel and the caller write it at the same time.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting to go (back) into the fill ring.
    FillStash,
    /// In the fill ring or the RX ring.
    KernelRx,
    /// On the TX free list.
    TxFree,
    /// Handed to a `tx_send` builder.
    TxBuilding,
    /// In the TX ring or the completion ring.
    KernelTx,
}

/// The frame table: per-frame state, the TX free list and the fill stash.
#[derive(Debug)]
pub(super) struct Frames {
    shift: u32,
    state: Vec<State>,
    tx_free: Vec<u32>,
    fill_stash: Vec<u32>,
}

impl Frames {
    /// `count` frames of `frame_size` bytes (a power of two); the first `count / 2` are for RX.
    pub(super) fn new(count: u32, frame_size: u32) -> Frames {
        debug_assert!(frame_size.is_power_of_two());
        let rx = count / 2;
        let mut state = vec![State::FillStash; count as usize];
        state[rx as usize..].fill(State::TxFree);
        // Reversed so that `pop` hands out the lowest frames first (easier to read in dumps).
        Frames {
            shift: frame_size.trailing_zeros(),
            state,
            tx_free: (rx..count).rev().collect(),
            fill_stash: (0..rx).rev().collect(),
        }
    }

    pub(super) fn frame_size(&self) -> u32 {
        1 << self.shift
    }

    fn addr(&self, frame: u32) -> u64 {
        u64::from(frame) << self.shift
    }

    /// The frame an address falls in, if it is inside the UMEM.
    fn frame_of(&self, addr: u64) -> Option<u32> {
        let frame = u32::try_from(addr >> self.shift).ok()?;
        ((frame as usize) < self.state.len()).then_some(frame)
    }

    /// Byte range of `len` bytes at UMEM address `addr`, if it lies inside a single frame.
    pub(super) fn range_in_frame(&self, addr: u64, len: u32) -> Option<Range<usize>> {
        self.frame_of(addr)?;
        let offset = addr & u64::from(self.frame_size() - 1);
        if offset + u64::from(len) > u64::from(self.frame_size()) {
            return None;
        }
        let start = usize::try_from(addr).ok()?;
        Some(start..start + len as usize)
    }

    /// Takes back the frame of an RX descriptor: true if the kernel held it for RX (it then
    /// waits in the fill stash to be recycled), false for any other address.
    pub(super) fn rx_claim(&mut self, addr: u64) -> bool {
        match self.frame_of(addr) {
            Some(f) if self.state[f as usize] == State::KernelRx => {
                self.state[f as usize] = State::FillStash;
                self.fill_stash.push(f);
                true
            }
            _ => false,
        }
    }

    /// Offers stashed frames to `push` (the fill ring) until it refuses; returns how many it
    /// took.
    pub(super) fn refill(&mut self, mut push: impl FnMut(u64) -> bool) -> u32 {
        let mut n = 0;
        while let Some(&f) = self.fill_stash.last() {
            if !push(self.addr(f)) {
                break;
            }
            self.fill_stash.pop();
            self.state[f as usize] = State::KernelRx;
            n += 1;
        }
        n
    }

    /// Frames waiting for room in the fill ring.
    pub(super) fn stashed(&self) -> usize {
        self.fill_stash.len()
    }

    /// A free TX frame for a builder: its UMEM address.
    pub(super) fn tx_take(&mut self) -> Option<u64> {
        let f = self.tx_free.pop()?;
        self.state[f as usize] = State::TxBuilding;
        Some(self.addr(f))
    }

    /// Returns a frame from [`Frames::tx_take`] unused.
    pub(super) fn tx_cancel(&mut self, addr: u64) {
        if let Some(f) = self.frame_of(addr) {
            if self.state[f as usize] == State::TxBuilding {
                self.state[f as usize] = State::TxFree;
                self.tx_free.push(f);
            }
        }
    }

    /// Records that a frame from [`Frames::tx_take`] went into the TX ring.
    pub(super) fn tx_commit(&mut self, addr: u64) {
        if let Some(f) = self.frame_of(addr) {
            if self.state[f as usize] == State::TxBuilding {
                self.state[f as usize] = State::KernelTx;
            }
        }
    }

    /// Takes back the frame of a completion: true if the kernel held it for TX (it goes back
    /// to the free list), false for any other address.
    pub(super) fn tx_complete(&mut self, addr: u64) -> bool {
        match self.frame_of(addr) {
            Some(f) if self.state[f as usize] == State::KernelTx => {
                self.state[f as usize] = State::TxFree;
                self.tx_free.push(f);
                true
            }
            _ => false,
        }
    }

    /// Frames on the TX free list.
    pub(super) fn tx_free(&self) -> usize {
        self.tx_free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_at_open() {
        let f = Frames::new(8, 2048);
        assert_eq!(f.stashed(), 4);
        assert_eq!(f.tx_free(), 4);
        let mut given = Vec::new();
        let mut f = f;
        assert_eq!(
            f.refill(|a| {
                given.push(a);
                given.len() <= 3
            }),
            3
        );
        assert_eq!(given, vec![0, 2048, 4096, 6144]);
        assert_eq!(f.stashed(), 1, "the refused frame stays stashed");
        assert_eq!(f.tx_take(), Some(4 * 2048));
    }

    #[test]
    fn rx_descriptors_are_checked_against_state() {
        let mut f = Frames::new(8, 2048);
        f.refill(|_| true);
        // An RX address points into the frame (after the kernel's headroom).
        assert!(f.rx_claim(2048 + 256));
        assert!(!f.rx_claim(2048 + 256), "same frame twice");
        assert!(!f.rx_claim(5 * 2048), "a TX frame");
        assert!(!f.rx_claim(8 * 2048), "past the UMEM");
        assert!(!f.rx_claim(u64::MAX), "absurd address");
        assert_eq!(f.stashed(), 1);
    }

    #[test]
    fn ranges_stay_inside_one_frame() {
        let f = Frames::new(4, 2048);
        assert_eq!(f.range_in_frame(2048 + 256, 100), Some(2304..2404));
        assert_eq!(f.range_in_frame(2048, 2048), Some(2048..4096));
        assert_eq!(f.range_in_frame(2048 + 1, 2048), None, "crosses a frame");
        assert_eq!(f.range_in_frame(3 * 2048 + 2000, 48), Some(8144..8192));
        assert_eq!(f.range_in_frame(4 * 2048, 1), None, "past the UMEM");
        assert_eq!(f.range_in_frame(u64::MAX - 1, u32::MAX), None);
    }

    #[test]
    fn tx_cycle() {
        let mut f = Frames::new(4, 4096);
        let a = f.tx_take().unwrap();
        let b = f.tx_take().unwrap();
        assert_eq!(f.tx_take(), None);
        f.tx_cancel(b);
        f.tx_commit(a);
        assert!(!f.tx_complete(b), "cancelled frame is not in flight");
        assert!(f.tx_complete(a));
        assert!(!f.tx_complete(a), "double completion");
        assert!(!f.tx_complete(0), "an RX frame");
        assert_eq!(f.tx_free(), 2);
    }
}
