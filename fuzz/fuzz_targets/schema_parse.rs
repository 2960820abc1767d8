//! Arbitrary bytes as a schema TOML: validation must never panic, and a schema it accepts must
//! go through everything downstream of validation (layouts, fingerprint, and for small inputs
//! the Rust emitter, whose output must parse).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use netbase_codegen::{fingerprint, layout, schema_source, Schema, SourceFile};

/// The emitter (syn + prettyplease) costs far more than parsing; run it on small inputs only,
/// which is where the fuzzer spends most of its time anyway.
const EMIT_MAX_INPUT: usize = 4096;
const EMIT_MAX_ROWS: usize = 4;

/// `NETBASE_FUZZ_DEBUG=1` prints why each input was rejected (for checking seeds).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("NETBASE_FUZZ_DEBUG").is_some());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schema = match Schema::parse(&SourceFile::new("fuzz/schema.toml", text)) {
        Ok(s) => s,
        Err(d) => {
            if *DEBUG {
                eprintln!("rejected:\n{d}");
            }
            return;
        }
    };

    // The fingerprint is a pure function of the schema.
    let fp = fingerprint::schema_fingerprint(&schema);
    assert_eq!(fp, fingerprint::schema_fingerprint(&schema.clone()));

    for row in &schema.rows {
        let l = layout::row_layout(&schema, row);
        // Slots tile the row exactly: no gap, no overlap, every field once, size a multiple
        // of the alignment.
        let mut end = 0;
        for s in &l.slots {
            let what = format!("row {}, slot {}", row.name, s.name);
            assert_eq!(s.offset, end, "{what}: not contiguous");
            assert_eq!(s.offset % s.align, 0, "{what}: misaligned");
            end += s.size;
        }
        assert_eq!(end, l.size, "row {}: slots do not cover the row", row.name);
        assert!(l.align.is_power_of_two() && l.size % l.align == 0);
        assert_eq!(
            l.slots.iter().filter(|s| s.field.is_some()).count(),
            row.fields.len()
        );
    }

    if data.len() <= EMIT_MAX_INPUT && schema.rows.len() <= EMIT_MAX_ROWS {
        if let Err(e) = schema_source(&schema) {
            panic!("schema accepted by validation but emitted code is invalid: {e}");
        }
    }
});
