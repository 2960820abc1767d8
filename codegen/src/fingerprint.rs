//! The layout fingerprint: a stable hash of everything two processes must agree on to share a
//! workspace (names, types, offsets, sizes, capacities, schema and storage versions).
//!
//! It hashes a canonical text rather than Rust structures so that it is stable across compiler
//! versions and readable when two builds disagree (`canonical_text` is printed by
//! `netbase compile --json`).

use sha2::{Digest, Sha256};

use crate::geometry::STORAGE_FORMAT;
use crate::layout::row_layout;
use crate::schema::Schema;

/// The canonical description of a schema's layout.
pub fn canonical_text(schema: &Schema) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "netbase-layout schema={} version={} storage={STORAGE_FORMAT}\n",
        schema.name, schema.version
    ));
    for e in &schema.enums {
        s.push_str(&format!(
            "enum {} repr={} flags={}\n",
            e.name,
            e.repr.name(),
            e.flags
        ));
        for (n, v) in &e.values {
            s.push_str(&format!("  {n}={v}\n"));
        }
    }
    for r in &schema.rows {
        let l = row_layout(schema, r);
        s.push_str(&format!(
            "row {} size={} align={}\n",
            r.name, l.size, l.align
        ));
        for slot in &l.slots {
            let ty = slot
                .field
                .map(|i| r.fields[i].ty.spelling(&schema.enums))
                .unwrap_or_else(|| format!("pad[{}]", slot.size));
            s.push_str(&format!("  {} {} @{}\n", slot.name, ty, slot.offset));
        }
    }
    for t in &schema.tables {
        let row = &schema.rows[t.row];
        let key: Vec<&str> = t.key.iter().map(|&k| row.fields[k].name.as_str()).collect();
        let metric = t.metric.map_or("-", |m| row.fields[m].name.as_str());
        s.push_str(&format!(
            "table {} kind={} row={} capacity={} key={} metric={metric}\n",
            t.name,
            t.kind.name(),
            row.name,
            t.capacity,
            key.join(",")
        ));
    }
    s
}

/// First 8 bytes of SHA-256 of `text`, little-endian.
pub fn hash_text(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(b)
}

pub fn schema_fingerprint(schema: &Schema) -> u64 {
    hash_text(&canonical_text(schema))
}
