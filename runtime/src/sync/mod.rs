//! Publication protocols between one writer and readers in other processes.
//!
//! Protocol code is generic over [`Word`] so that loom can model exactly the code that runs
//! (tests instantiate it with loom's atomics; production with `AtomicU64` in shared memory).

pub mod qsbr;
pub mod seqlock;
pub mod word;

pub use seqlock::{Busy, SeqSlot, Snapshot, MAX_ROW_WORDS};
pub use word::{CasWord, Word};
