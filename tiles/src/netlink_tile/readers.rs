//! The netbase's readers as its writer sees them: the quiescent words of the reader tiles
//! (net tiles), each in the status workspace of the tile that owns it, mapped read-only here.

use core::sync::atomic::{fence, AtomicU64, Ordering};

use netbase_runtime::sync::qsbr::ReaderEpochs;

/// Quiescent slot (see `runtime::tile::status`) in which reader tiles announce the epochs of
/// the `local4` table.
pub const LOCAL4_QSBR_SLOT: usize = 0;
/// Slot of the `main4` table.
pub const MAIN4_QSBR_SLOT: usize = 1;

/// The epoch words a reader of `view` copies into its quiescent slots, indexed by slot
/// ([`LOCAL4_QSBR_SLOT`], [`MAIN4_QSBR_SLOT`]): the `netbase_epochs` of its tile context.
pub fn epochs_by_slot<'a>(view: &crate::netbase_view::NetbaseView<'a>) -> [&'a AtomicU64; 2] {
    let mut slots = [view.local4.epoch_word(); 2];
    slots[LOCAL4_QSBR_SLOT] = view.local4.epoch_word();
    slots[MAIN4_QSBR_SLOT] = view.main4.epoch_word();
    slots
}

/// One word per reader tile instance, all for the same table. A tile that has not started yet still holds its initial
/// epoch (0), which holds reclamation back until it runs: it may start looking up at any
/// moment, so memory it could see must not be reused.
#[derive(Debug, Clone, Default)]
pub struct ReaderWords<'a> {
    words: Vec<&'a AtomicU64>,
}

impl<'a> ReaderWords<'a> {
    pub fn new(words: Vec<&'a AtomicU64>) -> Self {
        ReaderWords { words }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

impl ReaderEpochs for ReaderWords<'_> {
    fn min_epoch(&self) -> Option<u64> {
        let min = self.words.iter().map(|w| w.load(Ordering::Relaxed)).min();
        // Pairs with the reader's release store of its word: memory the reader used before
        // announcing the epoch is not rewritten before this load (see `sync::qsbr`).
        fence(Ordering::Acquire);
        min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_of_the_words_and_none_without_readers() {
        assert_eq!(ReaderWords::default().min_epoch(), None);
        let (a, b) = (AtomicU64::new(7), AtomicU64::new(3));
        let r = ReaderWords::new(vec![&a, &b]);
        assert_eq!(r.min_epoch(), Some(3));
        b.store(9, Ordering::Relaxed);
        assert_eq!(r.min_epoch(), Some(7));
    }
}
