//! Raw Ethernet frames for tests: build a few IPv4 packets and send them out of an interface
//! with an `AF_PACKET` socket (no ping, tcpdump or scapy needed).

use std::net::Ipv4Addr;

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

// Not every test binary that includes `support` sends frames.
#[allow(unused_imports)]
pub use netbase_runtime::rawframe::{ifindex, send_frame};
