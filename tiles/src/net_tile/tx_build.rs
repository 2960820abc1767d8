//! UDP datagrams to Ethernet frames: untagged Ethernet II, IPv4 without options (DF set, TTL
//! [`DEFAULT_TTL`], TOS 0, identification from the caller's counter), UDP with its checksum
//! always computed. Frames shorter than [`ETH_ZLEN`] are zero-padded to it, so that devices
//! which do not pad runts themselves put a valid frame on the wire; receivers ignore the
//! padding (the IPv4 total length says where the packet ends).
//!
//! Two entry points: [`build_udp4`] copies the payload in; [`build_udp4_in_place`] expects it
//! already at [`HEADERS_LEN`] in the buffer (an application frame copied straight into a
//! transmit buffer) and only writes the headers around it.

use std::net::Ipv4Addr;

use netbase_runtime::types::Mac;

use super::checksum::{ipv4_header_checksum, udp4_checksum_parts};
use super::drop_reason::DropReason;
use super::headers::{
    DEFAULT_TTL, ETHERTYPE_IPV4, ETH_HLEN, ETH_ZLEN, HEADERS_LEN, IPPROTO_UDP, IPV4_DF, IPV4_HLEN,
    IP_UDP_OVERHEAD, MAX_UDP4_PAYLOAD, UDP_HLEN,
};

/// Everything of a datagram's headers that is not fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp4Headers {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IPv4 identification: the caller's per-source counter (wrapping). DF is set, so it
    /// only needs to differ between datagrams close in time (RFC 6864).
    pub ip_id: u16,
}

/// The frame length for a payload of `payload_len` bytes, padding included; `None` if the
/// payload does not fit an IPv4 packet.
#[inline]
pub const fn frame_len(payload_len: usize) -> Option<usize> {
    if payload_len > MAX_UDP4_PAYLOAD {
        return None;
    }
    let len = HEADERS_LEN + payload_len;
    Some(if len < ETH_ZLEN { ETH_ZLEN } else { len })
}

/// Writes a whole frame for `payload` into `buf`; returns its length.
/// [`DropReason::BadAppFrame`] if the payload does not fit an IPv4 packet or `buf`.
#[inline]
pub fn build_udp4(buf: &mut [u8], h: &Udp4Headers, payload: &[u8]) -> Result<usize, DropReason> {
    let len = frame_len(payload.len()).ok_or(DropReason::BadAppFrame)?;
    if buf.len() < len {
        return Err(DropReason::BadAppFrame);
    }
    let room = buf
        .get_mut(HEADERS_LEN..HEADERS_LEN + payload.len())
        .ok_or(DropReason::BadAppFrame)?;
    room.copy_from_slice(payload);
    build_udp4_in_place(buf, h, payload.len())
}

/// Writes the headers (and padding) around a payload of `payload_len` bytes that is already
/// at `buf[HEADERS_LEN..]`; returns the frame length.
#[inline]
pub fn build_udp4_in_place(
    buf: &mut [u8],
    h: &Udp4Headers,
    payload_len: usize,
) -> Result<usize, DropReason> {
    let len = frame_len(payload_len).ok_or(DropReason::BadAppFrame)?;
    let frame = buf.get_mut(..len).ok_or(DropReason::BadAppFrame)?;
    let (headers, rest) = frame
        .split_first_chunk_mut::<HEADERS_LEN>()
        .ok_or(DropReason::BadAppFrame)?;
    let (payload, padding) = rest.split_at_mut(payload_len.min(rest.len()));
    padding.fill(0);
    write_headers(headers, h, payload);
    Ok(len)
}

fn write_headers(out: &mut [u8; HEADERS_LEN], h: &Udp4Headers, payload: &[u8]) {
    // Lengths fit: the callers bounded the payload by MAX_UDP4_PAYLOAD.
    let udp_len = (UDP_HLEN + payload.len()) as u16;
    let total = (IP_UDP_OVERHEAD + payload.len()) as u16;
    let (src, dst) = (h.src_ip.octets(), h.dst_ip.octets());

    let (eth, l3) = out.split_at_mut(ETH_HLEN);
    eth[0..6].copy_from_slice(&h.dst_mac.0);
    eth[6..12].copy_from_slice(&h.src_mac.0);
    eth[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    let (ip, udp) = l3.split_at_mut(IPV4_HLEN);
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&h.ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&IPV4_DF.to_be_bytes());
    ip[8] = DEFAULT_TTL;
    ip[9] = IPPROTO_UDP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = ipv4_header_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut u = [0u8; UDP_HLEN];
    u[0..2].copy_from_slice(&h.src_port.to_be_bytes());
    u[2..4].copy_from_slice(&h.dst_port.to_be_bytes());
    u[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let c = udp4_checksum_parts(src, dst, udp_len, &u, payload);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    udp.copy_from_slice(&u);
}

#[cfg(test)]
mod tests {
    use super::super::rx_parse::parse_udp4;
    use super::*;
    use proptest::prelude::*;

    fn headers() -> Udp4Headers {
        Udp4Headers {
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            dst_mac: Mac([2, 0, 0, 0, 0, 2]),
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 7000,
            dst_port: 40000,
            ip_id: 7,
        }
    }

    #[test]
    fn fixed_fields() {
        let mut buf = [0xeeu8; 2048];
        let n = build_udp4(&mut buf, &headers(), b"abc").unwrap();
        assert_eq!(n, ETH_ZLEN);
        assert!(buf[HEADERS_LEN + 3..n].iter().all(|&b| b == 0), "padding");
        assert_eq!(buf[14], 0x45);
        assert_eq!(&buf[16..18], &31u16.to_be_bytes());
        assert_eq!(&buf[18..20], &7u16.to_be_bytes());
        assert_eq!(&buf[20..22], &[0x40, 0]);
        assert_eq!(buf[22], 64);
        assert_eq!(buf[23], 17);
        assert_eq!(&buf[38..40], &11u16.to_be_bytes());
        assert_ne!(&buf[40..42], &[0, 0]);
    }

    #[test]
    fn too_small_or_too_big() {
        let mut small = [0u8; 59];
        assert_eq!(
            build_udp4(&mut small, &headers(), b""),
            Err(DropReason::BadAppFrame)
        );
        let mut buf = vec![0u8; 100];
        assert_eq!(
            build_udp4(&mut buf, &headers(), &[0; 59]),
            Err(DropReason::BadAppFrame)
        );
        assert_eq!(build_udp4(&mut buf, &headers(), &[0; 58]), Ok(100));
        let big = vec![0u8; MAX_UDP4_PAYLOAD + 1];
        let mut huge = vec![0u8; HEADERS_LEN + big.len()];
        assert_eq!(
            build_udp4(&mut huge, &headers(), &big),
            Err(DropReason::BadAppFrame)
        );
        assert_eq!(
            build_udp4(&mut huge, &headers(), &big[1..]),
            Ok(u16::MAX as usize + ETH_HLEN)
        );
        assert_eq!(
            build_udp4_in_place(&mut small, &headers(), 0),
            Err(DropReason::BadAppFrame)
        );
    }

    #[test]
    fn in_place_equals_copy() {
        let payload: Vec<u8> = (0..100u8).collect();
        let mut a = [0u8; 256];
        let na = build_udp4(&mut a, &headers(), &payload).unwrap();
        let mut b = [0u8; 256];
        b[HEADERS_LEN..HEADERS_LEN + 100].copy_from_slice(&payload);
        let nb = build_udp4_in_place(&mut b, &headers(), 100).unwrap();
        assert_eq!(a[..na], b[..nb]);
    }

    proptest! {
        #[test]
        fn round_trip(
            src_mac in any::<[u8; 6]>(),
            dst_mac in any::<[u8; 6]>(),
            src_ip in any::<[u8; 4]>(),
            dst_ip in any::<[u8; 4]>(),
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            ip_id in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            let h = Udp4Headers {
                src_mac: Mac(src_mac),
                dst_mac: Mac(dst_mac),
                src_ip: Ipv4Addr::from(src_ip),
                dst_ip: Ipv4Addr::from(dst_ip),
                src_port,
                dst_port,
                ip_id,
            };
            let mut buf = vec![0u8; 2048];
            let n = build_udp4(&mut buf, &h, &payload).unwrap();
            prop_assert_eq!(n, (HEADERS_LEN + payload.len()).max(ETH_ZLEN));
            let d = parse_udp4(&buf[..n]).unwrap();
            prop_assert_eq!(d.src_mac, h.src_mac);
            prop_assert_eq!(d.dst_mac, h.dst_mac);
            prop_assert_eq!(d.src_ip, h.src_ip);
            prop_assert_eq!(d.dst_ip, h.dst_ip);
            prop_assert_eq!(d.src_port, src_port);
            prop_assert_eq!(d.dst_port, dst_port);
            prop_assert_eq!(d.ttl, DEFAULT_TTL);
            prop_assert_eq!(d.payload, &payload[..]);
            prop_assert_eq!(&buf[18..20], &ip_id.to_be_bytes());
        }
    }
}
