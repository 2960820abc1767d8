//! Quiescent-state-based reclamation (QSBR) across processes.
//!
//! Readers map the tables read-only, so they cannot tell the writer "I am done with what you
//! unpublished" inside the table. Instead each reader owns one word in memory *it* can write
//! (in production its tile status region, which the writer maps read-only) and, between
//! lookups (once per poll-loop iteration), copies the table's epoch into it:
//! [`QsbrReader::quiescent`]. A reader holds no reference into the table across that call.
//!
//! The writer ([`EpochClock`]):
//! 1. unpublishes an object (e.g. stores a plain value over the index entry that pointed at a
//!    second-level group),
//! 2. records it as retired at the current epoch `r` and, once the operation's stores are done,
//!    advances the epoch to `r + 1` with a release store,
//! 3. reuses the object only when every live reader's word is `>= r + 1`
//!    ([`grace_elapsed`]).
//!
//! Why that is enough: a reader that stored `e >= r + 1` loaded the epoch word and saw the
//! advance (or a later one); the advance is a release store made after the unpublishing
//! stores and the reader's load is followed by an acquire fence, so every lookup the reader
//! starts afterwards sees the object unpublished. Every lookup it did before the store is
//! ordered before it (release store), and the writer reads the word with acquire ordering
//! before it rewrites the object, so those lookups cannot observe the rewrite either.
//!
//! A reader that is going to stop looking up for a while (or for good) stores [`OFFLINE`]; a
//! word that never changes otherwise holds reclamation back forever — the writer then reports
//! "full" instead of reusing early. Coming back ([`QsbrReader::online`]) needs a full fence
//! between publishing the word and the first lookup, and the writer issues one between its
//! last unpublishing store and reading the words ([`min_epoch_fenced`]): otherwise the writer
//! could still see `OFFLINE` while the reader's first lookup still sees the old pointer.
//!
//! Everything is generic over [`Word`] so that `tests/lpm_loom.rs` models this exact code.

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::collections::VecDeque;

use super::word::Word;

/// A reader word value meaning "not looking anything up": never holds reclamation back.
pub const OFFLINE: u64 = u64::MAX;

/// The live readers of a table, as the writer sees them.
///
/// The tile implements it over the other tiles' status regions and leaves dead readers out
/// (only when they are certainly dead: a slow reader counted as dead could see reused memory).
pub trait ReaderEpochs {
    /// The smallest quiescent epoch of the live readers; `None` when there are none.
    fn min_epoch(&self) -> Option<u64>;
}

/// No readers at all (a writer alone, tests, benchmarks of the writer).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReaders;

impl ReaderEpochs for NoReaders {
    fn min_epoch(&self) -> Option<u64> {
        None
    }
}

/// Each word is one live reader's quiescent word (read with acquire ordering).
impl<W: Word> ReaderEpochs for [W] {
    fn min_epoch(&self) -> Option<u64> {
        let min = self.iter().map(|w| w.load(Relaxed)).min();
        W::fence(Acquire);
        min
    }
}

impl<W: Word> ReaderEpochs for Vec<W> {
    fn min_epoch(&self) -> Option<u64> {
        self.as_slice().min_epoch()
    }
}

impl<T: ReaderEpochs + ?Sized> ReaderEpochs for &T {
    fn min_epoch(&self) -> Option<u64> {
        (**self).min_epoch()
    }
}

impl<T: ReaderEpochs + ?Sized> ReaderEpochs for std::sync::Arc<T> {
    fn min_epoch(&self) -> Option<u64> {
        (**self).min_epoch()
    }
}

/// Writer: the readers' minimum after a full fence, so that a reader coming online either is
/// seen by this read or sees everything unpublished before it (see the module comment).
pub fn min_epoch_fenced<W: Word, R: ReaderEpochs + ?Sized>(readers: &R) -> Option<u64> {
    W::fence(SeqCst);
    readers.min_epoch()
}

/// Whether an object retired at epoch `retired` may be reused, given the readers' minimum.
#[inline]
pub fn grace_elapsed(retired: u64, min: Option<u64>) -> bool {
    match min {
        None => true,
        Some(m) => m > retired,
    }
}

/// A reader's side: the table's epoch word (read-only) and the reader's own word.
#[derive(Clone, Copy)]
pub struct QsbrReader<'a, W: Word> {
    epoch: &'a W,
    mine: &'a W,
}

impl<'a, W: Word> QsbrReader<'a, W> {
    pub fn new(epoch: &'a W, mine: &'a W) -> Self {
        QsbrReader { epoch, mine }
    }

    /// Between lookups: announces that no reference into the table is held. Cheap (one load,
    /// one store); call it once per poll-loop iteration.
    #[inline]
    pub fn quiescent(&self) {
        let e = self.epoch.load(Relaxed);
        // Later lookups must not be satisfied from before the epoch load (they would miss the
        // writer's unpublishing stores that the advance is ordered after).
        W::fence(Acquire);
        self.mine.store(e, Release);
    }

    /// Starts (or resumes) looking up after [`offline`](Self::offline) or at startup.
    pub fn online(&self) {
        let e = self.epoch.load(Relaxed);
        self.mine.store(e, Relaxed);
        // Store-load ordering: the writer either sees this word or our lookups see its
        // unpublishing stores (it fences the same way before reading the words).
        W::fence(SeqCst);
    }

    /// Stops holding reclamation back (the reader does no lookups until `online`).
    pub fn offline(&self) {
        self.mine.store(OFFLINE, Release);
    }

    /// The value last announced.
    pub fn announced(&self) -> u64 {
        self.mine.load(Relaxed)
    }
}

/// Writer: the table's epoch counter (the only store to the epoch word).
pub struct EpochClock<'a, W: Word> {
    word: &'a W,
    now: u64,
    retired_since_advance: bool,
}

impl<'a, W: Word> EpochClock<'a, W> {
    /// Continues from the word's current value (0 for a new table).
    pub fn new(word: &'a W) -> Self {
        let now = word.load(Relaxed);
        EpochClock {
            word,
            now,
            retired_since_advance: false,
        }
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    /// The epoch to tag an object that was just unpublished with; the clock will advance at
    /// the next [`advance_if_retired`](Self::advance_if_retired).
    pub fn retire(&mut self) -> u64 {
        self.retired_since_advance = true;
        self.now
    }

    /// After the operation's last unpublishing store: advance past everything retired.
    pub fn advance_if_retired(&mut self) {
        if self.retired_since_advance {
            self.retired_since_advance = false;
            self.now = self.now.wrapping_add(1);
            self.word.store(self.now, Release);
        }
    }
}

/// Objects waiting for readers before reuse, oldest first (epochs only grow, so the front is
/// always the first to become reusable).
#[derive(Debug, Clone)]
pub struct RetireQueue<T> {
    queue: VecDeque<(u64, T)>,
}

impl<T> Default for RetireQueue<T> {
    fn default() -> Self {
        RetireQueue {
            queue: VecDeque::new(),
        }
    }
}

impl<T> RetireQueue<T> {
    pub fn push(&mut self, epoch: u64, item: T) {
        self.queue.push_back((epoch, item));
    }

    /// The oldest object whose grace period has elapsed under `min`, with its retire epoch.
    pub fn pop_reusable(&mut self, min: Option<u64>) -> Option<(u64, T)> {
        let (epoch, _) = self.queue.front()?;
        if grace_elapsed(*epoch, min) {
            self.queue.pop_front()
        } else {
            None
        }
    }

    /// Whether the oldest object could be reused under `min` (without taking it).
    pub fn front_reusable(&self, min: Option<u64>) -> bool {
        self.queue
            .front()
            .is_some_and(|(epoch, _)| grace_elapsed(*epoch, min))
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Removes every queued object for which `keep(epoch, object)` is false (e.g. revived
    /// ones).
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &T) -> bool) {
        self.queue.retain(|(epoch, item)| keep(*epoch, item));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    #[test]
    fn reuse_waits_for_every_reader() {
        let epoch = AtomicU64::new(0);
        let words: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
        let mut clock = EpochClock::new(&epoch);
        let mut q = RetireQueue::default();
        q.push(clock.retire(), 7u16);
        clock.advance_if_retired();
        assert_eq!(clock.now(), 1);
        assert_eq!(
            q.pop_reusable(min_epoch_fenced::<AtomicU64, _>(&words)),
            None
        );
        let (a, b) = (
            QsbrReader::new(&epoch, &words[0]),
            QsbrReader::new(&epoch, &words[1]),
        );
        a.quiescent();
        assert_eq!(q.pop_reusable(words.min_epoch()), None);
        b.offline();
        assert_eq!(q.pop_reusable(words.min_epoch()), Some((0, 7)));
        b.online();
        assert_eq!(b.announced(), 1);
        assert_eq!(NoReaders.min_epoch(), None);
        assert!(grace_elapsed(5, None));
        assert!(!grace_elapsed(5, Some(5)));
    }

    #[test]
    fn clock_advances_only_after_retirement() {
        let epoch = AtomicU64::new(41);
        let mut clock = EpochClock::new(&epoch);
        clock.advance_if_retired();
        assert_eq!(epoch.load(Relaxed), 41);
        assert_eq!(clock.retire(), 41);
        assert_eq!(clock.retire(), 41);
        clock.advance_if_retired();
        assert_eq!(epoch.load(Relaxed), 42);
    }
}
