//! Owned memory mappings: the UMEM (anonymous) and the four rings (mapped from the socket).
//! Unmapped on drop, so every pointer derived from a mapping must not outlive it; the socket
//! keeps each mapping next to the ring that points into it.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;

/// One `mmap` region, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

#[derive(Debug)]
enum Backing {
    Mmap,
    /// Heap memory standing in for a kernel ring in unit tests; freed by its `Box`.
    #[cfg(test)]
    Heap(#[allow(dead_code)] Box<[u64]>),
}

// SAFETY: a Mapping exclusively owns its region (nothing else unmaps or frees it); moving the
// owner to another thread moves that ownership. Accesses through derived pointers are governed
// by the ring protocol, not by which thread holds the Mapping.
unsafe impl Send for Mapping {}

/// The system page size (the granule of every mapping).
pub(super) fn page_size() -> usize {
    // SAFETY: sysconf(3) has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

impl Mapping {
    /// `len` bytes of zeroed, page-aligned, private anonymous memory (the UMEM), populated up
    /// front so the kernel's page pinning at `XDP_UMEM_REG` does not fault page by page.
    pub(super) fn anonymous(len: usize) -> io::Result<Mapping> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    /// The ring of the AF_XDP socket `fd` at page offset `pgoff` (one of the `XDP_PGOFF_*`
    /// constants), `len` bytes, shared with the kernel.
    pub(super) fn socket_ring(fd: RawFd, len: usize, pgoff: u64) -> io::Result<Mapping> {
        let off = libc::off_t::try_from(pgoff).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "ring page offset out of range")
        })?;
        Self::map(len, libc::MAP_SHARED | libc::MAP_POPULATE, fd, off)
    }

    fn map(len: usize, flags: libc::c_int, fd: RawFd, off: libc::off_t) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        // SAFETY: a fresh mapping at an address of the kernel's choosing (addr = NULL) cannot
        // overlap memory Rust already owns; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null address"))?;
        Ok(Mapping {
            ptr,
            len,
            backing: Backing::Mmap,
        })
    }

    /// Heap memory of `len` bytes (rounded up to whole u64 words, 8-byte aligned, zeroed) that
    /// unit tests use in place of a kernel ring.
    #[cfg(test)]
    pub(super) fn heap(len: usize) -> Mapping {
        let mut words = vec![0u64; len.div_ceil(8).max(1)].into_boxed_slice();
        let ptr = NonNull::new(words.as_mut_ptr().cast::<u8>()).expect("Box is never null");
        Mapping {
            ptr,
            len,
            backing: Backing::Heap(words),
        }
    }

    pub(super) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.backing {
            Backing::Mmap => {
                // SAFETY: ptr/len are exactly what mmap returned; this owner is the only one
                // that unmaps, and it does so once. The rings and the socket that point into
                // the region are dropped before (field order), so no live reference remains.
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            }
            #[cfg(test)]
            Backing::Heap(_) => {}
        }
    }
}
