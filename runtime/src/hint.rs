//! Hints to the CPU: they change when memory arrives, never what a program computes.

/// Starts fetching the cache line that holds `p`, for a read a little later (a batch that
/// knows its addresses before it needs their data overlaps the misses). A no-op where the
/// target has no stable prefetch instruction.
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults, has no architectural effect and reads
    // nothing the program sees; `p` is a live reference in any case.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
