use crate::tables::header::HeaderError;

/// Why a hash table operation or attach failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The table holds [`Policy::max_live`](super::Policy::max_live) rows: the insert was
    /// refused (and counted, see [`HashWriter::upsert`](super::HashWriter::upsert)).
    Full,
    /// Capacities are powers of two, at least 2.
    Capacity(u64),
    /// Rows larger than a seqlock slot can carry.
    RowTooLarge(usize),
    RegionTooSmall {
        need: u64,
        have: u64,
    },
    Header(HeaderError),
    /// The slots cannot be a table this writer could have left behind.
    Corrupt(&'static str),
}

impl From<HeaderError> for HashError {
    fn from(e: HeaderError) -> Self {
        HashError::Header(e)
    }
}

impl core::fmt::Display for HashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HashError::Full => write!(f, "hash table full"),
            HashError::Capacity(c) => {
                write!(f, "hash table capacity {c} is not a power of two >= 2")
            }
            HashError::RowTooLarge(n) => write!(f, "rows of {n} bytes do not fit a slot"),
            HashError::RegionTooSmall { need, have } => {
                write!(f, "hash table region has {have} bytes, needs {need}")
            }
            HashError::Header(e) => write!(f, "{e}"),
            HashError::Corrupt(what) => write!(f, "hash table corrupt: {what}"),
        }
    }
}

impl std::error::Error for HashError {}
