//! What every loom model shares: loom's atomic as the protocols' word (a local type, so that
//! the runtime's traits can be implemented for it).

use core::sync::atomic::Ordering;

use loom::sync::atomic::AtomicU64;
use netbase_runtime::sync::{CasWord, Word};

pub struct LoomWord(pub AtomicU64);

impl Word for LoomWord {
    fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }
    fn store(&self, value: u64, order: Ordering) {
        self.0.store(value, order)
    }
    fn fence(order: Ordering) {
        loom::sync::atomic::fence(order)
    }
}

impl CasWord for LoomWord {
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.0.compare_exchange(current, new, success, failure)
    }
}
