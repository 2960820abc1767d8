//! Snapshots of everything emitted for the shipped schema and topologies: any change in the
//! generated code shows up as a reviewable diff (`cargo insta review`, or INSTA_UPDATE=always).

use std::path::{Path, PathBuf};

use netbase_codegen::{emit, fingerprint, schema_source, Plan, Schema, Topology};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped_schema() -> Schema {
    Schema::load(&repo().join("schema/netbase.toml")).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn schema_code() {
    let text = schema_source(&shipped_schema()).expect("emits");
    // The banner names the file, not its absolute path, so the snapshot is machine-independent.
    insta::assert_snapshot!("netbase_schema.rs", text);
}

#[test]
fn layout_canonical_text() {
    insta::assert_snapshot!("layout.txt", fingerprint::canonical_text(&shipped_schema()));
}

#[test]
fn topology_plans() {
    // The shipped topologies, and the example application crate's (their plans carry the
    // emitted stems of app tiles).
    let topologies = [
        ("default", "schema/topologies"),
        ("netlink", "schema/topologies"),
        ("multiqueue", "schema/topologies"),
        ("pipeline", "examples/apps/topologies"),
        ("shout", "examples/apps/topologies"),
    ];
    for (name, dir) in topologies {
        let topo = Topology::load(&repo().join(format!("{dir}/{name}.toml")))
            .unwrap_or_else(|d| panic!("{d}"));
        let plan = Plan::build(&topo);
        insta::assert_snapshot!(format!("plan_{name}.txt"), plan.render());
        let code = emit::format("plan", emit::plan_code::emit(&topo, &plan)).expect("emits");
        insta::assert_snapshot!(format!("plan_{name}.rs"), code);
    }
}

#[test]
fn topology_names_that_are_rust_keywords_emit_code_that_parses() {
    // Links called `type` and `self`, a tile called `match` (found by the topology fuzzer).
    let path = repo().join("fuzz/regressions/topology_parse/keyword_link_names.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let schema = shipped_schema();
    let topo = Topology::parse(
        &netbase_codegen::SourceFile::new(path.display().to_string(), &text),
        Some(&schema),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::build(&topo);
    let code = emit::format("plan", emit::plan_code::emit(&topo, &plan)).expect("emits");
    for expected in [
        "pub mod r#type",
        "pub mod r#match",
        "fn on_type(",
        "pub self_:",
    ] {
        assert!(code.contains(expected), "no `{expected}` in:\n{code}");
    }
}
