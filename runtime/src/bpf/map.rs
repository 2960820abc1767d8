//! The XSKMAP: queue index to AF_XDP socket, consulted by `bpf_redirect_map` in the XDP
//! program.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use netbase_uapi::linux as k;

use super::sys::{addr, bpf, bpf_fd, object_name, zeroed_attr};

/// A `BPF_MAP_TYPE_XSKMAP`: key `u32` receive-queue index, value `u32` AF_XDP socket fd.
///
/// An empty slot makes `bpf_redirect_map` return its fallback action (the program's flags
/// argument), so frames for a queue without a socket are not lost while sockets come and go.
pub struct XskMap {
    fd: OwnedFd,
    max_entries: u32,
}

impl XskMap {
    /// Creates a map for queues `0..max_entries`.
    pub fn create(max_entries: u32) -> io::Result<XskMap> {
        let mut attr = zeroed_attr();
        attr.__bindgen_anon_1.map_type = k::BPF_MAP_TYPE_XSKMAP;
        attr.__bindgen_anon_1.key_size = 4;
        attr.__bindgen_anon_1.value_size = 4;
        attr.__bindgen_anon_1.max_entries = max_entries;
        attr.__bindgen_anon_1.map_name = object_name("netbase_xsk");
        // SAFETY: the attribute holds no addresses.
        let fd = unsafe { bpf_fd(k::BPF_MAP_CREATE, &mut attr) }?;
        Ok(XskMap { fd, max_entries })
    }

    /// The XSKMAP behind descriptor `fd`, inherited from the process that created it (the
    /// supervisor hands its map to net tiles this way).
    ///
    /// The kernel is asked what `fd` is first, so a wrong number is an error, not a map of
    /// some other kind. The map is used through a close-on-exec duplicate: `fd` itself is
    /// left open, because nothing proves this call is its only owner, and closing it here
    /// could close a descriptor that other code still uses.
    pub fn from_inherited_fd(fd: RawFd) -> io::Result<XskMap> {
        let info = map_info(fd)?;
        if info.map_type != k::BPF_MAP_TYPE_XSKMAP || info.key_size != 4 || info.value_size != 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "descriptor {fd} is a BPF map of type {} (key {} B, value {} B), not an XSKMAP",
                    info.map_type, info.key_size, info.value_size
                ),
            ));
        }
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads the descriptor number; `fd` was just
        // shown to be an open BPF map.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a new descriptor that only this function knows of.
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        Ok(XskMap {
            fd,
            max_entries: info.max_entries,
        })
    }

    /// Steers queue `queue` to the AF_XDP socket `xsk_fd` (`BPF_MAP_UPDATE_ELEM`, replacing
    /// any socket there). The kernel refuses a descriptor that is not a bound AF_XDP socket
    /// (EOPNOTSUPP / EBADF) and a queue at or above `max_entries` (E2BIG).
    pub fn set(&self, queue: u32, xsk_fd: RawFd) -> io::Result<()> {
        let value = u32::try_from(xsk_fd).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("negative socket descriptor {xsk_fd}"),
            )
        })?;
        let key = queue;
        let mut attr = zeroed_attr();
        attr.__bindgen_anon_2.map_fd = self.fd.as_raw_fd() as u32;
        attr.__bindgen_anon_2.key = addr(&key);
        attr.__bindgen_anon_2.__bindgen_anon_1.value = addr(&value);
        attr.__bindgen_anon_2.flags = u64::from(k::BPF_ANY);
        // SAFETY: `key` and `value` are live 4-byte locals, the sizes the map was created
        // with; the kernel only reads them.
        unsafe { bpf(k::BPF_MAP_UPDATE_ELEM, &mut attr) }.map(drop)
    }

    /// Empties queue `queue`'s slot (`BPF_MAP_DELETE_ELEM`); frames for it then get the
    /// fallback action. Clearing an empty slot succeeds; a queue at or above `max_entries`
    /// is EINVAL.
    pub fn clear(&self, queue: u32) -> io::Result<()> {
        let key = queue;
        let mut attr = zeroed_attr();
        attr.__bindgen_anon_2.map_fd = self.fd.as_raw_fd() as u32;
        attr.__bindgen_anon_2.key = addr(&key);
        // SAFETY: `key` is a live 4-byte local the kernel only reads.
        unsafe { bpf(k::BPF_MAP_DELETE_ELEM, &mut attr) }.map(drop)
    }

    /// The map's descriptor, for the `BPF_PSEUDO_MAP_FD` load in the program; valid while
    /// `self` lives (a loaded program keeps its own reference to the map).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The number of queue slots.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }
}

impl fmt::Debug for XskMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskMap")
            .field("fd", &self.fd.as_raw_fd())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

/// The leading fields of the kernel's `struct bpf_map_info` (`<linux/bpf.h>`, not in the
/// bindgen output). The kernel fills only as many bytes as it is given, so this prefix is
/// enough; the offsets are ABI.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct MapInfoPrefix {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

const _: () = {
    assert!(std::mem::size_of::<MapInfoPrefix>() == 24);
    assert!(std::mem::offset_of!(MapInfoPrefix, key_size) == 8);
    assert!(std::mem::offset_of!(MapInfoPrefix, max_entries) == 16);
};

/// `BPF_OBJ_GET_INFO_BY_FD` for a map. EBADF if `fd` is not open, EINVAL if it is not a BPF
/// object.
fn map_info(fd: RawFd) -> io::Result<MapInfoPrefix> {
    let raw = u32::try_from(fd)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("descriptor {fd}")))?;
    let mut info = MapInfoPrefix::default();
    let mut attr = zeroed_attr();
    attr.info.bpf_fd = raw;
    attr.info.info_len = std::mem::size_of::<MapInfoPrefix>() as u32;
    attr.info.info = addr(&mut info as *mut MapInfoPrefix);
    // SAFETY: `info` is an exclusively borrowed local of exactly `info_len` bytes, the only
    // memory the kernel writes through.
    unsafe { bpf(k::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info)
}
