//! `netbase run`: start and supervise an instance of a topology.

use std::path::PathBuf;

use clap::Args;

use crate::supervisor::{self, RunOptions};

#[derive(Debug, Args)]
#[command(
    about = "Start an instance of a topology and supervise its tiles",
    long_about = "Compiles the topology, creates every shared-memory workspace of its plan \
(named `<NAME>.<workspace>`), writes the run directory ($NETBASE_RUN_DIR/NAME, default \
/run/netbase/NAME: supervisor.pid, plan.json, one <tile>.pid per tile) and starts one process \
per tile instance. Tiles die with the supervisor.\n\n\
SIGINT or SIGTERM stops the instance in order (tiles get SIGTERM, then SIGKILL after 5 s), \
removes its workspaces and run directory, and exits 0. If a tile exits or dies, the instance \
is stopped the same way and the exit status is 1. Refuses to start while another supervisor \
of the same name is alive; leftovers of a dead one are cleaned up first. Exit status 2: \
invalid topology, unavailable tile kind or unusable name.",
    after_help = "Examples:\n  \
netbase run schema/topologies/netlink.toml\n  \
NETBASE_RUN_DIR=/tmp/nb netbase run schema/topologies/netlink.toml --name lab1"
)]
pub struct RunArgs {
    /// Topology file (TOML), e.g. schema/topologies/netlink.toml.
    pub topology: PathBuf,
    /// Instance name: prefixes its workspaces and names its run directory.
    #[arg(long, default_value = supervisor::DEFAULT_INSTANCE)]
    pub name: String,
}

pub fn run(args: &RunArgs) -> i32 {
    supervisor::supervise(&RunOptions {
        topology: args.topology.clone(),
        name: args.name.clone(),
    })
}
