//! The `MODE` header word of an LPM table: which representation readers use.

/// Bit 0: the small array readers scan (small mode).
pub const SMALL_ARRAY: u64 = 1;
/// Bit 1: readers use the DIR-24-8 index instead of a small array.
pub const INDEX: u64 = 1 << 1;
/// Bit 2: the table holds prefixes no representation can show (a table without an index and
/// more prefixes than a small array): every lookup answers "incomplete".
pub const OVERFLOW: u64 = 1 << 2;
