//! The frames on the links between the net tile and application tiles: one UDP datagram per
//! link frame, a fixed header followed by the payload.
//!
//! ```text
//! byte   0       version: 1
//! byte   1       flags: none defined in version 1, must be 0
//! bytes  2..4    reserved, must be 0
//! bytes  4..8    peer_ip: the remote address, network byte order
//! bytes  8..10   peer_port: the remote port, u16 little endian
//! bytes 10..12   local_port: this host's port, u16 little endian
//! bytes 12..16   local_ip, network byte order: received datagrams carry the address they were
//!                sent to; in replies it is the preferred source address (0.0.0.0: let the
//!                net tile choose)
//! bytes 16..18   payload_len: u16 little endian
//! bytes 18..     payload (payload_len bytes)
//! ```
//!
//! Both directions use the same layout: net tile -> application for received datagrams
//! (peer = source, local = destination), application -> net tile for datagrams to send (peer
//! = destination, local = source). A frame may be longer than `HEADER_LEN + payload_len`
//! (a producer that publishes whole slots): bytes after the payload are ignored.
//!
//! Frames come from another process's memory, so [`decode`] treats every byte as untrusted
//! and returns an error for anything malformed, never panics, and bounds the payload by the
//! frame it was given. Port 0 is not refused by the decoder (a received datagram may have
//! source port 0, which means "none" in UDP); [`AppFrame::check_outbound`] refuses sending to
//! it.

use std::fmt;
use std::net::Ipv4Addr;

use super::drop_reason::DropReason;
use super::rx_parse::Udp4Datagram;

/// Protocol version (byte 0).
pub const VERSION: u8 = 1;
/// Flag bits a version-1 decoder accepts (none yet: unknown bits mean a newer or corrupt
/// sender).
pub const KNOWN_FLAGS: u8 = 0;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 18;
/// The `frame_size` of the application links of the shipped topologies.
pub const LINK_FRAME_SIZE: usize = 2048;
/// The largest payload a [`LINK_FRAME_SIZE`] frame carries.
pub const MAX_PAYLOAD: usize = LINK_FRAME_SIZE - HEADER_LEN;

/// One datagram as carried on an application link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppFrame<'a> {
    pub peer_ip: Ipv4Addr,
    pub peer_port: u16,
    pub local_ip: Ipv4Addr,
    pub local_port: u16,
    pub payload: &'a [u8],
}

/// Why a frame could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFrameError {
    /// Shorter than the header.
    Short(usize),
    Version(u8),
    Flags(u8),
    Reserved(u16),
    /// `payload_len` runs past the end of the frame.
    PayloadLen {
        payload_len: usize,
        room: usize,
    },
    /// Encoding: the payload does not fit the buffer (or a u16 length).
    TooLong {
        payload_len: usize,
        room: usize,
    },
}

impl fmt::Display for AppFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short(n) => write!(f, "frame of {n} bytes, header needs {HEADER_LEN}"),
            Self::Version(v) => write!(f, "unknown version {v}"),
            Self::Flags(x) => write!(f, "unknown flags {x:#04x}"),
            Self::Reserved(x) => write!(f, "reserved field {x:#06x} not zero"),
            Self::PayloadLen { payload_len, room } => {
                write!(
                    f,
                    "payload_len {payload_len} but {room} bytes follow the header"
                )
            }
            Self::TooLong { payload_len, room } => {
                write!(
                    f,
                    "payload of {payload_len} bytes does not fit {room} bytes"
                )
            }
        }
    }
}

impl std::error::Error for AppFrameError {}

impl From<AppFrameError> for DropReason {
    /// An application's frame that does not decode is a bad application frame.
    fn from(_: AppFrameError) -> Self {
        DropReason::BadAppFrame
    }
}

impl<'a> AppFrame<'a> {
    /// The frame that delivers a received datagram to its application.
    pub fn from_datagram(d: &Udp4Datagram<'a>) -> Self {
        AppFrame {
            peer_ip: d.src_ip,
            peer_port: d.src_port,
            local_ip: d.dst_ip,
            local_port: d.dst_port,
            payload: d.payload,
        }
    }

    /// The preferred source address of a frame to send (`None`: the net tile chooses).
    pub fn preferred_src(&self) -> Option<Ipv4Addr> {
        (!self.local_ip.is_unspecified()).then_some(self.local_ip)
    }

    /// What a frame to send needs beyond decoding: a destination port (0 cannot be sent to).
    /// The destination address is judged by the route resolver.
    pub fn check_outbound(&self) -> Result<(), DropReason> {
        if self.peer_port == 0 {
            return Err(DropReason::BadAppFrame);
        }
        Ok(())
    }

    /// Bytes [`encode`] writes for this frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// Decodes and validates a frame read from a link.
#[inline]
pub fn decode(frame: &[u8]) -> Result<AppFrame<'_>, AppFrameError> {
    let (h, rest) = frame
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(AppFrameError::Short(frame.len()))?;
    if h[0] != VERSION {
        return Err(AppFrameError::Version(h[0]));
    }
    if h[1] & !KNOWN_FLAGS != 0 {
        return Err(AppFrameError::Flags(h[1]));
    }
    let reserved = u16::from_le_bytes([h[2], h[3]]);
    if reserved != 0 {
        return Err(AppFrameError::Reserved(reserved));
    }
    let payload_len = usize::from(u16::from_le_bytes([h[16], h[17]]));
    let payload = rest.get(..payload_len).ok_or(AppFrameError::PayloadLen {
        payload_len,
        room: rest.len(),
    })?;
    Ok(AppFrame {
        peer_ip: Ipv4Addr::new(h[4], h[5], h[6], h[7]),
        peer_port: u16::from_le_bytes([h[8], h[9]]),
        local_port: u16::from_le_bytes([h[10], h[11]]),
        local_ip: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        payload,
    })
}

/// Encodes `f` into `buf` (a link frame of at most `buf.len()` bytes); returns the frame
/// length.
#[inline]
pub fn encode(buf: &mut [u8], f: &AppFrame<'_>) -> Result<usize, AppFrameError> {
    let too_long = AppFrameError::TooLong {
        payload_len: f.payload.len(),
        room: buf.len().saturating_sub(HEADER_LEN),
    };
    let payload_len = u16::try_from(f.payload.len()).map_err(|_| too_long)?;
    let len = f.encoded_len();
    let out = buf.get_mut(..len).ok_or(too_long)?;
    let (h, payload) = out.split_first_chunk_mut::<HEADER_LEN>().ok_or(too_long)?;
    h[0] = VERSION;
    h[1] = 0;
    h[2..4].copy_from_slice(&[0, 0]);
    h[4..8].copy_from_slice(&f.peer_ip.octets());
    h[8..10].copy_from_slice(&f.peer_port.to_le_bytes());
    h[10..12].copy_from_slice(&f.local_port.to_le_bytes());
    h[12..16].copy_from_slice(&f.local_ip.octets());
    h[16..18].copy_from_slice(&payload_len.to_le_bytes());
    payload.copy_from_slice(f.payload);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(payload: &[u8]) -> AppFrame<'_> {
        AppFrame {
            peer_ip: Ipv4Addr::new(10, 0, 0, 1),
            peer_port: 40000,
            local_ip: Ipv4Addr::new(10, 0, 0, 2),
            local_port: 7000,
            payload,
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let mut buf = [0u8; 64];
        let n = encode(&mut buf, &sample(b"hi")).unwrap();
        assert_eq!(n, 20);
        assert_eq!(
            &buf[..n],
            &[1, 0, 0, 0, 10, 0, 0, 1, 0x40, 0x9c, 0x58, 0x1b, 10, 0, 0, 2, 2, 0, b'h', b'i']
        );
    }

    #[test]
    fn rejects_malformed() {
        let mut buf = [0u8; 64];
        let n = encode(&mut buf, &sample(b"hello")).unwrap();
        let f = &buf[..n];
        assert_eq!(decode(&f[..17]), Err(AppFrameError::Short(17)));
        assert_eq!(decode(&[]), Err(AppFrameError::Short(0)));
        let with = |i: usize, v: u8| {
            let mut g = f.to_vec();
            g[i] = v;
            decode(&g).map(|_| ())
        };
        assert_eq!(with(0, 2), Err(AppFrameError::Version(2)));
        assert_eq!(with(1, 0x80), Err(AppFrameError::Flags(0x80)));
        assert_eq!(with(3, 1), Err(AppFrameError::Reserved(0x100)));
        assert_eq!(
            with(16, 6),
            Err(AppFrameError::PayloadLen {
                payload_len: 6,
                room: 5
            })
        );
        // Shorter payload_len than the frame: trailing bytes ignored.
        let mut g = f.to_vec();
        g[16] = 3;
        assert_eq!(decode(&g).unwrap().payload, b"hel");
        assert_eq!(
            DropReason::from(AppFrameError::Short(0)),
            DropReason::BadAppFrame
        );
    }

    #[test]
    fn encode_bounds() {
        let mut small = [0u8; HEADER_LEN + 2];
        assert!(matches!(
            encode(&mut small, &sample(b"abc")),
            Err(AppFrameError::TooLong { .. })
        ));
        assert_eq!(encode(&mut small, &sample(b"ab")), Ok(HEADER_LEN + 2));
        let mut buf = vec![0u8; LINK_FRAME_SIZE];
        let max = vec![7u8; MAX_PAYLOAD];
        assert_eq!(encode(&mut buf, &sample(&max)), Ok(LINK_FRAME_SIZE));
        assert!(encode(&mut buf, &sample(&[7u8; MAX_PAYLOAD + 1])).is_err());
        let huge = vec![0u8; 70_000];
        let mut big = vec![0u8; 80_000];
        assert!(encode(&mut big, &sample(&huge)).is_err());
    }

    #[test]
    fn outbound_and_preferred_src() {
        let mut f = sample(b"");
        assert_eq!(f.preferred_src(), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(f.check_outbound(), Ok(()));
        f.local_ip = Ipv4Addr::UNSPECIFIED;
        f.peer_port = 0;
        assert_eq!(f.preferred_src(), None);
        assert_eq!(f.check_outbound(), Err(DropReason::BadAppFrame));
    }

    proptest! {
        #[test]
        fn round_trip(
            peer_ip in any::<[u8; 4]>(),
            local_ip in any::<[u8; 4]>(),
            peer_port in any::<u16>(),
            local_port in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..MAX_PAYLOAD + 1),
        ) {
            let f = AppFrame {
                peer_ip: Ipv4Addr::from(peer_ip),
                peer_port,
                local_ip: Ipv4Addr::from(local_ip),
                local_port,
                payload: &payload,
            };
            let mut buf = [0u8; LINK_FRAME_SIZE];
            let n = encode(&mut buf, &f).unwrap();
            prop_assert_eq!(decode(&buf[..n]), Ok(f));
            prop_assert_eq!(decode(&buf), Ok(f));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = decode(&data) {
                prop_assert!(HEADER_LEN + f.payload.len() <= data.len());
            }
        }
    }
}
