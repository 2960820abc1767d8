//! Looking an address up through several tables in rule order (`local`, then `main`), with the
//! kernel's `throw` semantics.
//!
//! The kernel's policy routing walks its rules in priority order; a rule pointing at a table
//! that has no route for the address, or whose longest match is a `throw` route, does not
//! decide: the walk continues with the next rule. When no table decides, the lookup fails with
//! `ENETUNREACH` ([`ChainResult::Unreachable`]). A `throw` only ends the search *in its
//! table*: shorter prefixes of that table are not consulted. Any other hit decides, whatever
//! its route type (`blackhole`, `unreachable`, `prohibit` are answers the caller acts on).
//!
//! A table that cannot answer for the address (`Incomplete`, `Busy`) stops the walk: the
//! correct answer might be in it, so going on to the next table could pick a wrong route.
//!
//! [`lookup_chain_burst`] gives the same answers for a batch of addresses, each table walked
//! with one [`Fib4Reader::lookup_burst`] over the addresses still undecided: on large tables
//! the first-level cache misses of a whole batch overlap, where single calls take them about
//! one after another.

use super::reader::Fib4Reader;
use super::Lookup;
use crate::SharedRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainResult<N> {
    /// Table `table` (index into the slice) decided with this route.
    Hit {
        table: usize,
        nexthop: N,
        prefix_len: u8,
    },
    /// No table decided: no route to host (kernel: `ENETUNREACH`).
    Unreachable,
    /// Table `table` is missing routes covering the address.
    Incomplete { table: usize },
    /// Table `table` had a next hop mid-write for every attempt (its writer died in it).
    Busy { table: usize },
}

/// Looks `addr` up in `tables` in order; `is_throw` tells a `throw` route's next-hop row.
pub fn lookup_chain<N: SharedRow + Copy>(
    addr: u32,
    tables: &[&Fib4Reader<'_, N>],
    is_throw: impl Fn(&N) -> bool,
) -> ChainResult<N> {
    for (table, t) in tables.iter().enumerate() {
        if let Some(decided) = decide(table, t.lookup(addr), &is_throw) {
            return decided;
        }
    }
    ChainResult::Unreachable
}

/// What table `table`'s answer means for the walk: `None` goes on to the next table.
#[inline(always)]
fn decide<N>(
    table: usize,
    answer: Lookup<N>,
    is_throw: &impl Fn(&N) -> bool,
) -> Option<ChainResult<N>> {
    match answer {
        Lookup::Hit {
            nexthop,
            prefix_len,
        } if !is_throw(&nexthop) => Some(ChainResult::Hit {
            table,
            nexthop,
            prefix_len,
        }),
        Lookup::Hit { .. } | Lookup::Miss => None,
        Lookup::Incomplete => Some(ChainResult::Incomplete { table }),
        Lookup::Busy => Some(ChainResult::Busy { table }),
    }
}

/// Addresses a chain burst walks together (the most [`Fib4Reader::lookup_burst`] keeps in
/// flight, so the undecided ones fit stack arrays).
const CHAIN_STEP: usize = 64;

/// [`lookup_chain`] for each of `addrs`: `out[i]` gets the answer for `addrs[i]` (for the first
/// `min(len)` of each). Every answer is one `lookup_chain` could have given during the call.
pub fn lookup_chain_burst<N: SharedRow + Copy>(
    addrs: &[u32],
    tables: &[&Fib4Reader<'_, N>],
    is_throw: impl Fn(&N) -> bool,
    out: &mut [ChainResult<N>],
) {
    for (a, o) in addrs.chunks(CHAIN_STEP).zip(out.chunks_mut(CHAIN_STEP)) {
        chain_step(a, tables, &is_throw, o);
    }
}

/// One [`CHAIN_STEP`] of [`lookup_chain_burst`].
fn chain_step<N: SharedRow + Copy>(
    addrs: &[u32],
    tables: &[&Fib4Reader<'_, N>],
    is_throw: &impl Fn(&N) -> bool,
    out: &mut [ChainResult<N>],
) {
    let n = addrs.len().min(out.len());
    // The undecided addresses, packed, with where their answers go.
    let mut pending = [0u32; CHAIN_STEP];
    let mut slot = [0u8; CHAIN_STEP];
    pending[..n].copy_from_slice(&addrs[..n]);
    for (i, s) in slot[..n].iter_mut().enumerate() {
        *s = i as u8;
    }
    out[..n].fill(ChainResult::Unreachable);
    // Later tables' first-level misses overlap the earlier tables' work.
    for t in tables.iter().skip(1) {
        t.prefetch(&addrs[..n]);
    }
    let mut answers = [Lookup::Miss; CHAIN_STEP];
    let mut left = n;
    for (table, t) in tables.iter().enumerate() {
        if left == 0 {
            break;
        }
        t.lookup_burst(&pending[..left], &mut answers[..left]);
        let mut still = 0;
        for j in 0..left {
            match decide(table, answers[j], is_throw) {
                Some(decided) => out[usize::from(slot[j])] = decided,
                None => {
                    pending[still] = pending[j];
                    slot[still] = slot[j];
                    still += 1;
                }
            }
        }
        left = still;
    }
}
