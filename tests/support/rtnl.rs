//! A minimal raw `NETLINK_ROUTE` socket for tests: dumps, acknowledged requests and multicast
//! notifications, returned as raw message bytes (one `Vec` per netlink message).
//!
//! Create it inside a test namespace with `ns.run(Rtnl::open)`; the socket stays bound to that
//! namespace wherever it is used afterwards.

use std::io;
use std::time::{Duration, Instant};

use netbase_runtime::netlink::socket::{BufferRequest, Mode, NetlinkSocket, RecvError};
use netbase_runtime::netlink::wire;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
pub const RTM_GETNEIGH: u16 = 30;

/// Multicast groups (`RTNLGRP_*`), for [`Rtnl::join_group`].
pub const RTNLGRP_LINK: u32 = 1;
pub const RTNLGRP_NEIGH: u32 = 3;
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// The messages of one dump, without the closing `NLMSG_DONE`.
#[derive(Debug, Default, Clone)]
pub struct Dump {
    pub messages: Vec<Vec<u8>>,
    /// Some message carried `NLM_F_DUMP_INTR`: the dump may be inconsistent.
    pub interrupted: bool,
}

/// A bound `NETLINK_ROUTE` socket with `NETLINK_GET_STRICT_CHK` set.
#[derive(Debug)]
pub struct Rtnl {
    sock: NetlinkSocket,
    seq: u32,
    buf: Vec<u8>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Splits a datagram into its netlink messages (each slice is exactly `nlmsg_len` bytes).
pub fn split(mut datagram: &[u8]) -> Result<Vec<&[u8]>, wire::ParseError> {
    let mut out = Vec::new();
    while !datagram.is_empty() {
        let (msg, rest) = wire::message(datagram)?;
        out.push(&datagram[..wire::NLMSG_HDRLEN + msg.payload.len()]);
        datagram = rest;
    }
    Ok(out)
}

/// The `errno` an `NLMSG_ERROR` / `NLMSG_DONE` payload carries (0 for an ACK).
fn payload_errno(payload: &[u8]) -> i32 {
    match payload.first_chunk::<4>() {
        Some(b) => -i32::from_ne_bytes(*b),
        None => 0,
    }
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace (the runtime's socket type:
    /// strict checking, extended ACKs, a large forced receive buffer).
    pub fn open() -> io::Result<Self> {
        let sock = NetlinkSocket::open(Mode::Blocking)?;
        if !sock.enable_strict_check() {
            return Err(io::Error::other("NETLINK_GET_STRICT_CHK refused"));
        }
        // Extended ACKs only improve error messages; older kernels may refuse them.
        let _ = sock.enable_ext_ack();
        sock.set_recv_buffer(8 << 20, BufferRequest::Force)?;
        Ok(Rtnl {
            sock,
            seq: 1,
            buf: vec![0; 1 << 16],
        })
    }

    /// Subscribes to one `RTNLGRP_*` multicast group.
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        self.sock.join_group(group)
    }

    /// Bounds how long [`Rtnl::recv`] blocks (`None`: forever).
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_recv_timeout(timeout)
    }

    /// Sends one request to the kernel; returns its sequence number.
    pub fn send(&mut self, ty: u16, flags: u16, payload: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = wire::NLMSG_HDRLEN + payload.len();
        let mut msg = Vec::with_capacity(wire::align4(len));
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize(wire::align4(len), 0);
        self.sock.send(&msg)?;
        Ok(seq)
    }

    /// Receives one datagram (possibly several messages). A timeout set with
    /// [`Rtnl::set_recv_timeout`] surfaces as `ErrorKind::WouldBlock`; a datagram larger than
    /// the buffer grows the buffer for the next one and is reported as an error (captures must
    /// never be cut).
    pub fn recv(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(r) => return Ok(self.buf[..r.len].to_vec()),
                Err(RecvError::Interrupted) => continue,
                Err(RecvError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "recv(netlink): timed out",
                    ))
                }
                Err(RecvError::Truncated { len, .. }) => {
                    self.buf.resize(len.next_power_of_two(), 0);
                    return Err(invalid(format!("netlink datagram of {len} bytes was cut")));
                }
                Err(e) => return Err(io::Error::other(format!("recv(netlink): {e}"))),
            }
        }
    }

    /// Runs one `NLM_F_DUMP` request of type `ty` with `payload` (family header and optional
    /// attributes) and collects every answer message.
    pub fn dump(&mut self, ty: u16, payload: &[u8]) -> io::Result<Dump> {
        let seq = self.send(ty, NLM_F_REQUEST | NLM_F_DUMP, payload)?;
        let mut dump = Dump::default();
        loop {
            let datagram = self.recv()?;
            for m in split(&datagram).map_err(invalid)? {
                let (h, _) = wire::message(m).map_err(invalid)?;
                if h.seq != seq {
                    continue;
                }
                if h.flags & NLM_F_DUMP_INTR != 0 {
                    dump.interrupted = true;
                }
                match h.ty {
                    NLMSG_DONE => {
                        let errno = payload_errno(h.payload);
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(errno));
                        }
                        return Ok(dump);
                    }
                    NLMSG_ERROR => {
                        return Err(io::Error::from_raw_os_error(payload_errno(h.payload)));
                    }
                    _ => dump.messages.push(m.to_vec()),
                }
            }
        }
    }

    /// [`Rtnl::dump`], repeated (up to `attempts` times) while the kernel flags it interrupted.
    pub fn dump_consistent(
        &mut self,
        ty: u16,
        payload: &[u8],
        attempts: usize,
    ) -> io::Result<Vec<Vec<u8>>> {
        let mut last = None;
        for _ in 0..attempts.max(1) {
            let d = self.dump(ty, payload)?;
            if !d.interrupted {
                return Ok(d.messages);
            }
            last = Some(d);
        }
        Err(invalid(format!(
            "dump of type {ty} interrupted {attempts} times ({} messages in the last)",
            last.map_or(0, |d| d.messages.len())
        )))
    }

    /// Sends a request with `NLM_F_ACK` and waits for the kernel's answer.
    pub fn request_ack(&mut self, ty: u16, flags: u16, payload: &[u8]) -> io::Result<()> {
        let seq = self.send(ty, flags | NLM_F_REQUEST | NLM_F_ACK, payload)?;
        loop {
            let datagram = self.recv()?;
            for m in split(&datagram).map_err(invalid)? {
                let (h, _) = wire::message(m).map_err(invalid)?;
                if h.seq == seq && h.ty == NLMSG_ERROR {
                    return match payload_errno(h.payload) {
                        0 => Ok(()),
                        e => Err(io::Error::from_raw_os_error(e)),
                    };
                }
            }
        }
    }

    /// Collects notification messages until none arrives for `quiet` (or `max` passes).
    pub fn drain(&mut self, quiet: Duration, max: Duration) -> io::Result<Vec<Vec<u8>>> {
        self.set_recv_timeout(Some(quiet))?;
        let start = Instant::now();
        let mut out = Vec::new();
        while start.elapsed() < max {
            match self.recv() {
                Ok(datagram) => {
                    for m in split(&datagram).map_err(invalid)? {
                        out.push(m.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.set_recv_timeout(None)?;
        Ok(out)
    }
}
