//! Socket configuration: ring and UMEM geometry, bind mode, and its validation.

use std::io;

use super::mmap::page_size;

/// The smallest UMEM chunk the kernel accepts (`XDP_UMEM_MIN_CHUNK_SIZE`).
const MIN_FRAME_SIZE: u32 = 2048;

/// How to bind: the kernel copies packets between its buffers and the UMEM, or the driver
/// DMAs straight into the UMEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// `XDP_COPY`: works on every device.
    Copy,
    /// `XDP_ZEROCOPY`: fails where the driver lacks support.
    ZeroCopy,
    /// Zero-copy if the device supports it, else copy (the error is kept, see
    /// [`XskSocket::zero_copy_fallback_errno`](super::XskSocket::zero_copy_fallback_errno)).
    Auto,
}

/// Geometry and behaviour of a socket. Every size must be a power of two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XskConfig {
    /// Frames in the UMEM; half receive, half send.
    pub frame_count: u32,
    /// Bytes per frame: a power of two from 2048 to the page size. In copy mode the kernel
    /// keeps 256 bytes of headroom in each RX frame.
    pub frame_size: u32,
    /// RX ring slots.
    pub rx_size: u32,
    /// TX ring slots.
    pub tx_size: u32,
    /// Fill ring slots (room for all RX frames avoids holding any back).
    pub fill_size: u32,
    /// Completion ring slots.
    pub comp_size: u32,
    pub mode: BindMode,
    /// Bind with `XDP_USE_NEED_WAKEUP`: the kernel says when it needs a syscall to make
    /// progress, instead of us making one on every flush.
    pub need_wakeup: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_count: 4096,
            frame_size: 2048,
            rx_size: 2048,
            tx_size: 2048,
            fill_size: 2048,
            comp_size: 2048,
            mode: BindMode::Auto,
            need_wakeup: true,
        }
    }
}

impl XskConfig {
    pub(super) fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let page = u32::try_from(page_size()).unwrap_or(u32::MAX);
        if !self.frame_size.is_power_of_two()
            || self.frame_size < MIN_FRAME_SIZE
            || self.frame_size > page
        {
            return bad(format!(
                "AF_XDP frame_size {} must be a power of two from {MIN_FRAME_SIZE} to the page size {page}",
                self.frame_size
            ));
        }
        if self.frame_count < 2 {
            return bad(format!(
                "AF_XDP frame_count {} leaves no frame for RX or TX",
                self.frame_count
            ));
        }
        for (name, v) in [
            ("rx_size", self.rx_size),
            ("tx_size", self.tx_size),
            ("fill_size", self.fill_size),
            ("comp_size", self.comp_size),
        ] {
            if !v.is_power_of_two() {
                return bad(format!("AF_XDP {name} {v} is not a power of two"));
            }
        }
        Ok(())
    }
}
