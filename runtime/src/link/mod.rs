//! Links: single-producer, single-consumer rings of frames between tiles in different
//! processes.
//!
//! The ring lives in the producer's workspace, mapped read-write by the producer and
//! **read-only** by the consumer: a consumer cannot store a single byte into it (its stores
//! would fault), so a crashed or malicious consumer cannot corrupt what the producer or other
//! readers see. Whatever the consumer must tell the producer — how far it has read, on
//! reliable links — lives instead in a word *it* owns: the "fseq" object in its own tile
//! status workspace, which the producer maps read-only. Each side writes only its own memory.
//!
//! # Protocol
//!
//! Layout and stamps: see [`layout`]. Frame `seq` goes to slot `seq % depth`.
//!
//! The producer publishes frame `seq` (see [`Producer::publish`]):
//! 1. reliable links only: if the consumer's progress `fseq` (frames it is done with) is a
//!    whole ring behind (`seq - fseq >= depth`), refuse with [`LinkError::Full`] and write
//!    nothing; the caller's loop retries later. The producer keeps the last value it loaded
//!    and only reloads when that one runs out, so it touches the consumer's line about once
//!    per `depth` frames;
//! 2. slot stamp := busy(`seq`) (release store), then a release fence;
//! 3. the length/control word and the frame words, relaxed stores;
//! 4. slot stamp := complete(`seq`) (release store);
//! 5. producer sequence := `seq + 1` (release store).
//!
//! Lossy links skip step 1: the producer never waits and overwrites the oldest slot.
//!
//! The consumer, expecting frame `next` (see [`Consumer::poll`]):
//! 1. when the frames it knows about are used up, loads the producer sequence `p` (relaxed
//!    load + acquire fence); `next >= p` is "empty". [`Consumer::poll_batch`] loads it once
//!    per batch;
//! 2. loads the slot stamp `s1` (relaxed + acquire fence); if it is not complete(`next`), the
//!    producer has lapped the consumer (a later write of the same slot) or the slot is
//!    corrupt — see below;
//! 3. copies the length/control word and the frame with relaxed loads, bounded by the frame
//!    size whatever the length word says;
//! 4. acquire fence, re-loads the stamp `s2`; `s2 != s1` means the producer rewrote the slot
//!    during the copy: the copy is discarded (counted as torn) and handled as a lap;
//! 5. only now checks the length (a length above the frame size is corruption: counted and
//!    skipped), and delivers the frame;
//! 6. publishes `next` to its fseq word (release store) every `publish_every` frames and
//!    whenever it finds the ring drained (so a waiting producer always gets the credit).
//!
//! On a lap (stamp of frame `f = next + k * depth`, `k >= 1`), the frames `next ..
//! max(f + 1 - depth, p - depth)` are gone; the consumer counts them as lost, returns
//! [`Poll::Overrun`] and continues with the oldest frame that may still be intact. A stamp
//! that is neither (never written, busy with `next` itself, another slot's sequence, or
//! beyond the producer sequence) is corruption: counted and skipped. Nothing read from the
//! ring is used as an index or a length without being bounded first, so a corrupt ring
//! yields counters and error values, never a panic or an out-of-bounds access.
//!
//! # Why these orderings suffice
//!
//! This is the fence-based seqlock of Boehm ("Can seqlocks get along with programming language
//! memory models?", 2012), with all data accessed through atomics so that a racing read is
//! not undefined behaviour (it may return a mixture, which the stamps reject).
//!
//! * **The copy is not older than the stamp.** `s1` = complete(`seq`) was written by the
//!   release store of step 4; the consumer's acquire fence after loading it synchronizes with
//!   that store, so every frame store of `seq` happens before the copy, and by coherence each
//!   relaxed load returns that store or a later one.
//! * **The copy is not newer than the stamp.** If any load of the copy returned a store of a
//!   later write of the slot, that store follows the later write's busy stamp and release
//!   fence (step 2); the consumer's acquire fence before loading `s2` then synchronizes with
//!   that release fence (fence-to-fence synchronization through the load that read the
//!   store), so the busy stamp happens before the `s2` load, which therefore returns it or
//!   something later — never `s1`, because a slot's stamps strictly grow. So `s1 == s2`
//!   proves every word came from write `seq`: the relaxed stores in between need no ordering
//!   among themselves, only with the two stamps, which the fences provide.
//! * **Empty is cheap and sound.** The producer sequence is stored after the complete stamp
//!   (release), so a consumer that acquired `p > seq` finds complete(`seq`) or a later stamp
//!   in the slot — never an earlier one: any other value is corruption.
//! * **Stamps are bounded by the producer sequence.** Busy stamps are release stores too, so
//!   a consumer that read the stamp of frame `f` (and fenced) sees a producer sequence `>= f`;
//!   the consumer uses this to refuse implausible stamps instead of skipping far ahead.
//! * **Back-pressure never overwrites an unconsumed slot.** The consumer copies frame `g`
//!   (loads) before its release store of a progress value `> g`; the producer's acquire fence
//!   after loading that value synchronizes with it, so the copy happens before the rewrite of
//!   `g`'s slot (by frame `g + depth`, which needs progress `> g`) and cannot read it: on a
//!   reliable link no frame is lost and no copy is torn.
//!
//! The consumer uses relaxed loads followed by acquire fences rather than acquire loads
//! because only plain loads are guaranteed to work on a read-only mapping; on x86-64 every
//! one of these loads, stores and acquire/release fences compiles to a plain `mov` (the
//! fences only constrain the compiler).
//!
//! All ring code is generic over [`Word`](crate::sync::Word) so that `tests/link_loom.rs`
//! runs this very code on loom's atomics.
//!
//! # Counters
//!
//! Both ends keep local counters ([`ProducerCounters`], [`ConsumerCounters`]) for their
//! tile's metrics hook to copy out: the consumer cannot write the ring, and the producer's
//! counters are its own business.

mod consumer;
pub mod layout;
mod producer;

#[cfg(test)]
mod tests;

pub use consumer::{
    arena_frame, Batch, Consumer, ConsumerCounters, ConsumerOptions, Corruption, FrameMeta, Poll,
};
pub use layout::{fseq_word, Geometry, Ring, MAX_SEQ};
pub use producer::{Producer, ProducerCounters};

/// How a link treats a slow consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The producer never waits: it overwrites the oldest frame, and a consumer that falls a
    /// whole ring behind loses frames (and counts them).
    Lossy,
    /// The producer refuses to publish ([`LinkError::Full`]) while the consumer is a whole
    /// ring behind: nothing is lost, the producer's loop decides when to retry.
    Reliable,
}

/// Why a link operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Depth not a power of two, frame size 0, …
    BadGeometry { what: &'static str, value: u64 },
    /// The region cannot hold the ring (or the fseq word).
    RegionTooSmall { need: u64, have: u64 },
    /// The producer has not initialized the ring yet.
    NotInitialized,
    /// The ring's constants differ from what this side was built for.
    Mismatch {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    /// This side needs to store into memory it mapped read-only.
    ReadOnly { what: &'static str },
    /// A reliable link without the consumer's progress word.
    MissingFseq,
    /// A frame longer than the frame size (never truncated).
    TooLong { len: usize, max: u32 },
    /// Reliable link: the consumer is a whole ring behind. Nothing was written; retry later.
    Full,
    /// Reliable link: the consumer's progress word claims frames that were never published.
    BadFseq { fseq: u64, seq: u64 },
    /// The producer used up the sequence space (`MAX_SEQ`).
    Exhausted,
    /// A consumer buffer shorter than the frame size.
    BufferTooSmall { need: usize },
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkError::BadGeometry { what, value } => write!(f, "invalid ring {what}: {value}"),
            LinkError::RegionTooSmall { need, have } => {
                write!(f, "ring region has {have} bytes, needs {need}")
            }
            LinkError::NotInitialized => write!(f, "ring not initialized by its producer yet"),
            LinkError::Mismatch {
                what,
                expected,
                found,
            } => write!(f, "ring {what} is {found:#x}, expected {expected:#x}"),
            LinkError::ReadOnly { what } => write!(f, "the {what} is mapped read-only"),
            LinkError::MissingFseq => {
                write!(
                    f,
                    "a reliable link needs the consumer's progress (fseq) word"
                )
            }
            LinkError::TooLong { len, max } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the link's frame size {max}"
                )
            }
            LinkError::Full => write!(f, "the consumer is a whole ring behind (back-pressure)"),
            LinkError::BadFseq { fseq, seq } => write!(
                f,
                "consumer progress {fseq} is ahead of the producer sequence {seq} (corrupt)"
            ),
            LinkError::Exhausted => write!(f, "the ring's sequence numbers are used up"),
            LinkError::BufferTooSmall { need } => {
                write!(f, "consumer buffer is smaller than the frame size {need}")
            }
        }
    }
}

impl std::error::Error for LinkError {}
