//! The tile kinds this build can run, with their metric schemas.

use netbase_codegen::plan::{TilePlan, WorkspacePlan};
use netbase_codegen::topology::TileKind;
use netbase_runtime::netlink::socket::BufferRequest;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::tile::{MetricDef, MetricKind, Tile, TileContext, TileError};
use netbase_runtime::workspace::{Access, Workspace};
use netbase_tiles::netlink_tile::{NetbaseWriter, NetlinkSync, SyncOptions, TableRegions};

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

/// Builds the `Tile` of `plan`'s kind over the workspaces it joined. Everything that needs a
/// file descriptor or a mapping is opened here, before the loop runs.
pub fn build<'a>(plan: &TilePlan, joined: &'a [Joined]) -> Result<Box<dyn Tile + 'a>, String> {
    match plan.kind {
        TileKind::Netlink => {
            let netbase = joined
                .iter()
                .find(|j| j.plan.holds_tables && j.workspace.access() == Access::ReadWrite)
                .map(|j| &j.workspace)
                .ok_or("the netlink tile maps no tables workspace read-write")?;
            let regions = TableRegions::from_workspace(netbase)
                .map_err(|e| format!("netbase tables: {e}"))?;
            // The hash seed only has to differ between instances, so that table layouts (and
            // worst cases) cannot be precomputed by whoever controls the keys.
            let seed = netbase_tiles::netlink_tile::monotonic_ns() ^ u64::from(std::process::id());
            // No reader tile exists yet (net tiles come with their issue): nothing holds
            // reclamation back. Reader tiles will be passed here as `ReaderEpochs` over their
            // status quiescent words.
            let writer = NetbaseWriter::create(regions, NoReaders, seed)
                .map_err(|e| format!("netbase tables: {e:?}"))?;
            let mut opts = SyncOptions::default();
            // Test setting, not an operator knob: `NETBASE_NETLINK_RCVBUF=BYTES` gives the
            // notification socket a receive buffer of exactly that size (a plain
            // SO_RCVBUF request, which the kernel doubles and caps at rmem_max), so that
            // tests can make a burst overflow it and exercise the ENOBUFS resync.
            if let Some(bytes) = std::env::var("NETBASE_NETLINK_RCVBUF")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                opts.monitor.socket_rcvbuf = bytes;
                opts.monitor.rcvbuf_request = BufferRequest::Plain;
            }
            let sync =
                NetlinkSync::open(opts, writer).map_err(|e| format!("netlink sockets: {e}"))?;
            Ok(Box::new(NetlinkTile { netbase, sync }))
        }
        kind => Err(format!("tile kind {} is not available yet", kind.name())),
    }
}

/// Metric indexes of the netlink tile (the order of `NETLINK_METRICS`).
pub mod netlink_metric {
    pub const HOUSEKEEPING_TOTAL: usize = 0;
    pub const NETBASE_GENERATION: usize = 1;
    /// Then one per table (`schema::tables::ALL` order), then the counters of `SYNC_COUNTERS`.
    pub const UPDATES_FIRST: usize = 2;
}

macro_rules! metric {
    ($name:literal, $help:literal, $kind:ident) => {
        MetricDef {
            name: $name,
            help: $help,
            kind: MetricKind::$kind,
        }
    };
}

const NETLINK_METRICS: &[MetricDef] = &[
    metric!("netlink_housekeeping_total", "Housekeeping rounds run by the netlink tile.", Counter),
    metric!("netlink_netbase_generation", "Publication generation of the netbase workspace the tile writes.", Gauge),
    metric!("netlink_updates_interfaces_total", "Rows written or removed in table interfaces.", Counter),
    metric!("netlink_updates_addrs4_total", "Rows written or removed in table addrs4.", Counter),
    metric!("netlink_updates_local4_total", "Routes written or removed in table local4.", Counter),
    metric!("netlink_updates_main4_total", "Routes written or removed in table main4.", Counter),
    metric!("netlink_updates_neigh4_total", "Rows written or removed in table neigh4.", Counter),
    metric!("netlink_full_syncs_total", "Full syncs completed (initial and resyncs).", Counter),
    metric!("netlink_enobufs_total", "Notification overruns (ENOBUFS, truncated or malformed datagrams).", Counter),
    metric!("netlink_dump_retries_total", "Interrupted dumps repeated.", Counter),
    metric!("netlink_dump_failures_total", "Dumps that failed and were retried after a backoff.", Counter),
    metric!("netlink_parse_errors_total", "Messages that did not parse (skipped).", Counter),
    metric!("netlink_unknown_attrs_total", "Attributes the schema does not map.", Counter),
    metric!("netlink_unsupported_routes_total", "Routes stored with multipath or nexthop-object next hops (net tiles drop with route_unsupported).", Counter),
    metric!("netlink_ignored_tables_total", "Routes of tables other than local and main.", Counter),
    metric!("netlink_cloned_routes_total", "Cloned (cache) routes skipped.", Counter),
    metric!("netlink_table_full_total", "Writes refused because a table was full.", Counter),
    metric!("netlink_swept_total", "Rows removed by mark-and-sweep after a resync.", Counter),
    metric!("netlink_routes_stale_total", "Link or nexthop events after which routes were re-dumped.", Counter),
    metric!("netlink_notifications_total", "Notification messages applied.", Counter),
    metric!("netlink_dump_messages_total", "Dump messages applied.", Counter),
    metric!("netlink_dump_rows_superseded_total", "Dump rows skipped: a notification about the row was applied during that dump.", Counter),
    metric!("netlink_discarded_after_overrun_total", "Notifications queued before an overrun was seen, dropped (the resync re-dumps them).", Counter),
    metric!("netlink_link_refreshes_total", "Link re-dumps after a new link was announced (a veth learns its peer silently).", Counter),
    metric!("netlink_neigh_refreshes_total", "Neighbour re-dumps after a link came up (neighbours the kernel creates silently).", Counter),
    metric!("netlink_live", "1 once the first full sync completed.", Gauge),
    metric!("netlink_rows_interfaces", "Rows in table interfaces (fill level; capacity in the schema).", Gauge),
    metric!("netlink_rows_addrs4", "Rows in table addrs4.", Gauge),
    metric!("netlink_routes_local4", "Routes in table local4.", Gauge),
    metric!("netlink_routes_main4", "Routes in table main4.", Gauge),
    metric!("netlink_rows_neigh4", "Rows in table neigh4.", Gauge),
];

/// The netlink tile: the single writer of the netbase, kept in sync with the kernel by
/// `NetlinkSync` in bounded steps.
struct NetlinkTile<'a> {
    netbase: &'a Workspace,
    sync: NetlinkSync<'a, NoReaders>,
}

impl Tile for NetlinkTile<'_> {
    fn name(&self) -> &str {
        "netlink"
    }

    fn metrics(&self) -> &'static [MetricDef] {
        NETLINK_METRICS
    }

    fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
        let r = self.sync.step(netbase_tiles::netlink_tile::monotonic_ns());
        Ok(usize::from(!r.idle()))
    }

    fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
        use netlink_metric::*;
        let m = &ctx.metrics;
        m.inc(HOUSEKEEPING_TOTAL);
        m.set(NETBASE_GENERATION, self.netbase.generation());
        let c = self.sync.counters();
        for (i, n) in c.updates.iter().enumerate() {
            m.set(UPDATES_FIRST + i, *n);
        }
        let t = &self.sync.mirror.tables;
        let rest = [
            c.full_syncs,
            c.enobufs,
            c.dump_retries,
            c.dump_failures,
            c.parse_errors,
            c.unknown_attrs,
            c.unsupported_routes,
            c.ignored_tables,
            c.cloned_routes,
            c.table_full,
            c.swept,
            c.routes_stale,
            c.notifications,
            c.dump_messages,
            c.dump_rows_superseded,
            c.discarded_after_overrun,
            c.link_refreshes,
            c.neigh_refreshes,
            u64::from(self.sync.is_live()),
            t.interfaces.len() as u64,
            t.addrs4.len() as u64,
            t.local4.len() as u64,
            t.main4.len() as u64,
            t.neigh4.len() as u64,
        ];
        for (i, v) in rest.into_iter().enumerate() {
            m.set(UPDATES_FIRST + c.updates.len() + i, v);
        }
        Ok(())
    }
}
