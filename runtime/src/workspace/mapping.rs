//! The mapped pages of a workspace file, and bounds- and alignment-checked pointers into them.

use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use std::fs::File;
use std::io;

use memmap2::{MmapOptions, MmapRaw};

use super::error::WorkspaceError;
use super::header::{HeaderMut, HeaderRef, HEADER_SIZE};

/// A `MAP_SHARED` mapping of a whole workspace file: `PROT_READ | PROT_WRITE` for the writer,
/// `PROT_READ` for readers, so that a stray write by a reader faults instead of corrupting the
/// writer's state.
pub(crate) struct Mapping {
    raw: MmapRaw,
    writable: bool,
}

impl Mapping {
    /// Maps the first `len` bytes of `file`, which must be at least [`HEADER_SIZE`] so that the
    /// header is always inside the mapping.
    pub(crate) fn new(file: &File, len: usize, writable: bool) -> io::Result<Self> {
        if (len as u64) < HEADER_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a workspace mapping must cover at least the header",
            ));
        }
        let mut options = MmapOptions::new();
        options.len(len);
        let raw = if writable {
            options.map_raw(file)?
        } else {
            options.map_raw_read_only(file)?
        };
        if raw.as_ptr().is_null() {
            // mmap never returns address 0 for a mapping it chose, but `header` relies on it.
            return Err(io::Error::other("mmap returned a null mapping"));
        }
        Ok(Mapping { raw, writable })
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    /// Start of the mapping: page-aligned, and non-null (checked in `new`).
    pub(crate) fn base(&self) -> *mut u8 {
        self.raw.as_mut_ptr()
    }

    fn base_non_null(&self) -> NonNull<u8> {
        // The fallback is unreachable: `new` refuses a null mapping.
        NonNull::new(self.base()).unwrap_or(NonNull::dangling())
    }

    pub(crate) fn header(&self) -> HeaderRef<'_> {
        // SAFETY: the mapping is non-null and at least HEADER_SIZE long (both checked in `new`),
        // page-aligned (so 8-aligned), and stays mapped while `self` is borrowed. Other processes change it only
        // through the header's atomics once published: the writer protocol in `Workspace`.
        unsafe { HeaderRef::new(self.base_non_null()) }
    }

    /// Write access to the header; `None` for a read-only mapping.
    pub(crate) fn header_mut(&self) -> Option<HeaderMut<'_>> {
        if !self.writable {
            return None;
        }
        // SAFETY: as in `header`, and the mapping was made with PROT_WRITE.
        Some(unsafe { HeaderMut::new(self.base_non_null()) })
    }

    /// A pointer to `count` values of `T` at byte `offset`, after checking that they lie in the
    /// object area `[HEADER_SIZE, len)` and that the address suits `T`'s alignment.
    pub(crate) fn checked_ptr<T>(
        &self,
        offset: u64,
        count: usize,
    ) -> Result<NonNull<T>, WorkspaceError> {
        let size = self.len() as u64;
        let len = (size_of::<T>() as u64).checked_mul(count as u64);
        let end = len.and_then(|len| offset.checked_add(len));
        let in_bounds = matches!(end, Some(end) if offset >= HEADER_SIZE && end <= size);
        let out_of_bounds = || WorkspaceError::OutOfBounds {
            offset,
            len: len.unwrap_or(u64::MAX),
            size,
        };
        if !in_bounds {
            return Err(out_of_bounds());
        }
        // `offset <= size`, and `size` came from a usize, so this cannot fail.
        let offset_in_map = usize::try_from(offset).map_err(|_| out_of_bounds())?;
        let ptr = self.base().wrapping_add(offset_in_map).cast::<T>();
        if !ptr.is_aligned() {
            return Err(WorkspaceError::Misaligned {
                offset,
                align: align_of::<T>(),
            });
        }
        NonNull::new(ptr).ok_or_else(out_of_bounds)
    }
}
