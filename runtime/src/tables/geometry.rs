//! How many bytes each table kind occupies in a workspace, and where its parts are.
//!
//! The code generator places objects with these functions and the tables find their parts
//! with them, so the plan and the runtime cannot disagree. Any change bumps
//! [`STORAGE_FORMAT`], which is part of every layout fingerprint.

/// Version of the storage formats below. 3: LPM next-hop slots carry their prefix length in
/// the sequence word's tag, and the length table that preceded the default cell is gone.
pub const STORAGE_FORMAT: u32 = 3;
/// Objects start on a page so that each can be mapped, protected and huge-paged on its own.
pub const OBJECT_ALIGN: u64 = 4096;
/// Every table starts with a header page (kind, capacity, counters, epoch, mode).
pub const TABLE_HEADER_BYTES: u64 = 4096;

/// Words of a sequence-locked slot holding a row of `row_size` bytes: one sequence word, then
/// the row in whole words.
pub const fn slot_words(row_size: u64) -> u64 {
    1 + row_size.div_ceil(8)
}

pub const fn slot_bytes(row_size: u64) -> u64 {
    8 * slot_words(row_size)
}

/// Table kinds, as the schema names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Array,
    Hash,
    Lpm,
}

// ---- LPM (longest-prefix match) tables ----

/// Up to this capacity an LPM table has no DIR-24-8 index: its prefixes are always scanned
/// from the small sorted arrays.
pub const LPM_SMALL_LIMIT: u64 = 4096;
/// Prefixes a small-mode array holds; beyond this many routes a large table switches to its
/// DIR-24-8 index.
pub const LPM_SMALL_ENTRIES: u64 = 64;
/// Distinct next hops of one LPM table: ids 1..=0x7fff fit the 15 value bits of an index entry
/// (0 means "no route", bit 15 marks a second-level group).
pub const LPM_MAX_NEXTHOPS: u64 = 0x7fff;
/// DIR-24-8 first level: one 2-byte entry per /24.
pub const LPM_TBL24_ENTRIES: u64 = 1 << 24;
/// Entries of one second-level group (the last 8 bits of an IPv4 address).
pub const LPM_TBL8_GROUP_ENTRIES: u64 = 256;
/// Most second-level groups (15-bit group index).
pub const LPM_MAX_TBL8_GROUPS: u64 = 1 << 15;

/// Bytes of a prefix entry's payload for addresses of `addr_bytes` bytes: address, length
/// (1), padding (1), next-hop id (2), rounded to words.
pub const fn lpm_prefix_bytes(addr_bytes: u64) -> u64 {
    (addr_bytes + 4).div_ceil(8) * 8
}

/// Second-level groups allocated for a table of `capacity` prefixes: one per 64 prefixes, at
/// least 256. Prefixes longer than /24 are 1–2% of real full tables and share groups when they
/// fall in the same /24; a table that needs more groups refuses the insert (counted) rather
/// than growing past its share of the 64 MiB budget.
pub const fn lpm_tbl8_groups(capacity: u64) -> u64 {
    let g = capacity / 64;
    if g < 256 {
        256
    } else if g > LPM_MAX_TBL8_GROUPS {
        LPM_MAX_TBL8_GROUPS
    } else {
        g
    }
}

/// Byte offsets (from the table object's start) of the parts of an LPM table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LpmLayout {
    /// `nexthops` sequence-locked slots of the next-hop row.
    pub nexthops: u64,
    pub nexthop_count: u64,
    pub nexthop_slot_bytes: u64,
    /// `capacity` sequence-locked prefix slots (the shared route list, for inspection).
    pub prefixes: u64,
    pub prefix_slot_bytes: u64,
    /// Two small-mode arrays, each a header word then `LPM_SMALL_ENTRIES` prefix payloads.
    pub small: [u64; 2],
    pub small_bytes: u64,
    /// DIR-24-8 first level (`None` for tables of at most `LPM_SMALL_LIMIT` prefixes).
    pub tbl24: Option<u64>,
    pub tbl8: Option<u64>,
    pub tbl8_groups: u64,
    /// Total bytes, header included, page-rounded.
    pub total: u64,
}

const fn page(n: u64) -> u64 {
    n.div_ceil(OBJECT_ALIGN) * OBJECT_ALIGN
}

/// The layout of an LPM table, or `None` if its size overflows.
pub const fn lpm_layout(capacity: u64, row_size: u64, addr_bytes: u64) -> Option<LpmLayout> {
    let nexthop_count = if capacity < LPM_MAX_NEXTHOPS {
        capacity
    } else {
        LPM_MAX_NEXTHOPS
    };
    let nexthop_slot_bytes = slot_bytes(row_size);
    let nexthops = TABLE_HEADER_BYTES;
    let Some(nh_bytes) = nexthop_count.checked_mul(nexthop_slot_bytes) else {
        return None;
    };
    let prefixes = page(nexthops + nh_bytes);
    let prefix_slot_bytes = 8 + lpm_prefix_bytes(addr_bytes);
    let Some(px_bytes) = capacity.checked_mul(prefix_slot_bytes) else {
        return None;
    };
    let small_bytes = 8 + LPM_SMALL_ENTRIES * lpm_prefix_bytes(addr_bytes);
    let small0 = page(prefixes + px_bytes);
    let small1 = small0 + small_bytes;
    let after_small = page(small1 + small_bytes);
    let (tbl24, tbl8, groups, end) = if capacity <= LPM_SMALL_LIMIT {
        (None, None, 0, after_small)
    } else {
        let groups = lpm_tbl8_groups(capacity);
        let tbl8 = after_small + LPM_TBL24_ENTRIES * 2;
        (
            Some(after_small),
            Some(tbl8),
            groups,
            tbl8 + groups * LPM_TBL8_GROUP_ENTRIES * 2,
        )
    };
    Some(LpmLayout {
        nexthops,
        nexthop_count,
        nexthop_slot_bytes,
        prefixes,
        prefix_slot_bytes,
        small: [small0, small1],
        small_bytes,
        tbl24,
        tbl8,
        tbl8_groups: groups,
        total: page(end),
    })
}

/// Bytes of a table object (header included), or `None` when it overflows.
///
/// `addr_bytes` is the size of an LPM table's address key (ignored for other kinds).
pub const fn table_bytes(kind: Kind, capacity: u64, row_size: u64, addr_bytes: u64) -> Option<u64> {
    match kind {
        Kind::Array | Kind::Hash => match capacity.checked_mul(slot_bytes(row_size)) {
            Some(body) => Some(page(TABLE_HEADER_BYTES + body)),
            None => None,
        },
        Kind::Lpm => match lpm_layout(capacity, row_size, addr_bytes) {
            Some(l) => Some(l.total),
            None => None,
        },
    }
}

// ---- rings and tile objects ----

/// A ring starts with two cache lines: the producer's sequence and the ring's constants.
pub const RING_HEADER_BYTES: u64 = 128;
/// Per-slot metadata: sequence number (u64), frame length (u32), control bits (u32).
pub const RING_SLOT_META_BYTES: u64 = 16;
/// Slots are cache-line multiples so that neighbouring slots never share a line.
pub const RING_SLOT_ALIGN: u64 = 64;

pub const fn ring_slot_bytes(frame_size: u32) -> u64 {
    (RING_SLOT_META_BYTES + frame_size as u64).div_ceil(RING_SLOT_ALIGN) * RING_SLOT_ALIGN
}

pub const fn ring_bytes(depth: u32, frame_size: u32) -> u64 {
    page(RING_HEADER_BYTES + depth as u64 * ring_slot_bytes(frame_size))
}

/// A tile's status object: heartbeat, pid, quiescent epoch, state.
pub const TILE_STATUS_BYTES: u64 = 4096;
/// A tile's metrics: 1024 u64 counters.
pub const TILE_METRICS_BYTES: u64 = 8192;
/// A consumer's credit/progress word for one reliable link, on its own cache line.
pub const FSEQ_BYTES: u64 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_table_fits_64_mib() {
        // The shipped main4: 1,048,576 prefixes of 40-byte Route4 rows.
        let l = lpm_layout(1 << 20, 40, 4).unwrap();
        assert!(l.total <= 64 << 20, "{l:?}");
        assert_eq!(l.tbl8_groups, 16384);
        assert!(l.tbl8.unwrap() + l.tbl8_groups * 512 <= l.total);
    }

    #[test]
    fn small_tables_have_no_index_and_overflow_is_none() {
        let l = lpm_layout(4096, 40, 4).unwrap();
        assert_eq!((l.tbl24, l.tbl8), (None, None));
        assert_eq!(table_bytes(Kind::Hash, u64::MAX, 40, 0), None);
        assert_eq!(table_bytes(Kind::Hash, 2, 40, 0), Some(8192));
    }
}
