//! The raw system call and the few conversions every command needs.

use std::io;
use std::mem::size_of;
use std::os::fd::{FromRawFd, OwnedFd};

use netbase_uapi::linux::{bpf_attr, bpf_cmd};

/// An all-zero attribute block: every field the command does not use must stay zero.
pub(super) fn zeroed_attr() -> bpf_attr {
    // SAFETY: `bpf_attr` is a union of `repr(C)` structs made only of integers and integer
    // arrays (and unions of those), for which the all-zero bit pattern is a valid value.
    unsafe { std::mem::zeroed() }
}

/// A user-space address as the kernel's `__aligned_u64` pointer fields want it.
pub(super) fn addr<T: ?Sized>(p: *const T) -> u64 {
    p.cast::<u8>() as usize as u64
}

/// `bpf(cmd, attr, sizeof attr)`; the non-negative result, or the errno.
///
/// # Safety
///
/// Every address stored in `attr` that the kernel reads must point to live memory of the
/// size stated next to it, and every address it writes through (log buffers, output data)
/// must point to writable memory of that size that nothing else accesses during the call.
pub(super) unsafe fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, exclusively borrowed `bpf_attr` of exactly the size passed;
    // the addresses inside it are valid per this function's contract, so the kernel reads and
    // writes only memory the caller lent it for this call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            size_of::<bpf_attr>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// [`bpf`] for the commands that return a new file descriptor.
///
/// # Safety
///
/// As for [`bpf`].
pub(super) unsafe fn bpf_fd(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<OwnedFd> {
    // SAFETY: forwarded contract of this function.
    let rc = unsafe { bpf(cmd, attr) }?;
    let raw = libc::c_int::try_from(rc).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bpf(2) returned {rc}, not a file descriptor"),
        )
    })?;
    // SAFETY: on success these commands return a new descriptor (close-on-exec) that only
    // this process knows of; `OwnedFd` becomes its sole owner and closes it once.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The kernel's object names (`map_name`, `prog_name`): at most 15 bytes of `[A-Za-z0-9_.]`
/// followed by NUL. Other bytes become `_` and longer names are cut, rather than failing
/// with EINVAL over a cosmetic name.
pub(super) fn object_name(name: &str) -> [libc::c_char; 16] {
    let mut out = [0 as libc::c_char; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        let ok = b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        *o = (if ok { b } else { b'_' }) as libc::c_char;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_sanitised_and_cut() {
        let n = object_name("net tile/xdp-prog.0_long_name");
        let bytes: Vec<u8> = n.iter().map(|&c| c as u8).collect();
        assert_eq!(&bytes[..15], b"net_tile_xdp_pr");
        assert_eq!(bytes[15], 0);
        assert_eq!(object_name("")[0], 0);
    }
}
