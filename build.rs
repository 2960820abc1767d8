//! Generates the plans of the shipped topologies (and, through them, checks the shipped schema)
//! so that the `netbase` binary carries them and a broken schema fails the build.
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut builder = netbase_codegen::Builder::new();
    for name in ["default", "netlink", "multiqueue"] {
        builder = builder.topology(root.join(format!("schema/topologies/{name}.toml")));
    }
    if let Err(e) = builder.compile() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
