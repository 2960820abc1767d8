//! IPv4 longest-prefix-match tables in shared memory: one writer process (the netlink tile),
//! lock-free readers (net tiles) that map the table read-only.
//!
//! # Parts (placed by [`lpm_layout`](super::geometry::lpm_layout))
//!
//! * **Next-hop slots**: sequence-locked slots holding next-hop rows `N` (the tile passes the
//!   generated `Route4` with its prefix fields zeroed). Routes share a slot per distinct
//!   `(row, prefix length)`: the *next-hop id* (1..=0x7ffe) that index entries carry.
//! * **Route list**: one sequence-locked slot per route (address, length, active flag,
//!   next-hop id) for inspection ([`Fib4Reader::routes`]); lookups never read it.
//! * **Two small arrays** (small mode): the prefixes sorted longest first, scanned linearly;
//!   double-buffered behind the header's `MODE` word.
//! * **DIR-24-8 index** (tables of more than `LPM_SMALL_LIMIT` routes): tbl24, one 16-bit entry
//!   per /24, and groups of 256 entries for /24s holding longer prefixes. The first few groups
//!   are reserved: they hold the prefix length of every next-hop id (two per entry: an index
//!   entry has room for the id only, and a lookup returns the matched length), then one cell
//!   with the /0 route's value — entries covered by nothing longer hold "no route" and readers
//!   fall back to that cell, so a host's default route changes with one store instead of 2^24.
//!
//! Refinements of the geometry's parts (same offsets and sizes): the route list's padding byte
//! carries the "active" flag; the small arrays' header word holds the entry count; the reserved
//! groups above.
//!
//! # Modes
//!
//! `MODE` (see [`mode`]) tells readers which representation to use. A table with an index
//! keeps the index current at all times and uses a small array while it has at most 64
//! prefixes: above that it flips `MODE` to the index (nothing to build at that point), and it
//! returns to a small array at 48 prefixes or fewer (hysteresis). A table without an index
//! always uses a small array; with more than 64 prefixes it cannot answer and every lookup
//! says `Incomplete` until it shrinks.
//!
//! # Using it
//!
//! The writer (the netlink tile) creates the table ([`Fib4Writer::create`]) or takes it over
//! after a restart ([`Fib4Writer::attach`]), applies route changes with
//! [`insert`](Fib4Writer::insert) / [`remove`](Fib4Writer::remove), and calls
//! [`maintain`](Fib4Writer::maintain) after each batch and on every housekeeping tick. A net
//! tile attaches a [`Fib4Reader`] to its read-only mapping, announces a quiescent state
//! ([`Fib4Reader::qsbr`]) once per poll-loop iteration, and looks its packets up with
//! [`lookup`](Fib4Reader::lookup) or, for a burst, [`lookup_burst`](Fib4Reader::lookup_burst);
//! [`lookup_chain`] walks `local` then `main`, [`lookup_chain_burst`] does so for a burst (the
//! net tile routes each batch of datagrams with one).
//!
//! # Consistency for readers
//!
//! Every published word replaces a complete old value by a complete new one, and anything a
//! word points to is complete before the word is stored (release/acquire, see
//! [`levels`]); memory a reader may still be using is reused only after every reader passed a
//! quiescent point ([`crate::sync::qsbr`]). So a registered reader gets, for every address,
//! the answer of the table before or after each change — never a transient miss for a prefix
//! that is not being changed, never a next hop of another route.
//!
//! # Full tables
//!
//! A route that does not fit (route list full, next-hop ids exhausted) is kept by the writer
//! and its addresses publish `MARKER`: lookups answer [`Lookup::Incomplete`], and the header's
//! `stat::INCOMPLETE` is non-zero ([`Fib4Reader::incomplete`]). A /24 that needs a group when
//! none is free answers `Incomplete` as a whole. [`Fib4Writer::maintain`] completes them once
//! there is room.

mod chain;
mod dir24;
mod encoding;
mod error;
mod fasthash;
pub mod levels;
pub mod mode;
mod nexthops;
mod parts;
mod reader;
mod rib;
mod routelist;
mod small;
#[cfg(test)]
mod tests;
mod writer;

pub use chain::{lookup_chain, lookup_chain_burst, ChainResult};
pub use encoding::{GROUP_BIT, MARKER, MAX_NEXTHOP_ID, NO_ROUTE};
pub use error::FibError;
pub use levels::{Cell16, Levels};
pub use reader::Fib4Reader;
pub use writer::{Backlog, Fib4Writer, Usage, SMALL_RETURN};

/// The answer to a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<N> {
    /// The longest matching prefix has `prefix_len` bits and this next-hop row.
    Hit { nexthop: N, prefix_len: u8 },
    /// No route covers the address.
    Miss,
    /// A route covering the address could not be stored: the table cannot answer.
    Incomplete,
    /// The next hop stayed mid-write for every attempt (a writer that died in it).
    Busy,
}

/// A route as a reader lists it ([`Fib4Reader::routes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedRoute<N> {
    pub prefix: u32,
    pub len: u8,
    pub nexthop: N,
    /// The route is the one in use for its prefix (lowest metric).
    pub active: bool,
}

/// A route as the writer holds it ([`Fib4Writer::routes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterRoute<N> {
    pub prefix: u32,
    pub len: u8,
    /// `None` for a route adopted from a previous writer and not re-inserted since.
    pub metric: Option<u32>,
    pub nexthop: N,
    /// In the shared route list (false: refused for lack of room, retried by `maintain`).
    pub listed: bool,
    pub active: bool,
}
