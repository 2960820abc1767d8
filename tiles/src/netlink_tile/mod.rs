//! The netlink tile: the single writer of the netbase tables. It mirrors the kernel's
//! interfaces, IPv4 addresses, IPv4 routes (tables `local` and `main`) and IPv4 neighbours
//! into the shared-memory tables that net tiles read.
//!
//! * [`mirror`]: the five table writers over one tables workspace ([`NetbaseWriter`]).
//! * [`apply`]: one rtnetlink message into the tables ([`Mirror::apply`]).
//! * [`sweep`]: the generation stamps of mark-and-sweep resyncs.
//! * [`sync`]: sockets and the sync state machine, driven in bounded steps ([`NetlinkSync`]).
//! * [`diff`]: kernel rows against mirrored rows (also behind `netbase diff`).

pub mod apply;
pub mod counters;
pub mod diff;
pub mod mirror;
pub mod readers;
pub mod solicit_service;
pub mod sweep;
pub mod sync;

pub use apply::{Effect, Mirror, Origin};
pub use counters::Counters;
pub use diff::{Mismatch, RouteKey, Snapshot};
pub use mirror::{NetbaseWriter, TableRegions};
pub use readers::ReaderWords;
pub use sync::{NetlinkSync, StepResult, SyncOptions};

/// CLOCK_MONOTONIC in nanoseconds: the clock net tiles compare `updated_ns` against (they run
/// in other processes, so a process-relative `Instant` would mean nothing to them).
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // The monotonic clock is never negative; saturate rather than wrap if it ever were.
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}
