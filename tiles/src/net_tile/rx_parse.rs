//! Received frames to UDP datagrams: every check the kernel would make before handing a UDP
//! datagram to a socket, in the order that names the first thing wrong.
//!
//! Accepted: untagged Ethernet II, EtherType IPv4. VLAN-tagged frames (0x8100, 0x88a8) count
//! as [`DropReason::NotIpv4`]: a net tile serves one untagged device (the kernel's VLAN
//! devices are separate interfaces, and NICs strip the tag of their own VLANs), so a tagged
//! frame here is not addressed to it.
//!
//! IPv4: version 4; IHL 5 (below: [`DropReason::IpHeaderBad`], above:
//! [`DropReason::IpOptions`]); total length at least the header and within the frame —
//! bytes after the total length are Ethernet padding (frames under 60 bytes are padded) and
//! ignored; a correct header checksum; not a fragment (neither more-fragments nor an
//! offset); protocol UDP.
//!
//! UDP: the length field at least 8 and at most the IPv4 payload; like the kernel, bytes of
//! the IPv4 payload after the UDP length are ignored. A non-zero checksum must verify over the
//! pseudo-header and the UDP length's bytes; zero means the sender computed none (IPv4
//! allows it) and is accepted.
//!
//! Source and destination addresses are not judged here: which datagrams an application
//! gets is decided by the caller (port ownership).
//!
//! Any input gives an answer: lengths read from the frame are checked before they bound a
//! slice, and nothing indexes out of bounds.

use std::net::Ipv4Addr;

use netbase_runtime::types::Mac;

use super::checksum::{ipv4_header_ok, udp4_ok};
use super::drop_reason::DropReason;
use super::headers::{
    ETHERTYPE_IPV4, ETH_HLEN, IPPROTO_UDP, IPV4_HLEN, IPV4_MF, IPV4_OFFSET_MASK, UDP_HLEN,
};

/// A received UDP datagram, borrowing its payload from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp4Datagram<'a> {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    /// The UDP payload: exactly the UDP length field's bytes after the UDP header.
    pub payload: &'a [u8],
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Parses and validates one Ethernet frame as a UDP over IPv4 datagram.
#[inline]
pub fn parse_udp4(frame: &[u8]) -> Result<Udp4Datagram<'_>, DropReason> {
    let (eth, l3) = frame
        .split_first_chunk::<ETH_HLEN>()
        .ok_or(DropReason::FrameTooShort)?;
    if be16([eth[12], eth[13]]) != ETHERTYPE_IPV4 {
        return Err(DropReason::NotIpv4);
    }
    let (ip, _) = l3
        .split_first_chunk::<IPV4_HLEN>()
        .ok_or(DropReason::FrameTooShort)?;
    if ip[0] >> 4 != 4 {
        return Err(DropReason::IpHeaderBad);
    }
    match ip[0] & 0x0f {
        5 => {}
        0..=4 => return Err(DropReason::IpHeaderBad),
        _ => return Err(DropReason::IpOptions),
    }
    let total = usize::from(be16([ip[2], ip[3]]));
    if total < IPV4_HLEN {
        return Err(DropReason::IpHeaderBad);
    }
    // Ethernet padding after `total` is ignored; a total beyond the frame is a lie.
    let packet = l3.get(..total).ok_or(DropReason::IpHeaderBad)?;
    if !ipv4_header_ok(ip) {
        return Err(DropReason::IpChecksumBad);
    }
    if be16([ip[6], ip[7]]) & (IPV4_MF | IPV4_OFFSET_MASK) != 0 {
        return Err(DropReason::IpFragment);
    }
    if ip[9] != IPPROTO_UDP {
        return Err(DropReason::NotUdp);
    }
    let src = [ip[12], ip[13], ip[14], ip[15]];
    let dst = [ip[16], ip[17], ip[18], ip[19]];

    let ip_payload = packet.get(IPV4_HLEN..).unwrap_or(&[]);
    let (udp_h, _) = ip_payload
        .split_first_chunk::<UDP_HLEN>()
        .ok_or(DropReason::UdpLengthBad)?;
    let udp_len = usize::from(be16([udp_h[4], udp_h[5]]));
    if udp_len < UDP_HLEN {
        return Err(DropReason::UdpLengthBad);
    }
    let udp = ip_payload.get(..udp_len).ok_or(DropReason::UdpLengthBad)?;
    if !udp4_ok(src, dst, udp) {
        return Err(DropReason::UdpChecksumBad);
    }
    Ok(Udp4Datagram {
        dst_mac: Mac([eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]]),
        src_mac: Mac([eth[6], eth[7], eth[8], eth[9], eth[10], eth[11]]),
        src_ip: Ipv4Addr::from(src),
        dst_ip: Ipv4Addr::from(dst),
        src_port: be16([udp_h[0], udp_h[1]]),
        dst_port: be16([udp_h[2], udp_h[3]]),
        ttl: ip[8],
        payload: udp.get(UDP_HLEN..).unwrap_or(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::super::checksum::{ipv4_header_checksum, udp4_checksum};
    use super::*;
    use proptest::prelude::*;

    /// A valid frame, built by hand (independently of `tx_build`), with Ethernet padding.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2]); // dst
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]); // src
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 61, 17, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let c = ipv4_header_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut udp = vec![0x30, 0x39, 0x1b, 0x58, 0, 0, 0, 0];
        udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        udp.extend_from_slice(payload);
        let c = udp4_checksum([10, 0, 0, 1], [10, 0, 0, 2], &udp);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&udp);
        while f.len() < 60 {
            f.push(0);
        }
        f
    }

    /// Re-computes the IPv4 header checksum after an edit.
    fn fix_ip(f: &mut [u8]) {
        f[24] = 0;
        f[25] = 0;
        let c = ipv4_header_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn valid_frame() {
        let f = frame(b"hello");
        let d = parse_udp4(&f).unwrap();
        assert_eq!(d.dst_mac, Mac([2, 0, 0, 0, 0, 2]));
        assert_eq!(d.src_mac, Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(d.src_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(d.dst_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((d.src_port, d.dst_port), (12345, 7000));
        assert_eq!(d.ttl, 61);
        assert_eq!(d.payload, b"hello");
    }

    #[test]
    fn empty_payload_and_big_payload() {
        assert_eq!(parse_udp4(&frame(b"")).unwrap().payload, b"");
        let big = vec![0xa5; 1472];
        assert_eq!(parse_udp4(&frame(&big)).unwrap().payload, &big[..]);
    }

    #[test]
    fn ethernet_layer() {
        assert_eq!(parse_udp4(&[]), Err(DropReason::FrameTooShort));
        let f = frame(b"x");
        assert_eq!(parse_udp4(&f[..13]), Err(DropReason::FrameTooShort));
        assert_eq!(parse_udp4(&f[..14]), Err(DropReason::FrameTooShort));
        assert_eq!(parse_udp4(&f[..33]), Err(DropReason::FrameTooShort));
        for ethertype in [[0x86, 0xdd], [0x08, 0x06], [0x81, 0x00], [0x88, 0xa8]] {
            let mut g = f.clone();
            g[12..14].copy_from_slice(&ethertype);
            assert_eq!(parse_udp4(&g), Err(DropReason::NotIpv4));
        }
    }

    #[test]
    fn ip_header_checks() {
        let f = frame(b"payload");
        let edit = |at: usize, v: u8, fix: bool| {
            let mut g = f.clone();
            g[at] = v;
            if fix {
                fix_ip(&mut g);
            }
            parse_udp4(&g).map(|_| ())
        };
        assert_eq!(edit(14, 0x65, true), Err(DropReason::IpHeaderBad)); // version 6
        assert_eq!(edit(14, 0x44, true), Err(DropReason::IpHeaderBad)); // IHL 4
        assert_eq!(edit(14, 0x46, true), Err(DropReason::IpOptions));
        assert_eq!(edit(14, 0x4f, true), Err(DropReason::IpOptions));
        assert_eq!(edit(22, 60, false), Err(DropReason::IpChecksumBad)); // TTL changed
        assert_eq!(edit(23, 6, true), Err(DropReason::NotUdp));
        assert_eq!(edit(20, 0x60, true), Err(DropReason::IpFragment)); // DF + MF
        assert_eq!(edit(21, 0x01, true), Err(DropReason::IpFragment)); // offset 1 (DF kept)
        assert!(edit(20, 0x00, true).is_ok()); // DF cleared: fine
    }

    #[test]
    fn total_length() {
        let f = frame(b"payload"); // 14 + 35 bytes, padded to 60
        let set_total = |t: u16| {
            let mut g = f.clone();
            g[16..18].copy_from_slice(&t.to_be_bytes());
            fix_ip(&mut g);
            parse_udp4(&g).map(|d| d.payload.to_vec())
        };
        assert_eq!(set_total(19), Err(DropReason::IpHeaderBad));
        assert_eq!(set_total(47), Err(DropReason::IpHeaderBad)); // 14 + 47 > 60
        assert!(set_total(35).is_ok());
        // A total covering the padding: the UDP length still says 15, so padding is ignored
        // by UDP too.
        assert_eq!(set_total(46).unwrap(), b"payload");
        // A total shorter than the UDP length: the datagram is cut.
        assert_eq!(set_total(34), Err(DropReason::UdpLengthBad));
        assert_eq!(set_total(27), Err(DropReason::UdpLengthBad));
        // The frame cut at the IP total length (no padding) is still fine.
        assert!(parse_udp4(&f[..14 + 35]).is_ok());
        assert_eq!(parse_udp4(&f[..14 + 34]), Err(DropReason::IpHeaderBad));
    }

    #[test]
    fn udp_checks() {
        let f = frame(b"payload");
        let mut g = f.clone();
        g[38..40].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(parse_udp4(&g), Err(DropReason::UdpLengthBad));
        g[38..40].copy_from_slice(&16u16.to_be_bytes()); // beyond the IP payload (15)
        assert_eq!(parse_udp4(&g), Err(DropReason::UdpLengthBad));
        let mut g = f.clone();
        g[42] ^= 0xff;
        assert_eq!(parse_udp4(&g), Err(DropReason::UdpChecksumBad));
        // No checksum: accepted even with the payload changed.
        g[40] = 0;
        g[41] = 0;
        assert_eq!(parse_udp4(&g).unwrap().payload[0], b'p' ^ 0xff);
    }

    #[test]
    fn udp_length_shorter_than_ip_payload_trims() {
        // UDP length 12 (4 payload bytes) inside an IPv4 payload of 15: the kernel trims.
        let mut f = frame(b"payload");
        f[38..40].copy_from_slice(&12u16.to_be_bytes());
        f[40] = 0;
        f[41] = 0;
        let c = udp4_checksum([10, 0, 0, 1], [10, 0, 0, 2], &f[34..46]);
        f[40..42].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_udp4(&f).unwrap().payload, b"payl");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_udp4(&data);
        }

        #[test]
        fn mutated_valid_frames_never_panic(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            at in any::<prop::sample::Index>(),
            v in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut f = frame(&payload);
            let i = at.index(f.len());
            f[i] = v;
            let n = cut.index(f.len() + 1);
            if let Ok(d) = parse_udp4(&f[..n]) {
                prop_assert!(d.payload.len() <= n);
            }
        }
    }
}
