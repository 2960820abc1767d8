//! The header page at the start of every table object: identity, geometry, counters and the
//! words that publish state (epoch, mode), all atomic words at fixed indexes.
//!
//! Readers check the identity (magic, kind, format, capacity, row size) when they attach, so a
//! table is never read with another table's geometry.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::geometry::{Kind, STORAGE_FORMAT, TABLE_HEADER_BYTES};
use crate::region::Region;
use crate::sync::Word;

/// `NBTABLE` and the storage format in the last byte.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"NBTABLE\0") | ((STORAGE_FORMAT as u64) << 56);

/// Word indexes in the header page.
pub mod word {
    pub const MAGIC: usize = 0;
    pub const KIND: usize = 1;
    pub const CAPACITY: usize = 2;
    pub const ROW_SIZE: usize = 3;
    /// Seed of the table's hash function, chosen by the writer at creation.
    pub const SEED: usize = 4;
    /// Live rows (hash, array) or prefixes (lpm).
    pub const COUNT: usize = 5;
    /// Hash tables: slots marked deleted.
    pub const TOMBSTONES: usize = 6;
    /// The writer's reclamation epoch (see `sync::qsbr`).
    pub const EPOCH: usize = 7;
    /// Kind-specific published mode (LPM: representation and active small array).
    pub const MODE: usize = 8;
    /// Bumped by the writer after each published batch of changes.
    pub const GENERATION: usize = 9;
    /// First of [`super::STAT_WORDS`] counters.
    pub const STATS: usize = 16;
}

/// Counters in the header, by index from `word::STATS`.
pub mod stat {
    /// Inserts refused because the table was full.
    pub const INSERT_FULL: usize = 0;
    /// LPM: inserts refused because no next-hop id was free.
    pub const NEXTHOPS_FULL: usize = 1;
    /// LPM: inserts refused because no second-level group was free.
    pub const GROUPS_FULL: usize = 2;
    /// Prefixes or rows the table could not store: while non-zero, a lookup that misses may be
    /// wrong, and answers "table incomplete".
    pub const INCOMPLETE: usize = 3;
    /// Hash tables: compactions run.
    pub const COMPACTIONS: usize = 4;
    /// LPM: second-level groups waiting for readers before reuse.
    pub const RETIRED_GROUPS: usize = 5;
    /// LPM: representation switches (small ↔ DIR-24-8).
    pub const MODE_SWITCHES: usize = 6;
}

pub const STAT_WORDS: usize = 32;

/// A view of a table's header words.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    w: &'a [AtomicU64],
}

/// Why a region does not hold the expected table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    TooSmall {
        need: u64,
        have: u64,
    },
    NotInitialized,
    Mismatch {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    ReadOnly,
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeaderError::TooSmall { need, have } => {
                write!(f, "table region has {have} bytes, needs {need}")
            }
            HeaderError::NotInitialized => write!(f, "table not initialized (no magic)"),
            HeaderError::Mismatch {
                what,
                expected,
                found,
            } => {
                write!(f, "table {what} is {found}, expected {expected}")
            }
            HeaderError::ReadOnly => write!(f, "the writer needs a writable region"),
        }
    }
}

impl std::error::Error for HeaderError {}

fn kind_code(kind: Kind) -> u64 {
    match kind {
        Kind::Array => 1,
        Kind::Hash => 2,
        Kind::Lpm => 3,
    }
}

impl<'a> Header<'a> {
    /// Writer: initializes the header of a zeroed region (magic last, with release order, so a
    /// reader never sees a valid magic over half-written geometry).
    pub fn init(
        region: Region<'a>,
        kind: Kind,
        capacity: u64,
        row_size: u64,
        seed: u64,
    ) -> Result<Self, HeaderError> {
        if !region.is_writable() {
            return Err(HeaderError::ReadOnly);
        }
        let h = Self::view(region)?;
        h.w[word::KIND].store(kind_code(kind), Relaxed);
        h.w[word::CAPACITY].store(capacity, Relaxed);
        h.w[word::ROW_SIZE].store(row_size, Relaxed);
        h.w[word::SEED].store(seed, Relaxed);
        h.w[word::MAGIC].store(TABLE_MAGIC, Release);
        Ok(h)
    }

    /// Reader or writer: attaches to an initialized header and checks its identity.
    pub fn attach(
        region: Region<'a>,
        kind: Kind,
        capacity: u64,
        row_size: u64,
    ) -> Result<Self, HeaderError> {
        let h = Self::view(region)?;
        let magic = h.load(word::MAGIC);
        if magic == 0 {
            return Err(HeaderError::NotInitialized);
        }
        for (what, idx, expected) in [
            ("magic", word::MAGIC, TABLE_MAGIC),
            ("kind", word::KIND, kind_code(kind)),
            ("capacity", word::CAPACITY, capacity),
            ("row size", word::ROW_SIZE, row_size),
        ] {
            let found = h.load(idx);
            if found != expected {
                return Err(HeaderError::Mismatch {
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(h)
    }

    fn view(region: Region<'a>) -> Result<Self, HeaderError> {
        let words = region.words();
        let need = TABLE_HEADER_BYTES / 8;
        if (words.len() as u64) < need {
            return Err(HeaderError::TooSmall {
                need: TABLE_HEADER_BYTES,
                have: region.len_bytes() as u64,
            });
        }
        Ok(Header {
            w: &words[..need as usize],
        })
    }

    /// Reads a header word (Relaxed load, then an Acquire fence: valid on read-only memory).
    #[inline]
    pub fn load(&self, idx: usize) -> u64 {
        let v = self.w[idx].load(Relaxed);
        <AtomicU64 as Word>::fence(Acquire);
        v
    }

    /// Writer: publishes a header word.
    #[inline]
    pub fn store(&self, idx: usize, value: u64) {
        self.w[idx].store(value, Release);
    }

    pub fn seed(&self) -> u64 {
        self.load(word::SEED)
    }

    pub fn stat(&self, s: usize) -> u64 {
        self.load(word::STATS + s)
    }

    /// Writer: adds to a counter (the writer is the only one, so load + store suffices and
    /// avoids a locked instruction).
    #[inline]
    pub fn add_stat(&self, s: usize, n: u64) {
        let w = &self.w[word::STATS + s];
        w.store(w.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::HeapRegion;

    #[test]
    fn init_then_attach_checks_identity() {
        let heap = HeapRegion::zeroed(TABLE_HEADER_BYTES as usize);
        assert_eq!(
            Header::attach(heap.read_only(), Kind::Hash, 8, 40).err(),
            Some(HeaderError::NotInitialized)
        );
        assert_eq!(
            Header::init(heap.read_only(), Kind::Hash, 8, 40, 1).err(),
            Some(HeaderError::ReadOnly)
        );
        let h = Header::init(heap.region(), Kind::Hash, 8, 40, 7).unwrap();
        h.add_stat(stat::INSERT_FULL, 2);
        let r = Header::attach(heap.read_only(), Kind::Hash, 8, 40).unwrap();
        assert_eq!((r.seed(), r.stat(stat::INSERT_FULL)), (7, 2));
        assert_eq!(
            Header::attach(heap.read_only(), Kind::Hash, 16, 40).err(),
            Some(HeaderError::Mismatch {
                what: "capacity",
                expected: 16,
                found: 8
            })
        );
    }
}
