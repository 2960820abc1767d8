//! The `netbase` command line.

mod bench;
mod compile;
mod demo;
mod diff;
mod guest;
pub(crate) mod metrics;
pub use metrics::{parse_samples, Sample};
mod route_get;
mod run;
pub(crate) mod show;
mod tile;

use clap::{Parser, Subcommand};

/// Exit status for invalid input (schema, topology, arguments).
pub const EXIT_INVALID: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "netbase",
    version,
    about = "Kernel-bypass networking that stays in sync with Linux",
    long_about = "netbase mirrors the kernel's interfaces, routes and neighbours into shared memory \
(the netbase) and runs AF_XDP packet tiles that route with it.\n\n\
Everything is generated from two kinds of TOML files: the schema (schema/netbase.toml: the \
tables and where each field comes from in netlink) and topologies (schema/topologies/*.toml: \
tiles, links and shared-memory workspaces).",
    after_help = "Examples:\n  \
netbase compile schema/topologies/default.toml          print the plan of the default topology\n  \
netbase compile schema/topologies/default.toml --json   the same plan as JSON\n  \
netbase bench neigh4                                     neighbour table vs HashMap+RwLock\n\n\
Run `netbase help <command>` for the details of one command."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::DemoArgs),
    Compile(compile::CompileArgs),
    Bench(bench::BenchArgs),
    Run(run::RunArgs),
    Metrics(metrics::MetricsArgs),
    Show(show::ShowArgs),
    Route(route_get::RouteArgs),
    Diff(diff::DiffArgs),
    /// One tile process of an instance (started by `netbase run`).
    #[command(hide = true)]
    Tile(tile::TileArgs),
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_INVALID } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Metrics(args) => metrics::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Route(args) => route_get::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Tile(args) => tile::run(&args),
    }
}
