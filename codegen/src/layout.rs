//! Fixed layouts of rows: fields in schema order, explicit padding wherever alignment needs it.
//!
//! Declared order is kept on purpose: the schema author decides the layout, and the explicit
//! `_padN` fields make every byte visible (no implicit padding reaches shared memory).

use crate::schema::{RowDef, Schema};

/// One slot of a row: a schema field or an explicit padding run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    pub align: usize,
    /// Index into `RowDef::fields`, `None` for padding.
    pub field: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLayout {
    pub size: usize,
    pub align: usize,
    pub slots: Vec<Slot>,
}

impl RowLayout {
    pub fn field_offset(&self, field: usize) -> usize {
        self.slots
            .iter()
            .find(|s| s.field == Some(field))
            .map_or(0, |s| s.offset)
    }
}

pub fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

pub fn row_layout(schema: &Schema, row: &RowDef) -> RowLayout {
    let mut slots = Vec::new();
    let mut offset = 0;
    let mut align = 1;
    let mut pads = 0;
    let mut pad = |slots: &mut Vec<Slot>, offset: &mut usize, to: usize| {
        if to > *offset {
            slots.push(Slot {
                name: format!("_pad{pads}"),
                offset: *offset,
                size: to - *offset,
                align: 1,
                field: None,
            });
            pads += 1;
            *offset = to;
        }
    };
    for (i, f) in row.fields.iter().enumerate() {
        let a = f.ty.align(&schema.enums);
        let s = f.ty.size(&schema.enums);
        align = align.max(a);
        let to = round_up(offset, a);
        pad(&mut slots, &mut offset, to);
        slots.push(Slot {
            name: f.name.clone(),
            offset,
            size: s,
            align: a,
            field: Some(i),
        });
        offset += s;
    }
    let to = round_up(offset, align);
    pad(&mut slots, &mut offset, to);
    RowLayout {
        size: offset,
        align,
        slots,
    }
}

/// A table object in the workspace that holds the schema's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableObject {
    pub name: String,
    /// Byte offset from the start of the workspace (after its header page).
    pub offset: u64,
    pub size: u64,
}

/// Where each table of the schema lives in the tables workspace: in schema order, each on its
/// own pages, right after the workspace header. The plan places them exactly so (checked by a
/// test), which lets generated code open the tables without knowing the topology.
pub fn table_objects(schema: &Schema) -> Vec<TableObject> {
    let mut offset = netbase_runtime::workspace::HEADER_SIZE;
    schema
        .tables
        .iter()
        .map(|t| {
            let row = &schema.rows[t.row];
            let layout = row_layout(schema, row);
            let addr = t
                .key
                .first()
                .map_or(0, |&k| row.fields[k].ty.size(&schema.enums)) as u64;
            let size = crate::geometry::schema_table_bytes(t.kind, t.capacity, layout.size, addr)
                .unwrap_or(u64::MAX / 4);
            let size = size.div_ceil(crate::geometry::OBJECT_ALIGN) * crate::geometry::OBJECT_ALIGN;
            let o = TableObject {
                name: t.name.clone(),
                offset,
                size,
            };
            offset = offset.saturating_add(size);
            o
        })
        .collect()
}
