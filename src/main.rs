fn main() {
    std::process::exit(netbase::cli::main());
}
