//! `netbase tile` (hidden): one tile process, started by `netbase run`.

use std::path::PathBuf;

use clap::Args;

use crate::supervisor::{self, TileOptions};

#[derive(Debug, Args)]
pub struct TileArgs {
    /// Instance name (workspace prefix).
    #[arg(long)]
    pub name: String,
    /// Tile instance from the plan, e.g. netlink.0.
    #[arg(long)]
    pub instance: String,
    /// The instance's run directory, holding plan.json.
    #[arg(long)]
    pub run_dir: PathBuf,
}

pub fn run(args: &TileArgs) -> i32 {
    supervisor::run_tile(&TileOptions {
        name: args.name.clone(),
        instance: args.instance.clone(),
        run_dir: args.run_dir.clone(),
    })
}
