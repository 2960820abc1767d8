//! Storage geometry, shared with the runtime: the plan places objects with exactly the
//! functions the runtime's tables use to find their parts.

pub use netbase_runtime::tables::geometry::*;

use crate::schema::TableKind;

/// Bytes of a table object of a schema table kind (see [`table_bytes`]).
pub fn schema_table_bytes(
    kind: TableKind,
    capacity: u64,
    row_size: usize,
    addr_bytes: u64,
) -> Option<u64> {
    let kind = match kind {
        TableKind::Array => Kind::Array,
        TableKind::Hash => Kind::Hash,
        TableKind::Lpm => Kind::Lpm,
    };
    table_bytes(kind, capacity, row_size as u64, addr_bytes)
}
