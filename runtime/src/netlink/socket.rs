//! A raw `NETLINK_ROUTE` socket: open, subscribe, size, send and receive, nothing more.
//!
//! The monitor ([`super::monitor`]) and the dump reader ([`super::dump`]) each own one of these.
//! Receiving never allocates: the caller passes the buffer, and the outcomes that need different
//! reactions (overrun, nothing pending, signal, cut datagram) are distinct [`RecvError`] variants
//! instead of an `io::Error` that every caller would have to decode again.

use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use netbase_uapi::linux as uapi;

/// Interfaces appearing, changing and vanishing.
pub const GROUP_LINK: u32 = libc::RTNLGRP_LINK;
/// IPv4 addresses.
pub const GROUP_IPV4_IFADDR: u32 = libc::RTNLGRP_IPV4_IFADDR;
/// IPv4 routes, every table.
pub const GROUP_IPV4_ROUTE: u32 = libc::RTNLGRP_IPV4_ROUTE;
/// Neighbours of every family (the parsers skip the families they do not mirror).
pub const GROUP_NEIGH: u32 = libc::RTNLGRP_NEIGH;
/// Nexthop objects. Routes that use a deleted nexthop vanish without an `RTM_DELROUTE`, so
/// these events are the only hint that the route tables must be dumped again.
pub const GROUP_NEXTHOP: u32 = libc::RTNLGRP_NEXTHOP;

/// The groups a netbase monitor joins, in this order.
pub const MONITOR_GROUPS: [u32; 5] = [
    GROUP_LINK,
    GROUP_IPV4_IFADDR,
    GROUP_IPV4_ROUTE,
    GROUP_NEIGH,
    GROUP_NEXTHOP,
];

/// Whether `recv` waits for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `recv` waits (bounded by [`NetlinkSocket::set_recv_timeout`], if set).
    Blocking,
    /// `recv` returns [`RecvError::WouldBlock`] at once when nothing is queued.
    NonBlocking,
}

/// How [`NetlinkSocket::set_recv_buffer`] asks for its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferRequest {
    /// `SO_RCVBUFFORCE` (ignores `net.core.rmem_max`, needs CAP_NET_ADMIN), falling back to
    /// `SO_RCVBUF` when the kernel refuses it for lack of privilege.
    Force,
    /// `SO_RCVBUF` only: the kernel caps it at `net.core.rmem_max`. Also the way to get a
    /// deliberately small buffer, since the forced variant would be the same size anyway.
    Plain,
}

/// The outcome of [`NetlinkSocket::set_recv_buffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvBufferSize {
    /// What the caller asked for.
    pub requested: usize,
    /// What `getsockopt(SO_RCVBUF)` reads back: the kernel doubles the request for its
    /// bookkeeping overhead, then applies `rmem_max` (plain requests) and its minimum.
    pub obtained: usize,
    /// Whether `SO_RCVBUFFORCE` was accepted.
    pub forced: bool,
}

/// One datagram received by [`NetlinkSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes of the datagram, all of them inside the caller's buffer.
    pub len: usize,
    /// Netlink port id of the sender; the kernel is 0. Anything else did not come from the
    /// kernel and must not be believed.
    pub sender: u32,
    /// Multicast group bit mask the datagram was sent to (0 for a unicast reply).
    pub groups: u32,
}

impl Received {
    /// Whether the kernel sent this datagram.
    pub fn from_kernel(&self) -> bool {
        self.sender == 0
    }
}

/// Why [`NetlinkSocket::recv`] returned no datagram.
#[derive(Debug)]
pub enum RecvError {
    /// `ENOBUFS`: the kernel could not queue a message for this socket and dropped it. The
    /// mirror is stale from here on and must re-dump (resync).
    Overrun,
    /// `EAGAIN`: nothing queued (non-blocking socket) or the receive timeout expired.
    WouldBlock,
    /// `EINTR`: a signal arrived first; call again.
    Interrupted,
    /// The datagram was `len` bytes but the buffer only `capacity`: its tail is lost (the
    /// kernel discards what does not fit), so its messages must not be parsed.
    Truncated { len: usize, capacity: usize },
    /// Any other failure.
    Io(io::Error),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Overrun => f.write_str("netlink receive queue overrun (ENOBUFS)"),
            RecvError::WouldBlock => f.write_str("no netlink datagram pending"),
            RecvError::Interrupted => f.write_str("netlink receive interrupted by a signal"),
            RecvError::Truncated { len, capacity } => write!(
                f,
                "netlink datagram of {len} bytes truncated to a {capacity}-byte buffer"
            ),
            RecvError::Io(e) => write!(f, "netlink receive failed: {e}"),
        }
    }
}

impl std::error::Error for RecvError {}

/// An open, bound `NETLINK_ROUTE` socket. The descriptor is closed on drop.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    port: u32,
    mode: Mode,
}

fn os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A `sockaddr_nl` naming the kernel (port 0, no groups), or the blank to be filled by a call.
fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: `sockaddr_nl` is a C struct made only of integers (family, padding, port id,
    // group mask), so the all-zero bit pattern is a valid value of every field; libc keeps its
    // padding field private, which is why it cannot be written as a struct literal.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa
}

const SOCKADDR_NL_LEN: libc::socklen_t = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
const INT_LEN: libc::socklen_t = size_of::<libc::c_int>() as libc::socklen_t;

impl NetlinkSocket {
    /// Opens a `NETLINK_ROUTE` socket in the calling thread's network namespace and binds it
    /// to a kernel-chosen port id (no groups yet: see [`NetlinkSocket::join_group`]).
    pub fn open(mode: Mode) -> io::Result<Self> {
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if mode == Mode::NonBlocking {
            ty |= libc::SOCK_NONBLOCK;
        }
        // SAFETY: socket(2) takes three integers and reads or writes no memory of ours; its
        // result is checked for failure before it is treated as a descriptor.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) };
        if raw < 0 {
            return Err(os_error("socket(AF_NETLINK, NETLINK_ROUTE)"));
        }
        // SAFETY: `raw` was returned by socket(2) just above, so it is an open descriptor, and
        // nothing else holds it: the OwnedFd becomes its only owner and closes it exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut sa = kernel_addr();
        // SAFETY: bind(2) reads `SOCKADDR_NL_LEN` bytes from the pointer, which is exactly the
        // size of the initialised local `sa`; the descriptor is owned by `fd` and open.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                SOCKADDR_NL_LEN,
            )
        };
        if rc != 0 {
            return Err(os_error("bind(AF_NETLINK)"));
        }
        let mut len = SOCKADDR_NL_LEN;
        // SAFETY: getsockname(2) writes at most `len` bytes (the size of `sa`, which we borrow
        // exclusively for the call) and stores the written length back into `len`.
        let rc = unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_nl).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(os_error("getsockname(AF_NETLINK)"));
        }
        if len != SOCKADDR_NL_LEN || i32::from(sa.nl_family) != libc::AF_NETLINK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("getsockname(AF_NETLINK) returned a {len}-byte address"),
            ));
        }
        Ok(NetlinkSocket {
            fd,
            port: sa.nl_pid,
            mode,
        })
    }

    /// The port id the kernel assigned; replies to our requests carry it in `nlmsg_pid`.
    pub fn port_id(&self) -> u32 {
        self.port
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn setsockopt_int(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: setsockopt(2) reads exactly `INT_LEN` bytes from the pointer, the size of the
        // local `value` it points to, which lives until the call returns; the descriptor is
        // owned by `self` and therefore open.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                INT_LEN,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn getsockopt_int(&self, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut len = INT_LEN;
        // SAFETY: getsockopt(2) writes at most `len` (= size of `value`) bytes into `value`,
        // which we borrow exclusively for the call, and stores the written length in `len`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if len != INT_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("getsockopt({level}, {name}) returned {len} bytes"),
            ));
        }
        Ok(value)
    }

    /// Joins one `RTNLGRP_*` multicast group. `NETLINK_ADD_MEMBERSHIP` takes the group number
    /// itself, unlike the bind-time bit mask, which cannot name groups above 32.
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        let value = libc::c_int::try_from(group)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "group number too large"))?;
        self.setsockopt_int(
            libc::SOL_NETLINK,
            uapi::NETLINK_ADD_MEMBERSHIP as libc::c_int,
            value,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("join netlink group {group}: {e}")))
    }

    /// Asks the kernel to validate requests strictly and to honour dump filters (route table,
    /// family). Returns whether it accepted: kernels before 4.20 do not know the option, and
    /// then a route dump returns every table.
    pub fn enable_strict_check(&self) -> bool {
        self.setsockopt_int(
            libc::SOL_NETLINK,
            uapi::NETLINK_GET_STRICT_CHK as libc::c_int,
            1,
        )
        .is_ok()
    }

    /// Asks for extended ACKs (an error text with `NLMSG_ERROR` / `NLMSG_DONE`). Returns
    /// whether the kernel accepted; only diagnostics depend on it.
    pub fn enable_ext_ack(&self) -> bool {
        self.setsockopt_int(libc::SOL_NETLINK, uapi::NETLINK_EXT_ACK as libc::c_int, 1)
            .is_ok()
    }

    /// Sets `NETLINK_NO_ENOBUFS`. A mirror wants it off (the default, set explicitly so that
    /// nothing inherited can turn it on): with it on, the kernel drops notifications silently
    /// and the mirror could never learn that it is stale.
    pub fn set_no_enobufs(&self, on: bool) -> io::Result<()> {
        self.setsockopt_int(
            libc::SOL_NETLINK,
            uapi::NETLINK_NO_ENOBUFS as libc::c_int,
            libc::c_int::from(on),
        )
        .map_err(|e| io::Error::new(e.kind(), format!("NETLINK_NO_ENOBUFS: {e}")))
    }

    /// Sizes the kernel receive queue and returns what was obtained. Values above
    /// `i32::MAX` are clamped (the kernel halves them again anyway).
    pub fn set_recv_buffer(&self, bytes: usize, how: BufferRequest) -> io::Result<RecvBufferSize> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let mut forced = false;
        if how == BufferRequest::Force {
            match self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value) {
                Ok(()) => forced = true,
                // Unprivileged: the plain option below still gets up to rmem_max.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("SO_RCVBUFFORCE: {e}"))),
            }
        }
        if !forced {
            self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, value)
                .map_err(|e| io::Error::new(e.kind(), format!("SO_RCVBUF: {e}")))?;
        }
        Ok(RecvBufferSize {
            requested: bytes,
            obtained: self.recv_buffer_size()?,
            forced,
        })
    }

    /// The receive queue size in force (`getsockopt(SO_RCVBUF)`).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        let v = self
            .getsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map_err(|e| io::Error::new(e.kind(), format!("getsockopt(SO_RCVBUF): {e}")))?;
        // A negative size would be a kernel bug; report it as zero rather than wrap.
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// Bounds how long a blocking `recv` waits (`None`: forever). An expired wait surfaces as
    /// [`RecvError::WouldBlock`].
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let d = timeout.unwrap_or(Duration::ZERO);
        // A zero timeval means "wait forever" to the kernel, so a tiny requested timeout is
        // rounded up to one microsecond instead of silently becoming infinite.
        let (sec, usec) = match (d.as_secs(), d.subsec_micros()) {
            (0, 0) if timeout.is_some() => (0, 1),
            (s, u) => (s, u),
        };
        let tv = libc::timeval {
            tv_sec: libc::time_t::try_from(sec).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(usec),
        };
        // SAFETY: setsockopt(2) reads exactly size_of::<timeval>() bytes from the pointer to the
        // local `tv`, which lives until the call returns; the descriptor is owned by `self`.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_error("setsockopt(SO_RCVTIMEO)"));
        }
        Ok(())
    }

    /// Waits until a datagram (or a pending error such as an overrun) can be received, at most
    /// `timeout` (`None`: forever). Returns whether the socket became readable. Works in either
    /// mode; a non-blocking monitor uses it, or the caller polls [`AsRawFd::as_raw_fd`] itself.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let ms: libc::c_int = match timeout {
            None => -1,
            // Rounded up, so that a sub-millisecond wait does not become a busy poll.
            Some(d) => {
                libc::c_int::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX)
            }
        };
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: poll(2) reads and writes exactly `nfds` = 1 pollfd at the pointer, which is
            // the local `pfd`, borrowed exclusively until the call returns.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(io::Error::new(e.kind(), format!("poll(netlink): {e}")));
            }
            return Ok(rc > 0);
        }
    }

    /// Receives one datagram into `buf`. `MSG_TRUNC` makes the kernel report the datagram's
    /// real length, so a datagram larger than `buf` is reported as
    /// [`RecvError::Truncated`] instead of being parsed as if it were complete.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Received, RecvError> {
        let mut from = kernel_addr();
        let mut from_len = SOCKADDR_NL_LEN;
        // SAFETY: recvfrom(2) writes at most `buf.len()` bytes at `buf.as_mut_ptr()` (MSG_TRUNC
        // changes only the returned length, never how much is copied) and at most `from_len`
        // bytes into `from`; both are exclusive borrows that outlive the call, and the
        // descriptor is owned by `self`.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOBUFS) => RecvError::Overrun,
                Some(libc::EINTR) => RecvError::Interrupted,
                Some(code) if code == libc::EAGAIN || code == libc::EWOULDBLOCK => {
                    RecvError::WouldBlock
                }
                _ => RecvError::Io(e),
            });
        }
        // n >= 0 was checked just above, so the conversion cannot fail.
        let len = usize::try_from(n).unwrap_or(0);
        if len > buf.len() {
            return Err(RecvError::Truncated {
                len,
                capacity: buf.len(),
            });
        }
        Ok(Received {
            len,
            sender: from.nl_pid,
            groups: from.nl_groups,
        })
    }

    /// Sends one request (a complete netlink message, e.g. from [`super::request`]) to the
    /// kernel. A signal before any byte is sent is retried.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        let to = kernel_addr();
        loop {
            // SAFETY: sendto(2) reads `msg.len()` bytes from `msg` and `SOCKADDR_NL_LEN` bytes
            // from `to`, both borrowed for the duration of the call; the descriptor is owned by
            // `self`.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&to as *const libc::sockaddr_nl).cast(),
                    SOCKADDR_NL_LEN,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(io::Error::new(e.kind(), format!("sendto(netlink): {e}")));
            }
            // Datagram sockets send all or nothing; a short count would mean a corrupt request.
            if usize::try_from(n).ok() != Some(msg.len()) {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short netlink send: {n} of {} bytes", msg.len()),
                ));
            }
            return Ok(());
        }
    }
}

impl AsRawFd for NetlinkSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_numbers_match_the_uapi_headers() {
        assert_eq!(GROUP_LINK, uapi::RTNLGRP_LINK);
        assert_eq!(GROUP_IPV4_IFADDR, uapi::RTNLGRP_IPV4_IFADDR);
        assert_eq!(GROUP_IPV4_ROUTE, uapi::RTNLGRP_IPV4_ROUTE);
        assert_eq!(GROUP_NEIGH, uapi::RTNLGRP_NEIGH);
        assert_eq!(GROUP_NEXTHOP, uapi::RTNLGRP_NEXTHOP);
    }

    /// Opening and binding needs no privilege, so this runs everywhere; it checks the calls
    /// that need no namespace and no root.
    #[test]
    fn netlink_socket_opens_binds_and_reports_nothing_pending() {
        let s = NetlinkSocket::open(Mode::NonBlocking).expect("open");
        assert_ne!(s.port_id(), 0, "the kernel assigns a non-zero port id");
        s.set_no_enobufs(false).expect("NETLINK_NO_ENOBUFS off");
        let plain = s
            .set_recv_buffer(64 << 10, BufferRequest::Plain)
            .expect("SO_RCVBUF");
        assert!(!plain.forced);
        assert!(plain.obtained >= 64 << 10, "{plain:?}");
        let mut buf = [0u8; 64];
        assert!(matches!(s.recv(&mut buf), Err(RecvError::WouldBlock)));
    }

    #[test]
    fn netlink_receive_timeout_surfaces_as_would_block() {
        let s = NetlinkSocket::open(Mode::Blocking).expect("open");
        s.set_recv_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        assert!(matches!(s.recv(&mut buf), Err(RecvError::WouldBlock)));
    }
}
