//! A user's build script: the same code generator netbase itself uses, on the user's own schema
//! and topology. Errors are printed as `file:line:column` diagnostics and fail the build.
fn main() {
    let result = netbase_codegen::Builder::new()
        .schema("schema/flows.toml")
        .topology("schema/flows-topology.toml")
        .compile();
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
