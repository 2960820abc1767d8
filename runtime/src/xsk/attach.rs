//! Opening a socket: register the UMEM, set up and map the rings, bind.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use netbase_uapi::linux::{
    xdp_desc, xdp_mmap_offsets, xdp_options, xdp_ring_offset, XDP_MMAP_OFFSETS, XDP_OPTIONS,
    XDP_OPTIONS_ZEROCOPY, XDP_PGOFF_RX_RING, XDP_PGOFF_TX_RING, XDP_RX_RING, XDP_TX_RING,
    XDP_UMEM_COMPLETION_RING, XDP_UMEM_FILL_RING, XDP_UMEM_PGOFF_COMPLETION_RING,
    XDP_UMEM_PGOFF_FILL_RING, XDP_UMEM_REG, XDP_ZEROCOPY,
};

use super::mmap::Mapping;
use super::ring::{ConsRing, ProdRing};
use super::sys;
use super::XskConfig;

/// An open error: the step that failed, where, and the system error.
#[derive(Debug)]
pub struct XskOpenError {
    pub step: &'static str,
    pub ifindex: u32,
    pub queue: u32,
    pub source: io::Error,
}

impl fmt::Display for XskOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AF_XDP socket on ifindex {} queue {}: {} failed: {}",
            self.ifindex, self.queue, self.step, self.source
        )?;
        if self.source.raw_os_error() == Some(libc::ENODEV) {
            f.write_str(" (no interface with that index in this network namespace)")?;
        }
        Ok(())
    }
}

impl std::error::Error for XskOpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The kernel objects of one bind attempt.
pub(super) struct Attached {
    // Declaration order is drop order: the ring mappings go before the socket closes.
    pub(super) rx: ConsRing<xdp_desc>,
    pub(super) tx: ProdRing<xdp_desc>,
    pub(super) fill: ProdRing<u64>,
    pub(super) comp: ConsRing<u64>,
    pub(super) fd: OwnedFd,
    pub(super) zero_copy: bool,
}

pub(super) type StepResult<T> = Result<T, (&'static str, io::Error)>;

/// Creates a socket, registers `umem` with it, sets up and maps the four rings and binds with
/// `flags`. On failure everything made so far is released (drops) and the failing step named.
pub(super) fn attach(
    umem: &Mapping,
    cfg: &XskConfig,
    ifindex: u32,
    queue: u32,
    flags: u16,
) -> StepResult<Attached> {
    let fd = sys::socket().map_err(|e| ("socket(AF_XDP)", e))?;
    let raw = fd.as_raw_fd();
    let reg = sys::UmemReg {
        addr: umem.as_ptr() as u64,
        len: u64::from(cfg.frame_count) * u64::from(cfg.frame_size),
        chunk_size: cfg.frame_size,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    sys::set(raw, XDP_UMEM_REG, &reg).map_err(|e| ("XDP_UMEM_REG", e))?;
    sys::set(raw, XDP_UMEM_FILL_RING, &cfg.fill_size).map_err(|e| ("XDP_UMEM_FILL_RING", e))?;
    sys::set(raw, XDP_UMEM_COMPLETION_RING, &cfg.comp_size)
        .map_err(|e| ("XDP_UMEM_COMPLETION_RING", e))?;
    sys::set(raw, XDP_RX_RING, &cfg.rx_size).map_err(|e| ("XDP_RX_RING", e))?;
    sys::set(raw, XDP_TX_RING, &cfg.tx_size).map_err(|e| ("XDP_TX_RING", e))?;
    let (off, len) =
        sys::get::<xdp_mmap_offsets>(raw, XDP_MMAP_OFFSETS).map_err(|e| ("XDP_MMAP_OFFSETS", e))?;
    if len != std::mem::size_of::<xdp_mmap_offsets>() {
        // Kernels before 5.4 lack the flags word, which need_wakeup relies on.
        return Err((
            "XDP_MMAP_OFFSETS",
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("kernel returned {len} bytes of ring offsets (too old)"),
            ),
        ));
    }
    let map = |off: &xdp_ring_offset, size: u32, desc: usize, pgoff: u64| {
        let len = usize::try_from(off.desc)
            .ok()
            .and_then(|d| d.checked_add(size as usize * desc))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "ring offset overflows"))?;
        Mapping::socket_ring(raw, len, pgoff)
    };
    let desc = std::mem::size_of::<xdp_desc>();
    let addr = std::mem::size_of::<u64>();
    let rx = map(&off.rx, cfg.rx_size, desc, u64::from(XDP_PGOFF_RX_RING))
        .and_then(|m| ConsRing::new(m, &off.rx, cfg.rx_size))
        .map_err(|e| ("mmap RX ring", e))?;
    let tx = map(&off.tx, cfg.tx_size, desc, u64::from(XDP_PGOFF_TX_RING))
        .and_then(|m| ProdRing::new(m, &off.tx, cfg.tx_size))
        .map_err(|e| ("mmap TX ring", e))?;
    let fill = map(&off.fr, cfg.fill_size, addr, XDP_UMEM_PGOFF_FILL_RING)
        .and_then(|m| ProdRing::new(m, &off.fr, cfg.fill_size))
        .map_err(|e| ("mmap fill ring", e))?;
    let comp = map(&off.cr, cfg.comp_size, addr, XDP_UMEM_PGOFF_COMPLETION_RING)
        .and_then(|m| ConsRing::new(m, &off.cr, cfg.comp_size))
        .map_err(|e| ("mmap completion ring", e))?;
    let step = if flags & XDP_ZEROCOPY as u16 != 0 {
        "bind (zero-copy)"
    } else {
        "bind (copy mode)"
    };
    sys::bind(raw, ifindex, queue, flags).map_err(|e| (step, e))?;
    let (opts, _) = sys::get::<xdp_options>(raw, XDP_OPTIONS).map_err(|e| ("XDP_OPTIONS", e))?;
    Ok(Attached {
        rx,
        tx,
        fill,
        comp,
        fd,
        zero_copy: opts.flags & XDP_OPTIONS_ZEROCOPY != 0,
    })
}
