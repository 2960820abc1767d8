//! Dumps (and acknowledged requests) on a dedicated request socket.
//!
//! The kernel runs one dump per socket at a time and answers a second request with `EBUSY`;
//! [`RequestSocket`] refuses that case itself ([`DumpError::Busy`]) so it never reaches the
//! kernel. Replies are read into the socket's own buffer and handed to the caller's callback
//! as `&[u8]` slices that start at each message's `nlmsghdr`: nothing is copied or allocated
//! per message.
//!
//! A dump ends, from the kernel's side, only with `NLMSG_DONE` (possibly carrying an errno)
//! or `NLMSG_ERROR`. Any other failure (timeout, overrun, cut datagram, callback error) leaves
//! the kernel mid-dump, so the dump stays "in flight" until the caller either reads it to the
//! end with [`RequestSocket::abandon`] + [`RequestSocket::read`], or calls
//! [`RequestSocket::discard`], which does both. [`RequestSocket::run`] does this by itself.
//!
//! Dumps are not atomic. The kernel flags some (not all) inconsistent dumps with
//! `NLM_F_DUMP_INTR`; [`DumpSummary::interrupted`] reports it and
//! [`RequestSocket::run_consistent`] retries a bounded number of times. Consistency comes from
//! the order the caller follows (see [`super::monitor`]), not from this flag.

use core::convert::Infallible;
use core::fmt;
use std::io;
use std::time::Duration;

use netbase_uapi::linux as uapi;

use super::request::{self, DumpKind, MAX_REQUEST_LEN};
use super::socket::{BufferRequest, Mode, NetlinkSocket, RecvBufferSize, RecvError};
use super::wire::{self, align4, ParseError, NLMSG_HDRLEN};

/// Default user-space receive buffer. The kernel sizes dump datagrams after the reader's
/// buffer but caps them near 32 KiB, except for single objects that are larger (a link with
/// many VFs); 64 KiB leaves room for those.
pub const DEFAULT_RECV_BUF_LEN: usize = 64 << 10;

/// Longest extended-ACK text kept. Kernel messages are short sentences ("ipv4: FIB table does
/// not exist" is 30 bytes); the bound keeps [`DumpError`] small enough to return by value.
pub const EXT_ACK_TEXT_MAX: usize = 80;

const NLMSG_ERROR: u16 = uapi::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = uapi::NLMSG_DONE as u16;
const NLMSG_MIN_TYPE: u16 = uapi::NLMSG_MIN_TYPE as u16;
const NLM_F_DUMP_INTR: u16 = uapi::NLM_F_DUMP_INTR as u16;
const NLM_F_CAPPED: u16 = uapi::NLM_F_CAPPED as u16;
const NLM_F_ACK_TLVS: u16 = uapi::NLM_F_ACK_TLVS as u16;
/// `enum nlmsgerr_attrs` is not in the generated bindings; these two values are kernel ABI
/// since 4.12 and will not move.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const RTMSG_LEN: usize = core::mem::size_of::<uapi::rtmsg>();

/// The kernel's explanation attached to an error (`NETLINK_EXT_ACK`): a short text and, for
/// some errors, the byte offset of the offending attribute in our request. Stored inline so
/// that errors stay `Copy` and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExtAck {
    text: [u8; EXT_ACK_TEXT_MAX],
    text_len: u8,
    /// `NLMSGERR_ATTR_OFFS`: offset of the bad attribute within the request.
    pub offset: Option<u32>,
}

impl ExtAck {
    const EMPTY: ExtAck = ExtAck {
        text: [0; EXT_ACK_TEXT_MAX],
        text_len: 0,
        offset: None,
    };

    /// The kernel's message, if it sent one (cut to [`EXT_ACK_TEXT_MAX`] bytes).
    pub fn message(&self) -> Option<&str> {
        let b = &self.text[..usize::from(self.text_len)];
        if b.is_empty() {
            return None;
        }
        // The cut may split a UTF-8 sequence; keep the valid prefix rather than lose it all.
        match core::str::from_utf8(b) {
            Ok(s) => Some(s),
            Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).ok(),
        }
    }

    /// Walks the TLVs after an error; unknown or malformed attributes end the walk quietly,
    /// since the text is only diagnostics.
    fn parse(tlvs: &[u8]) -> ExtAck {
        let mut ack = ExtAck::EMPTY;
        for attr in wire::attrs(tlvs) {
            let Ok(attr) = attr else { break };
            match attr.kind {
                NLMSGERR_ATTR_MSG => {
                    let text = attr.c_str().unwrap_or(attr.payload);
                    let n = text.len().min(EXT_ACK_TEXT_MAX);
                    ack.text[..n].copy_from_slice(&text[..n]);
                    // n <= EXT_ACK_TEXT_MAX < 256.
                    ack.text_len = n as u8;
                }
                NLMSGERR_ATTR_OFFS => ack.offset = attr.u32().ok(),
                _ => {}
            }
        }
        ack
    }
}

impl fmt::Debug for ExtAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtAck")
            .field("message", &self.message())
            .field("offset", &self.offset)
            .finish()
    }
}

/// The errno and explanation of an `NLMSG_ERROR` payload: `int error`, the echoed request
/// (its header only when `NLM_F_CAPPED` is set, else the whole request), then the TLVs when
/// `NLM_F_ACK_TLVS` is set. A payload too short to hold the errno yields `EBADMSG`.
fn error_payload(flags: u16, payload: &[u8]) -> (i32, ExtAck) {
    let Some(code) = payload.first_chunk::<4>() else {
        return (libc::EBADMSG, ExtAck::EMPTY);
    };
    let errno = i32::from_ne_bytes(*code).wrapping_neg();
    if flags & NLM_F_ACK_TLVS == 0 {
        return (errno, ExtAck::EMPTY);
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        match payload.get(4..8) {
            Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => return (errno, ExtAck::EMPTY),
        }
    };
    let tlvs = payload
        .get(4usize.saturating_add(align4(echoed.min(payload.len())))..)
        .unwrap_or(&[]);
    (errno, ExtAck::parse(tlvs))
}

/// The errno and explanation of an `NLMSG_DONE` payload: `int error`, then TLVs when
/// `NLM_F_ACK_TLVS` is set. An empty payload (old kernels) means success.
fn done_payload(flags: u16, payload: &[u8]) -> (i32, ExtAck) {
    let Some(code) = payload.first_chunk::<4>() else {
        return (0, ExtAck::EMPTY);
    };
    let errno = i32::from_ne_bytes(*code).wrapping_neg();
    if flags & NLM_F_ACK_TLVS == 0 {
        return (errno, ExtAck::EMPTY);
    }
    (errno, ExtAck::parse(&payload[4..]))
}

/// The table a route message belongs to: `RTA_TABLE` when present (the only place for ids
/// above 255), else `rtm_table`. `None` for a message too short to say.
fn route_table(payload: &[u8]) -> Option<u32> {
    let (hdr, attrs) = wire::family_header::<RTMSG_LEN>(payload).ok()?;
    let mut table = u32::from(hdr[core::mem::offset_of!(uapi::rtmsg, rtm_table)]);
    for attr in wire::attrs(attrs) {
        let attr = attr.ok()?;
        if attr.kind == uapi::RTA_TABLE as u16 {
            table = attr.u32().ok()?;
        }
    }
    Some(table)
}

/// Why a dump or request failed.
#[derive(Debug)]
pub enum DumpError {
    /// A dump is already in flight on this socket (the kernel would answer `EBUSY`). Finish
    /// it, or [`RequestSocket::discard`] it, first.
    Busy {
        kind: DumpKind,
        seq: u32,
    },
    /// [`RequestSocket::read`] was called with no dump in flight.
    Idle,
    /// The kernel refused: `NLMSG_ERROR`, or `NLMSG_DONE` carrying an errno. `during` is the
    /// dump it ended (`None` for an acknowledged request such as a solicitation).
    Kernel {
        during: Option<DumpKind>,
        errno: i32,
        ext_ack: ExtAck,
    },
    /// Still flagged `NLM_F_DUMP_INTR` after `attempts` tries.
    Interrupted {
        kind: DumpKind,
        attempts: u32,
    },
    /// `ENOBUFS` on the request socket: a reply may have been dropped.
    Overrun,
    /// A reply datagram larger than the receive buffer: its tail is lost.
    Truncated {
        len: usize,
        capacity: usize,
    },
    /// No reply within the configured timeout.
    Timeout,
    /// A reply that does not walk as netlink messages.
    Malformed(ParseError),
    /// The request could not be encoded (cannot happen with the internal buffer; kept typed).
    Encode(request::BufferTooSmall),
    Io(io::Error),
}

impl DumpError {
    /// The kernel's "this table does not exist" answer (`ENOENT`) to a strict per-table route
    /// dump: a table becomes real only with its first route, so for a mirror this is a
    /// complete, empty dump (sweep everything of that table), not a failure.
    pub fn is_missing_table(&self) -> bool {
        matches!(
            self,
            DumpError::Kernel {
                during: Some(DumpKind::Routes4 { .. }),
                errno: libc::ENOENT,
                ..
            }
        )
    }

    /// The errno, for kernel refusals and I/O errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DumpError::Kernel { errno, .. } => Some(*errno),
            DumpError::Overrun => Some(libc::ENOBUFS),
            DumpError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Busy { kind, seq } => {
                write!(f, "a dump of {kind} (seq {seq}) is still in flight")
            }
            DumpError::Idle => f.write_str("no dump in flight"),
            DumpError::Kernel {
                during,
                errno,
                ext_ack,
            } => {
                match during {
                    Some(kind) => write!(f, "dump of {kind} failed: ")?,
                    None => f.write_str("request failed: ")?,
                }
                write!(f, "{}", io::Error::from_raw_os_error(*errno))?;
                if let Some(m) = ext_ack.message() {
                    write!(f, " ({m})")?;
                }
                Ok(())
            }
            DumpError::Interrupted { kind, attempts } => write!(
                f,
                "dump of {kind} interrupted {attempts} times: retry later"
            ),
            DumpError::Overrun => f.write_str("request socket overrun (ENOBUFS)"),
            DumpError::Truncated { len, capacity } => write!(
                f,
                "reply datagram of {len} bytes does not fit the {capacity}-byte buffer"
            ),
            DumpError::Timeout => f.write_str("no reply from the kernel in time"),
            DumpError::Malformed(e) => write!(f, "malformed reply: {e}"),
            DumpError::Encode(e) => write!(f, "cannot encode request: {e}"),
            DumpError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DumpError {}

/// A dump failure, or the callback's own error (which stops the hand-over of messages).
#[derive(Debug)]
pub enum ReadError<E> {
    Dump(DumpError),
    Callback(E),
}

impl<E> From<DumpError> for ReadError<E> {
    fn from(e: DumpError) -> Self {
        ReadError::Dump(e)
    }
}

impl<E: fmt::Display> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Dump(e) => write!(f, "{e}"),
            ReadError::Callback(e) => write!(f, "message handler failed: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ReadError<E> {}

/// How a completed dump went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpSummary {
    pub kind: DumpKind,
    pub seq: u32,
    /// Messages handed to the callback.
    pub messages: u64,
    pub datagrams: u64,
    /// Route messages of another table, dropped here (non-zero only without strict checking).
    pub filtered: u64,
    /// Some message carried `NLM_F_DUMP_INTR`: the kernel saw the table change mid-dump.
    pub interrupted: bool,
    /// Attempts [`RequestSocket::run_consistent`] needed (1 otherwise).
    pub attempts: u32,
}

/// What [`RequestSocket::read`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The dump goes on: read again (when the socket is readable, if non-blocking).
    Pending,
    /// `NLMSG_DONE`: the dump is complete.
    Done(DumpSummary),
    /// An abandoned dump reached its end; the socket is free again.
    Discarded,
}

/// Totals over the socket's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpCounters {
    pub started: u64,
    pub completed: u64,
    /// Completed dumps that carried `NLM_F_DUMP_INTR`.
    pub interrupted: u64,
    /// Dumps repeated by [`RequestSocket::run_consistent`].
    pub retries: u64,
    pub failed: u64,
    pub abandoned: u64,
    pub messages: u64,
    pub datagrams: u64,
    /// Messages with another sequence number (left over from an abandoned request).
    pub stale: u64,
    /// Datagrams not sent by the kernel, or messages addressed to another port id.
    pub foreign: u64,
    /// Route messages of another table than the one asked for.
    pub filtered: u64,
    /// ACKs (`NLMSG_ERROR` with errno 0) received, for acknowledged requests.
    pub acks: u64,
}

/// Settings of a [`RequestSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestConfig {
    /// User-space receive buffer, allocated once.
    pub recv_buf_len: usize,
    /// Kernel receive queue; dumps are flow-controlled, so it only needs to hold a few
    /// datagrams.
    pub socket_rcvbuf: usize,
    pub mode: Mode,
    /// Longest wait for a reply before [`DumpError::Timeout`] (`None`: forever).
    pub timeout: Option<Duration>,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            recv_buf_len: DEFAULT_RECV_BUF_LEN,
            socket_rcvbuf: 1 << 20,
            mode: Mode::Blocking,
            timeout: Some(Duration::from_secs(5)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    kind: DumpKind,
    seq: u32,
    interrupted: bool,
    /// Abandoned: read to the end without calling the callback.
    discarding: bool,
    messages: u64,
    datagrams: u64,
    filtered: u64,
}

impl InFlight {
    fn new(kind: DumpKind, seq: u32) -> Self {
        InFlight {
            kind,
            seq,
            interrupted: false,
            discarding: false,
            messages: 0,
            datagrams: 0,
            filtered: 0,
        }
    }

    fn summary(&self) -> DumpSummary {
        DumpSummary {
            kind: self.kind,
            seq: self.seq,
            messages: self.messages,
            datagrams: self.datagrams,
            filtered: self.filtered,
            interrupted: self.interrupted,
            attempts: 1,
        }
    }
}

/// What one datagram did to the dump in flight.
#[derive(Debug)]
enum Step {
    More,
    Done,
    /// The kernel ended the dump with an error.
    Ended(DumpError),
    /// The datagram could not be walked; the kernel may still be dumping.
    Broken(ParseError),
}

/// Feeds one reply datagram to the dump in flight: checks port id and sequence number, notes
/// `NLM_F_DUMP_INTR`, recognises the end, drops routes of other tables, and hands every other
/// message to `f` (unless the dump is being discarded).
fn feed<E, F>(
    dump: &mut InFlight,
    port: u32,
    datagram: &[u8],
    counters: &mut DumpCounters,
    f: &mut F,
) -> Result<Step, E>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    let mut rest = datagram;
    while !rest.is_empty() {
        let (m, next) = match wire::message(rest) {
            Ok(split) => split,
            Err(e) => return Ok(Step::Broken(e)),
        };
        // wire::message checked that the message's own length fits in `rest`.
        let bytes = &rest[..NLMSG_HDRLEN + m.payload.len()];
        rest = next;
        if m.pid != port {
            counters.foreign += 1;
            continue;
        }
        if m.seq != dump.seq {
            counters.stale += 1;
            continue;
        }
        if m.flags & NLM_F_DUMP_INTR != 0 {
            dump.interrupted = true;
        }
        match m.ty {
            NLMSG_DONE => {
                let (errno, ext_ack) = done_payload(m.flags, m.payload);
                if errno == 0 {
                    return Ok(Step::Done);
                }
                return Ok(Step::Ended(DumpError::Kernel {
                    during: Some(dump.kind),
                    errno,
                    ext_ack,
                }));
            }
            NLMSG_ERROR => {
                let (errno, ext_ack) = error_payload(m.flags, m.payload);
                if errno == 0 {
                    counters.acks += 1;
                    continue;
                }
                return Ok(Step::Ended(DumpError::Kernel {
                    during: Some(dump.kind),
                    errno,
                    ext_ack,
                }));
            }
            // NLMSG_NOOP and the unused NLMSG_OVERRUN carry nothing for us.
            ty if ty < NLMSG_MIN_TYPE => continue,
            _ => {}
        }
        if let DumpKind::Routes4 { table } = dump.kind {
            if route_table(m.payload) != Some(table) {
                dump.filtered += 1;
                counters.filtered += 1;
                continue;
            }
        }
        dump.messages += 1;
        counters.messages += 1;
        if !dump.discarding {
            f(bytes)?;
        }
    }
    Ok(Step::More)
}

/// A `NETLINK_ROUTE` socket for dumps and acknowledged requests, with strict checking and
/// extended ACKs enabled when the kernel allows them. One dump in flight at a time.
#[derive(Debug)]
pub struct RequestSocket {
    sock: NetlinkSocket,
    buf: Box<[u8]>,
    strict: bool,
    ext_ack: bool,
    rcvbuf: RecvBufferSize,
    timeout: Option<Duration>,
    next_seq: u32,
    in_flight: Option<InFlight>,
    counters: DumpCounters,
}

impl RequestSocket {
    /// The request socket's descriptor (see [`Monitor::fd`](super::monitor::Monitor::fd)).
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    /// Opens and configures the socket in the calling thread's network namespace.
    pub fn open(cfg: &RequestConfig) -> io::Result<Self> {
        let sock = NetlinkSocket::open(cfg.mode)?;
        let strict = sock.enable_strict_check();
        let ext_ack = sock.enable_ext_ack();
        let rcvbuf = sock.set_recv_buffer(cfg.socket_rcvbuf, BufferRequest::Force)?;
        if cfg.mode == Mode::Blocking {
            sock.set_recv_timeout(cfg.timeout)?;
        }
        Ok(RequestSocket {
            sock,
            buf: vec![0; cfg.recv_buf_len.max(NLMSG_HDRLEN)].into_boxed_slice(),
            strict,
            ext_ack,
            rcvbuf,
            timeout: cfg.timeout,
            next_seq: 1,
            in_flight: None,
            counters: DumpCounters::default(),
        })
    }

    /// Whether the kernel accepted `NETLINK_GET_STRICT_CHK`. Without it route dumps return
    /// every table and this socket filters them itself ([`DumpSummary::filtered`]).
    pub fn strict_check(&self) -> bool {
        self.strict
    }

    /// Whether the kernel accepted `NETLINK_EXT_ACK` (error texts).
    pub fn ext_ack(&self) -> bool {
        self.ext_ack
    }

    pub fn recv_buffer(&self) -> RecvBufferSize {
        self.rcvbuf
    }

    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    pub fn counters(&self) -> DumpCounters {
        self.counters
    }

    /// The dump in flight, if any: its kind and sequence number.
    pub fn in_flight(&self) -> Option<(DumpKind, u32)> {
        self.in_flight.map(|d| (d.kind, d.seq))
    }

    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        // Sequence 0 is what notifications carry; never use it for a request.
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    /// Sends the dump request for `kind`; returns its sequence number. Refuses with
    /// [`DumpError::Busy`] while another dump is in flight.
    pub fn start(&mut self, kind: DumpKind) -> Result<u32, DumpError> {
        if let Some(d) = self.in_flight {
            return Err(DumpError::Busy {
                kind: d.kind,
                seq: d.seq,
            });
        }
        let seq = self.take_seq();
        let mut req = [0u8; MAX_REQUEST_LEN];
        let bytes = request::dump(kind, seq, &mut req).map_err(DumpError::Encode)?;
        self.sock.send(bytes).map_err(DumpError::Io)?;
        self.in_flight = Some(InFlight::new(kind, seq));
        self.counters.started += 1;
        Ok(seq)
    }

    /// Reads one reply datagram of the dump in flight and hands its messages to `f`.
    ///
    /// On a non-blocking socket `Pending` also means "nothing queued yet": wait for the fd to
    /// be readable. Errors other than [`DumpError::Kernel`] leave the dump in flight (the
    /// kernel has not finished it): [`RequestSocket::abandon`] or [`RequestSocket::discard`]
    /// it before the next [`RequestSocket::start`]. A callback error stops the hand-over
    /// after the failing message, also leaving the dump in flight.
    pub fn read<E, F>(&mut self, f: &mut F) -> Result<Progress, ReadError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        let Some(mut dump) = self.in_flight else {
            return Err(ReadError::Dump(DumpError::Idle));
        };
        let got = match self.sock.recv(&mut self.buf) {
            Ok(got) => got,
            Err(RecvError::Interrupted) => return Ok(Progress::Pending),
            Err(RecvError::WouldBlock) if self.sock.mode() == Mode::NonBlocking => {
                return Ok(Progress::Pending)
            }
            Err(e) => {
                self.counters.failed += 1;
                return Err(ReadError::Dump(match e {
                    RecvError::WouldBlock => DumpError::Timeout,
                    RecvError::Overrun => DumpError::Overrun,
                    RecvError::Truncated { len, capacity } => {
                        DumpError::Truncated { len, capacity }
                    }
                    RecvError::Io(e) => DumpError::Io(e),
                    RecvError::Interrupted => DumpError::Timeout,
                }));
            }
        };
        if !got.from_kernel() {
            self.counters.foreign += 1;
            return Ok(Progress::Pending);
        }
        self.counters.datagrams += 1;
        dump.datagrams += 1;
        let datagram = &self.buf[..got.len];
        let step = feed(
            &mut dump,
            self.sock.port_id(),
            datagram,
            &mut self.counters,
            f,
        );
        match step {
            Err(e) => {
                self.in_flight = Some(dump);
                Err(ReadError::Callback(e))
            }
            Ok(Step::More) => {
                self.in_flight = Some(dump);
                Ok(Progress::Pending)
            }
            Ok(Step::Done) => {
                self.in_flight = None;
                if dump.discarding {
                    return Ok(Progress::Discarded);
                }
                self.counters.completed += 1;
                if dump.interrupted {
                    self.counters.interrupted += 1;
                }
                Ok(Progress::Done(dump.summary()))
            }
            Ok(Step::Ended(e)) => {
                self.in_flight = None;
                if dump.discarding {
                    return Ok(Progress::Discarded);
                }
                self.counters.failed += 1;
                Err(ReadError::Dump(e))
            }
            Ok(Step::Broken(e)) => {
                self.in_flight = Some(dump);
                self.counters.failed += 1;
                Err(ReadError::Dump(DumpError::Malformed(e)))
            }
        }
    }

    /// Gives up the dump in flight: the following reads consume its remaining replies without
    /// calling the callback and end with [`Progress::Discarded`].
    pub fn abandon(&mut self) {
        if let Some(d) = self.in_flight.as_mut() {
            if !d.discarding {
                d.discarding = true;
                self.counters.abandoned += 1;
            }
        }
    }

    /// Abandons the dump in flight (if any) and reads it to its end, waiting up to the
    /// configured timeout per datagram. On error the dump stays in flight; the socket is then
    /// best closed and reopened.
    pub fn discard(&mut self) -> Result<(), DumpError> {
        self.abandon();
        let mut nothing = |_: &[u8]| Ok::<(), Infallible>(());
        while self.in_flight.is_some() {
            match self.read(&mut nothing) {
                Ok(Progress::Pending) => self.wait()?,
                Ok(_) => {}
                Err(ReadError::Dump(e)) => return Err(e),
                Err(ReadError::Callback(never)) => match never {},
            }
        }
        Ok(())
    }

    /// Waits for a reply on a non-blocking socket (blocking sockets wait inside `recv`).
    fn wait(&self) -> Result<(), DumpError> {
        if self.sock.mode() == Mode::Blocking {
            return Ok(());
        }
        match self.sock.wait_readable(self.timeout) {
            Ok(true) => Ok(()),
            Ok(false) => Err(DumpError::Timeout),
            Err(e) => Err(DumpError::Io(e)),
        }
    }

    /// Runs one dump of `kind` to its end, handing every message to `f`. On any failure the
    /// rest of the dump is discarded (best effort), so the socket is normally free again.
    pub fn run<E, F>(&mut self, kind: DumpKind, f: &mut F) -> Result<DumpSummary, ReadError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        self.start(kind)?;
        loop {
            let res = match self.read(f) {
                Ok(Progress::Pending) => self.wait().map(|()| None).map_err(ReadError::Dump),
                Ok(Progress::Done(s)) => Ok(Some(s)),
                // Not abandoned by us; if it happens the dump is over all the same.
                Ok(Progress::Discarded) => Err(ReadError::Dump(DumpError::Idle)),
                Err(e) => Err(e),
            };
            match res {
                Ok(None) => {}
                Ok(Some(s)) => return Ok(s),
                Err(e) => {
                    if self.in_flight.is_some() {
                        // The original error is what the caller needs; a failed discard
                        // leaves the dump in flight, which the next start() reports.
                        let _ = self.discard();
                    }
                    return Err(e);
                }
            }
        }
    }

    /// [`RequestSocket::run`], repeated while the kernel flags the dump interrupted, at most
    /// `max_attempts` times in all. Every attempt hands its messages to `f`, so `f` must be
    /// idempotent (mark-and-sweep stamps rows; a repeat stamps them again).
    pub fn run_consistent<E, F>(
        &mut self,
        kind: DumpKind,
        max_attempts: u32,
        f: &mut F,
    ) -> Result<DumpSummary, ReadError<E>>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
    {
        let attempts = max_attempts.max(1);
        for attempt in 1..=attempts {
            let mut s = self.run(kind, f)?;
            if !s.interrupted {
                s.attempts = attempt;
                return Ok(s);
            }
            if attempt < attempts {
                self.counters.retries += 1;
            }
        }
        Err(ReadError::Dump(DumpError::Interrupted { kind, attempts }))
    }

    /// Asks the kernel to resolve `addr` on `ifindex` (`RTM_NEWNEIGH` + `NTF_USE`) and waits
    /// for its ACK. The resulting neighbour state arrives later as a notification. Needs
    /// CAP_NET_ADMIN; refused while a dump is in flight (its replies would interleave).
    pub fn solicit_neigh4(&mut self, ifindex: u32, addr: [u8; 4]) -> Result<(), DumpError> {
        if let Some(d) = self.in_flight {
            return Err(DumpError::Busy {
                kind: d.kind,
                seq: d.seq,
            });
        }
        let seq = self.take_seq();
        let mut req = [0u8; MAX_REQUEST_LEN];
        let bytes =
            request::solicit_neigh4(ifindex, addr, seq, &mut req).map_err(DumpError::Encode)?;
        self.sock.send(bytes).map_err(DumpError::Io)?;
        self.await_ack(seq)
    }

    /// Reads until the `NLMSG_ERROR` that answers `seq` (errno 0 is the ACK).
    fn await_ack(&mut self, seq: u32) -> Result<(), DumpError> {
        let port = self.sock.port_id();
        loop {
            let got = match self.sock.recv(&mut self.buf) {
                Ok(got) => got,
                Err(RecvError::Interrupted) => continue,
                Err(RecvError::WouldBlock) if self.sock.mode() == Mode::NonBlocking => {
                    self.wait()?;
                    continue;
                }
                Err(RecvError::WouldBlock) => return Err(DumpError::Timeout),
                Err(RecvError::Overrun) => return Err(DumpError::Overrun),
                Err(RecvError::Truncated { len, capacity }) => {
                    return Err(DumpError::Truncated { len, capacity })
                }
                Err(RecvError::Io(e)) => return Err(DumpError::Io(e)),
            };
            if !got.from_kernel() {
                self.counters.foreign += 1;
                continue;
            }
            let mut rest = &self.buf[..got.len];
            while !rest.is_empty() {
                let (m, next) = wire::message(rest).map_err(DumpError::Malformed)?;
                rest = next;
                if m.pid != port || m.seq != seq || m.ty != NLMSG_ERROR {
                    self.counters.stale += 1;
                    continue;
                }
                let (errno, ext_ack) = error_payload(m.flags, m.payload);
                if errno == 0 {
                    self.counters.acks += 1;
                    return Ok(());
                }
                return Err(DumpError::Kernel {
                    during: None,
                    errno,
                    ext_ack,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{
        DoneMessage, ErrorMessage, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use std::num::NonZeroI32;

    const PORT: u32 = 4711;

    fn emit(
        ty_flags: u16,
        seq: u32,
        pid: u32,
        payload: NetlinkPayload<RouteNetlinkMessage>,
    ) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = ty_flags;
        header.sequence_number = seq;
        header.port_number = pid;
        let mut msg = NetlinkMessage::new(header, payload);
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    fn route(table: u32, dst: [u8; 4], len: u8) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.destination_prefix_length = len;
        r.header.table = u8::try_from(table).unwrap_or(252);
        r.attributes = vec![
            RouteAttribute::Table(table),
            RouteAttribute::Destination(RouteAddress::Inet(dst.into())),
        ];
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r))
    }

    fn done(code: i32, ext_ack: Vec<u8>) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut d = DoneMessage::default();
        d.code = code;
        d.extended_ack = ext_ack;
        NetlinkPayload::Done(d)
    }

    fn tlv(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    const MULTI: u16 = uapi::NLM_F_MULTI as u16;

    /// Feeds datagrams to a fresh dump; returns the final step, the messages handed over
    /// (decoded by the oracle) and the dump state.
    fn run_feed(
        kind: DumpKind,
        seq: u32,
        datagrams: &[Vec<u8>],
    ) -> (
        Step,
        Vec<NetlinkMessage<RouteNetlinkMessage>>,
        InFlight,
        DumpCounters,
    ) {
        let mut dump = InFlight::new(kind, seq);
        let mut counters = DumpCounters::default();
        let mut seen = Vec::new();
        let mut step = Step::More;
        for d in datagrams {
            step = feed(&mut dump, PORT, d, &mut counters, &mut |m: &[u8]| {
                // Zero-copy contract: each slice is exactly one message, from its nlmsghdr.
                let (h, rest) = wire::message(m).expect("walks");
                assert!(rest.is_empty() && h.payload.len() + NLMSG_HDRLEN == m.len());
                seen.push(NetlinkMessage::<RouteNetlinkMessage>::deserialize(m).expect("oracle"));
                Ok::<(), Infallible>(())
            })
            .unwrap();
            if !matches!(step, Step::More) {
                break;
            }
        }
        (step, seen, dump, counters)
    }

    #[test]
    fn netlink_dump_multipart_until_done() {
        let kind = DumpKind::Routes4 { table: 254 };
        let mut d1 = emit(MULTI, 8, PORT, route(254, [10, 0, 0, 0], 8));
        d1.extend(emit(MULTI, 8, PORT, route(254, [10, 1, 0, 0], 16)));
        let mut d2 = emit(MULTI, 8, PORT, route(254, [10, 2, 0, 0], 16));
        d2.extend(emit(MULTI, 8, PORT, done(0, vec![])));
        let (step, seen, dump, counters) = run_feed(kind, 8, &[d1, d2]);
        assert!(matches!(step, Step::Done), "{step:?}");
        assert_eq!(seen.len(), 3);
        assert_eq!(dump.messages, 3);
        assert!(!dump.interrupted);
        assert_eq!(counters.messages, 3);
        match &seen[2].payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                assert_eq!(r.header.destination_prefix_length, 16);
                assert!(r
                    .attributes
                    .contains(&RouteAttribute::Destination(RouteAddress::Inet(
                        [10, 2, 0, 0].into()
                    ))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn netlink_dump_skips_stale_foreign_and_other_tables() {
        let kind = DumpKind::Routes4 { table: 1000 };
        let mut d = emit(MULTI, 7, PORT, route(1000, [10, 9, 0, 0], 16)); // stale seq
        d.extend(emit(MULTI, 8, PORT + 1, route(1000, [10, 9, 0, 0], 16))); // other port
        d.extend(emit(MULTI, 8, PORT, route(254, [10, 9, 0, 0], 16))); // other table
                                                                       // A table above 255: rtm_table says COMPAT (252), RTA_TABLE says 1000 and wins.
        d.extend(emit(MULTI, 8, PORT, route(1000, [10, 8, 0, 0], 16)));
        d.extend(emit(MULTI, 8, PORT, done(0, vec![])));
        let (step, seen, dump, counters) = run_feed(kind, 8, &[d]);
        assert!(matches!(step, Step::Done));
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (counters.stale, counters.foreign, counters.filtered),
            (1, 1, 1)
        );
        assert_eq!(dump.filtered, 1);
    }

    #[test]
    fn netlink_dump_notes_interruption() {
        let intr = MULTI | NLM_F_DUMP_INTR;
        let mut d = emit(MULTI, 3, PORT, route(254, [10, 0, 0, 0], 8));
        d.extend(emit(intr, 3, PORT, route(254, [10, 1, 0, 0], 16)));
        d.extend(emit(intr, 3, PORT, done(0, vec![])));
        let (step, seen, dump, _) = run_feed(DumpKind::Routes4 { table: 254 }, 3, &[d]);
        assert!(matches!(step, Step::Done));
        assert_eq!(
            seen.len(),
            2,
            "messages of an interrupted dump are still handed over"
        );
        assert!(dump.interrupted);
    }

    #[test]
    fn netlink_dump_done_with_errno_and_ext_ack() {
        let text = b"ipv4: FIB table does not exist\0";
        let d = emit(
            MULTI | NLM_F_ACK_TLVS,
            5,
            PORT,
            done(-libc::ENOENT, tlv(NLMSGERR_ATTR_MSG, text)),
        );
        let kind = DumpKind::Routes4 { table: 4242 };
        let (step, seen, _, _) = run_feed(kind, 5, &[d]);
        assert!(seen.is_empty());
        let Step::Ended(e) = step else {
            panic!("{step:?}")
        };
        assert!(e.is_missing_table(), "{e:?}");
        assert_eq!(e.errno(), Some(libc::ENOENT));
        let DumpError::Kernel { ext_ack, .. } = &e else {
            panic!()
        };
        assert_eq!(ext_ack.message(), Some("ipv4: FIB table does not exist"));
        assert!(e.to_string().contains("FIB table does not exist"), "{e}");
        // The same errno on a link dump is a real failure.
        let d = emit(MULTI, 5, PORT, done(-libc::ENOENT, vec![]));
        let (step, _, _, _) = run_feed(DumpKind::Links, 5, &[d]);
        let Step::Ended(e) = step else { panic!() };
        assert!(!e.is_missing_table());
    }

    /// NLMSG_ERROR, as netlink-packet-core lays it out: errno, echoed request, then TLVs.
    fn error_msg(code: i32, echoed: &[u8], tlvs: &[u8], flags: u16, seq: u32) -> Vec<u8> {
        let mut e = ErrorMessage::default();
        e.code = NonZeroI32::new(code);
        let mut body = echoed.to_vec();
        body.extend_from_slice(tlvs);
        e.header = body;
        emit(flags, seq, PORT, NetlinkPayload::Error(e))
    }

    #[test]
    fn netlink_error_with_full_and_capped_echo() {
        let mut req = [0u8; MAX_REQUEST_LEN];
        let echoed = request::dump(DumpKind::Addrs4, 6, &mut req)
            .unwrap()
            .to_vec();
        let mut tlvs = tlv(
            NLMSGERR_ATTR_MSG,
            b"Invalid values in header for address dump request\0",
        );
        tlvs.extend(tlv(NLMSGERR_ATTR_OFFS, &20u32.to_ne_bytes()));
        // Uncapped: the whole 24-byte request is echoed before the TLVs.
        let full = error_msg(-libc::EINVAL, &echoed, &tlvs, NLM_F_ACK_TLVS, 6);
        // Capped: only its 16-byte header.
        let capped = error_msg(
            -libc::EINVAL,
            &echoed[..16],
            &tlvs,
            NLM_F_ACK_TLVS | NLM_F_CAPPED,
            6,
        );
        for d in [full, capped] {
            // The oracle agrees on the errno.
            let o = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&d).unwrap();
            let NetlinkPayload::Error(oe) = o.payload else {
                panic!()
            };
            assert_eq!(oe.raw_code(), -libc::EINVAL);
            let (step, _, _, _) = run_feed(DumpKind::Addrs4, 6, &[d]);
            let Step::Ended(DumpError::Kernel {
                during,
                errno,
                ext_ack,
            }) = step
            else {
                panic!("{step:?}")
            };
            assert_eq!(during, Some(DumpKind::Addrs4));
            assert_eq!(errno, libc::EINVAL);
            assert_eq!(
                ext_ack.message(),
                Some("Invalid values in header for address dump request")
            );
            assert_eq!(ext_ack.offset, Some(20));
        }
    }

    #[test]
    fn netlink_ack_is_not_an_error_and_long_texts_are_cut() {
        let mut d = error_msg(0, &[0u8; 16], &[], NLM_F_CAPPED, 2);
        d.extend(emit(MULTI, 2, PORT, done(0, vec![])));
        let (step, _, _, counters) = run_feed(DumpKind::Neigh4, 2, &[d]);
        assert!(matches!(step, Step::Done));
        assert_eq!(counters.acks, 1);

        let long = [b'x'; 300];
        let mut t = long.to_vec();
        t.push(0);
        let ack = ExtAck::parse(&tlv(NLMSGERR_ATTR_MSG, &t));
        assert_eq!(ack.message().map(str::len), Some(EXT_ACK_TEXT_MAX));
        // A multi-byte character cut in half is dropped, not turned into an error.
        let mut t = vec![b'a'; EXT_ACK_TEXT_MAX - 1];
        t.extend_from_slice("é\0".as_bytes());
        let ack = ExtAck::parse(&tlv(NLMSGERR_ATTR_MSG, &t));
        assert_eq!(ack.message().map(str::len), Some(EXT_ACK_TEXT_MAX - 1));
    }

    #[test]
    fn netlink_dump_malformed_and_callback_errors() {
        let mut d = emit(MULTI, 4, PORT, route(254, [10, 0, 0, 0], 8));
        let good = d.len();
        d.extend(emit(MULTI, 4, PORT, route(254, [10, 1, 0, 0], 16)));
        // Break the second message's length: it claims more than the datagram holds.
        d[good..good + 4].copy_from_slice(&4096u32.to_ne_bytes());
        let (step, seen, _, _) = run_feed(DumpKind::Routes4 { table: 254 }, 4, &[d.clone()]);
        assert!(matches!(step, Step::Broken(ParseError::Truncated { .. })));
        assert_eq!(seen.len(), 1);

        let mut dump = InFlight::new(DumpKind::Routes4 { table: 254 }, 4);
        let mut counters = DumpCounters::default();
        let r = feed(&mut dump, PORT, &d, &mut counters, &mut |_: &[u8]| {
            Err("table full")
        });
        assert_eq!(r.unwrap_err(), "table full");

        // Discarding: the callback is not called at all.
        dump.discarding = true;
        let r = feed(
            &mut dump,
            PORT,
            &d[..good],
            &mut counters,
            &mut |_: &[u8]| Err("called"),
        );
        assert!(matches!(r, Ok(Step::More)));
    }

    #[test]
    fn netlink_error_payload_edge_cases_do_not_panic() {
        assert_eq!(error_payload(0, &[]).0, libc::EBADMSG);
        assert_eq!(done_payload(0, &[]).0, 0);
        // Claims TLVs and an echoed request longer than the payload.
        let mut p = (-1i32).to_ne_bytes().to_vec();
        p.extend_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(error_payload(NLM_F_ACK_TLVS, &p).0, 1);
        assert_eq!(error_payload(NLM_F_ACK_TLVS, &p[..6]).0, 1);
        assert_eq!(done_payload(NLM_F_ACK_TLVS, &p).1.message(), None);
        assert_eq!(route_table(&[2, 0]), None);
    }

    proptest::proptest! {
        #[test]
        fn netlink_dump_feed_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512), seq in 0u32..4) {
            for kind in [DumpKind::Links, DumpKind::Routes4 { table: 254 }] {
                let mut dump = InFlight::new(kind, seq);
                let mut counters = DumpCounters::default();
                let _ = feed(&mut dump, 0, &bytes, &mut counters, &mut |m: &[u8]| {
                    assert!(m.len() >= NLMSG_HDRLEN);
                    Ok::<(), ()>(())
                });
            }
            let _ = error_payload(NLM_F_ACK_TLVS, &bytes);
            let _ = error_payload(NLM_F_ACK_TLVS | NLM_F_CAPPED, &bytes);
            let _ = done_payload(NLM_F_ACK_TLVS, &bytes);
            let _ = route_table(&bytes);
        }
    }
}
