//! Generates the netbase schema code (rows, tables, netlink parsers) that the tiles are built on.
fn main() {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/netbase.toml");
    if let Err(e) = netbase_codegen::Builder::new().schema(schema).compile() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
