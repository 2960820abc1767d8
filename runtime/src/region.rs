//! A region: the memory of one shared object, seen only as atomic words.
//!
//! Tables never touch shared memory through plain loads or stores: another process may write
//! any byte at any moment, and a plain read racing with a write is undefined behaviour in Rust.
//! A region is a `&[AtomicU64]` (from a workspace mapping, or from the heap in tests and
//! benchmarks) that can also be viewed as 16- or 32-bit atomics for tables with narrower
//! entries. Each byte range must always be accessed at one width: the tables' layouts
//! guarantee that (mixed-size atomic accesses to the same bytes are not allowed).

use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

use crate::workspace::{Access, Workspace, WorkspaceError};

/// Memory of one object, as atomic words.
#[derive(Clone, Copy, Debug)]
pub struct Region<'a> {
    words: &'a [AtomicU64],
    writable: bool,
}

impl<'a> Region<'a> {
    /// A region over `words`; `writable` says whether this process may store into it (a
    /// read-only mapping faults on any store).
    pub fn new(words: &'a [AtomicU64], writable: bool) -> Self {
        Region { words, writable }
    }

    /// The object of `bytes` bytes at `offset` of a workspace (both multiples of 8).
    pub fn from_workspace(
        ws: &'a Workspace,
        offset: u64,
        bytes: u64,
    ) -> Result<Self, WorkspaceError> {
        let count = usize::try_from(bytes / 8).unwrap_or(usize::MAX);
        let words = ws.slice::<AtomicU64>(offset, count)?;
        Ok(Region {
            words,
            writable: ws.access() == Access::ReadWrite,
        })
    }

    pub fn words(&self) -> &'a [AtomicU64] {
        self.words
    }

    pub fn len_bytes(&self) -> usize {
        self.words.len() * 8
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// `bytes` bytes starting at `offset` (both multiples of 8), if inside the region.
    pub fn sub(&self, offset: usize, bytes: usize) -> Option<Region<'a>> {
        if offset % 8 != 0 || bytes % 8 != 0 {
            return None;
        }
        let start = offset / 8;
        let end = start.checked_add(bytes / 8)?;
        Some(Region {
            words: self.words.get(start..end)?,
            writable: self.writable,
        })
    }

    /// The region as 16-bit atomics.
    pub fn as_u16(&self) -> &'a [AtomicU16] {
        const { assert!(size_of::<AtomicU16>() * 4 == size_of::<AtomicU64>()) };
        const { assert!(align_of::<AtomicU16>() <= align_of::<AtomicU64>()) };
        // SAFETY: the words are valid, initialized memory for the lifetime `'a`; AtomicU16 has
        // the size and (weaker) alignment of u16, so 4 of them tile each AtomicU64 exactly and
        // every element is aligned. Atomics have interior mutability, so shared references to
        // them may be created even though other threads or processes write the memory. The
        // layouts that use this view never access the same bytes through another width.
        unsafe {
            core::slice::from_raw_parts(
                self.words.as_ptr().cast::<AtomicU16>(),
                self.words.len() * 4,
            )
        }
    }

    /// The region as 32-bit atomics.
    pub fn as_u32(&self) -> &'a [AtomicU32] {
        const { assert!(size_of::<AtomicU32>() * 2 == size_of::<AtomicU64>()) };
        const { assert!(align_of::<AtomicU32>() <= align_of::<AtomicU64>()) };
        // SAFETY: as in `as_u16`, with two 32-bit atomics per word.
        unsafe {
            core::slice::from_raw_parts(
                self.words.as_ptr().cast::<AtomicU32>(),
                self.words.len() * 2,
            )
        }
    }
}

/// Zeroed heap memory to back a region, for tests and benchmarks (and for tables that a single
/// process owns).
pub struct HeapRegion {
    mem: HeapMem,
}

enum HeapMem {
    Boxed(Box<[AtomicU64]>),
    /// A 2 MiB-aligned allocation advised `MADV_HUGEPAGE`.
    Aligned {
        ptr: core::ptr::NonNull<AtomicU64>,
        words: usize,
        layout: std::alloc::Layout,
        huge: bool,
    },
}

// SAFETY: `Aligned` owns its allocation exclusively (like the `Box` variant); the memory is only
// reached through `&[AtomicU64]`, which is `Send + Sync`.
unsafe impl Send for HeapMem {}
// SAFETY: as above.
unsafe impl Sync for HeapMem {}

/// The huge page size `zeroed_huge` aligns to (x86-64 and aarch64 with 4 KiB base pages).
pub const HUGE_PAGE: usize = 2 << 20;

impl HeapRegion {
    /// `bytes` zeroed bytes, rounded up to a multiple of 8.
    pub fn zeroed(bytes: usize) -> Self {
        let n = bytes.div_ceil(8);
        let words: Box<[AtomicU64]> = (0..n).map(|_| AtomicU64::new(0)).collect();
        HeapRegion {
            mem: HeapMem::Boxed(words),
        }
    }

    /// `bytes` zeroed bytes (rounded up to a multiple of 8) in a 2 MiB-aligned allocation that
    /// is advised to the kernel as transparent-huge-page memory before it is first touched: the
    /// heap counterpart of a workspace on hugetlbfs
    /// ([`Backing::HugeTlb`](crate::workspace::Backing::HugeTlb)), for benchmarks and
    /// single-process tables that want the tables' random accesses to cost few TLB entries.
    /// Whether the kernel grants huge pages depends on its THP setting
    /// ([`huge_pages_advised`](Self::huge_pages_advised) tells whether the advice was accepted;
    /// the memory works either way).
    pub fn zeroed_huge(bytes: usize) -> Self {
        let n = bytes.div_ceil(8).max(1);
        let size = (n * 8).next_multiple_of(HUGE_PAGE);
        let Ok(layout) = std::alloc::Layout::from_size_align(size, HUGE_PAGE) else {
            return Self::zeroed(bytes);
        };
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = core::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: `raw..raw + size` is the allocation just made (page-aligned, since HUGE_PAGE
        // is a multiple of the page size); madvise only changes how the kernel backs it.
        let huge = unsafe { libc::madvise(raw.cast(), size, libc::MADV_HUGEPAGE) } == 0;
        // SAFETY: the allocation is `size` writable bytes; zeroing them initializes every
        // AtomicU64 in it (all-zero bytes are a valid AtomicU64). This first touch is what
        // faults the pages in, after the advice.
        unsafe { core::ptr::write_bytes(raw, 0, size) };
        HeapRegion {
            mem: HeapMem::Aligned {
                ptr: ptr.cast(),
                words: n,
                layout,
                huge,
            },
        }
    }

    /// Whether the memory was allocated by [`zeroed_huge`](Self::zeroed_huge) and the kernel
    /// accepted the huge-page advice.
    pub fn huge_pages_advised(&self) -> bool {
        matches!(self.mem, HeapMem::Aligned { huge: true, .. })
    }

    fn words(&self) -> &[AtomicU64] {
        match &self.mem {
            HeapMem::Boxed(w) => w,
            // SAFETY: `ptr` is a live allocation of at least `words` initialized (zeroed, then
            // only accessed atomically) AtomicU64s, owned by `self` and freed only on drop.
            HeapMem::Aligned { ptr, words, .. } => unsafe {
                core::slice::from_raw_parts(ptr.as_ptr(), *words)
            },
        }
    }

    pub fn region(&self) -> Region<'_> {
        Region::new(self.words(), true)
    }

    /// The same memory as a reader sees it (stores are refused by the table APIs).
    pub fn read_only(&self) -> Region<'_> {
        Region::new(self.words(), false)
    }
}

impl Drop for HeapMem {
    fn drop(&mut self) {
        if let HeapMem::Aligned { ptr, layout, .. } = self {
            // SAFETY: allocated in `zeroed_huge` with exactly this layout, freed once (here);
            // no reference into it outlives `self` (regions borrow the `HeapRegion`).
            unsafe { std::alloc::dealloc(ptr.as_ptr().cast(), *layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering::Relaxed;

    #[test]
    fn views_share_bytes_and_sub_checks_bounds() {
        let heap = HeapRegion::zeroed(64);
        let r = heap.region();
        assert_eq!(r.len_bytes(), 64);
        r.as_u16()[4].store(0xbeef, Relaxed);
        assert_eq!(r.words()[1].load(Relaxed).to_le_bytes()[..2], [0xef, 0xbe]);
        assert!(r.sub(8, 16).is_some());
        assert!(r.sub(60, 8).is_none());
        assert!(r.sub(4, 8).is_none());
        assert!(!heap.read_only().is_writable());
        let huge = HeapRegion::zeroed_huge(24);
        let r = huge.region();
        assert_eq!(r.len_bytes(), 24);
        assert_eq!(r.words().as_ptr() as usize % HUGE_PAGE, 0);
        assert!(r.words().iter().all(|w| w.load(Relaxed) == 0));
        r.words()[2].store(7, Relaxed);
        assert_eq!(huge.read_only().words()[2].load(Relaxed), 7);
    }
}
