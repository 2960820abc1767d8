//! The datagram format of the load generator: a header that identifies the datagram and a
//! fill pattern derived from it, so that an echo can be matched to its send and any changed
//! byte is noticed.
//!
//! ```text
//! 0      4         8         16         24 …  len
//! magic  client    seq       sent_ns    fill[i] = byte (i mod 8) of key(client, seq, sent_ns) ^ i
//! (LE)   (LE u32)  (LE u64)  (LE u64)
//! ```
//!
//! The key mixes the whole header, so a change to any header bit changes the fill; from 32
//! bytes on (8 fill bytes cover every byte of the key) any single change is detected.

/// Marks a datagram of this generator ("NBT1").
pub const MAGIC: u32 = u32::from_le_bytes(*b"NBT1");

/// Bytes taken by the header; the smallest payload.
pub const HEADER_LEN: usize = 24;

/// The largest UDP payload over IPv4 (65535 − 20 − 8).
pub const MAX_PAYLOAD: usize = 65507;

/// What a valid echo carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The client index the datagram was sent by.
    pub client: u32,
    /// Its sequence number (per client, from 0).
    pub seq: u64,
    /// When it was sent, in ns since the run began.
    pub sent_ns: u64,
}

/// A bijective mix of the header (multiplication by an odd constant), so that different
/// headers give different fill patterns.
fn key(stamp: Stamp) -> u64 {
    (stamp.seq ^ stamp.sent_ns.rotate_left(29) ^ (u64::from(stamp.client) << 48))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn fill_byte(key: u64, i: usize) -> u8 {
    ((key >> (8 * (i % 8))) as u8) ^ (i as u8)
}

/// Writes a datagram into `buf` (all of it; `buf.len() >= HEADER_LEN`, else only what fits of
/// the header is meaningful and [`verify`] will refuse it).
pub fn encode(buf: &mut [u8], stamp: Stamp) {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&stamp.client.to_le_bytes());
    header[8..16].copy_from_slice(&stamp.seq.to_le_bytes());
    header[16..24].copy_from_slice(&stamp.sent_ns.to_le_bytes());
    let n = buf.len().min(HEADER_LEN);
    buf[..n].copy_from_slice(&header[..n]);
    let k = key(stamp);
    for (i, b) in buf.iter_mut().enumerate().skip(HEADER_LEN) {
        *b = fill_byte(k, i);
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The stamp of an echo that is exactly `expected_len` bytes, carries the magic and
/// `expected_client`, and has the fill pattern intact; `None` for anything else (corrupt).
pub fn verify(buf: &[u8], expected_len: usize, expected_client: u32) -> Option<Stamp> {
    if buf.len() != expected_len || buf.len() < HEADER_LEN || le_u32(&buf[0..4]) != MAGIC {
        return None;
    }
    let stamp = Stamp {
        client: le_u32(&buf[4..8]),
        seq: le_u64(&buf[8..16]),
        sent_ns: le_u64(&buf[16..24]),
    };
    if stamp.client != expected_client {
        return None;
    }
    let k = key(stamp);
    let fill_ok = buf
        .iter()
        .enumerate()
        .skip(HEADER_LEN)
        .all(|(i, b)| *b == fill_byte(k, i));
    fill_ok.then_some(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Stamp = Stamp {
        client: 3,
        seq: 0x0102_0304_0506_0708,
        sent_ns: 99,
    };

    #[test]
    fn round_trip() {
        for len in [HEADER_LEN, 64, 1472] {
            let mut b = vec![0u8; len];
            encode(&mut b, S);
            assert_eq!(verify(&b, len, 3), Some(S));
        }
    }

    #[test]
    fn any_changed_byte_or_length_is_corrupt() {
        let mut b = vec![0u8; 64];
        encode(&mut b, S);
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                assert_eq!(verify(&c, 64, 3), None, "byte {i} bit {bit}");
            }
        }
        assert_eq!(verify(&b[..63], 64, 3), None);
        assert_eq!(verify(&b, 64, 4), None);
        assert_eq!(verify(&b[..10], 10, 3), None);
        assert_eq!(verify(&[], 0, 3), None);
    }
}
