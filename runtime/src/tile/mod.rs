//! The generic tile: the shared-memory objects every tile publishes (status, metrics) and the
//! poll loop that drives a tile's work, in the style of Firedancer's stem.
//!
//! A tile is one process. It owns a private workspace `tile.<name>.<i>` holding its status
//! object ([`status`]) and its metrics object ([`metrics`]); the supervisor and `netbase
//! metrics` map that workspace read-only. The loop ([`run_loop`]) polls the tile, runs its
//! housekeeping on a fixed period, and keeps the status words (state, heartbeat, iterations,
//! quiescent epoch) current, so that every tile kind gets supervision and QSBR participation
//! without writing any of it.

pub mod guests;
pub mod metrics;
pub mod run_loop;
pub mod status;

pub use guests::{GuestSlot, GuestSlots, GUEST_READERS_BYTES, GUEST_SLOTS};
pub use metrics::{MetricDef, MetricKind, MetricsReader, MetricsWriter, METRIC_SLOTS};
pub use run_loop::{run, LoopConfig, LoopExit, Tile, TileContext, TileError};
pub use status::{monotonic_ns, StatusSnapshot, TileState, TileStatus};

use std::fmt;

/// A status or metrics object that cannot be used as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// The region is smaller than the object's layout.
    TooSmall { needed: usize, found: usize },
    /// A writer was asked for over a read-only mapping (every store would fault).
    ReadOnly,
    /// A metric schema that cannot be laid out (too many counters, bad or repeated names).
    BadSchema(String),
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::TooSmall { needed, found } => {
                write!(f, "object is {found} bytes, the layout needs {needed}")
            }
            ObjectError::ReadOnly => write!(f, "object is mapped read-only"),
            ObjectError::BadSchema(why) => write!(f, "invalid metric schema: {why}"),
        }
    }
}

impl std::error::Error for ObjectError {}
