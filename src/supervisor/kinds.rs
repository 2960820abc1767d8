//! The tile kinds this build can run, with their metric schemas.

use netbase_codegen::plan::{TilePlan, WorkspacePlan};
use netbase_codegen::topology::TileKind;
use netbase_runtime::tile::{MetricDef, MetricKind, Tile, TileContext, TileError};
use netbase_runtime::workspace::{Access, Workspace};

/// Whether this build has a tile implementation for `kind`; `netbase run` refuses topologies
/// with any other kind before creating anything.
pub fn is_available(kind: TileKind) -> bool {
    match kind {
        TileKind::Netlink => true,
        TileKind::Net | TileKind::UdpEcho => false,
    }
}

/// The metric schema of `kind` (what `netbase metrics` labels the counters with).
pub fn metric_defs(kind: TileKind) -> &'static [MetricDef] {
    match kind {
        TileKind::Netlink => NETLINK_METRICS,
        TileKind::Net | TileKind::UdpEcho => &[],
    }
}

/// One workspace a tile process joined, with its plan entry.
pub struct Joined {
    pub plan: WorkspacePlan,
    pub workspace: Workspace,
}

/// Builds the `Tile` of `plan`'s kind over the workspaces it joined.
pub fn build<'a>(plan: &TilePlan, joined: &'a [Joined]) -> Result<Box<dyn Tile + 'a>, String> {
    match plan.kind {
        TileKind::Netlink => {
            let netbase = joined
                .iter()
                .find(|j| j.plan.holds_tables && j.workspace.access() == Access::ReadWrite)
                .map(|j| &j.workspace)
                .ok_or("the netlink tile maps no tables workspace read-write")?;
            Ok(Box::new(NetlinkTile { netbase }))
        }
        kind => Err(format!("tile kind {} is not available yet", kind.name())),
    }
}

/// Metric indexes of the netlink tile.
pub mod netlink_metric {
    pub const HOUSEKEEPING_TOTAL: usize = 0;
    pub const NETBASE_GENERATION: usize = 1;
}

const NETLINK_METRICS: &[MetricDef] = &[
    MetricDef {
        name: "netlink_housekeeping_total",
        help: "Housekeeping rounds run by the netlink tile.",
        kind: MetricKind::Counter,
    },
    MetricDef {
        name: "netlink_netbase_generation",
        help: "Publication generation of the netbase workspace the tile writes.",
        kind: MetricKind::Gauge,
    },
];

/// The netlink tile's loop wiring: owns the netbase workspace as its writer; synchronisation
/// with the kernel (`netbase_tiles::netlink_tile`) is not wired in yet, so `poll` finds no
/// work and the tile only heartbeats and publishes its metrics.
struct NetlinkTile<'a> {
    netbase: &'a Workspace,
}

impl Tile for NetlinkTile<'_> {
    fn name(&self) -> &str {
        "netlink"
    }

    fn metrics(&self) -> &'static [MetricDef] {
        NETLINK_METRICS
    }

    fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
        Ok(0)
    }

    fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
        ctx.metrics.inc(netlink_metric::HOUSEKEEPING_TOTAL);
        ctx.metrics.set(
            netlink_metric::NETBASE_GENERATION,
            self.netbase.generation(),
        );
        Ok(())
    }
}
