//! AF_XDP sockets: packet I/O through a UMEM shared with the kernel, without a copy per
//! packet into or out of socket buffers.
//!
//! An [`XskSocket`] owns everything: the UMEM (an anonymous mapping of `frame_count` frames of
//! `frame_size` bytes, registered with `XDP_UMEM_REG`), the four rings (fill and completion
//! for the UMEM, RX and TX for the socket, each mapped from the socket at its `XDP_PGOFF_*`
//! offset) and the socket itself, bound to one queue of one interface. Received frames reach
//! it only through an XDP program that redirects them into an `XSKMAP` holding
//! [`XskSocket::fd`]; sending needs no program.
//!
//! Frames are split at open: half receive (they start in the fill ring), half send (a free
//! list). [`XskSocket::rx_batch`] lends each received frame to a closure and recycles it to
//! the fill ring; [`XskSocket::tx_send`] lets a closure build a frame in place, and
//! [`XskSocket::tx_flush`] hands the queued frames to the kernel. Completed TX frames return
//! to the free list through [`XskSocket::reclaim`] (which `tx_send` also calls when the list
//! runs dry). Nothing blocks.
//!
//! Everything the kernel writes into shared memory is untrusted: ring indices that cannot be
//! right are ignored (see `ring`), and a descriptor is used only if it names a frame the
//! kernel holds for that direction and its bytes lie inside that frame (see `frames`);
//! others are counted in [`XskCounters::bad_descriptors`].
//!
//! Zero-copy binding fails on devices without driver support (veth among them, with
//! `EOPNOTSUPP`); [`BindMode::Auto`] then falls back to copy mode and records the error in
//! [`XskSocket::zero_copy_fallback_errno`] for the caller to log.

mod attach;
mod config;
mod frames;
mod mmap;
mod report;
mod ring;
mod sys;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use netbase_uapi::linux::{
    xdp_desc, xdp_statistics, XDP_COPY, XDP_STATISTICS, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY,
};

use attach::{attach, Attached};
use frames::Frames;
use mmap::Mapping;
use ring::{ConsRing, ProdRing};

pub use attach::XskOpenError;
pub use config::{BindMode, XskConfig};
pub use report::{TxError, XskCounters, XskStats};

/// An AF_XDP socket bound to one queue, with its UMEM and rings.
pub struct XskSocket {
    // Drop order: rings unmapped, then the socket closed, then the UMEM unmapped.
    rx: ConsRing<xdp_desc>,
    tx: ProdRing<xdp_desc>,
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
    fd: OwnedFd,
    umem: Mapping,
    frames: Frames,
    need_wakeup: bool,
    zero_copy: bool,
    zero_copy_fallback_errno: Option<i32>,
    counters: XskCounters,
}

// The net tile opens its socket on one thread and may hand it to another.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<XskSocket>();
};

impl fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("zero_copy", &self.zero_copy)
            .field("frame_size", &self.frames.frame_size())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl XskSocket {
    /// Opens a socket on queue `queue` of interface `ifindex` (in the calling thread's network
    /// namespace). Errors carry the failing step (an [`XskOpenError`] inside the `io::Error`).
    pub fn open(ifindex: u32, queue: u32, cfg: &XskConfig) -> io::Result<XskSocket> {
        let fail = |(step, source): (&'static str, io::Error)| {
            io::Error::new(
                source.kind(),
                XskOpenError {
                    step,
                    ifindex,
                    queue,
                    source,
                },
            )
        };
        cfg.validate()?;
        let umem_len = (cfg.frame_count as usize)
            .checked_mul(cfg.frame_size as usize)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "AF_XDP UMEM size overflows")
            })?;
        let umem = Mapping::anonymous(umem_len).map_err(|e| fail(("UMEM mmap", e)))?;
        let mut frames = Frames::new(cfg.frame_count, cfg.frame_size);
        let wakeup = if cfg.need_wakeup {
            XDP_USE_NEED_WAKEUP as u16
        } else {
            0
        };
        let attempt = |mode: u32| attach(&umem, cfg, ifindex, queue, mode as u16 | wakeup);
        let (att, zero_copy_fallback_errno) = match cfg.mode {
            BindMode::Copy => (attempt(XDP_COPY).map_err(fail)?, None),
            BindMode::ZeroCopy => (attempt(XDP_ZEROCOPY).map_err(fail)?, None),
            BindMode::Auto => match attempt(XDP_ZEROCOPY) {
                Ok(att) => (att, None),
                Err((_, zc)) => {
                    let errno = zc.raw_os_error().unwrap_or(0);
                    (attempt(XDP_COPY).map_err(fail)?, Some(errno))
                }
            },
        };
        let Attached {
            rx,
            tx,
            mut fill,
            comp,
            fd,
            zero_copy,
        } = att;
        frames.refill(|addr| fill.push(addr));
        fill.publish();
        Ok(XskSocket {
            rx,
            tx,
            fill,
            comp,
            fd,
            umem,
            frames,
            need_wakeup: cfg.need_wakeup,
            zero_copy,
            zero_copy_fallback_errno,
            counters: XskCounters::default(),
        })
    }

    /// The socket descriptor, to store in an `XSKMAP`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the kernel bound the socket in zero-copy mode (`XDP_OPTIONS`).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// With [`BindMode::Auto`], the errno of the failed zero-copy bind before falling back to
    /// copy mode (`EOPNOTSUPP` on veth); `None` when no fallback happened.
    pub fn zero_copy_fallback_errno(&self) -> Option<i32> {
        self.zero_copy_fallback_errno
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> usize {
        self.frames.frame_size() as usize
    }

    /// TX frames free for `tx_send` right now (without reclaiming).
    pub fn tx_free_frames(&self) -> usize {
        self.frames.tx_free()
    }

    /// Receives up to `max` frames; calls `f(frame)` for each (the slice is valid only during
    /// the call), then recycles the frames to the fill ring. Returns the number received.
    /// Never blocks. Refills the fill ring and kicks (recvfrom) when the kernel asks.
    pub fn rx_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let umem = &self.umem;
        let frames = &mut self.frames;
        let mut delivered = 0u64;
        let mut bad = 0u64;
        self.rx.consume(max, |d| {
            if !frames.rx_claim(d.addr) {
                bad += 1;
                return;
            }
            let Some(range) = frames.range_in_frame(d.addr, d.len) else {
                bad += 1;
                return;
            };
            // SAFETY: `range` lies inside one frame of the UMEM (`range_in_frame` checked it
            // against the frame count and size, and the mapping holds frame_count * frame_size
            // bytes). The frame was in the kernel's hands for RX and came back through the RX
            // ring (Acquire load of its producer index), so the kernel's writes to it happened
            // before; it is ours until the fill ring gets it back, which is after `f` returns.
            // No `&mut` to UMEM bytes exists meanwhile (tx_send needs `&mut self`). The frame
            // table rules out TX frames and duplicates; what it cannot rule out is a kernel
            // that names a frame still waiting in the fill ring, i.e. a kernel that breaks the
            // AF_XDP protocol it defines.
            let frame =
                unsafe { std::slice::from_raw_parts(umem.as_ptr().add(range.start), range.len()) };
            f(frame);
            delivered += 1;
        });
        self.counters.rx_frames += delivered;
        self.counters.bad_descriptors += bad;
        self.refill();
        delivered as usize
    }

    /// Moves stashed RX frames into the fill ring and wakes the kernel if it asked.
    fn refill(&mut self) {
        if self.frames.stashed() > 0 {
            let fill = &mut self.fill;
            if self.frames.refill(|addr| fill.push(addr)) > 0 {
                fill.publish();
            }
        }
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.kick(sys::kick_rx);
        }
    }

    /// Builds one frame in a free TX frame: `build(buf)` writes into `buf` (frame_size bytes)
    /// and returns the length (0 = cancel). `Err(TxError::Full)` when no frame or TX slot is
    /// free. Queued frames go out on [`XskSocket::tx_flush`]. A builder that panics loses its
    /// frame for the socket's lifetime.
    pub fn tx_send(&mut self, build: impl FnOnce(&mut [u8]) -> usize) -> Result<(), TxError> {
        if self.tx.free(1) == 0 {
            self.counters.tx_full += 1;
            return Err(TxError::Full);
        }
        let addr = match self.frames.tx_take() {
            Some(a) => a,
            None => {
                self.reclaim();
                match self.frames.tx_take() {
                    Some(a) => a,
                    None => {
                        self.counters.tx_full += 1;
                        return Err(TxError::Full);
                    }
                }
            }
        };
        let frame_size = self.frame_size();
        let start = usize::try_from(addr).unwrap_or(usize::MAX);
        debug_assert!(start <= self.umem.len() - frame_size);
        // SAFETY: `addr` is the start of a frame from our own free list (frame index below
        // frame_count, so `start + frame_size` <= the UMEM length). The frame is in state
        // TxBuilding: the kernel gave it back through the completion ring (or never had it),
        // nothing else refers to it, and `&mut self` keeps rx_batch from lending any slice
        // while `buf` lives.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.umem.as_ptr().add(start), frame_size) };
        let len = build(buf);
        if len == 0 {
            self.frames.tx_cancel(addr);
            return Err(TxError::Cancelled);
        }
        if len > frame_size {
            self.frames.tx_cancel(addr);
            return Err(TxError::TooLong { len, frame_size });
        }
        let queued = self.tx.push(xdp_desc {
            addr,
            len: len as u32,
            options: 0,
        });
        debug_assert!(queued, "free slot checked above");
        if queued {
            self.frames.tx_commit(addr);
            self.counters.tx_frames += 1;
            Ok(())
        } else {
            self.frames.tx_cancel(addr);
            self.counters.tx_full += 1;
            Err(TxError::Full)
        }
    }

    /// Publishes queued frames and wakes the kernel when it needs it (always without
    /// `need_wakeup`; in copy mode the kernel sends at most a small batch per wakeup, so keep
    /// calling while frames are in flight). EAGAIN / ENOBUFS / EBUSY are not errors: the
    /// frames stay queued for the next flush.
    pub fn tx_flush(&mut self) -> io::Result<()> {
        self.tx.publish();
        if self.tx.in_flight() == 0 {
            return Ok(());
        }
        if !self.need_wakeup || self.tx.needs_wakeup() {
            self.counters.kicks += 1;
            if let Err(e) = sys::kick_tx(self.fd.as_raw_fd()) {
                if !transient(&e) {
                    self.counters.kick_errors += 1;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn kick(&mut self, call: fn(RawFd) -> io::Result<()>) {
        self.counters.kicks += 1;
        if let Err(e) = call(self.fd.as_raw_fd()) {
            if !transient(&e) {
                self.counters.kick_errors += 1;
            }
        }
    }

    /// Drains the completion ring into the TX free list; returns the frames reclaimed.
    pub fn reclaim(&mut self) -> usize {
        let frames = &mut self.frames;
        let mut good = 0u64;
        let mut bad = 0u64;
        self.comp.consume(u32::MAX, |addr| {
            if frames.tx_complete(addr) {
                good += 1;
            } else {
                bad += 1;
            }
        });
        self.counters.tx_completed += good;
        self.counters.bad_descriptors += bad;
        good as usize
    }

    /// The kernel's counters (`XDP_STATISTICS`); fields an older kernel lacks read 0.
    pub fn stats(&self) -> io::Result<XskStats> {
        let (s, _) = sys::get::<xdp_statistics>(self.fd.as_raw_fd(), XDP_STATISTICS)?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    /// Our own counters.
    pub fn counters(&self) -> XskCounters {
        self.counters
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Wakeup errors that only mean "not now".
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOBUFS | libc::EBUSY)
    )
}
