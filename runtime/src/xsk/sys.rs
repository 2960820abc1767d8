//! The AF_XDP system calls: socket, socket options, bind and the wakeup ("kick") calls.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use netbase_uapi::linux::{sockaddr_xdp, AF_XDP};

/// `SOL_XDP`, the socket option level of AF_XDP (from `libc`; the UAPI headers we bind do not
/// define it).
const SOL_XDP: libc::c_int = libc::SOL_XDP;

/// A new AF_XDP socket.
pub(super) fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            AF_XDP as libc::c_int,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Marker for the plain C structs and integers passed through socket options: every bit
/// pattern is a valid value, so the kernel may fill them in.
///
/// # Safety
/// Implementors must be `#[repr(C)]` plain data without padding-sensitive invariants, for
/// which all-zero and any bytes the kernel writes are valid.
pub(super) unsafe trait Pod: Copy {}
// SAFETY: integers are valid for every bit pattern.
unsafe impl Pod for u32 {}
// SAFETY: `#[repr(C)]`, integer fields only, no padding (checked below).
unsafe impl Pod for UmemReg {}
// SAFETY: bindgen `#[repr(C)]` structs of integer fields only.
unsafe impl Pod for netbase_uapi::linux::xdp_mmap_offsets {}
// SAFETY: as above.
unsafe impl Pod for netbase_uapi::linux::xdp_statistics {}
// SAFETY: as above.
unsafe impl Pod for netbase_uapi::linux::xdp_options {}

/// `struct xdp_umem_reg` as Linux 6.8+ defines it. The bindgen `xdp_umem_reg` comes from older
/// headers and ends in 4 bytes of padding where newer kernels read `tx_metadata_len`; the
/// kernel takes a 32-byte option as the new layout, so those bytes must be an explicit zero,
/// never padding of unspecified value. Older kernels ignore them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UmemReg {
    pub(super) addr: u64,
    pub(super) len: u64,
    pub(super) chunk_size: u32,
    pub(super) headroom: u32,
    pub(super) flags: u32,
    pub(super) tx_metadata_len: u32,
}

const _: () = {
    use core::mem::offset_of;
    use netbase_uapi::linux::xdp_umem_reg as K;
    assert!(size_of::<UmemReg>() == size_of::<K>());
    assert!(offset_of!(UmemReg, addr) == offset_of!(K, addr));
    assert!(offset_of!(UmemReg, len) == offset_of!(K, len));
    assert!(offset_of!(UmemReg, chunk_size) == offset_of!(K, chunk_size));
    assert!(offset_of!(UmemReg, headroom) == offset_of!(K, headroom));
    assert!(offset_of!(UmemReg, flags) == offset_of!(K, flags));
    // The last field fills the old padding exactly: no padding remains.
    assert!(offset_of!(UmemReg, tx_metadata_len) == 28 && size_of::<UmemReg>() == 32);
};

/// `setsockopt(fd, SOL_XDP, opt, value)`.
pub(super) fn set<T: Pod>(fd: RawFd, opt: u32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to `size_of::<T>()` readable bytes for the duration of the call;
    // the kernel only reads them.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            opt as libc::c_int,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(fd, SOL_XDP, opt)`: the value (zero where the kernel wrote less) and the length
/// the kernel reported.
pub(super) fn get<T: Pod>(fd: RawFd, opt: u32) -> io::Result<(T, usize)> {
    // SAFETY: T is Pod, so all-zero is a valid value.
    let mut value: T = unsafe { zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes and `len` is a valid in/out length; the
    // kernel writes at most `len` bytes, and any bytes it writes form a valid T (Pod).
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            opt as libc::c_int,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((value, len as usize))
}

/// Binds the socket to queue `queue` of interface `ifindex` with `XDP_*` bind `flags`.
pub(super) fn bind(fd: RawFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let sa = sockaddr_xdp {
        sxdp_family: AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `sa` is a complete sockaddr_xdp (16 bytes, layout checked by the bindings) live
    // for the call; the kernel only reads it.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sa as *const sockaddr_xdp).cast(),
            size_of::<sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to process the TX ring (`sendto` with no data, non-blocking).
pub(super) fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length send with null buffer and address is what AF_XDP defines as a TX
    // wakeup; the kernel reads no user memory.
    let rc = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to process the fill ring (`recvfrom` with no buffer, non-blocking).
pub(super) fn kick_rx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length receive with null buffer and address pointers is the AF_XDP RX
    // wakeup; the kernel writes no user memory.
    let rc = unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
