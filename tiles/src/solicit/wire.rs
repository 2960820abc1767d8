//! Wire format of one request frame on the `solicit` link (net tile -> netlink tile).
//!
//! ```text
//! byte  0      version (high nibble, 1) | kind (low nibble: 1 SOLICIT, 2 KEEPALIVE_HINT)
//! byte  1      flags (none defined in version 1: must be 0)
//! bytes 2..4   reserved, must be 0
//! bytes 4..8   ifindex, u32 little endian, != 0
//! bytes 8..12  IPv4 address, network byte order
//! bytes 12..16 check: u32 LE, MAGIC ^ FNV-1a(bytes 0..12)
//! ```
//!
//! The link is shared memory written by other processes and may be lossy or torn, so the
//! decoder treats every byte as untrusted: the check word catches torn or stale frames, and
//! every field is validated so the engine never acts on an address it must not solicit.

use std::fmt;
use std::net::Ipv4Addr;

/// Size of one frame; equals the `solicit` link's frame_size.
pub const FRAME_LEN: usize = 16;
/// Protocol version in the high nibble of byte 0.
pub const VERSION: u8 = 1;
/// Flag bits a version-1 decoder accepts (none yet: unknown bits mean a newer or corrupt sender).
pub const KNOWN_FLAGS: u8 = 0;
/// Folded into the check so an all-zero (never written) frame does not validate.
pub const MAGIC: u32 = 0x534f_4c31; // "SOL1"

/// What the sender asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A neighbour lookup missed: resolve this address.
    Solicit = 1,
    /// The sender is using this (resolved) neighbour: keep the kernel entry fresh.
    KeepaliveHint = 2,
}

/// A validated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    pub kind: Kind,
    pub ifindex: u32,
    pub ip: Ipv4Addr,
}

/// Why a frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The frame is not exactly [`FRAME_LEN`] bytes.
    Length(usize),
    Version(u8),
    Kind(u8),
    Flags(u8),
    Reserved(u16),
    /// The check word does not match: torn, stale or garbage frame.
    Check,
    IfindexZero,
    /// An address no neighbour can have (see [`address_ok`]).
    Address(Ipv4Addr),
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "frame of {n} bytes, expected {FRAME_LEN}"),
            Self::Version(v) => write!(f, "unknown version {v}"),
            Self::Kind(k) => write!(f, "unknown kind {k}"),
            Self::Flags(x) => write!(f, "unknown flags {x:#04x}"),
            Self::Reserved(x) => write!(f, "reserved field {x:#06x} not zero"),
            Self::Check => write!(f, "check word mismatch"),
            Self::IfindexZero => write!(f, "ifindex 0"),
            Self::Address(a) => write!(f, "address {a} cannot be a neighbour"),
        }
    }
}

impl std::error::Error for BadRequest {}

/// Whether `ip` may be solicited: not 0.0.0.0/8 ("this network"), loopback, multicast, or
/// class E (which includes the limited broadcast 255.255.255.255). ARP for those is either
/// meaningless or a way for spoofed traffic to make us emit garbage on the wire.
pub fn address_ok(ip: Ipv4Addr) -> bool {
    let first = ip.octets()[0];
    !(first == 0 || ip.is_loopback() || ip.is_multicast() || first >= 240)
}

/// FNV-1a over the header and payload, folded with [`MAGIC`]. Not cryptographic: the link is
/// written by our own tiles, the check only has to catch torn writes and garbage.
fn check_word(head: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in head {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^ MAGIC
}

impl Request {
    /// Checks the fields a caller could have set by hand (the same rules as [`decode`]).
    pub fn validate(&self) -> Result<(), BadRequest> {
        if self.ifindex == 0 {
            return Err(BadRequest::IfindexZero);
        }
        if !address_ok(self.ip) {
            return Err(BadRequest::Address(self.ip));
        }
        Ok(())
    }
}

/// Encodes `req` into one frame. Encoding does not validate: tests need to produce frames
/// with invalid fields that still carry a correct check word.
pub fn encode(req: &Request) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0] = (VERSION << 4) | req.kind as u8;
    f[4..8].copy_from_slice(&req.ifindex.to_le_bytes());
    f[8..12].copy_from_slice(&req.ip.octets());
    let c = check_word(&f[..12]);
    f[12..16].copy_from_slice(&c.to_le_bytes());
    f
}

/// Decodes and validates one frame. Never panics, whatever the bytes.
pub fn decode(buf: &[u8]) -> Result<Request, BadRequest> {
    let f: &[u8; FRAME_LEN] = buf.try_into().map_err(|_| BadRequest::Length(buf.len()))?;
    // The check comes first: a torn frame should be reported as such, not as whatever field
    // happened to be garbled.
    let want = check_word(&f[..12]);
    let got = u32::from_le_bytes([f[12], f[13], f[14], f[15]]);
    if want != got {
        return Err(BadRequest::Check);
    }
    if f[0] >> 4 != VERSION {
        return Err(BadRequest::Version(f[0] >> 4));
    }
    let kind = match f[0] & 0x0f {
        1 => Kind::Solicit,
        2 => Kind::KeepaliveHint,
        k => return Err(BadRequest::Kind(k)),
    };
    if f[1] & !KNOWN_FLAGS != 0 {
        return Err(BadRequest::Flags(f[1]));
    }
    let reserved = u16::from_le_bytes([f[2], f[3]]);
    if reserved != 0 {
        return Err(BadRequest::Reserved(reserved));
    }
    let req = Request {
        kind,
        ifindex: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
        ip: Ipv4Addr::new(f[8], f[9], f[10], f[11]),
    };
    req.validate()?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ip: [u8; 4]) -> Request {
        Request {
            kind: Kind::Solicit,
            ifindex: 3,
            ip: Ipv4Addr::from(ip),
        }
    }

    /// Re-signs a frame after a field was edited, so the test reaches the field check.
    fn resign(mut f: [u8; FRAME_LEN]) -> [u8; FRAME_LEN] {
        let c = check_word(&f[..12]);
        f[12..16].copy_from_slice(&c.to_le_bytes());
        f
    }

    #[test]
    fn round_trip() {
        for kind in [Kind::Solicit, Kind::KeepaliveHint] {
            let r = Request {
                kind,
                ifindex: 0xdead_beef,
                ip: Ipv4Addr::new(10, 1, 2, 3),
            };
            assert_eq!(decode(&encode(&r)), Ok(r));
        }
    }

    #[test]
    fn rejects_every_bad_field() {
        let good = encode(&req([10, 0, 0, 1]));
        assert_eq!(decode(&good[..15]), Err(BadRequest::Length(15)));
        assert_eq!(decode(&[0u8; 17]), Err(BadRequest::Length(17)));
        assert_eq!(decode(&[0u8; FRAME_LEN]), Err(BadRequest::Check));
        let mut torn = good;
        torn[9] ^= 1;
        assert_eq!(decode(&torn), Err(BadRequest::Check));

        let mut f = good;
        f[0] = (2 << 4) | 1;
        assert_eq!(decode(&resign(f)), Err(BadRequest::Version(2)));
        f[0] = (VERSION << 4) | 7;
        assert_eq!(decode(&resign(f)), Err(BadRequest::Kind(7)));
        let mut f = good;
        f[1] = 0x80;
        assert_eq!(decode(&resign(f)), Err(BadRequest::Flags(0x80)));
        let mut f = good;
        f[3] = 1;
        assert_eq!(decode(&resign(f)), Err(BadRequest::Reserved(0x0100)));
        let mut f = good;
        f[4..8].fill(0);
        assert_eq!(decode(&resign(f)), Err(BadRequest::IfindexZero));
    }

    #[test]
    fn rejects_addresses_that_cannot_be_neighbours() {
        for ip in [
            [0, 0, 0, 0],
            [0, 1, 2, 3],
            [127, 0, 0, 1],
            [224, 0, 0, 1],
            [239, 9, 9, 9],
        ] {
            let f = encode(&req(ip));
            assert_eq!(decode(&f), Err(BadRequest::Address(Ipv4Addr::from(ip))));
        }
        for ip in [[240, 0, 0, 1], [255, 255, 255, 255]] {
            assert!(decode(&encode(&req(ip))).is_err());
        }
        for ip in [
            [1, 0, 0, 0],
            [169, 254, 1, 1],
            [223, 255, 255, 254],
            [192, 168, 1, 255],
        ] {
            assert!(decode(&encode(&req(ip))).is_ok(), "{ip:?}");
        }
    }
}
