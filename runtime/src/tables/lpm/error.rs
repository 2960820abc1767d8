//! Why an LPM table operation failed.

use crate::tables::header::HeaderError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibError {
    /// A prefix length above 32: refused, nothing stored.
    BadLength(u8),
    /// The region does not hold this table (identity, size) or is not writable.
    Header(HeaderError),
    /// The capacity gives no valid layout, or the region is smaller than the layout.
    Layout(&'static str),
    /// The row type is larger than a sequence-locked slot can hold.
    RowTooLarge { row: usize, max: usize },
    /// Every route-list slot is in use (the table's capacity).
    TableFull,
    /// Every next-hop id is in use or still waiting for readers.
    NexthopsFull,
    /// No second-level group was free for a prefix longer than /24: its /24 answers
    /// "incomplete" until one is.
    GroupsFull,
    /// A table without an index holds more prefixes than a small array: every lookup answers
    /// "incomplete" until enough are removed.
    SmallFull,
}

impl FibError {
    /// Whether the route was kept by the writer (and is retried by `maintain`) although
    /// readers cannot see it yet: lookups of its addresses answer "incomplete" meanwhile.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            FibError::TableFull
                | FibError::NexthopsFull
                | FibError::GroupsFull
                | FibError::SmallFull
        )
    }
}

impl core::fmt::Display for FibError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FibError::BadLength(l) => write!(f, "prefix length {l} is above 32"),
            FibError::Header(e) => write!(f, "{e}"),
            FibError::Layout(why) => write!(f, "lpm table layout: {why}"),
            FibError::RowTooLarge { row, max } => {
                write!(f, "next-hop rows of {row} bytes exceed the {max}-byte slot limit")
            }
            FibError::TableFull => write!(
                f,
                "route table full: route kept by the writer but not visible (lookups answer incomplete)"
            ),
            FibError::NexthopsFull => write!(
                f,
                "next-hop ids exhausted: route kept by the writer but not visible (lookups answer incomplete)"
            ),
            FibError::GroupsFull => write!(
                f,
                "second-level groups exhausted: its /24 answers incomplete until a group is free"
            ),
            FibError::SmallFull => write!(
                f,
                "more prefixes than a table without index can hold: lookups answer incomplete"
            ),
        }
    }
}

impl std::error::Error for FibError {}

impl From<HeaderError> for FibError {
    fn from(e: HeaderError) -> Self {
        FibError::Header(e)
    }
}
