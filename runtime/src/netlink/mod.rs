//! Netlink: the wire format walker that generated parsers use, the rtnetlink sockets, request
//! encoders, dump reader, notification monitor and the sync state machine that drives them.

pub mod dump;
pub mod monitor;
pub mod request;
pub mod resync;
pub mod socket;
pub mod wire;
