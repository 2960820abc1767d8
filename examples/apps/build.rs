//! A user's build script: netbase-codegen turns the topologies into plans and, for their
//! `kind = "app"` tiles, into stems (`stems::<tile>`: hooks, outputs, the poll step) that
//! `src/main.rs` implements. A topology error fails the build with `file:line:column`.
fn main() {
    let result = netbase_codegen::Builder::new()
        .topology("topologies/pipeline.toml")
        .topology("topologies/shout.toml")
        .compile();
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
