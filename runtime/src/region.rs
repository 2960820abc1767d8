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
    words: Box<[AtomicU64]>,
}

impl HeapRegion {
    /// `bytes` zeroed bytes, rounded up to a multiple of 8.
    pub fn zeroed(bytes: usize) -> Self {
        let n = bytes.div_ceil(8);
        let words: Box<[AtomicU64]> = (0..n).map(|_| AtomicU64::new(0)).collect();
        HeapRegion { words }
    }

    pub fn region(&self) -> Region<'_> {
        Region::new(&self.words, true)
    }

    /// The same memory as a reader sees it (stores are refused by the table APIs).
    pub fn read_only(&self) -> Region<'_> {
        Region::new(&self.words, false)
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
    }
}
