//! The atomic word the protocols are written against.

use core::sync::atomic::{fence, AtomicU64, Ordering};

/// A 64-bit atomic word and the matching fence.
pub trait Word {
    fn load(&self, order: Ordering) -> u64;
    fn store(&self, value: u64, order: Ordering);
    /// A fence of the same memory model as the word (loom needs its own).
    fn fence(order: Ordering);
}

impl Word for AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u64, order: Ordering) {
        AtomicU64::store(self, value, order)
    }
    #[inline(always)]
    fn fence(order: Ordering) {
        fence(order)
    }
}

/// A [`Word`] that can also be claimed: slots that several processes race for (guest reader
/// slots) need a compare-and-swap, the rest of the protocols only loads and stores.
pub trait CasWord: Word {
    /// `AtomicU64::compare_exchange` semantics.
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
}

impl CasWord for AtomicU64 {
    #[inline(always)]
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        AtomicU64::compare_exchange(self, current, new, success, failure)
    }
}
