//! Static descriptions of generated tables and rows, for tools that work on any schema
//! (inspection, metrics, `netbase compile`).

/// How a table stores its rows (see the code generator's storage geometry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Array,
    Hash,
    Lpm,
}

/// One generated table.
#[derive(Debug, Clone, Copy)]
pub struct TableInfo {
    pub name: &'static str,
    pub kind: TableKind,
    pub row: &'static str,
    pub capacity: u64,
    pub row_size: usize,
    pub key: &'static [&'static str],
}

/// One field of a generated row.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub name: &'static str,
    pub ty: &'static str,
    pub offset: usize,
    pub size: usize,
}
