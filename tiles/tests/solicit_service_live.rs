//! Privileged: the netlink tile's solicitation service in fresh network namespaces. Namespace
//! A runs `NetlinkSync` + `SolicitService` over a tables workspace; a veth pair joins it to
//! namespace B, which owns the addresses being resolved. A heap ring stands in for the net
//! tile's `solicit` link.
//!
//! Needs root. Without it (or without `ip netns`), prints "skipped: ..." and passes, unless
//! `NETBASE_REQUIRE_PRIVILEGED=1`, which turns the skip into a failure.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netbase_runtime::link::{Consumer, ConsumerOptions, Geometry, Mode, Producer, Ring};
use netbase_runtime::netns::{namespaces_or_skip, Netns};
use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::workspace::{Backing, CreateOptions, RemoveGuard, Workspace};
use netbase_tiles::netlink_tile::solicit_service::{lookup, ServiceOptions, SolicitService};
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, SyncOptions, TableRegions,
};
use netbase_tiles::schema::{tables as t, NudState, LAYOUT_FINGERPRINT};
use netbase_tiles::solicit::{encode, Kind, NeighState, Request, FRAME_LEN};

const PEER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const LEGIT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);

/// A: a0 10.77.0.1/16; B: b0 10.77.0.2/16 and 10.77.0.3/16. Returns a0's ifindex.
fn wire(a: &Netns, b: &Netns) -> u32 {
    a.ip_line("link set lo up").unwrap();
    b.ip_line("link set lo up").unwrap();
    a.ip_line(&format!(
        "link add a0 type veth peer name b0 netns {}",
        b.name()
    ))
    .unwrap();
    a.ip_line("addr add 10.77.0.1/16 dev a0").unwrap();
    b.ip_line("addr add 10.77.0.2/16 dev b0").unwrap();
    b.ip_line("addr add 10.77.0.3/16 dev b0").unwrap();
    a.ip_line("link set a0 up").unwrap();
    b.ip_line("link set b0 up").unwrap();
    let line = a.ip_line("-o link show dev a0").unwrap();
    line.split(':').next().unwrap().trim().parse().unwrap()
}

fn frame(ifindex: u32, ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    encode(&Request {
        kind: Kind::Solicit,
        ifindex,
        ip,
    })
}

/// A tables workspace removed on drop.
fn tables_workspace() -> (RemoveGuard, Workspace) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "nbs-tables-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let guard = RemoveGuard::new(&name, &Backing::Shm).unwrap();
    let ws = Workspace::create(&CreateOptions::new(
        &name,
        t::WORKSPACE_BYTES,
        LAYOUT_FINGERPRINT,
    ))
    .unwrap();
    (guard, ws)
}

const DEPTH: u32 = 4096;

fn geometry() -> Geometry {
    Geometry::new(DEPTH, FRAME_LEN as u32, Mode::Lossy).unwrap()
}

fn settle(sync: &mut NetlinkSync<'_, NoReaders>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sync.step(monotonic_ns()).live {
        assert!(Instant::now() < deadline, "no initial sync");
    }
}

#[test]
fn solicit_service_live_request_resolves_peer() {
    request_resolves_peer(true);
}

/// The unprivileged probe (UDP, TTL 1, port 9) resolves the peer just as well.
#[test]
fn solicit_service_live_udp_probe_resolves_peer() {
    request_resolves_peer(false);
}

fn request_resolves_peer(netlink_probes: bool) {
    let Some([a, b]) = namespaces_or_skip::<2>("nbs") else {
        return;
    };
    let ifindex = wire(&a, &b);
    let (_guard, ws) = tables_workspace();
    let ring_mem = HeapRegion::zeroed(geometry().used_bytes() as usize);
    std::thread::scope(|s| {
        s.spawn(|| {
            a.enter().unwrap();
            let tables =
                NetbaseWriter::create(TableRegions::from_workspace(&ws).unwrap(), NoReaders, 11)
                    .unwrap();
            let mut sync = NetlinkSync::open(SyncOptions::default(), tables).unwrap();
            settle(&mut sync);
            let words = ring_mem.region().words();
            let mut producer = Producer::new(Ring::init(words, geometry()).unwrap(), None).unwrap();
            let consumer = Consumer::new(
                Ring::attach(words, geometry()).unwrap(),
                None,
                ConsumerOptions::default(),
            )
            .unwrap();
            let mut svc = SolicitService::new(ServiceOptions {
                netlink_probes,
                ..ServiceOptions::default()
            })
            .unwrap();
            svc.add_consumer(consumer);

            let t0 = Instant::now();
            producer.publish(&frame(ifindex, PEER), 0).unwrap();
            let reachable = loop {
                let now = monotonic_ns();
                sync.step(now);
                svc.poll(&sync.mirror.tables, now);
                let tbl = &sync.mirror.tables.neigh4;
                let row = tbl
                    .iter()
                    .find(|r| r.ifindex == ifindex && r.ip.0 == PEER.octets());
                if row.is_some_and(|r| r.state == NudState::REACHABLE) {
                    break t0.elapsed();
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(2),
                    "not REACHABLE: {row:?} {:?} {:?}",
                    svc.counters(),
                    svc.policy_counters()
                );
                std::thread::sleep(Duration::from_micros(200));
            };
            let (c, p) = (svc.counters(), svc.policy_counters());
            eprintln!("peer REACHABLE after {reachable:?}; service {c:?}; policy {p:?}");
            assert!(reachable < Duration::from_millis(1100), "{reachable:?}");
            assert_eq!(p.probes_sent, 1, "{p:?}");
            assert_eq!(c.netlink_probes + c.udp_probes, 1, "{c:?}");
            assert_eq!(c.udp_probes, u64::from(!netlink_probes), "{c:?}");
            assert_eq!(
                lookup(&sync.mirror.tables.neigh4, ifindex, PEER),
                NeighState::Usable
            );
        });
    });
}

#[test]
fn solicit_service_live_flood_is_bounded() {
    let Some([a, b]) = namespaces_or_skip::<2>("nbs") else {
        return;
    };
    let ifindex = wire(&a, &b);
    a.ip_line("route add default via 10.77.0.2 dev a0").unwrap();
    let (_guard, ws) = tables_workspace();
    let ring_mem = HeapRegion::zeroed(geometry().used_bytes() as usize);
    let words = ring_mem.region().words();
    let ring = Ring::init(words, geometry()).unwrap();
    let start = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    const FRAMES: u64 = 1_000_000;
    const DISTINCT: u32 = 10_000;

    std::thread::scope(|s| {
        // The net tile: 10^6 requests in ~1 s, one in 100 for the legitimate address.
        let producer = s.spawn(|| {
            let mut p = Producer::new(ring, None).unwrap();
            while !start.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let t0 = Instant::now();
            let spoofed: Vec<[u8; FRAME_LEN]> = (0..DISTINCT)
                .map(|i| {
                    let ip = Ipv4Addr::new(10, 77, 1 + (i / 200) as u8, 10 + (i % 200) as u8);
                    frame(ifindex, ip)
                })
                .collect();
            let legit = frame(ifindex, LEGIT);
            let chunk = FRAMES / 100;
            for c in 0..100u64 {
                for k in 0..chunk {
                    let n = c * chunk + k;
                    let f = if n % 100 == 0 {
                        &legit
                    } else {
                        &spoofed[(n % u64::from(DISTINCT)) as usize]
                    };
                    p.publish(f, 0).unwrap();
                }
                let target = Duration::from_millis(10 * (c + 1));
                if let Some(wait) = target.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let elapsed = t0.elapsed();
            done.store(true, Ordering::Release);
            (p.counters().published, elapsed)
        });

        s.spawn(|| {
            a.enter().unwrap();
            let tables =
                NetbaseWriter::create(TableRegions::from_workspace(&ws).unwrap(), NoReaders, 12)
                    .unwrap();
            let mut sync = NetlinkSync::open(SyncOptions::default(), tables).unwrap();
            settle(&mut sync);
            let consumer = Consumer::new(
                Ring::attach(words, geometry()).unwrap(),
                None,
                ConsumerOptions::default(),
            )
            .unwrap();
            let opts = ServiceOptions::default();
            let (burst, rate) = (opts.policy.burst, opts.policy.global_rate_per_sec);
            let max_placeholders = opts.policy.max_placeholders as u64;
            let mut svc = SolicitService::new(opts).unwrap();
            svc.add_consumer(consumer);
            let t0 = Instant::now();
            start.store(true, Ordering::Release);

            let mut max_ph = 0;
            let mut gw_resolved_at = None;
            let mut gw_lost = 0u64;
            let mut after_done = None;
            loop {
                let now = monotonic_ns();
                sync.step(now);
                let r = svc.poll(&sync.mirror.tables, now);
                max_ph = max_ph.max(svc.policy_counters().placeholders);
                let gw = lookup(&sync.mirror.tables.neigh4, ifindex, PEER);
                if gw == NeighState::Usable {
                    gw_resolved_at.get_or_insert(t0.elapsed());
                } else if gw_resolved_at.is_some() {
                    gw_lost += 1;
                }
                if done.load(Ordering::Acquire) {
                    let since = *after_done.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(300) && r.idle() {
                        break;
                    }
                }
                if r.idle() {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            let elapsed = t0.elapsed();
            let (c, p) = (svc.counters(), svc.policy_counters());
            let bound =
                u64::from(burst) + (u64::from(rate) as f64 * elapsed.as_secs_f64()) as u64 + 1;
            let probes = p.probes_sent + p.gateway_probes + p.keepalives_sent;
            let kernel = a.ip_line("-4 neigh show dev a0").unwrap();
            let unresolved = kernel
                .lines()
                .filter(|l| l.contains("INCOMPLETE") || l.contains("FAILED"))
                .count() as u64;
            eprintln!(
                "elapsed {elapsed:?}, bound {bound}, policy probes {probes}, kernel \
                 INCOMPLETE/FAILED {unresolved}, max placeholders {max_ph}, gateway resolved \
                 at {gw_resolved_at:?} (lost {gw_lost} polls)\nservice {c:?}\npolicy {p:?}"
            );
            assert_eq!(
                c.frames + c.lost + c.corrupt,
                FRAMES,
                "every frame read or counted"
            );
            assert!(probes <= bound, "{probes} > {bound}");
            assert_eq!(c.netlink_probes + c.udp_probes + c.probe_errors, probes);
            assert!(unresolved <= bound, "{unresolved} kernel entries > {bound}");
            assert!(max_ph <= max_placeholders, "{max_ph}");
            assert!(gw_resolved_at.is_some(), "gateway never resolved");
            assert_eq!(gw_lost, 0, "gateway entry lost its resolution");
            assert_eq!(
                lookup(&sync.mirror.tables.neigh4, ifindex, LEGIT),
                NeighState::Usable,
                "legitimate address not resolved"
            );
            assert!(p.gateway_probes >= 1, "{p:?}");
            (c, p)
        });

        let (published, took) = producer.join().unwrap();
        eprintln!("published {published} frames in {took:?}");
        assert_eq!(published, FRAMES);
    });
}
