//! The notification socket: multicast `RTM_NEW*` / `RTM_DEL*` messages for links, IPv4
//! addresses, IPv4 routes, neighbours and nexthops.
//!
//! # The order that makes a mirror converge
//!
//! A dump is not atomic and the kernel does not reliably flag one that raced with changes, so
//! the caller must:
//!
//! 1. open the [`Monitor`] (it joins the groups as it opens): from here on every change is
//!    queued on it;
//! 2. dump every kind on a [`super::dump::RequestSocket`] and apply the rows;
//! 3. [`Monitor::drain`] and apply each notification as an idempotent replace (`RTM_NEW*`) or
//!    delete (`RTM_DEL*`), in the order received.
//!
//! Replaying notifications in order converges even for those older than the dump: the last
//! notification about an object describes a state at least as new as the dump's, because
//! every change after step 1 produced one. The argument breaks as soon as one notification is
//! lost, which is what an overrun (`ENOBUFS`), a truncated datagram or a malformed one means:
//! [`Drained::overrun`] then tells the caller to resync (see [`super::resync`]), i.e. dump
//! everything again with mark-and-sweep. The monitor keeps draining after an overrun, because
//! the messages queued behind the loss are intact and emptying the queue is the first step
//! of the resync anyway.

use std::fmt;
use std::io;
use std::time::Duration;

use netbase_uapi::linux as uapi;

use super::socket::{
    BufferRequest, Mode, NetlinkSocket, RecvBufferSize, RecvError, GROUP_NEXTHOP, MONITOR_GROUPS,
};
use super::wire::{self, NLMSG_HDRLEN};

const NLMSG_MIN_TYPE: u16 = uapi::NLMSG_MIN_TYPE as u16;

/// Settings of a [`Monitor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    /// User-space receive buffer, allocated once. Notifications are one object each, but a
    /// link with many VFs can take tens of KiB.
    pub recv_buf_len: usize,
    /// Kernel receive queue: what a burst of changes can fill before the kernel drops
    /// notifications (`ENOBUFS`). The default queue held about 512 route notifications.
    pub socket_rcvbuf: usize,
    pub rcvbuf_request: BufferRequest,
    /// Fail to open when `RTNLGRP_NEXTHOP` cannot be joined (kernels before 5.3 lack it);
    /// otherwise its absence is only reported by [`Monitor::nexthop_subscribed`].
    pub require_nexthop: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            recv_buf_len: super::dump::DEFAULT_RECV_BUF_LEN,
            socket_rcvbuf: 32 << 20,
            rcvbuf_request: BufferRequest::Force,
            require_nexthop: false,
        }
    }
}

/// What one [`Monitor::drain`] call read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    pub datagrams: u64,
    /// Messages handed to the callback.
    pub messages: u64,
    /// Notifications were lost (overrun, truncated or malformed datagram): the mirror is stale
    /// and must resync.
    pub overrun: bool,
    /// The budget ran out before the queue was empty: drain again soon.
    pub more: bool,
}

/// Totals over the monitor's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorCounters {
    pub datagrams: u64,
    pub messages: u64,
    /// `ENOBUFS` reports: each means at least one notification was dropped.
    pub enobufs: u64,
    /// Datagrams larger than the receive buffer.
    pub truncated: u64,
    /// Datagrams whose messages did not walk (the rest of the datagram is lost).
    pub malformed: u64,
    /// Datagrams not sent by the kernel, ignored.
    pub foreign: u64,
    /// Control messages (`NLMSG_NOOP` and the like) skipped.
    pub control: u64,
}

/// A drain failure: the socket itself, or the callback (which stops the drain; the rest of
/// that datagram is not delivered, so the caller should resync).
#[derive(Debug)]
pub enum DrainError<E> {
    Io(io::Error),
    Callback(E),
}

impl<E: fmt::Display> fmt::Display for DrainError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainError::Io(e) => write!(f, "netlink monitor: {e}"),
            DrainError::Callback(e) => write!(f, "notification handler failed: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for DrainError<E> {}

/// What [`deliver`] made of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delivered {
    messages: u64,
    /// A message did not walk; it and everything after it in the datagram were dropped.
    malformed: bool,
}

/// Hands each message of a notification datagram to `f`, as a slice starting at its
/// `nlmsghdr`. Unlike dump replies, notifications are not filtered by port id or sequence
/// number: those name whoever caused the change.
fn deliver<E, F>(datagram: &[u8], counters: &mut MonitorCounters, f: &mut F) -> Result<Delivered, E>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    let mut out = Delivered {
        messages: 0,
        malformed: false,
    };
    let mut rest = datagram;
    while !rest.is_empty() {
        let Ok((m, next)) = wire::message(rest) else {
            counters.malformed += 1;
            out.malformed = true;
            break;
        };
        let bytes = &rest[..NLMSG_HDRLEN + m.payload.len()];
        rest = next;
        if m.ty < NLMSG_MIN_TYPE {
            counters.control += 1;
            continue;
        }
        counters.messages += 1;
        out.messages += 1;
        f(bytes)?;
    }
    Ok(out)
}

/// The notification socket: non-blocking, subscribed to [`MONITOR_GROUPS`] from the moment it
/// exists, `NETLINK_NO_ENOBUFS` off so that losses are reported.
#[derive(Debug)]
pub struct Monitor {
    sock: NetlinkSocket,
    buf: Box<[u8]>,
    rcvbuf: RecvBufferSize,
    nexthop: bool,
    counters: MonitorCounters,
}

impl Monitor {
    /// The notification socket's descriptor (for a sandbox that keeps the descriptors in
    /// use and closes the rest).
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    /// Opens the socket in the calling thread's network namespace and subscribes.
    pub fn open(cfg: &MonitorConfig) -> io::Result<Self> {
        let sock = NetlinkSocket::open(Mode::NonBlocking)?;
        sock.set_no_enobufs(false)?;
        // Sized before joining, so that no burst meets the default queue.
        let rcvbuf = sock.set_recv_buffer(cfg.socket_rcvbuf, cfg.rcvbuf_request)?;
        let mut nexthop = false;
        for group in MONITOR_GROUPS {
            match sock.join_group(group) {
                Ok(()) => nexthop |= group == GROUP_NEXTHOP,
                Err(_) if group == GROUP_NEXTHOP && !cfg.require_nexthop => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Monitor {
            sock,
            buf: vec![0; cfg.recv_buf_len.max(NLMSG_HDRLEN)].into_boxed_slice(),
            rcvbuf,
            nexthop,
            counters: MonitorCounters::default(),
        })
    }

    /// The kernel receive queue obtained.
    pub fn recv_buffer(&self) -> RecvBufferSize {
        self.rcvbuf
    }

    /// Whether nexthop events are subscribed (they signal silently vanished routes).
    pub fn nexthop_subscribed(&self) -> bool {
        self.nexthop
    }

    pub fn counters(&self) -> MonitorCounters {
        self.counters
    }

    /// The socket, e.g. for its fd in an epoll set.
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// Waits up to `timeout` for a notification (or an overrun) to be pending.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.sock.wait_readable(timeout)
    }

    /// Reads every pending datagram and hands each message to `f`; returns when the queue is
    /// empty.
    pub fn drain<E, F>(&mut self, f: &mut F) -> Result<Drained, DrainError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        self.drain_budget(u64::MAX, f)
    }

    /// [`Monitor::drain`], but stops after `max_reads` receive calls (so that a flood cannot
    /// hold a tile's loop); [`Drained::more`] then says so.
    pub fn drain_budget<E, F>(
        &mut self,
        max_reads: u64,
        f: &mut F,
    ) -> Result<Drained, DrainError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        let mut out = Drained::default();
        let mut reads = 0u64;
        loop {
            if reads >= max_reads {
                out.more = true;
                return Ok(out);
            }
            reads += 1;
            match self.sock.recv(&mut self.buf) {
                Ok(got) if !got.from_kernel() => self.counters.foreign += 1,
                Ok(got) => {
                    out.datagrams += 1;
                    self.counters.datagrams += 1;
                    let d = deliver(&self.buf[..got.len], &mut self.counters, f)
                        .map_err(DrainError::Callback)?;
                    out.messages += d.messages;
                    out.overrun |= d.malformed;
                }
                Err(RecvError::WouldBlock) => return Ok(out),
                Err(RecvError::Interrupted) => {}
                Err(RecvError::Overrun) => {
                    self.counters.enobufs += 1;
                    out.overrun = true;
                }
                Err(RecvError::Truncated { .. }) => {
                    self.counters.truncated += 1;
                    out.overrun = true;
                }
                Err(RecvError::Io(e)) => return Err(DrainError::Io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    fn emit(payload: NetlinkPayload<RouteNetlinkMessage>) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.port_number = 1234; // whoever caused the change
        header.sequence_number = 77;
        let mut msg = NetlinkMessage::new(header, payload);
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    fn new_link(index: u32, name: &str) -> Vec<u8> {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.attributes = vec![LinkAttribute::IfName(name.into())];
        emit(NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(
            l,
        )))
    }

    /// A delete without NDA_LLADDR, as the kernel sends them.
    fn del_neigh(addr: [u8; 4]) -> Vec<u8> {
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.ifindex = 2;
        n.attributes = vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
            addr.into(),
        ))];
        emit(NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::DelNeighbour(n),
        ))
    }

    fn collect(datagram: &[u8]) -> (Delivered, Vec<RouteNetlinkMessage>, MonitorCounters) {
        let mut counters = MonitorCounters::default();
        let mut seen = Vec::new();
        let d = deliver(datagram, &mut counters, &mut |m: &[u8]| {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(m).expect("oracle");
            match msg.payload {
                NetlinkPayload::InnerMessage(i) => seen.push(i),
                other => panic!("{other:?}"),
            }
            Ok::<(), ()>(())
        })
        .unwrap();
        (d, seen, counters)
    }

    #[test]
    fn netlink_monitor_delivers_every_message_of_a_datagram() {
        let mut d = new_link(7, "veth0");
        d.extend(emit(NetlinkPayload::Noop));
        d.extend(del_neigh([10, 1, 0, 2]));
        let (got, seen, counters) = collect(&d);
        assert_eq!(
            got,
            Delivered {
                messages: 2,
                malformed: false
            }
        );
        assert_eq!(counters.control, 1);
        assert!(matches!(&seen[0], RouteNetlinkMessage::NewLink(l) if l.header.index == 7));
        match &seen[1] {
            RouteNetlinkMessage::DelNeighbour(n) => assert_eq!(
                n.attributes,
                vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
                    [10, 1, 0, 2].into()
                ))]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn netlink_monitor_reports_malformed_datagrams_as_loss() {
        let mut d = new_link(1, "lo");
        let cut = d.len();
        d.extend(new_link(2, "eth0"));
        d.truncate(d.len() - 3);
        let (got, seen, counters) = collect(&d);
        assert_eq!(seen.len(), 1);
        assert!(got.malformed);
        assert_eq!(counters.malformed, 1);
        // A zero-length header is malformed too, and must not loop forever.
        let mut z = d[..cut].to_vec();
        z.extend_from_slice(&[0u8; 16]);
        let (got, _, _) = collect(&z);
        assert!(got.malformed);
    }

    #[test]
    fn netlink_monitor_callback_error_stops_delivery() {
        let mut d = new_link(1, "lo");
        d.extend(new_link(2, "eth0"));
        let mut counters = MonitorCounters::default();
        let mut calls = 0;
        let r = deliver(&d, &mut counters, &mut |_: &[u8]| {
            calls += 1;
            Err("full")
        });
        assert_eq!(r, Err("full"));
        assert_eq!(calls, 1);
    }

    proptest::proptest! {
        #[test]
        fn netlink_monitor_deliver_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut counters = MonitorCounters::default();
            let _ = deliver(&bytes, &mut counters, &mut |m: &[u8]| {
                assert!(m.len() >= NLMSG_HDRLEN);
                Ok::<(), ()>(())
            });
        }
    }

    /// Opening needs no privilege (joining rtnetlink groups is allowed to everyone); nothing
    /// is changed, and in an idle moment nothing may be pending.
    #[test]
    fn netlink_monitor_opens_nonblocking_and_drains_empty() {
        let cfg = MonitorConfig {
            socket_rcvbuf: 256 << 10,
            rcvbuf_request: BufferRequest::Plain,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::open(&cfg).expect("open monitor");
        assert!(m.recv_buffer().obtained >= 256 << 10);
        let d = m
            .drain_budget(4, &mut |_: &[u8]| Ok::<(), ()>(()))
            .expect("drain");
        assert!(!d.overrun);
    }
}
