//! The netlink tile: the single writer of the netbase, kept in sync with the kernel by
//! `NetlinkSync`, and the neighbour solicitation service for the net tiles.

use netbase_codegen::topology::{ProbeMethod, TileParams};
use netbase_runtime::link::ConsumerOptions;
use netbase_runtime::netlink::socket::BufferRequest;
use netbase_runtime::tile::{MetricDef, Tile, TileContext, TileError};
use netbase_runtime::workspace::{Access, Workspace};
use netbase_tiles::netbase_view::NetbaseView;
use netbase_tiles::netlink_tile::readers::{LOCAL4_QSBR_SLOT, MAIN4_QSBR_SLOT};
use netbase_tiles::netlink_tile::solicit_service::{ServiceOptions, SolicitService};
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, ReaderWords, SyncOptions, TableRegions,
};
use netbase_tiles::solicit::wire::FRAME_LEN;

use super::{metric, BuildContext};

/// Longest wait for a notification when there is nothing to do: bounds the delay of a solicit
/// request and of a stop request.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Least time between two "table full" messages.
const FULL_REPORT_EVERY_NS: u64 = 10_000_000_000;

/// Metric indexes of the netlink tile (the order of `METRICS`).
pub mod netlink_metric {
    pub const HOUSEKEEPING_TOTAL: usize = 0;
    pub const NETBASE_GENERATION: usize = 1;
    /// Then one per table (`schema::tables::ALL` order), then the counters of `SYNC_COUNTERS`.
    pub const UPDATES_FIRST: usize = 2;
}

pub const METRICS: &[MetricDef] = &[
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
    metric!("solicit_frames_total", "Frames read from the net tiles' solicit links.", Counter),
    metric!("solicit_link_lost_total", "Solicit frames lost because a net tile lapped the service (link overruns).", Counter),
    metric!("solicit_link_corrupt_total", "Corrupt solicit link slots skipped.", Counter),
    metric!("solicit_requests_total", "Valid solicit requests and keepalive hints.", Counter),
    metric!("solicit_bad_requests_total", "Solicit frames that failed validation (dropped).", Counter),
    metric!("solicit_known_total", "Requests for neighbours the netbase already resolved.", Counter),
    metric!("solicit_probes_sent_total", "Neighbour probes sent (NTF_USE or UDP).", Counter),
    metric!("solicit_deduped_total", "Requests for a probe already outstanding.", Counter),
    metric!("solicit_suppressed_total", "Requests refused by the per-address window (per host rate limit).", Counter),
    metric!("solicit_rate_limited_total", "Requests refused by the global token bucket.", Counter),
    metric!("solicit_placeholders", "Outstanding probes (bounded placeholders).", Gauge),
    metric!("solicit_placeholder_evictions_total", "Placeholders evicted to make room.", Counter),
    metric!("solicit_probe_errors_total", "Probes the kernel refused to send.", Counter),
    metric!("solicit_keepalives_sent_total", "Refreshes of neighbours in use.", Counter),
    metric!("solicit_gateway_probes_total", "Probes of default gateways.", Counter),
    metric!("solicit_udp_fallback", "1 when probes use UDP because NTF_USE was refused.", Gauge),
];

pub fn build<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    let netbase = ctx.tables(Access::ReadWrite)?;
    let regions =
        TableRegions::from_workspace(netbase).map_err(|e| format!("netbase tables: {e}"))?;
    // The hash seed only has to differ between instances, so that table layouts (and worst
    // cases) cannot be precomputed by whoever controls the keys.
    let seed = monotonic_ns() ^ u64::from(std::process::id());
    let local4 = ReaderWords::new(ctx.reader_words(LOCAL4_QSBR_SLOT)?);
    let main4 = ReaderWords::new(ctx.reader_words(MAIN4_QSBR_SLOT)?);
    // Tables that are laid out already were written by this tile before it died and was
    // restarted: the net tiles have been serving from them meanwhile, so they are adopted
    // (and refreshed by the first sync), not wiped.
    let existing = NetbaseView::attach(netbase).ok();
    let writer = match &existing {
        Some(_) => NetbaseWriter::attach_with(regions, local4, main4),
        None => NetbaseWriter::create_with(regions, local4, main4, seed),
    }
    .map_err(|e| format!("netbase tables: {e:?}"))?;
    let mut opts = SyncOptions::default();
    // Test setting, not an operator knob: `NETBASE_NETLINK_RCVBUF=BYTES` gives the
    // notification socket a receive buffer of exactly that size (a plain SO_RCVBUF request,
    // which the kernel doubles and caps at rmem_max), so that tests can make a burst overflow
    // it and exercise the ENOBUFS resync.
    if let Some(bytes) = std::env::var("NETBASE_NETLINK_RCVBUF")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        opts.monitor.socket_rcvbuf = bytes;
        opts.monitor.rcvbuf_request = BufferRequest::Plain;
    }
    let mut sync = NetlinkSync::open(opts, writer).map_err(|e| format!("netlink sockets: {e}"))?;
    if let Some(view) = &existing {
        let rows = sync
            .mirror
            .stamp_adopted(view)
            .map_err(|e| format!("adopting the netbase tables: {e}"))?;
        eprintln!(
            "netbase tile {}: adopted {rows} rows of the existing netbase; resyncing",
            ctx.me.instance
        );
    }

    let probe = match &ctx.me.params {
        TileParams::Netlink { probe } => *probe,
        other => return Err(format!("netlink tile with parameters of {other:?}")),
    };
    let solicit = solicit_service(ctx, probe)?;
    Ok(Box::new(NetlinkTile {
        netbase,
        sync,
        solicit,
        full_reported: 0,
        full_reported_at: 0,
    }))
}

/// The solicitation service over every link this tile consumes (the net tiles' solicit
/// links); `None` when there is none (the netlink-only topology).
fn solicit_service<'a>(
    ctx: &BuildContext<'a>,
    probe: ProbeMethod,
) -> Result<Option<SolicitService<'a>>, String> {
    let links = super::super::links::consumed_links(ctx.plan, ctx.me);
    if links.is_empty() {
        return Ok(None);
    }
    let opts = ServiceOptions {
        netlink_probes: probe != ProbeMethod::Udp,
        ..ServiceOptions::default()
    };
    let mut service =
        SolicitService::new(opts).map_err(|e| format!("solicitation probe socket: {e}"))?;
    for l in links {
        if l.frame_size as usize != FRAME_LEN {
            return Err(format!(
                "link {} into the netlink tile has {}-byte frames; solicit requests are {FRAME_LEN} bytes",
                l.name, l.frame_size
            ));
        }
        for c in super::super::links::consumers(
            ctx.plan,
            ctx.me,
            ctx.joined,
            &l.name,
            ConsumerOptions::default(),
        )? {
            service.add_consumer(c);
        }
    }
    Ok(Some(service))
}

/// The netlink tile: the single writer of the netbase, kept in sync with the kernel by
/// `NetlinkSync` in bounded steps, and the solicitation service next to it.
struct NetlinkTile<'a> {
    netbase: &'a Workspace,
    sync: NetlinkSync<'a, ReaderWords<'a>>,
    solicit: Option<SolicitService<'a>>,
    /// `table_full` when last reported, and when.
    full_reported: u64,
    full_reported_at: u64,
}

impl NetlinkTile<'_> {
    /// Says on stderr, at most every [`FULL_REPORT_EVERY_NS`], that writes were refused for
    /// lack of room: the operator must know the netbase is incomplete (the counter alone is
    /// easy to miss). Readers answer "incomplete" for what the refused routes cover.
    fn report_table_full(&mut self) {
        let full = self.sync.counters().table_full;
        let now = monotonic_ns();
        if full == self.full_reported
            || now.saturating_sub(self.full_reported_at) < FULL_REPORT_EVERY_NS
        {
            return;
        }
        let t = &self.sync.mirror.tables;
        use netbase_tiles::schema::tables as s;
        eprintln!(
            "netbase tile netlink: {} writes refused because a table is full (rows / capacity: \
             interfaces {}/{}, addrs4 {}/{}, local4 {}/{}, main4 {}/{}, neigh4 {}/{}); lookups \
             covered by refused routes answer \"incomplete\" (metric netlink_table_full_total)",
            full - self.full_reported,
            t.interfaces.len(),
            s::INTERFACES.capacity,
            t.addrs4.len(),
            s::ADDRS4.capacity,
            t.local4.len(),
            s::LOCAL4.capacity,
            t.main4.len(),
            s::MAIN4.capacity,
            t.neigh4.len(),
            s::NEIGH4.capacity,
        );
        self.full_reported = full;
        self.full_reported_at = now;
    }
}

impl Tile for NetlinkTile<'_> {
    fn name(&self) -> &str {
        "netlink"
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn descriptors(&self) -> Vec<std::os::fd::RawFd> {
        let mut fds = self.sync.descriptors().to_vec();
        if let Some(s) = &self.solicit {
            fds.extend(s.descriptors());
        }
        fds
    }

    fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
        let now = monotonic_ns();
        let r = self.sync.step(now);
        let mut work = usize::from(!r.idle());
        // Probes only once the first sync is done: before it, every neighbour looks unknown.
        if self.sync.is_live() {
            if let Some(s) = &mut self.solicit {
                work += usize::from(!s.poll(&self.sync.mirror.tables, now).idle());
            }
        }
        if work == 0 {
            // Idle: block on the notification socket rather than let the loop spin, which
            // would take a core from the packet tiles. A notification ends the wait at once;
            // the solicit links (shared memory, nothing to block on) are read again after at
            // most IDLE_WAIT.
            self.sync
                .wait(Some(IDLE_WAIT))
                .map_err(|e| TileError::new(2, format!("netlink notification socket: {e}")))?;
        }
        Ok(work)
    }

    fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
        use netlink_metric::*;
        // Route changes that had to wait for the readers (a small-array flip, next-hop ids in
        // their grace period, routes refused for room) are retried here, not only with the
        // next change: the net tiles pass a quiescent point every housekeeping tick, so a
        // waiting change lands within a tick or two even when the kernel goes quiet.
        self.sync.mirror.tables.maintain();
        self.report_table_full();
        let m = &ctx.metrics;
        m.inc(HOUSEKEEPING_TOTAL);
        m.set(NETBASE_GENERATION, self.netbase.generation());
        let c = self.sync.counters();
        for (i, n) in c.updates.iter().enumerate() {
            m.set(UPDATES_FIRST + i, *n);
        }
        let t = &self.sync.mirror.tables;
        let (sc, pc) = self
            .solicit
            .as_ref()
            .map(|s| (s.counters(), s.policy_counters()))
            .unwrap_or_default();
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
            sc.frames,
            sc.lost,
            sc.corrupt,
            pc.requests,
            pc.bad_requests,
            pc.known,
            pc.probes_sent,
            pc.deduped,
            pc.suppressed,
            pc.rate_limited,
            pc.placeholders,
            pc.placeholder_evictions,
            sc.probe_errors,
            pc.keepalives_sent,
            pc.gateway_probes,
            u64::from(sc.udp_fallback),
        ];
        debug_assert_eq!(UPDATES_FIRST + c.updates.len() + rest.len(), METRICS.len());
        for (i, v) in rest.into_iter().enumerate() {
            m.set(UPDATES_FIRST + c.updates.len() + i, v);
        }
        Ok(())
    }
}
