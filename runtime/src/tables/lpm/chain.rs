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
        match t.lookup(addr) {
            Lookup::Hit {
                nexthop,
                prefix_len,
            } => {
                if !is_throw(&nexthop) {
                    return ChainResult::Hit {
                        table,
                        nexthop,
                        prefix_len,
                    };
                }
            }
            Lookup::Miss => {}
            Lookup::Incomplete => return ChainResult::Incomplete { table },
            Lookup::Busy => return ChainResult::Busy { table },
        }
    }
    ChainResult::Unreachable
}
