//! Arbitrary bytes as a topology TOML, validated against the shipped schema (parsed once):
//! validation must never panic, and for an accepted topology the plan must build, render,
//! survive a JSON round trip unchanged, and its emitted code (constants and the stems of app
//! tiles) must be Rust that parses.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use netbase_codegen::{Plan, Schema, SourceFile, Topology};

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let text = include_str!("../../schema/netbase.toml");
    Schema::parse(&SourceFile::new("schema/netbase.toml", text))
        .unwrap_or_else(|d| panic!("shipped schema is invalid:\n{d}"))
});

/// `NETBASE_FUZZ_DEBUG=1` prints why each input was rejected (for checking seeds).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("NETBASE_FUZZ_DEBUG").is_some());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz/topology.toml", text);
    let topology = match Topology::parse(&file, Some(&SCHEMA)) {
        Ok(t) => t,
        Err(d) => {
            if *DEBUG {
                eprintln!("rejected:\n{d}");
            }
            return;
        }
    };

    let plan = Plan::build(&topology);
    let rendered = plan.render();
    assert!(!rendered.is_empty());

    let json = serde_json::to_string(&plan).expect("plan serializes");
    let back: Plan = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("plan JSON does not deserialize: {e}\n{json}"));
    assert_eq!(back, plan, "plan changed through JSON");
    assert_eq!(back.render(), rendered);

    let code = netbase_codegen::emit::plan_code::emit(&topology, &plan);
    netbase_codegen::emit::format("fuzz", code)
        .unwrap_or_else(|e| panic!("emitted plan code: {e}"));
});
