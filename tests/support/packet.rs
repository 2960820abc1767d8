//! Raw Ethernet frames for tests: build a few IPv4 packets and send them out of an interface
//! with an `AF_PACKET` socket (no ping, tcpdump or scapy needed).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const ETH_P_IP: u16 = 0x0800;

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = match *pair {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A 20-byte IPv4 header (no options, TTL 64, DF clear) with a valid checksum.
pub fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[8] = 64;
    h[9] = protocol;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = inet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An ICMP message with a valid checksum.
pub fn icmp(ty: u8, code: u8, rest_of_header: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest_of_header);
    m.extend_from_slice(body);
    let c = inet_checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An Ethernet frame carrying an ICMP "fragmentation needed" (type 3 code 4) from `router` to
/// `host`, about an echo reply that `host` sent to `far`: receiving it makes the kernel of
/// `host` record a PMTU exception (a cloned route) for `far` with the given `mtu`.
pub fn frag_needed_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    router: Ipv4Addr,
    host: Ipv4Addr,
    far: Ipv4Addr,
    mtu: u16,
) -> Vec<u8> {
    let inner_icmp = icmp(0, 0, [0, 1, 0, 1], &[]);
    let mut inner = ipv4_header(host, far, 1, inner_icmp.len()).to_vec();
    inner.extend_from_slice(&inner_icmp);
    let mtu = mtu.to_be_bytes();
    let outer_icmp = icmp(3, 4, [0, 0, mtu[0], mtu[1]], &inner);
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&ETH_P_IP.to_be_bytes());
    frame.extend_from_slice(&ipv4_header(router, host, 1, outer_icmp.len()));
    frame.extend_from_slice(&outer_icmp);
    frame
}

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
