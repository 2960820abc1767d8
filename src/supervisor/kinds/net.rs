//! The net tile: one AF_XDP socket on one receive queue of one interface.
//!
//! * **RX**: frames the XDP program redirected are parsed and validated
//!   (`net_tile::rx_parse`), then handed to the application tile that owns the destination
//!   port, over its link, as an `app_frame`.
//! * **TX**: datagrams from the application links are routed through the netbase (`local`, then
//!   `main`, interface, neighbour, source address: `net_tile::route`), built with correct
//!   checksums and sent on the AF_XDP socket; destinations on this host go through the
//!   loopback device: a raw IPv4 socket sends the built packet, which the kernel routes like
//!   its own local traffic (an `AF_PACKET` injection on `lo` would be refused as a martian:
//!   its source is a local address).
//! * A next hop without a link-layer address becomes a solicit request to the netlink tile
//!   (lossy link) and a `no_neighbour` drop; next hops in use get a keepalive hint now and then.
//! * Every datagram that is not delivered is counted under its [`DropReason`].

use core::sync::atomic::AtomicU64;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::sync::OnceLock;

use netbase_codegen::topology::TileParams;
use netbase_runtime::bpf::XskMap;
use netbase_runtime::link::{arena_frame, Consumer, LinkError, Producer};
use netbase_runtime::rawframe::{self, RawIpv4Sender};
use netbase_runtime::tables::lpm::ChainResult;
use netbase_runtime::tile::{MetricDef, MetricKind, Tile, TileContext, TileError};
use netbase_runtime::workspace::Access;
use netbase_runtime::xsk::{TxError, XskConfig, XskSocket};
use netbase_tiles::net_tile::app_frame::{self, AppFrame};
use netbase_tiles::net_tile::drop_reason::DropReason;
use netbase_tiles::net_tile::headers::{ETH_HLEN, IP_UDP_OVERHEAD};
use netbase_tiles::net_tile::route::{Resolve, Resolver};
use netbase_tiles::net_tile::rx_parse::parse_udp4;
use netbase_tiles::net_tile::tx_build::{build_udp4, Udp4Headers};
use netbase_tiles::netbase_view::NetbaseView;
use netbase_tiles::netlink_tile::monotonic_ns;
use netbase_tiles::schema::Route4;
use netbase_tiles::solicit::wire::{self as solicit_wire, Kind, Request, FRAME_LEN};

use super::BuildContext;

/// Frames per RX batch and per application link poll.
const BATCH: usize = 64;
/// One solicit request per next hop per this long, at most (the netlink tile dedups too; this
/// keeps one busy destination from filling the lossy link with copies).
const SOLICIT_EVERY_NS: u64 = 100_000_000;
/// One keepalive hint per next hop in use per this long.
const HINT_EVERY_NS: u64 = 1_000_000_000;
/// Slots of the direct-mapped request memory (bounded whatever the traffic: spoofed
/// destinations only evict each other).
const RECENT_SLOTS: usize = 1024;

/// Metric indexes before the per-reason drop counters.
mod m {
    pub const RX_FRAMES: usize = 0;
    pub const RX_DELIVERED: usize = 1;
    pub const TX_REQUESTS: usize = 2;
    pub const TX_SENT: usize = 3;
    pub const TX_LOCAL: usize = 4;
    pub const SOLICITS: usize = 5;
    pub const HINTS: usize = 6;
    pub const APP_LINK_LOST: usize = 7;
    pub const XSK_RX_DROPPED: usize = 8;
    pub const XSK_RX_RING_FULL: usize = 9;
    pub const XSK_FILL_EMPTY: usize = 10;
    pub const XSK_TX_INVALID: usize = 11;
    pub const ZERO_COPY: usize = 12;
    pub const DROPS_TOTAL: usize = 13;
    pub const FIRST_DROP: usize = 14;
}

const FIXED: [(&str, &str, MetricKind); m::FIRST_DROP] = [
    (
        "net_rx_frames_total",
        "Frames received on the AF_XDP socket.",
        MetricKind::Counter,
    ),
    (
        "net_rx_delivered_total",
        "Datagrams handed to application tiles.",
        MetricKind::Counter,
    ),
    (
        "net_tx_requests_total",
        "Datagrams the application tiles asked to send.",
        MetricKind::Counter,
    ),
    (
        "net_tx_sent_total",
        "Datagrams sent on the AF_XDP socket.",
        MetricKind::Counter,
    ),
    (
        "net_tx_local_total",
        "Datagrams to this host, delivered through the loopback device.",
        MetricKind::Counter,
    ),
    (
        "net_solicits_total",
        "Solicit requests sent to the netlink tile.",
        MetricKind::Counter,
    ),
    (
        "net_keepalive_hints_total",
        "Keepalive hints sent to the netlink tile.",
        MetricKind::Counter,
    ),
    (
        "net_app_link_lost_total",
        "Frames lost on links from application tiles (overruns).",
        MetricKind::Counter,
    ),
    (
        "net_xsk_rx_dropped_total",
        "Kernel: frames dropped before the RX ring (XDP_STATISTICS).",
        MetricKind::Counter,
    ),
    (
        "net_xsk_rx_ring_full_total",
        "Kernel: frames dropped because the RX ring was full.",
        MetricKind::Counter,
    ),
    (
        "net_xsk_fill_ring_empty_total",
        "Kernel: times the fill ring was empty.",
        MetricKind::Counter,
    ),
    (
        "net_xsk_tx_invalid_total",
        "Kernel: invalid TX descriptors.",
        MetricKind::Counter,
    ),
    (
        "net_zero_copy",
        "1 when the AF_XDP socket runs in zero-copy mode.",
        MetricKind::Gauge,
    ),
    (
        "net_drops_total",
        "Datagrams dropped, all reasons.",
        MetricKind::Counter,
    ),
];

/// The net tile's metric schema: the fixed counters, then `net_drop_<reason>_total` for every
/// [`DropReason`] in its order.
pub fn metrics() -> &'static [MetricDef] {
    static DEFS: OnceLock<Vec<MetricDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let fixed = FIXED
            .iter()
            .map(|&(name, help, kind)| MetricDef { name, help, kind });
        let drops = DropReason::ALL.iter().map(|r| MetricDef {
            // Leaked once per process: metric names must be 'static, and these are few.
            name: Box::leak(format!("net_drop_{}_total", r.name()).into_boxed_str()),
            help: "Datagrams dropped for this reason.",
            kind: MetricKind::Counter,
        });
        fixed.chain(drops).collect()
    })
}

pub fn build<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    let TileParams::Net { interface, .. } = &ctx.me.params else {
        return Err(format!("net tile with parameters {:?}", ctx.me.params));
    };
    let tables = ctx.tables(Access::ReadOnly)?;
    let view = NetbaseView::attach(tables).map_err(|e| format!("netbase tables: {e}"))?;
    let links = super::super::links::produced_links(ctx.plan, ctx.me);

    // Applications by port: every produced link whose consumer has a `udp_port`.
    let mut apps = Vec::new();
    let mut solicit = None;
    for l in &links {
        let consumer = ctx.plan.tiles.iter().find(|t| t.name == l.consumer);
        let port = consumer.and_then(|t| t.params.udp_port());
        let producer = super::super::links::producer(ctx.plan, ctx.me, ctx.joined, &l.name)?;
        match port {
            Some(port) => apps.push((port, producer)),
            None if l.frame_size as usize == FRAME_LEN => solicit = Some(producer),
            None => {
                return Err(format!(
                    "link {} of net tile {} goes to a tile without a udp_port and is not a \
                     {FRAME_LEN}-byte solicit link",
                    l.name, ctx.me.instance
                ))
            }
        }
    }
    let inputs = super::super::links::all_consumers(ctx.plan, ctx.me, ctx.joined, 32)?;

    let ifindex =
        rawframe::ifindex(interface).map_err(|e| format!("interface {interface}: {e}"))?;
    let queue = ctx.me.index;
    let xsk = XskSocket::open(ifindex, queue, &XskConfig::default())
        .map_err(|e| format!("AF_XDP socket on {interface} queue {queue}: {e}"))?;
    if !xsk.zero_copy() {
        if let Some(errno) = xsk.zero_copy_fallback_errno() {
            eprintln!(
                "netbase tile {}: zero-copy AF_XDP refused on {interface} ({}); using copy mode",
                ctx.me.instance,
                std::io::Error::from_raw_os_error(errno)
            );
        }
    }
    let map = inherited_xskmap()?;
    map.set(queue, xsk.fd())
        .map_err(|e| format!("cannot put the AF_XDP socket into the XSKMAP at {queue}: {e}"))?;
    let frame = links
        .iter()
        .map(|l| l.frame_size)
        .chain(
            super::super::links::consumed_links(ctx.plan, ctx.me)
                .iter()
                .map(|l| l.frame_size),
        )
        .max()
        .unwrap_or(0) as usize;
    let input_frame = inputs
        .iter()
        .map(|c| c.ring().geometry().frame_size() as usize)
        .max()
        .unwrap_or(0);
    let local =
        RawIpv4Sender::open().map_err(|e| format!("raw IPv4 socket for local delivery: {e}"))?;
    Ok(Box::new(NetTile {
        view,
        resolver: Resolver::new(),
        xsk,
        _map: map,
        apps,
        solicit,
        inputs,
        local,
        ifindex,
        ip_id: 0,
        arena: vec![0; BATCH * input_frame],
        lens: [0; BATCH],
        scratch: vec![0; frame.max(app_frame::LINK_FRAME_SIZE)],
        recent: vec![Recent::default(); RECENT_SLOTS],
        counts: vec![0; metrics().len()],
    }))
}

/// The XSKMAP the supervisor attached for this tile's interface (see `supervisor::xdp`).
fn inherited_xskmap() -> Result<XskMap, String> {
    let env = super::super::xdp::XSKMAP_FD_ENV;
    let fd: RawFd = std::env::var(env)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            format!("no XSKMAP descriptor in {env}: net tiles are started by `netbase run`")
        })?;
    XskMap::from_inherited_fd(fd).map_err(|e| format!("XSKMAP descriptor {fd}: {e}"))
}

/// What was last sent to the netlink tile about one next hop.
#[derive(Debug, Clone, Copy, Default)]
struct Recent {
    ifindex: u32,
    ip: u32,
    solicit_ns: u64,
    hint_ns: u64,
}

struct NetTile<'a> {
    view: NetbaseView<'a>,
    resolver: Resolver,
    xsk: XskSocket,
    /// Kept open for the tile's life (the supervisor holds it too).
    _map: XskMap,
    apps: Vec<(u16, Producer<'a, AtomicU64>)>,
    solicit: Option<Producer<'a, AtomicU64>>,
    inputs: Vec<Consumer<'a, AtomicU64>>,
    local: RawIpv4Sender,
    ifindex: u32,
    ip_id: u16,
    /// One application link batch, a frame per slot (`Consumer::poll_into`), so the batch can
    /// be routed with one burst lookup.
    arena: Vec<u8>,
    lens: [u32; BATCH],
    scratch: Vec<u8>,
    recent: Vec<Recent>,
    counts: Vec<u64>,
}

/// Counts one drop.
fn count_drop(counts: &mut [u64], reason: DropReason) {
    counts[m::DROPS_TOTAL] += 1;
    counts[m::FIRST_DROP + reason as usize] += 1;
}

impl NetTile<'_> {
    fn rx(&mut self) -> usize {
        let apps = &mut self.apps;
        let counts = &mut self.counts;
        let scratch = &mut self.scratch;
        self.xsk.rx_batch(BATCH, |frame| {
            counts[m::RX_FRAMES] += 1;
            let d = match parse_udp4(frame) {
                Ok(d) => d,
                Err(reason) => return count_drop(counts, reason),
            };
            let Some((_, link)) = apps.iter_mut().find(|(port, _)| *port == d.dst_port) else {
                return count_drop(counts, DropReason::NoApp);
            };
            let Ok(n) = app_frame::encode(scratch, &AppFrame::from_datagram(&d)) else {
                return count_drop(counts, DropReason::AppFrameTooLong);
            };
            match link.publish(&scratch[..n], 0) {
                Ok(_) => counts[m::RX_DELIVERED] += 1,
                Err(LinkError::Full) => count_drop(counts, DropReason::AppLinkFull),
                Err(_) => count_drop(counts, DropReason::AppFrameTooLong),
            }
        })
    }

    fn tx(&mut self) -> Result<usize, TileError> {
        let mut work = 0;
        let generation = Resolver::generation(&self.view);
        for input in &mut self.inputs {
            // Never take more than the TX ring can hold now: the rest waits in the link
            // (back-pressure to the application) instead of being dropped as tx_ring_full.
            let room = self.xsk.tx_free_frames().min(BATCH);
            if room == 0 {
                break;
            }
            let frame_size = input.ring().geometry().frame_size() as usize;
            let batch = input
                .poll_into(&mut self.arena, &mut self.lens[..room])
                .map_err(|e| TileError::new(2, format!("application link: {e}")))?;
            self.counts[m::APP_LINK_LOST] += batch.lost;
            work += batch.frames;
            let mut sender = Sender {
                view: &self.view,
                resolver: &mut self.resolver,
                xsk: &mut self.xsk,
                solicit: self.solicit.as_mut(),
                local: &self.local,
                ifindex: self.ifindex,
                ip_id: &mut self.ip_id,
                scratch: &mut self.scratch,
                recent: &mut self.recent,
                counts: &mut self.counts,
                generation,
                now: monotonic_ns(),
            };
            sender.send_batch(&self.arena, frame_size, &self.lens[..batch.frames]);
        }
        if work > 0 {
            // EAGAIN and friends are absorbed by the socket; anything else is worth a stop.
            self.xsk
                .tx_flush()
                .map_err(|e| TileError::new(3, format!("AF_XDP transmit: {e}")))?;
        }
        Ok(work)
    }
}

/// The transmit path of one application link batch.
struct Sender<'s, 'a> {
    view: &'s NetbaseView<'a>,
    resolver: &'s mut Resolver,
    xsk: &'s mut XskSocket,
    solicit: Option<&'s mut Producer<'a, AtomicU64>>,
    local: &'s RawIpv4Sender,
    /// The interface of this tile's AF_XDP socket: the only one it can send on.
    ifindex: u32,
    ip_id: &'s mut u16,
    scratch: &'s mut [u8],
    recent: &'s mut [Recent],
    counts: &'s mut [u64],
    generation: u64,
    now: u64,
}

impl Sender<'_, '_> {
    /// One batch of application frames (`lens` as `Consumer::poll_into` left them): each is
    /// decoded and checked, the valid ones are routed together (one burst lookup per table,
    /// whose cache misses overlap), then each is resolved and sent, in order.
    fn send_batch(&mut self, arena: &[u8], frame_size: usize, lens: &[u32]) {
        let mut frames: [Option<AppFrame<'_>>; BATCH] = [None; BATCH];
        let mut dsts = [0u32; BATCH];
        let mut n = 0;
        for k in 0..lens.len().min(BATCH) {
            self.counts[m::TX_REQUESTS] += 1;
            let decoded = arena_frame(arena, frame_size, lens, k)
                .ok_or(DropReason::BadAppFrame)
                .and_then(|bytes| app_frame::decode(bytes).map_err(|_| DropReason::BadAppFrame))
                .and_then(|f| f.check_outbound().map(|()| f));
            match decoded {
                Ok(f) => {
                    frames[n] = Some(f);
                    dsts[n] = u32::from(f.peer_ip);
                    n += 1;
                }
                Err(reason) => count_drop(self.counts, reason),
            }
        }
        let mut routes = [ChainResult::Unreachable; BATCH];
        Resolver::route_burst(self.view, &dsts[..n], &mut routes[..n]);
        for (f, route) in frames[..n].iter().flatten().zip(routes) {
            self.send(f, route);
        }
    }

    /// Resolves and sends one datagram whose route lookup is done.
    fn send(&mut self, f: &AppFrame<'_>, route: ChainResult<Route4>) {
        let resolved = self.resolver.resolve_routed(
            self.view,
            self.generation,
            f.peer_ip,
            f.preferred_src(),
            f.payload.len(),
            route,
        );
        let path = match resolved {
            Resolve::Send(path) => path,
            Resolve::Solicit { ifindex, next_hop } => {
                self.request(Kind::Solicit, ifindex, next_hop);
                return count_drop(self.counts, DropReason::NoNeighbour);
            }
            Resolve::Drop(reason) => return count_drop(self.counts, reason),
        };
        *self.ip_id = self.ip_id.wrapping_add(1);
        let headers = Udp4Headers {
            src_mac: path.src_mac,
            dst_mac: path.dst_mac,
            src_ip: path.src_ip,
            dst_ip: f.peer_ip,
            src_port: f.local_port,
            dst_port: f.peer_port,
            ip_id: *self.ip_id,
        };
        if path.local {
            return self.send_local(&headers, f.payload);
        }
        if path.ifindex != self.ifindex {
            return count_drop(self.counts, DropReason::OtherInterface);
        }
        let payload = f.payload;
        // A datagram that does not fit a UMEM frame makes the builder return 0: the socket
        // gives the frame back (`Cancelled`) and nothing is sent.
        match self
            .xsk
            .tx_send(|buf| build_udp4(buf, &headers, payload).unwrap_or(0))
        {
            Ok(()) => {
                self.counts[m::TX_SENT] += 1;
                self.request(Kind::KeepaliveHint, path.ifindex, path.next_hop);
            }
            Err(TxError::Full) => count_drop(self.counts, DropReason::TxRingFull),
            Err(TxError::Cancelled | TxError::TooLong { .. }) => {
                count_drop(self.counts, DropReason::BadAppFrame)
            }
        }
    }

    fn send_local(&mut self, headers: &Udp4Headers, payload: &[u8]) {
        match build_udp4(self.scratch, headers, payload) {
            Ok(n) => {
                // The IPv4 packet without the Ethernet header and the minimum-frame padding.
                let packet =
                    &self.scratch[ETH_HLEN..n.min(ETH_HLEN + IP_UDP_OVERHEAD + payload.len())];
                match self.local.send(packet, headers.dst_ip) {
                    Ok(()) => self.counts[m::TX_LOCAL] += 1,
                    Err(_) => count_drop(self.counts, DropReason::TxRingFull),
                }
            }
            Err(reason) => count_drop(self.counts, reason),
        }
    }

    /// Sends a solicit request or keepalive hint for `(ifindex, ip)` unless one went out
    /// recently.
    fn request(&mut self, kind: Kind, ifindex: u32, ip: Ipv4Addr) {
        let Some(link) = self.solicit.as_deref_mut() else {
            return;
        };
        let key = u32::from(ip);
        let slot = (key.wrapping_mul(0x9e37_79b1) ^ ifindex) as usize % self.recent.len();
        let r = &mut self.recent[slot];
        if r.ifindex != ifindex || r.ip != key {
            *r = Recent {
                ifindex,
                ip: key,
                solicit_ns: 0,
                hint_ns: 0,
            };
        }
        let (last, every, counter) = match kind {
            Kind::Solicit => (&mut r.solicit_ns, SOLICIT_EVERY_NS, m::SOLICITS),
            Kind::KeepaliveHint => (&mut r.hint_ns, HINT_EVERY_NS, m::HINTS),
        };
        if *last != 0 && self.now.saturating_sub(*last) < every {
            return;
        }
        *last = self.now;
        let frame = solicit_wire::encode(&Request { kind, ifindex, ip });
        // A lossy link never refuses for lack of room; the frame is exactly its size.
        if link.publish(&frame, 0).is_ok() {
            self.counts[counter] += 1;
        }
    }
}

impl Tile for NetTile<'_> {
    fn name(&self) -> &str {
        "net"
    }

    fn metrics(&self) -> &'static [MetricDef] {
        metrics()
    }

    fn descriptors(&self) -> Vec<RawFd> {
        vec![self.xsk.fd(), self.local.fd(), self._map.fd()]
    }

    fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
        let rx = self.rx();
        let tx = self.tx()?;
        self.xsk.reclaim();
        Ok(rx + tx)
    }

    fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
        if let Ok(s) = self.xsk.stats() {
            self.counts[m::XSK_RX_DROPPED] = s.rx_dropped;
            self.counts[m::XSK_RX_RING_FULL] = s.rx_ring_full;
            self.counts[m::XSK_FILL_EMPTY] = s.rx_fill_ring_empty_descs;
            self.counts[m::XSK_TX_INVALID] = s.tx_invalid_descs;
        }
        self.counts[m::ZERO_COPY] = u64::from(self.xsk.zero_copy());
        for (i, v) in self.counts.iter().enumerate() {
            ctx.metrics.set(i, *v);
        }
        Ok(())
    }
}
