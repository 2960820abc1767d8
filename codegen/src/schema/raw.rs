//! The schema file as written: serde structs that keep the span of every value.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diag::{Diagnostics, SourceFile};
use crate::toml_input::{self, Spanned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    pub schema_version: Spanned<i64>,
    pub name: Spanned<String>,
    #[serde(default, rename = "enum")]
    pub enums: Vec<RawEnum>,
    #[serde(default, rename = "row")]
    pub rows: Vec<RawRow>,
    #[serde(default, rename = "table")]
    pub tables: Vec<RawTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnum {
    pub name: Spanned<String>,
    pub repr: Spanned<String>,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub flags: bool,
    pub values: Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>,
    #[serde(default)]
    pub aliases: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRow {
    pub name: Spanned<String>,
    #[serde(default)]
    pub doc: Option<String>,
    pub message: Spanned<RawMessage>,
    #[serde(default)]
    pub skip_if: Vec<Spanned<RawSkipIf>>,
    #[serde(default, rename = "field")]
    pub fields: Vec<RawField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub new: Spanned<String>,
    pub del: Spanned<String>,
    pub header: Spanned<String>,
    pub family: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkipIf {
    pub field: Spanned<String>,
    pub mask: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    #[serde(default)]
    pub len: Option<Spanned<i64>>,
    #[serde(default)]
    pub doc: Option<String>,
    /// A string, a table or an array of either: interpreted by `resolve` (kept raw so that its
    /// errors can name the exact element).
    #[serde(default)]
    pub source: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub present: Option<Spanned<bool>>,
    #[serde(default)]
    pub other_lengths: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Option<Spanned<RawWhen>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    pub field: Spanned<String>,
    pub is: Spanned<toml::Value>,
}

/// One element of a field's `source` written as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSourceTable {
    pub path: String,
    #[serde(default)]
    pub wire: Option<String>,
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: Spanned<String>,
    pub row: Spanned<String>,
    pub kind: Spanned<String>,
    pub key: Spanned<Vec<Spanned<String>>>,
    pub capacity: Spanned<i64>,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub select: Option<Spanned<RawSelect>>,
    /// LPM tables: the field that orders routes to the same prefix (lowest wins).
    #[serde(default)]
    pub metric: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelect {
    pub field: Spanned<String>,
    pub equals: Spanned<toml::Value>,
}

pub fn parse(file: &SourceFile) -> Result<RawSchema, Diagnostics> {
    toml_input::from_file(file).map_err(Diagnostics::from)
}
