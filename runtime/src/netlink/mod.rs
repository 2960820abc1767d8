//! Netlink: the wire format walker that generated parsers use, and (later) sockets and dumps.

pub mod wire;
