//! Attaching an XDP program to an interface with a BPF link.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use netbase_uapi::linux as k;

use super::sys::{bpf_fd, zeroed_attr};
use super::XdpProgram;

/// Where in the receive path the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native XDP in the driver (`XDP_FLAGS_DRV_MODE`): before any skb exists. Fails with
    /// EOPNOTSUPP on drivers without XDP support; on veth with ERANGE when the peer's MTU
    /// exceeds a page of frame unless the program was loaded with `xdp_has_frags`.
    Driver,
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`): after the skb is built, on any device; slower.
    Generic,
}

impl AttachMode {
    fn flags(self) -> u32 {
        match self {
            AttachMode::Driver => k::XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => k::XDP_FLAGS_SKB_MODE,
        }
    }
}

/// An XDP program attached to an interface through `BPF_LINK_CREATE`. The attachment lives
/// as long as the link's file: dropping the link (or the process dying) detaches the
/// program, and nothing can replace it meanwhile (EBUSY). A child forked at the moment of
/// the drop holds a copy of the descriptor until it execs (it is close-on-exec), which can
/// delay the detach by that long.
pub struct XdpLink {
    fd: OwnedFd,
    ifindex: u32,
    mode: AttachMode,
}

impl XdpLink {
    /// Attaches `prog` to interface `ifindex` of the calling thread's network namespace.
    /// The kernel's errno is returned unchanged so callers can react to it (EOPNOTSUPP: no
    /// native XDP, try [`AttachMode::Generic`]; ERANGE: MTU too large for single-buffer XDP;
    /// EBUSY: a program is already attached in this mode; EINVAL: no such interface, or
    /// bad flags).
    pub fn attach(prog: &XdpProgram, ifindex: u32, mode: AttachMode) -> io::Result<XdpLink> {
        let mut attr = zeroed_attr();
        attr.link_create.prog_fd = prog.fd() as u32;
        attr.link_create.__bindgen_anon_1.target_ifindex = ifindex;
        attr.link_create.attach_type = k::BPF_XDP;
        attr.link_create.flags = mode.flags();
        // SAFETY: the attribute holds no addresses.
        let fd = unsafe { bpf_fd(k::BPF_LINK_CREATE, &mut attr) }?;
        Ok(XdpLink { fd, ifindex, mode })
    }

    /// The link's descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The interface the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The mode it was attached in.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }
}

impl fmt::Debug for XdpLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpLink")
            .field("fd", &self.fd.as_raw_fd())
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .finish()
    }
}
