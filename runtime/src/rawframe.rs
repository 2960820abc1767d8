//! Raw Ethernet frames out of an interface (AF_PACKET), and interface lookups by name: what
//! tests use to make the kernel react to traffic (e.g. an ICMP "fragmentation needed" that
//! creates a cloned route), and what packet tiles will use to inject frames.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// EtherType of IPv4 (host order).
const ETH_P_IP: u16 = 0x0800;

/// Sends one complete Ethernet frame out of interface `ifindex` of the calling thread's
/// network namespace.
pub fn send_frame(ifindex: u32, frame: &[u8]) -> io::Result<()> {
    if frame.len() < 14 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame shorter than an Ethernet header",
        ));
    }
    // Protocol 0: this socket only sends, it receives nothing.
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ETH_P_IP.to_be();
    sa.sll_ifindex = ifindex as libc::c_int;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `sa` are live for the call, lengths match.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sa as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The ifindex of `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

/// A raw IPv4 socket (`IPPROTO_RAW`: the caller supplies the whole IPv4 header) for packets to
/// this host's own addresses. The kernel routes them like locally generated traffic, through
/// the loopback device to the local socket, without the input checks that refuse a packet
/// injected on `lo` whose source is a local address (a "martian" unless `accept_local`).
/// Needs CAP_NET_RAW.
#[derive(Debug)]
pub struct RawIpv4Sender {
    fd: OwnedFd,
}

impl RawIpv4Sender {
    /// Opens the socket in the calling thread's network namespace.
    pub fn open() -> io::Result<RawIpv4Sender> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        Ok(RawIpv4Sender {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one complete IPv4 packet (header, checksums and all) to `dst`, which the header
    /// must name too.
    pub fn send(&self, packet: &[u8], dst: std::net::Ipv4Addr) -> io::Result<()> {
        if packet.len() < 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet shorter than an IPv4 header",
            ));
        }
        // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
        // SAFETY: `packet` and `sa` are live for the call and the lengths passed are theirs;
        // the kernel only reads them. MSG_DONTWAIT: a full socket buffer is an error, not a
        // stall of the caller's loop.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                libc::MSG_DONTWAIT,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
