//! The Internet checksum (RFC 1071) and its two uses here: the IPv4 header checksum and the
//! UDP checksum over the IPv4 pseudo-header.
//!
//! The one's complement sum is accumulated 8 bytes at a time in a `u64` with end-around
//! carry, then folded to 16 bits: since 2^16 ≡ 1 (mod 2^16 - 1), a sum of 64-bit big-endian
//! words folds to the same value as the sum of the 16-bit words they contain. Words are
//! read big-endian, so results are in the byte order they are written to the wire in.

use super::headers::IPPROTO_UDP;

/// `a + b` with the carry out of bit 63 added back in (one's complement addition).
#[inline(always)]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // No second overflow: after a carry, `s <= 2^64 - 2`.
    s + u64::from(carry)
}

/// Adds `data` to a running one's complement sum (unfolded). Sums of several parts equal the
/// sum of their concatenation only when every part but the last has an even length.
#[inline]
pub fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc = add_carry(acc, u64::from_be_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // The tail as the first bytes of a zero-padded word: RFC 1071 pads an odd last byte
        // with a zero byte, and bytes 2k, 2k+1 stay in their 16-bit lanes.
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        acc = add_carry(acc, u64::from_be_bytes(w));
    }
    acc
}

/// Folds a running sum to 16 bits (still not complemented).
#[inline]
pub fn fold(acc: u64) -> u16 {
    let s = (acc & 0xffff_ffff) + (acc >> 32);
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The Internet checksum of `data`: the complement of its folded one's complement sum.
#[inline]
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(accumulate(0, data))
}

/// The checksum to store in an IPv4 header whose checksum field (bytes 10..12) is zero.
#[inline]
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    internet_checksum(header)
}

/// Whether an IPv4 header, checksum field included, verifies (its sum folds to 0xffff).
#[inline]
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(accumulate(0, header)) == 0xffff
}

/// The running sum of the IPv4 pseudo-header of a UDP datagram of `udp_len` bytes.
#[inline]
fn pseudo_header(src: [u8; 4], dst: [u8; 4], udp_len: u16) -> u64 {
    let hi = u64::from(u32::from_be_bytes(src));
    let lo = u64::from(u32::from_be_bytes(dst));
    // Zero byte, protocol, then the UDP length: one 32-bit word.
    let tail = (u64::from(IPPROTO_UDP) << 16) | u64::from(udp_len);
    add_carry((hi << 32) | lo, tail)
}

/// The checksum field to send for a running sum: a computed 0 is sent as 0xffff, since 0 on
/// the wire means "no checksum" (the two are the same value in one's complement).
#[inline]
fn udp_field(acc: u64) -> u16 {
    match !fold(acc) {
        0 => 0xffff,
        c => c,
    }
}

/// The UDP checksum to send for a datagram (`udp` = header with a zero checksum field, then
/// the payload; at most 65535 bytes).
#[inline]
pub fn udp4_checksum(src: [u8; 4], dst: [u8; 4], udp: &[u8]) -> u16 {
    let len = u16::try_from(udp.len()).unwrap_or(u16::MAX);
    udp_field(accumulate(pseudo_header(src, dst, len), udp))
}

/// [`udp4_checksum`] with the UDP header (8 bytes, zero checksum field) and the payload in
/// separate buffers; `udp_len` is the UDP length field.
#[inline]
pub fn udp4_checksum_parts(
    src: [u8; 4],
    dst: [u8; 4],
    udp_len: u16,
    header: &[u8; 8],
    payload: &[u8],
) -> u16 {
    let acc = accumulate(pseudo_header(src, dst, udp_len), header);
    udp_field(accumulate(acc, payload))
}

/// Whether a received UDP datagram (`udp` = header with its checksum field, then the payload;
/// exactly the UDP length field's bytes) verifies. A zero checksum field means the sender
/// computed none, which IPv4 allows: accepted.
#[inline]
pub fn udp4_ok(src: [u8; 4], dst: [u8; 4], udp: &[u8]) -> bool {
    if matches!(udp.get(6..8), Some([0, 0])) {
        return true;
    }
    let Ok(len) = u16::try_from(udp.len()) else {
        return false;
    };
    fold(accumulate(pseudo_header(src, dst, len), udp)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071 as written: 16-bit big-endian words, odd byte padded, carries folded.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = data.get(i + 1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            i += 2;
        }
        !(sum as u16)
    }

    fn naive_udp(src: [u8; 4], dst: [u8; 4], udp: &[u8]) -> u16 {
        let mut v = Vec::new();
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.push(0);
        v.push(17);
        v.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        v.extend_from_slice(udp);
        match naive(&v) {
            0 => 0xffff,
            c => c,
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A textbook header (Wikipedia "IPv4 header checksum"): checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(ipv4_header_ok(&h));
        h[8] ^= 1;
        assert!(!ipv4_header_ok(&h));
    }

    #[test]
    fn zero_udp_checksum_is_sent_as_ffff_and_verifies() {
        // Find a payload whose checksum computes to 0: then 0xffff must go on the wire.
        let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let mut udp = vec![0x12, 0x34, 0x56, 0x78, 0, 10, 0, 0, 0, 0];
        let c = udp4_checksum(src, dst, &udp);
        // Adjust the last word so the sum becomes 0xffff (checksum 0).
        let sum = !c;
        let need = 0xffffu16.wrapping_sub(sum);
        udp[8..10].copy_from_slice(&need.to_be_bytes());
        assert_eq!(fold(accumulate(pseudo_header(src, dst, 10), &udp)), 0xffff);
        let c = udp4_checksum(src, dst, &udp);
        assert_eq!(c, 0xffff);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(udp4_ok(src, dst, &udp));
    }

    #[test]
    fn udp_zero_field_means_no_checksum() {
        let udp = [0x12, 0x34, 0x56, 0x78, 0, 9, 0, 0, 0xaa];
        assert!(udp4_ok([1, 2, 3, 4], [5, 6, 7, 8], &udp));
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(internet_checksum(&data), naive(&data));
        }

        #[test]
        fn parts_sum_like_the_whole(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            b in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut a = a;
            if a.len() % 2 == 1 { a.pop(); }
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(
                !fold(accumulate(accumulate(0, &a), &b)),
                internet_checksum(&whole)
            );
        }

        #[test]
        fn udp_matches_naive_and_verifies(
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            ports in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let len = 8 + payload.len();
            let mut udp = Vec::new();
            udp.extend_from_slice(&ports);
            udp.extend_from_slice(&(len as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]);
            udp.extend_from_slice(&payload);
            let c = udp4_checksum(src, dst, &udp);
            prop_assert_eq!(c, naive_udp(src, dst, &udp));
            prop_assert_ne!(c, 0);
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            prop_assert!(udp4_ok(src, dst, &udp));
            // Any single flipped bit outside the checksum field is caught.
            if !payload.is_empty() {
                udp[8] ^= 0x01;
                prop_assert!(!udp4_ok(src, dst, &udp));
            }
        }

        #[test]
        fn ipv4_header_round_trip(mut h in any::<[u8; 20]>()) {
            h[10] = 0;
            h[11] = 0;
            let c = ipv4_header_checksum(&h);
            prop_assert_eq!(c, naive(&h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            prop_assert!(ipv4_header_ok(&h));
        }
    }
}
