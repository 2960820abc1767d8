//! The tile status object: a few atomic words at fixed indexes of the 4096-byte object
//! ([`TILE_STATUS_BYTES`]).
//!
//! | word | byte | field | written |
//! |-----:|-----:|-------|---------|
//! | 0 | 0 | state ([`TileState`]) | on transitions |
//! | 1 | 8 | pid | once at boot |
//! | 2 | 16 | heartbeat: `CLOCK_MONOTONIC` ns | every housekeeping |
//! | 3 | 24 | loop iterations | every housekeeping (batched) |
//! | 4 | 32 | last error code (0 = none) | on failure |
//! | 8, 16, 24, 32 | 64, 128, 192, 256 | quiescent epochs (QSBR), one per reclaimed table the tile reads ([`QSBR_SLOTS`]) | every housekeeping |
//!
//! Each reclaimed table (an LPM route table) runs its own epoch clock, so a reader publishes one
//! quiescent word per table it reads: slot `i` answers the writer of table `i` (the order is
//! the reader's and the writer's shared convention, e.g. `local4` then `main4`).
//!
//! Each quiescent word sits alone on its own cache line: the netbase writer reads it on every
//! reclamation check, and sharing a line with the heartbeat would make each heartbeat store
//! invalidate the writer's copy. The tile is the only writer of every word, so the writer
//! stores plainly (no read-modify-write); readers map the object read-only and use Relaxed
//! loads, which is all that read-only memory allows (see the workspace docs).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::ObjectError;
use crate::region::Region;
use crate::tables::geometry::TILE_STATUS_BYTES;

/// Word indexes in the status object.
pub mod word {
    pub const STATE: usize = 0;
    pub const PID: usize = 1;
    pub const HEARTBEAT_NS: usize = 2;
    pub const ITERATIONS: usize = 3;
    pub const LAST_ERROR: usize = 4;
    /// Slot 0; slot `i` is at `QUIESCENT_EPOCH + 8 * i`.
    pub const QUIESCENT_EPOCH: usize = 8;
}

/// Quiescent words per tile: the most reclaimed tables one tile can read.
pub const QSBR_SLOTS: usize = 4;

const WORDS: usize = (TILE_STATUS_BYTES / 8) as usize;
const _: () =
    assert!(word::QUIESCENT_EPOCH * 8 % 64 == 0 && word::QUIESCENT_EPOCH + 8 * QSBR_SLOTS <= WORDS);

/// Lifecycle of a tile, as published in the state word. Zero (a fresh, zeroed object) reads as
/// [`TileState::Unknown`]: the process has not got as far as mapping its status yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileState {
    Unknown = 0,
    /// Mapping workspaces and initializing; not polling yet.
    Booting = 1,
    /// In the poll loop.
    Running = 2,
    /// Asked to stop; leaving the loop.
    Stopping = 3,
    /// Left the loop on an error; the error code word says which.
    Failed = 4,
}

impl TileState {
    pub fn from_word(w: u64) -> TileState {
        match w {
            1 => TileState::Booting,
            2 => TileState::Running,
            3 => TileState::Stopping,
            4 => TileState::Failed,
            _ => TileState::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TileState::Unknown => "unknown",
            TileState::Booting => "booting",
            TileState::Running => "running",
            TileState::Stopping => "stopping",
            TileState::Failed => "failed",
        }
    }
}

/// One consistent-enough reading of a status object. The words are read one by one, so they
/// may come from different moments; each is individually valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSnapshot {
    pub state: TileState,
    pub pid: u64,
    pub heartbeat_ns: u64,
    pub iterations: u64,
    pub last_error: u64,
    /// Per slot (see [`QSBR_SLOTS`]).
    pub quiescent_epochs: [u64; QSBR_SLOTS],
}

/// A tile status object, for its writer (the tile) or a reader.
#[derive(Debug, Clone, Copy)]
pub struct TileStatus<'a> {
    words: &'a [AtomicU64],
    writable: bool,
}

impl<'a> TileStatus<'a> {
    /// The status object in `region` (at least [`TILE_STATUS_BYTES`] long).
    pub fn new(region: Region<'a>) -> Result<Self, ObjectError> {
        let words = region.words();
        if words.len() < WORDS {
            return Err(ObjectError::TooSmall {
                needed: WORDS * 8,
                found: words.len() * 8,
            });
        }
        Ok(TileStatus {
            words: &words[..WORDS],
            writable: region.is_writable(),
        })
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    fn store(&self, index: usize, value: u64) {
        // A store into a read-only mapping faults; refusing here turns a reader's bug into a
        // panic with a message instead of a SIGSEGV.
        assert!(self.writable, "store into a read-only tile status");
        self.words[index].store(value, Relaxed);
    }

    /// Publishes the state. Release, so that a reader that sees `Running` also sees the pid
    /// and anything else the tile wrote before (readers fence Acquire after their load).
    pub fn set_state(&self, state: TileState) {
        assert!(self.writable, "store into a read-only tile status");
        self.words[word::STATE].store(state as u64, core::sync::atomic::Ordering::Release);
    }

    pub fn set_pid(&self, pid: u32) {
        self.store(word::PID, u64::from(pid));
    }

    pub fn set_heartbeat(&self, now_ns: u64) {
        self.store(word::HEARTBEAT_NS, now_ns);
    }

    /// Adds to the iteration counter; single writer, so load + store instead of a locked add.
    pub fn add_iterations(&self, n: u64) {
        let old = self.words[word::ITERATIONS].load(Relaxed);
        self.store(word::ITERATIONS, old.wrapping_add(n));
    }

    pub fn set_last_error(&self, code: u64) {
        self.store(word::LAST_ERROR, code);
    }

    /// The word in which this tile, as a reader of reclaimed table `slot`, publishes its
    /// quiescent epoch (hand it to `sync::qsbr::QsbrReader` as `mine`); `None` for a slot
    /// beyond [`QSBR_SLOTS`].
    pub fn quiescent_word(&self, slot: usize) -> Option<&'a AtomicU64> {
        (slot < QSBR_SLOTS).then(|| &self.words[word::QUIESCENT_EPOCH + 8 * slot])
    }

    pub fn state(&self) -> TileState {
        TileState::from_word(self.words[word::STATE].load(Relaxed))
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let load = |i: usize| self.words[i].load(Relaxed);
        let state = TileState::from_word(load(word::STATE));
        // Pairs with the Release in `set_state`.
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
        StatusSnapshot {
            state,
            pid: load(word::PID),
            heartbeat_ns: load(word::HEARTBEAT_NS),
            iterations: load(word::ITERATIONS),
            last_error: load(word::LAST_ERROR),
            quiescent_epochs: core::array::from_fn(|i| load(word::QUIESCENT_EPOCH + 8 * i)),
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the heartbeat clock. It is system-wide, so a reader in
/// another process can compute a heartbeat's age against its own reading.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, which is all
    // clock_gettime writes; CLOCK_MONOTONIC always exists on Linux, so it cannot fail with
    // EINVAL, and EFAULT is impossible with a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::HeapRegion;

    #[test]
    fn words_round_trip_and_readers_see_them() {
        let heap = HeapRegion::zeroed(TILE_STATUS_BYTES as usize);
        let w = TileStatus::new(heap.region()).unwrap();
        let r = TileStatus::new(heap.read_only()).unwrap();
        assert_eq!(r.state(), TileState::Unknown);
        w.set_state(TileState::Booting);
        w.set_pid(42);
        w.set_heartbeat(7);
        w.add_iterations(3);
        w.add_iterations(4);
        w.set_last_error(9);
        w.quiescent_word(0).unwrap().store(5, Relaxed);
        w.quiescent_word(3).unwrap().store(6, Relaxed);
        assert!(w.quiescent_word(QSBR_SLOTS).is_none());
        w.set_state(TileState::Running);
        let s = r.snapshot();
        assert_eq!(
            s,
            StatusSnapshot {
                state: TileState::Running,
                pid: 42,
                heartbeat_ns: 7,
                iterations: 7,
                last_error: 9,
                quiescent_epochs: [5, 0, 0, 6],
            }
        );
        assert_eq!(
            heap.region().words()[word::QUIESCENT_EPOCH].load(Relaxed),
            5
        );
    }

    #[test]
    fn rejects_short_regions_and_reader_stores() {
        let heap = HeapRegion::zeroed(64);
        assert!(matches!(
            TileStatus::new(heap.region()),
            Err(ObjectError::TooSmall { .. })
        ));
        let heap = HeapRegion::zeroed(TILE_STATUS_BYTES as usize);
        let r = TileStatus::new(heap.read_only()).unwrap();
        assert!(std::panic::catch_unwind(|| r.set_pid(1)).is_err());
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_ns() >= a + 1_000_000);
    }
}
