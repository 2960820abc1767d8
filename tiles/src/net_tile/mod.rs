//! The net tile's data path: the pure per-packet logic between an AF_XDP socket and the
//! application links, with no I/O of its own.
//!
//! * [`rx_parse`]: a received Ethernet frame to a validated UDP/IPv4 datagram, or the
//!   [`DropReason`] that stopped it.
//! * [`app_frame`]: the frame format on the links to and from application tiles.
//! * [`route`]: where a datagram to send goes (interface, MACs, source address), resolved
//!   against the netbase tables without allocating.
//! * [`tx_build`]: a datagram to an Ethernet frame.
//! * [`checksum`]: the Internet checksum for both directions; [`headers`]: the header layout
//!   both directions share.
//! * [`drop_reason`]: the one list of reasons a packet is dropped, with their metric names.

pub mod app_frame;
pub mod checksum;
pub mod drop_reason;
pub mod headers;
pub mod route;
pub mod rx_parse;
pub mod tx_build;

pub use app_frame::{AppFrame, AppFrameError};
pub use drop_reason::DropReason;
pub use route::{Resolve, Resolver, TxPath};
pub use rx_parse::{parse_udp4, Udp4Datagram};
pub use tx_build::{build_udp4, build_udp4_in_place, Udp4Headers};
