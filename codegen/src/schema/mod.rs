//! The schema model: enums, rows (fixed-layout records and their netlink sources) and tables.
//!
//! `load` reads and validates a TOML schema file; everything downstream (layouts, fingerprint,
//! emitters) works on the validated model only, so it never sees a dangling reference.

mod raw;
mod resolve;

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostics, SourceFile};
use crate::family::{FamilyHeader, HeaderField};

pub use resolve::MAX_FIELDS;

/// A validated schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub path: PathBuf,
    pub name: String,
    pub version: u32,
    pub enums: Vec<EnumDef>,
    pub rows: Vec<RowDef>,
    pub tables: Vec<TableDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    U8,
    U16,
    U32,
    U64,
}

impl IntType {
    pub fn size(self) -> usize {
        match self {
            IntType::U8 => 1,
            IntType::U16 => 2,
            IntType::U32 => 4,
            IntType::U64 => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "u8",
            IntType::U16 => "u16",
            IntType::U32 => "u32",
            IntType::U64 => "u64",
        }
    }
    pub fn max(self) -> u64 {
        match self {
            IntType::U64 => u64::MAX,
            other => (1u64 << (8 * other.size())) - 1,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "u8" => IntType::U8,
            "u16" => IntType::U16,
            "u32" => IntType::U32,
            "u64" => IntType::U64,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: String,
    pub doc: Option<String>,
    pub repr: IntType,
    /// Sorted by value.
    pub values: Vec<(String, u64)>,
    /// Extra kernel spellings that map onto a variant (string sources).
    pub aliases: Vec<(String, String)>,
    /// A bit set rather than a list of exclusive values.
    pub flags: bool,
    /// Values that were declared but rejected (already reported): later references to them are
    /// not reported a second time.
    pub rejected: Vec<String>,
}

impl EnumDef {
    pub fn value_of(&self, variant: &str) -> Option<u64> {
        self.values
            .iter()
            .find(|(n, _)| n == variant)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int(IntType),
    Ipv4,
    Ipv6,
    Mac,
    /// A NUL-padded name of this many bytes (the last one always NUL).
    Name(usize),
    /// Index into `Schema::enums`.
    Enum(usize),
}

impl FieldType {
    pub fn size(self, schema_enums: &[EnumDef]) -> usize {
        match self {
            FieldType::Int(t) => t.size(),
            FieldType::Ipv4 => 4,
            FieldType::Ipv6 => 16,
            FieldType::Mac => 6,
            FieldType::Name(n) => n,
            FieldType::Enum(i) => schema_enums[i].repr.size(),
        }
    }
    pub fn align(self, schema_enums: &[EnumDef]) -> usize {
        match self {
            FieldType::Int(t) => t.size(),
            FieldType::Enum(i) => schema_enums[i].repr.size(),
            FieldType::Ipv4 | FieldType::Ipv6 | FieldType::Mac | FieldType::Name(_) => 1,
        }
    }
    /// Canonical spelling, used in the fingerprint and in diagnostics.
    pub fn spelling(self, schema_enums: &[EnumDef]) -> String {
        match self {
            FieldType::Int(t) => t.name().to_string(),
            FieldType::Ipv4 => "ipv4".into(),
            FieldType::Ipv6 => "ipv6".into(),
            FieldType::Mac => "mac".into(),
            FieldType::Name(n) => format!("name[{n}]"),
            FieldType::Enum(i) => format!("enum {}", schema_enums[i].name),
        }
    }
}

/// Where a field's value comes from in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePath {
    Header(HeaderField),
    /// A chain of attribute types from the top level down through nested attributes. Names are
    /// kept for generated comments and diagnostics.
    Attr(Vec<(String, u16)>),
}

/// How the bytes of a source become the field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// The field's own fixed-size encoding (integers host order, addresses network order).
    Native,
    /// A NUL-terminated string matched against the `map` (or the enum's variants and aliases).
    String,
    /// Only the attribute's presence matters: the field becomes 1.
    Presence,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub path: SourcePath,
    pub wire: Wire,
    /// For enum fields: source value (number or string) → enum value. Empty means "the value is
    /// taken as is" for numbers, and "variant names and aliases" for strings.
    pub map: Vec<(MapKey, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapKey {
    Int(u64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherLengths {
    /// A payload of the wrong size is a parse error.
    Error,
    /// A payload of the wrong size leaves the field absent (e.g. 4-byte GRE "MAC" addresses).
    Ignore,
}

#[derive(Debug, Clone)]
pub struct When {
    pub field: usize,
    pub value: u64,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub doc: Option<String>,
    pub ty: FieldType,
    /// Tried in order; the first one present gives the value. Empty: written by the tile itself.
    pub sources: Vec<Source>,
    pub default: u64,
    pub other_lengths: OtherLengths,
    pub when: Option<When>,
}

#[derive(Debug, Clone)]
pub struct MessageSpec {
    pub new_name: String,
    pub new_type: u16,
    pub del_name: String,
    pub del_type: u16,
    pub header: &'static FamilyHeader,
    /// `None` accepts every family.
    pub family: Option<(String, u8)>,
}

#[derive(Debug, Clone)]
pub struct SkipIf {
    pub field: HeaderField,
    pub mask_name: String,
    pub mask: u64,
}

#[derive(Debug, Clone)]
pub struct RowDef {
    pub name: String,
    pub doc: Option<String>,
    pub message: MessageSpec,
    pub skip_if: Vec<SkipIf>,
    pub fields: Vec<FieldDef>,
}

impl RowDef {
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Rows indexed directly by an integer key below the capacity.
    Array,
    /// Open-addressed hash map on the key fields.
    Hash,
    /// Longest-prefix match on (prefix, length).
    Lpm,
}

impl TableKind {
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Array => "array",
            TableKind::Hash => "hash",
            TableKind::Lpm => "lpm",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub doc: Option<String>,
    pub row: usize,
    pub kind: TableKind,
    pub key: Vec<usize>,
    pub capacity: u64,
    /// Rows of the table's type go to this table only when `field == value`.
    pub select: Option<(usize, u64)>,
    /// LPM tables: the integer field that orders routes to one prefix (lowest wins).
    pub metric: Option<usize>,
}

impl Schema {
    /// Reads and validates a schema file.
    pub fn load(path: &Path) -> Result<Schema, Diagnostics> {
        let file = SourceFile::read(path)?;
        Self::parse(&file)
    }

    /// Validates a schema held in memory (`file.path` is used in diagnostics only).
    pub fn parse(file: &SourceFile) -> Result<Schema, Diagnostics> {
        let raw = raw::parse(file)?;
        resolve::resolve(file, raw)
    }

    pub fn row(&self, name: &str) -> Option<&RowDef> {
        self.rows.iter().find(|r| r.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }
}
