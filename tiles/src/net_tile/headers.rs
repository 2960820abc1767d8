//! Sizes, offsets and constants of the headers the net tile reads and writes: untagged
//! Ethernet II, IPv4 without options, UDP. Shared by [`rx_parse`](super::rx_parse) and
//! [`tx_build`](super::tx_build) so both agree on one layout.

/// Ethernet II header: destination MAC, source MAC, EtherType.
pub const ETH_HLEN: usize = 14;
/// Smallest Ethernet frame without FCS; shorter frames are padded on send.
pub const ETH_ZLEN: usize = 60;
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// IPv4 header without options (IHL 5).
pub const IPV4_HLEN: usize = 20;
pub const UDP_HLEN: usize = 8;
/// Ethernet + IPv4 + UDP headers: where a datagram's payload starts in a frame.
pub const HEADERS_LEN: usize = ETH_HLEN + IPV4_HLEN + UDP_HLEN;
/// IPv4 + UDP headers: add to a payload length for the IPv4 total length.
pub const IP_UDP_OVERHEAD: usize = IPV4_HLEN + UDP_HLEN;
/// The largest UDP payload an IPv4 total length (16 bits) can carry.
pub const MAX_UDP4_PAYLOAD: usize = u16::MAX as usize - IP_UDP_OVERHEAD;

pub const IPPROTO_UDP: u8 = 17;
/// IPv4 flags/fragment-offset word: don't fragment.
pub const IPV4_DF: u16 = 0x4000;
/// IPv4 flags/fragment-offset word: more fragments.
pub const IPV4_MF: u16 = 0x2000;
/// IPv4 flags/fragment-offset word: the fragment offset.
pub const IPV4_OFFSET_MASK: u16 = 0x1fff;
/// The TTL of datagrams the net tile sends (Linux's default `ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;
