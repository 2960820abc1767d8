//! Batched UDP I/O over IPv4 sockets: many datagrams per system call with `recvmmsg(2)` and
//! `sendmmsg(2)`.
//!
//! A [`MsgBatch`] owns `capacity` fixed-size slots in one buffer. It is filled either by the
//! kernel ([`MsgBatch::recv`]: payload, length, sender address and truncation of each datagram)
//! or by the caller ([`MsgBatch::push`] / [`MsgBatch::push_with`]), and its entries are sent
//! with [`MsgBatch::send`]. Received entries keep their sender address, so an echo server sends
//! a received batch straight back without copying a byte.
//!
//! Works on any socket that implements `AsFd` (typically `std::net::UdpSocket`); blocking
//! behaviour follows the socket (use `set_read_timeout` to bound a blocking receive).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

/// Most messages one `recvmmsg`/`sendmmsg` call takes (the kernel's `UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;

/// A batch of datagram slots for `recvmmsg`/`sendmmsg`. IPv4 only.
pub struct MsgBatch {
    slot: usize,
    buf: Vec<u8>,
    lens: Vec<usize>,
    peers: Vec<libc::sockaddr_in>,
    addressed: Vec<bool>,
    truncated: Vec<bool>,
    // Scratch for the system calls, rebuilt from the fields above before every call.
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    len: usize,
}

// SAFETY: the raw pointers inside `iovs` and `hdrs` are scratch space: they are rewritten to
// point into this batch's own heap buffers right before each system call and never read
// otherwise, so moving the batch (with its buffers) to another thread shares nothing.
unsafe impl Send for MsgBatch {}

impl std::fmt::Debug for MsgBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgBatch")
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot)
            .field("len", &self.len)
            .finish()
    }
}

fn zero_sockaddr() -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data for which all-zero bytes are a valid value.
    unsafe { zeroed() }
}

fn zero_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data (integers and raw pointers); all-zero is a valid value
    // (null pointers, zero lengths).
    unsafe { zeroed() }
}

fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    let mut s = zero_sockaddr();
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

fn from_sockaddr(s: &libc::sockaddr_in) -> Option<SocketAddrV4> {
    (s.sin_family == libc::AF_INET as libc::sa_family_t).then(|| {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
            u16::from_be(s.sin_port),
        )
    })
}

/// Interrupted or would-block calls are "nothing happened", not failures, for the batch loops.
fn nothing_happened(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl MsgBatch {
    /// A batch of `capacity` slots (clamped to `1..=MAX_BATCH`) of `slot_size` bytes each
    /// (at least 1). Datagrams longer than a slot are received truncated.
    pub fn new(capacity: usize, slot_size: usize) -> Self {
        let n = capacity.clamp(1, MAX_BATCH);
        let slot = slot_size.max(1);
        MsgBatch {
            slot,
            buf: vec![0; n * slot],
            lens: vec![0; n],
            peers: vec![zero_sockaddr(); n],
            addressed: vec![false; n],
            truncated: vec![false; n],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                n
            ],
            hdrs: (0..n).map(|_| zero_mmsghdr()).collect(),
            len: 0,
        }
    }

    /// How many datagrams the batch holds at most.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// The size of each slot in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot
    }

    /// How many entries the batch holds now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no further entry can be pushed.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The payload of entry `i` (empty past [`MsgBatch::len`]); for a truncated datagram, the
    /// part that fit in the slot.
    pub fn payload(&self, i: usize) -> &[u8] {
        if i >= self.len {
            return &[];
        }
        let start = i * self.slot;
        &self.buf[start..start + self.lens[i].min(self.slot)]
    }

    /// The address entry `i` came from (after [`MsgBatch::recv`]) or goes to (after a push);
    /// `None` for an unaddressed entry (sent on a connected socket) or past the end.
    pub fn peer(&self, i: usize) -> Option<SocketAddrV4> {
        (i < self.len && self.addressed[i])
            .then(|| from_sockaddr(&self.peers[i]))
            .flatten()
    }

    /// Whether received entry `i` was longer than a slot and lost its tail.
    pub fn truncated(&self, i: usize) -> bool {
        i < self.len && self.truncated[i]
    }

    /// Appends an entry of `len` bytes, written in place by `fill`, to be sent to `peer`
    /// (`None` on a connected socket). False (and `fill` not called) when the batch is full or
    /// `len` exceeds the slot size.
    pub fn push_with(
        &mut self,
        len: usize,
        peer: Option<SocketAddrV4>,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        if self.is_full() || len > self.slot {
            return false;
        }
        let i = self.len;
        let start = i * self.slot;
        fill(&mut self.buf[start..start + len]);
        self.lens[i] = len;
        self.truncated[i] = false;
        match peer {
            Some(a) => {
                self.peers[i] = to_sockaddr(a);
                self.addressed[i] = true;
            }
            None => self.addressed[i] = false,
        }
        self.len += 1;
        true
    }

    /// Appends a copy of `payload` to be sent to `peer`; see [`MsgBatch::push_with`].
    pub fn push(&mut self, payload: &[u8], peer: Option<SocketAddrV4>) -> bool {
        self.push_with(payload.len(), peer, |b| b.copy_from_slice(payload))
    }

    /// Points the system-call scratch of entries `range` at this batch's buffers. For a
    /// receive every slot is offered whole and every entry gets room for an address.
    fn prepare(&mut self, range: std::ops::Range<usize>, for_recv: bool) {
        let name_len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        for i in range {
            let slot = &mut self.buf[i * self.slot..(i + 1) * self.slot];
            self.iovs[i] = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: if for_recv { self.slot } else { self.lens[i] },
            };
            let h = &mut self.hdrs[i];
            *h = zero_mmsghdr();
            if for_recv || self.addressed[i] {
                h.msg_hdr.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_in).cast();
                h.msg_hdr.msg_namelen = name_len;
            }
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
    }

    /// Replaces the contents with the datagrams waiting on `sock`, at most
    /// [`MsgBatch::capacity`]; returns how many. With `wait` it blocks for the first datagram
    /// as the socket does (`SO_RCVTIMEO` bounds it) and then takes only what is already
    /// queued; without, it never blocks. A timeout, an interruption or an empty queue give
    /// `Ok(0)`.
    pub fn recv(&mut self, sock: &impl AsFd, wait: bool) -> io::Result<usize> {
        self.len = 0;
        let n = self.capacity();
        self.prepare(0..n, true);
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: `hdrs[..n]` were just prepared to point at `iovs[i]`, the i-th slot of
        // `buf` (exactly `slot` bytes long) and `peers[i]` (with its true size as name
        // length); all are owned by `self`, which the `&mut` borrow keeps alive and unmoved
        // for the call. The kernel writes at most those lengths. A null timeout is allowed.
        let rc = unsafe {
            libc::recvmmsg(
                sock.as_fd().as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if nothing_happened(&e) { Ok(0) } else { Err(e) };
        }
        let got = (rc as usize).min(n);
        let name_len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        for i in 0..got {
            let h = &self.hdrs[i];
            self.lens[i] = (h.msg_len as usize).min(self.slot);
            self.truncated[i] = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            // A sender in another family (or none, as on some connected sockets) leaves an
            // address this batch cannot reply to.
            self.addressed[i] = h.msg_hdr.msg_namelen >= name_len
                && self.peers[i].sin_family == libc::AF_INET as libc::sa_family_t;
        }
        self.len = got;
        Ok(got)
    }

    /// Sends entries `from..len()` on `sock`; see [`MsgBatch::send_range`].
    pub fn send(&mut self, sock: &impl AsFd, from: usize) -> io::Result<usize> {
        self.send_range(sock, from, self.len)
    }

    /// Sends entries `from..to` (`to` capped at [`MsgBatch::len`]) on `sock` in one
    /// `sendmmsg`, each to its peer (or, when it has none, to the socket's connected
    /// address); returns how many went out, from `from` on. A partial count means the next
    /// entry failed: call again from there to see its error. An interruption or a full
    /// non-blocking socket give `Ok(0)`.
    pub fn send_range(&mut self, sock: &impl AsFd, from: usize, to: usize) -> io::Result<usize> {
        let end = to.min(self.len);
        if from >= end {
            return Ok(0);
        }
        let start = from;
        self.prepare(start..end, false);
        // SAFETY: `hdrs[start..end]` were just prepared to point at `iovs[i]` (the first
        // `lens[i]` ≤ `slot` bytes of the i-th slot of `buf`) and, for addressed entries, at
        // `peers[i]` with its true size; all are owned by `self`, which the `&mut` borrow
        // keeps alive and unmoved for the call. The kernel only writes `msg_len` in each
        // header, which lies inside `hdrs`.
        let rc = unsafe {
            libc::sendmmsg(
                sock.as_fd().as_raw_fd(),
                self.hdrs[start..end].as_mut_ptr(),
                (end - start) as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if nothing_happened(&e) { Ok(0) } else { Err(e) };
        }
        Ok((rc as usize).min(end - start))
    }
}

/// Asks for `bytes` of receive and of send buffer on `sock`. As root (`CAP_NET_ADMIN`) the
/// `…BUFFORCE` options pass `net.core.{r,w}mem_max`; otherwise the capped plain options are
/// used. Bursty batch traffic loses datagrams in the default buffers (~200 KiB).
pub fn set_socket_buffers(sock: &impl AsFd, bytes: usize) -> io::Result<()> {
    let fd = sock.as_fd().as_raw_fd();
    let value = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    let set = |opt: libc::c_int| -> io::Result<()> {
        // SAFETY: `value` is a live c_int for the call and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    set(libc::SO_RCVBUFFORCE).or_else(|_| set(libc::SO_RCVBUF))?;
    set(libc::SO_SNDBUFFORCE).or_else(|_| set(libc::SO_SNDBUF))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        b.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        (a, b)
    }

    fn v4(s: &UdpSocket) -> SocketAddrV4 {
        match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("not v4: {other}"),
        }
    }

    #[test]
    fn batch_round_trip_keeps_payloads_and_peers() {
        let (a, b) = pair();
        let mut out = MsgBatch::new(8, 64);
        for i in 0..5u8 {
            assert!(out.push(&[i; 10][..usize::from(i) + 1], Some(v4(&b))));
        }
        assert_eq!(out.send(&a, 0).unwrap(), 5);

        let mut got = MsgBatch::new(8, 64);
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let n = got.recv(&b, true).unwrap();
            assert!(n > 0, "timed out after {} datagrams", seen.len());
            for i in 0..n {
                assert_eq!(got.peer(i), Some(v4(&a)));
                assert!(!got.truncated(i));
                seen.push(got.payload(i).to_vec());
            }
        }
        let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        assert_eq!(seen, want);

        // Echo the received batch back as is: every entry still carries its sender.
        assert_eq!(got.send(&b, 0).unwrap(), got.len());
        let mut back = MsgBatch::new(8, 64);
        let n = back.recv(&a, true).unwrap();
        assert!(n >= 1);
        assert_eq!(back.peer(0), Some(v4(&b)));
    }

    #[test]
    fn long_datagrams_are_marked_truncated() {
        let (a, b) = pair();
        a.send_to(&[7u8; 100], v4(&b)).unwrap();
        let mut got = MsgBatch::new(4, 16);
        assert_eq!(got.recv(&b, true).unwrap(), 1);
        assert!(got.truncated(0));
        assert_eq!(got.payload(0), &[7u8; 16][..]);
    }

    #[test]
    fn empty_queue_gives_zero_without_waiting() {
        let (_a, b) = pair();
        let mut got = MsgBatch::new(4, 16);
        assert_eq!(got.recv(&b, false).unwrap(), 0);
        assert!(got.is_empty());
        assert_eq!(got.payload(0), &[] as &[u8]);
        assert_eq!(got.peer(0), None);
    }

    #[test]
    fn push_refuses_oversized_and_overflow() {
        let mut b = MsgBatch::new(2, 8);
        assert!(!b.push(&[0; 9], None));
        assert!(b.push(&[0; 8], None));
        assert!(b.push(&[1; 1], None));
        assert!(b.is_full());
        assert!(!b.push(&[2; 1], None));
        assert_eq!(b.len(), 2);
        assert_eq!(b.peer(0), None);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn connected_socket_sends_unaddressed_entries() {
        let (a, b) = pair();
        a.connect(v4(&b)).unwrap();
        let mut out = MsgBatch::new(4, 16);
        assert!(out.push(b"hello", None));
        assert_eq!(out.send(&a, 0).unwrap(), 1);
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, a.local_addr().unwrap());
    }

    #[test]
    fn socket_buffers_can_be_set() {
        let (a, _b) = pair();
        set_socket_buffers(&a, 1 << 20).unwrap();
    }
}
