//! What the netlink tile counts. Plain integers: the tile is single-threaded and publishes a
//! copy wherever its metrics go.

/// Totals over the tile's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Rows written or removed, per table (index = `schema::tables::*_ID`).
    pub updates: [u64; 5],
    /// Messages that did not parse (skipped, never fatal).
    pub parse_errors: u64,
    /// Attributes the schema does not map (from the parsers' `ParseStats`).
    pub unknown_attrs: u64,
    /// Attributes with a length the schema says to ignore.
    pub ignored_lengths: u64,
    /// Messages of a family the tables do not mirror (IPv6, bridge ports, ...).
    pub other_family: u64,
    /// Cloned (cache) routes, skipped by the parser.
    pub cloned_routes: u64,
    /// Routes of tables other than local and main, ignored.
    pub ignored_tables: u64,
    /// Routes stored with `multipath` or `nh_id` set (net tiles drop their packets).
    pub unsupported_routes: u64,
    /// Messages lacking a key field (a neighbour without `NDA_DST`), skipped.
    pub missing_keys: u64,
    /// Message types the tile does not handle.
    pub other_types: u64,
    /// Writes refused because a table was full (the table also marks itself incomplete).
    pub table_full: u64,
    /// Other write errors (bad prefix length and the like).
    pub write_errors: u64,
    /// Rows removed by mark-and-sweep (their delete notification was lost).
    pub swept: u64,
    /// Addresses and neighbours removed because their interface was deleted.
    pub cascaded: u64,
    /// Events after which routes may have vanished silently (link down, nexthop events).
    pub routes_stale: u64,
    /// Full syncs completed (initial and resyncs).
    pub full_syncs: u64,
    /// Notification overruns (ENOBUFS, truncated or malformed datagrams).
    pub enobufs: u64,
    /// Interrupted dumps repeated.
    pub dump_retries: u64,
    /// Dumps that failed (each backs off, then retries).
    pub dump_failures: u64,
    /// Notification messages applied.
    pub notifications: u64,
    /// Dump messages applied.
    pub dump_messages: u64,
    /// Dump rows skipped because a notification about the same row was applied while that
    /// dump was in flight (the notification is at least as new as the dump's row).
    pub dump_rows_superseded: u64,
    /// Notifications discarded after an overrun: queued before the loss was seen, they are
    /// older than the resync's dumps.
    pub discarded_after_overrun: u64,
    /// Neighbour re-dumps after a link came up (the kernel creates some neighbours, e.g.
    /// IGMP's 224.0.0.22, without any notification).
    pub neigh_refreshes: u64,
    /// Link re-dumps after a new link was announced (a veth's first device learns its peer
    /// silently).
    pub link_refreshes: u64,
}
