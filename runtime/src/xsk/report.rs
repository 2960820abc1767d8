//! What the socket reports: send errors, the kernel's statistics and our own counters.

use std::fmt;

/// Why [`XskSocket::tx_send`](super::XskSocket::tx_send) queued nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// No free TX frame or no free TX ring slot: flush, reclaim, retry later.
    Full,
    /// The builder returned 0.
    Cancelled,
    /// The builder returned more than the frame holds (a bug in the builder).
    TooLong { len: usize, frame_size: usize },
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::Full => f.write_str("no free AF_XDP TX frame or ring slot"),
            TxError::Cancelled => f.write_str("frame builder cancelled"),
            TxError::TooLong { len, frame_size } => {
                write!(
                    f,
                    "frame builder returned {len} bytes for a {frame_size}-byte frame"
                )
            }
        }
    }
}

impl std::error::Error for TxError {}

/// The kernel's counters for the socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Dropped for reasons other than an invalid descriptor (e.g. the frame was too big).
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    /// Dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a packet arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty.
    pub tx_ring_empty_descs: u64,
}

/// Our own counters (the kernel cannot see these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskCounters {
    /// Frames handed to `rx_batch` closures.
    pub rx_frames: u64,
    /// Frames queued on the TX ring by `tx_send`.
    pub tx_frames: u64,
    /// TX frames the kernel reported complete.
    pub tx_completed: u64,
    /// `tx_send` calls that returned [`TxError::Full`].
    pub tx_full: u64,
    /// RX or completion descriptors rejected (unknown frame, wrong owner, out of bounds).
    pub bad_descriptors: u64,
    /// Wakeup syscalls made (TX `sendto`, RX `recvfrom`).
    pub kicks: u64,
    /// Wakeups that failed with something other than EAGAIN / ENOBUFS / EBUSY.
    pub kick_errors: u64,
}
