//! How many bytes each table kind occupies in a workspace (storage format 1).
//!
//! The runtime's concurrent tables are laid out in exactly these terms; the plan uses the same
//! functions to place objects, so the two cannot disagree. Any change here bumps
//! `STORAGE_FORMAT`, which is part of the layout fingerprint.

use crate::layout::round_up;
use crate::schema::TableKind;

/// Version of the table storage formats below.
pub const STORAGE_FORMAT: u32 = 1;
/// Objects start on a page so that each can be mapped, protected and huge-paged on its own.
pub const OBJECT_ALIGN: u64 = 4096;
/// Every table starts with a header page (kind, capacity, counters, sequence words).
pub const TABLE_HEADER_BYTES: u64 = 4096;
/// A slot is a sequence word (seqlock / publication state) followed by the row, 8-aligned.
pub const SLOT_SEQ_BYTES: u64 = 8;
/// DIR-24-8 first level: one 2-byte entry per /24.
pub const LPM_TBL24_BYTES: u64 = (1 << 24) * 2;
/// One second-level group: 256 entries of 2 bytes.
pub const LPM_TBL8_GROUP_BYTES: u64 = 256 * 2;
/// Second-level groups are indexed with 15 bits.
pub const LPM_MAX_TBL8_GROUPS: u64 = 1 << 14;
/// Up to this many prefixes an LPM table is a sorted array (faster than DIR-24-8 when small).
pub const LPM_SMALL_LIMIT: u64 = 4096;
/// Distinct next hops an LPM table can refer to (2-byte next-hop indexes).
pub const LPM_MAX_NEXTHOPS: u64 = 1 << 15;
/// A prefix entry in the shared route list beyond its address: length (1), state (1),
/// padding (2), next-hop index (4), sequence (4).
pub const LPM_PREFIX_EXTRA_BYTES: u64 = 12;

/// Bytes of one prefix entry for addresses of `addr_bytes` (4 for IPv4, 16 for IPv6).
pub fn lpm_prefix_entry_bytes(addr_bytes: u64) -> u64 {
    (addr_bytes + LPM_PREFIX_EXTRA_BYTES).div_ceil(4) * 4
}

pub fn slot_bytes(row_size: usize) -> u64 {
    SLOT_SEQ_BYTES + round_up(row_size, 8) as u64
}

/// Bytes of a table object (header included), or `None` when it overflows u64.
///
/// `addr_bytes` is the size of an LPM table's address key (ignored for other kinds).
pub fn table_bytes(
    kind: TableKind,
    capacity: u64,
    row_size: usize,
    addr_bytes: u64,
) -> Option<u64> {
    let slot = slot_bytes(row_size);
    let body = match kind {
        TableKind::Array | TableKind::Hash => capacity.checked_mul(slot)?,
        TableKind::Lpm => {
            let prefixes = capacity.checked_mul(lpm_prefix_entry_bytes(addr_bytes))?;
            let nexthops = capacity.min(LPM_MAX_NEXTHOPS).checked_mul(slot)?;
            let index = if capacity <= LPM_SMALL_LIMIT {
                0
            } else {
                let groups = (capacity / 8).clamp(256, LPM_MAX_TBL8_GROUPS);
                LPM_TBL24_BYTES + groups * LPM_TBL8_GROUP_BYTES
            };
            prefixes.checked_add(nexthops)?.checked_add(index)?
        }
    };
    let total = TABLE_HEADER_BYTES.checked_add(body)?;
    Some(total.div_ceil(OBJECT_ALIGN) * OBJECT_ALIGN)
}

/// A ring starts with two cache lines: the producer's sequence and the ring's constants.
pub const RING_HEADER_BYTES: u64 = 128;
/// Per-slot metadata: sequence number (u64), frame length (u32), control bits (u32).
pub const RING_SLOT_META_BYTES: u64 = 16;
/// Slots are cache-line multiples so that neighbouring slots never share a line.
pub const RING_SLOT_ALIGN: u64 = 64;

pub fn ring_slot_bytes(frame_size: u32) -> u64 {
    (RING_SLOT_META_BYTES + u64::from(frame_size)).div_ceil(RING_SLOT_ALIGN) * RING_SLOT_ALIGN
}

pub fn ring_bytes(depth: u32, frame_size: u32) -> u64 {
    let raw = RING_HEADER_BYTES + u64::from(depth) * ring_slot_bytes(frame_size);
    raw.div_ceil(OBJECT_ALIGN) * OBJECT_ALIGN
}

/// A tile's status object: heartbeat, pid, quiescent epoch, state.
pub const TILE_STATUS_BYTES: u64 = 4096;
/// A tile's metrics: 1024 u64 counters.
pub const TILE_METRICS_BYTES: u64 = 8192;
/// A consumer's credit/progress word for one reliable link, on its own cache line.
pub const FSEQ_BYTES: u64 = 64;
