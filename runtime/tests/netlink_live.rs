//! Privileged tests of the netlink sockets against the running kernel.
//!
//! Each test creates its own network namespaces (`ip netns add nbt-<pid>-<n>`), opens the
//! sockets from a thread that entered one of them, and deletes the namespaces when done, also
//! when the test panics. Nothing outside those namespaces is touched; all addresses are 10.x.
//!
//! Privilege policy: when a namespace cannot be created (not root, no `ip`), the test fails
//! with the reason if `NETBASE_REQUIRE_PRIVILEGED=1`, and otherwise prints
//! `skipped: <reason>` to stderr and passes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use netbase_runtime::netlink::dump::{DumpError, ReadError, RequestConfig, RequestSocket};
use netbase_runtime::netlink::monitor::{Monitor, MonitorConfig};
use netbase_runtime::netlink::request::DumpKind;
use netbase_runtime::netlink::resync::{Applied, Next, SyncConfig, SyncMachine};
use netbase_runtime::netlink::socket::BufferRequest;
use netbase_runtime::netlink::wire;
use netbase_runtime::netns::{namespaces_or_skip, Netns};
use netbase_uapi::linux as uapi;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::RouteNetlinkMessage;

// ---------------------------------------------------------------------------------------------
// Namespaces and the privilege policy.

/// `a` gets veth `a0` (10.1.0.1/24), `b` its peer `b0` (10.1.0.2/24); both up with loopback.
fn veth_pair(a: &Netns, b: &Netns) {
    a.ip_line("link set lo up").unwrap();
    b.ip_line("link set lo up").unwrap();
    a.ip_line(&format!(
        "link add a0 type veth peer name b0 netns {}",
        b.name()
    ))
    .unwrap();
    a.ip_line("addr add 10.1.0.1/24 dev a0").unwrap();
    b.ip_line("addr add 10.1.0.2/24 dev b0").unwrap();
    a.ip_line("link set a0 up").unwrap();
    b.ip_line("link set b0 up").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Decoding with the oracle.

fn decode(m: &[u8]) -> Option<RouteNetlinkMessage> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(m)
        .ok()?
        .payload
    {
        NetlinkPayload::InnerMessage(i) => Some(i),
        _ => None,
    }
}

fn dump_all(req: &mut RequestSocket, kind: DumpKind) -> Vec<RouteNetlinkMessage> {
    let mut out = Vec::new();
    let s = req
        .run(kind, &mut |m: &[u8]| {
            out.push(decode(m).expect("oracle decodes every dumped message"));
            Ok::<(), ()>(())
        })
        .unwrap_or_else(|e| panic!("dump of {kind}: {e:?}"));
    assert_eq!(s.messages as usize, out.len());
    assert_eq!(
        s.filtered, 0,
        "strict checking: the kernel itself filters tables"
    );
    out
}

fn route_table(r: &RouteMessage) -> Option<u32> {
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Table(t) => Some(*t),
        _ => None,
    })
}

fn route_dst(r: &RouteMessage) -> (Ipv4Addr, u8) {
    let dst = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    (dst, r.header.destination_prefix_length)
}

fn routes(msgs: &[RouteNetlinkMessage]) -> Vec<&RouteMessage> {
    msgs.iter()
        .map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => r,
            other => panic!("not a route: {other:?}"),
        })
        .collect()
}

fn neigh_dst(n: &NeighbourMessage) -> Option<Ipv4Addr> {
    n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(d)) => Some(*d),
        _ => None,
    })
}

fn request_socket() -> RequestSocket {
    RequestSocket::open(&RequestConfig::default()).expect("open request socket")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn live_dumps_are_strict_and_complete() {
    let Some(ns) = namespaces_or_skip::<2>("nbt") else {
        return;
    };
    let (a, b) = (&ns[0], &ns[1]);
    veth_pair(a, b);
    a.ip_line("route add 10.2.0.0/16 via 10.1.0.2").unwrap();
    a.ip_line("route add 10.3.0.0/16 dev a0 table 100").unwrap();
    a.ip_line("route add 10.6.0.0/16 dev a0 table 1000")
        .unwrap();
    a.ip_line("neigh add 10.1.0.9 lladdr 02:00:00:00:00:09 dev a0 nud permanent")
        .unwrap();

    let mut req = a.run(request_socket);
    assert!(req.strict_check(), "NETLINK_GET_STRICT_CHK refused");
    assert!(req.ext_ack(), "NETLINK_EXT_ACK refused");
    eprintln!("request socket receive buffer: {:?}", req.recv_buffer());

    // Links: lo and a0, nothing from the host or from namespace b.
    let links = dump_all(&mut req, DumpKind::Links);
    let mut names: Vec<String> = links
        .iter()
        .map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => l
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
                .expect("IFLA_IFNAME"),
            other => panic!("{other:?}"),
        })
        .collect();
    names.sort();
    assert_eq!(names, ["a0", "lo"]);

    // Addresses: IPv4 only.
    let addrs: Vec<(IpAddr, u8)> = dump_all(&mut req, DumpKind::Addrs4)
        .iter()
        .map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => {
                let local = a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                (local.expect("IFA_LOCAL"), a.header.prefix_len)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        addrs.contains(&(IpAddr::from([10, 1, 0, 1]), 24)),
        "{addrs:?}"
    );
    assert!(
        addrs.contains(&(IpAddr::from([127, 0, 0, 1]), 8)),
        "{addrs:?}"
    );
    assert!(addrs.iter().all(|(ip, _)| ip.is_ipv4()));

    // Routes, one table per dump; no other table may appear.
    let check_table = |req: &mut RequestSocket, table: u32| -> Vec<(Ipv4Addr, u8, RouteType)> {
        let msgs = dump_all(req, DumpKind::Routes4 { table });
        routes(&msgs)
            .into_iter()
            .map(|r| {
                assert_eq!(route_table(r), Some(table), "{r:?}");
                let expect_hdr = u8::try_from(table).unwrap_or(uapi::RT_TABLE_COMPAT as u8);
                assert_eq!(r.header.table, expect_hdr);
                let (dst, len) = route_dst(r);
                (dst, len, r.header.kind)
            })
            .collect()
    };
    let main = check_table(&mut req, 254);
    assert!(
        main.contains(&([10, 2, 0, 0].into(), 16, RouteType::Unicast)),
        "{main:?}"
    );
    assert!(
        main.contains(&([10, 1, 0, 0].into(), 24, RouteType::Unicast)),
        "{main:?}"
    );
    assert_eq!(main.len(), 2, "main holds exactly the two routes: {main:?}");
    let local = check_table(&mut req, 255);
    assert!(
        local.contains(&([10, 1, 0, 1].into(), 32, RouteType::Local)),
        "{local:?}"
    );
    assert!(
        local.contains(&([127, 0, 0, 1].into(), 32, RouteType::Local)),
        "{local:?}"
    );
    assert!(local
        .iter()
        .all(|(d, _, _)| d.octets()[0] != 10 || d.octets()[1] == 1));
    assert_eq!(
        check_table(&mut req, 100),
        [([10, 3, 0, 0].into(), 16, RouteType::Unicast)]
    );
    // Above 255: only RTA_TABLE names it (rtm_table reads RT_TABLE_COMPAT).
    assert_eq!(
        check_table(&mut req, 1000),
        [([10, 6, 0, 0].into(), 16, RouteType::Unicast)]
    );
    // A table that does not exist: ENOENT with the kernel's explanation.
    match req.run(DumpKind::Routes4 { table: 4242 }, &mut |_: &[u8]| {
        Ok::<(), ()>(())
    }) {
        Err(ReadError::Dump(e)) => {
            assert!(e.is_missing_table(), "{e:?}");
            eprintln!("missing table: {e}");
            let DumpError::Kernel { ext_ack, .. } = &e else {
                panic!()
            };
            assert!(
                ext_ack
                    .message()
                    .is_some_and(|m| m.contains("does not exist")),
                "{ext_ack:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Neighbours: the permanent entry, with its MAC.
    let neigh = dump_all(&mut req, DumpKind::Neigh4);
    let entry = neigh
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(n) if neigh_dst(n) == Some([10, 1, 0, 9].into()) => {
                Some(n)
            }
            _ => None,
        })
        .expect("10.1.0.9 in the neighbour dump");
    assert_eq!(entry.header.state, NeighbourState::Permanent);
    assert!(entry
        .attributes
        .contains(&NeighbourAttribute::LinkLayerAddress(vec![
            2, 0, 0, 0, 0, 9
        ])));

    // A second dump while one is in flight is refused by us, never sent to the kernel.
    let seq = req.start(DumpKind::Links).expect("start");
    match req.start(DumpKind::Addrs4) {
        Err(DumpError::Busy { kind, seq: s }) => assert_eq!((kind, s), (DumpKind::Links, seq)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        req.solicit_neigh4(1, [10, 1, 0, 2]),
        Err(DumpError::Busy { .. })
    ));
    req.discard().expect("discard the abandoned dump");
    assert_eq!(req.in_flight(), None);
    let again = dump_all(&mut req, DumpKind::Links);
    assert_eq!(again.len(), 2);
    let s = req
        .run_consistent(DumpKind::Addrs4, 3, &mut |_: &[u8]| Ok::<(), ()>(()))
        .expect("consistent dump");
    assert_eq!(s.attempts, 1);
    let c = req.counters();
    assert_eq!(c.stale, 0, "the discarded dump left nothing behind: {c:?}");
    assert_eq!(c.foreign, 0);
    eprintln!("request counters: {c:?}");
}

#[test]
fn live_notifications_after_subscribe() {
    let Some(ns) = namespaces_or_skip::<2>("nbt") else {
        return;
    };
    let (a, b) = (&ns[0], &ns[1]);
    veth_pair(a, b);
    let (mut mon, mut tiny) = a.run(|| {
        let mon = Monitor::open(&MonitorConfig::default()).expect("monitor");
        // A user buffer smaller than any route notification (a bare one with a gateway is 60
        // bytes): truncation must be reported.
        let tiny = Monitor::open(&MonitorConfig {
            recv_buf_len: 32,
            ..MonitorConfig::default()
        })
        .expect("tiny monitor");
        (mon, tiny)
    });
    assert!(mon.nexthop_subscribed());
    eprintln!("monitor receive buffer: {:?}", mon.recv_buffer());
    assert!(mon.recv_buffer().forced, "root gets SO_RCVBUFFORCE");
    assert!(mon.recv_buffer().obtained >= 32 << 20);
    // Whatever the setup produced.
    mon.drain(&mut |_: &[u8]| Ok::<(), ()>(())).expect("drain");
    tiny.drain(&mut |_: &[u8]| Ok::<(), ()>(())).expect("drain");

    a.ip_line("route add 10.4.0.0/16 via 10.1.0.2").unwrap();
    a.ip_line("nexthop add id 7 via 10.1.0.2 dev a0").unwrap();
    a.ip_line("route del 10.4.0.0/16 via 10.1.0.2").unwrap();

    let mut seen_new = false;
    let mut seen_del = false;
    let mut seen_nexthop = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    while !(seen_new && seen_del && seen_nexthop) && Instant::now() < deadline {
        mon.wait(Some(Duration::from_millis(200))).expect("wait");
        let d = mon
            .drain(&mut |m: &[u8]| {
                let (h, _) = wire::message(m).expect("walks");
                if h.ty == uapi::RTM_NEWNEXTHOP as u16 {
                    seen_nexthop = true;
                    return Ok::<(), ()>(());
                }
                match decode(m) {
                    Some(RouteNetlinkMessage::NewRoute(r))
                        if route_dst(&r) == ([10, 4, 0, 0].into(), 16) =>
                    {
                        assert_eq!(route_table(&r), Some(254));
                        seen_new = true;
                    }
                    Some(RouteNetlinkMessage::DelRoute(r))
                        if route_dst(&r) == ([10, 4, 0, 0].into(), 16) =>
                    {
                        assert!(seen_new, "delete before add");
                        seen_del = true;
                    }
                    _ => {}
                }
                Ok(())
            })
            .expect("drain");
        assert!(!d.overrun, "{:?}", mon.counters());
    }
    assert!(seen_new, "no RTM_NEWROUTE for 10.4.0.0/16");
    assert!(seen_del, "no RTM_DELROUTE for 10.4.0.0/16");
    assert!(seen_nexthop, "no RTM_NEWNEXTHOP");

    tiny.wait(Some(Duration::from_secs(1))).expect("wait");
    let d = tiny.drain(&mut |_: &[u8]| Ok::<(), ()>(())).expect("drain");
    assert!(d.overrun, "a truncated notification is a loss: {d:?}");
    assert!(tiny.counters().truncated >= 1, "{:?}", tiny.counters());
    eprintln!(
        "monitor counters: {:?}; tiny buffer: {:?}",
        mon.counters(),
        tiny.counters()
    );
}

// ---------------------------------------------------------------------------------------------
// A model mirror driven by the sync machine (the table code proper comes later).

/// Row identity: (kind tag, table, object).
type Key = (u8, u32, u64);

#[derive(Default)]
struct Mirror {
    rows: HashMap<Key, u64>,
}

/// What a message means for the model: an upsert or a delete of one row.
fn row_of(msg: &RouteNetlinkMessage) -> Option<(bool, Key)> {
    let ip = |ip: Ipv4Addr| u64::from(u32::from(ip));
    Some(match msg {
        RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) => (
            matches!(msg, RouteNetlinkMessage::NewLink(_)),
            (0, 0, u64::from(l.header.index)),
        ),
        RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a) => {
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(IpAddr::V4(v)) => Some(*v),
                _ => None,
            })?;
            (
                matches!(msg, RouteNetlinkMessage::NewAddress(_)),
                (
                    1,
                    a.header.index,
                    ip(local) << 8 | u64::from(a.header.prefix_len),
                ),
            )
        }
        RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) => {
            if r.header.flags.bits() & uapi::RTM_F_CLONED != 0 {
                return None;
            }
            let (dst, len) = route_dst(r);
            (
                matches!(msg, RouteNetlinkMessage::NewRoute(_)),
                (2, route_table(r)?, ip(dst) << 8 | u64::from(len)),
            )
        }
        RouteNetlinkMessage::NewNeighbour(n) | RouteNetlinkMessage::DelNeighbour(n) => (
            matches!(msg, RouteNetlinkMessage::NewNeighbour(_)),
            (3, n.header.ifindex, ip(neigh_dst(n)?)),
        ),
        _ => return None,
    })
}

fn tag(kind: DumpKind) -> (u8, Option<u32>) {
    match kind {
        DumpKind::Links => (0, None),
        DumpKind::Addrs4 => (1, None),
        DumpKind::Routes4 { table } => (2, Some(table)),
        DumpKind::Neigh4 => (3, None),
    }
}

impl Mirror {
    fn apply(&mut self, m: &[u8], generation: u64, tables: &[u32]) {
        let Some((upsert, key)) = decode(m).as_ref().and_then(row_of) else {
            return;
        };
        if key.0 == 2 && !tables.contains(&key.1) {
            return;
        }
        if upsert {
            self.rows.insert(key, generation);
        } else {
            self.rows.remove(&key);
        }
    }

    fn sweep(&mut self, kind: DumpKind, generation: u64) -> usize {
        let (t, table) = tag(kind);
        let before = self.rows.len();
        self.rows.retain(|k, stamp| {
            !(k.0 == t && table.is_none_or(|tb| tb == k.1) && *stamp < generation)
        });
        before - self.rows.len()
    }

    fn count(&self, t: u8, table: u32) -> usize {
        self.rows
            .keys()
            .filter(|k| k.0 == t && (t != 2 || k.1 == table))
            .count()
    }
}

/// Drives the machine until live: dump, drain the monitor, sweep. Returns rows swept.
fn sync_until_live(
    m: &mut SyncMachine,
    req: &mut RequestSocket,
    mon: &mut Monitor,
    mirror: &mut Mirror,
    start: Instant,
) -> usize {
    let tables: Vec<u32> = m.config().tables().to_vec();
    let now = || start.elapsed().as_nanos() as u64;
    let mut swept = 0;
    for _ in 0..1000 {
        match m.poll(now()) {
            Next::Live => return swept,
            Next::Sleep { until } => {
                std::thread::sleep(Duration::from_nanos(until.saturating_sub(now())));
            }
            Next::Awaiting(t) => panic!("dump {t:?} left unreported"),
            Next::Dump(t) => {
                let res = req.run(t.kind, &mut |msg: &[u8]| {
                    mirror.apply(msg, t.generation, &tables);
                    Ok::<(), ()>(())
                });
                let applied = match res {
                    Ok(s) if s.interrupted => m.on_dump_interrupted(&t, now()),
                    Ok(_) => m.on_dump_done(&t, now()),
                    Err(ReadError::Dump(e)) if e.is_missing_table() => m.on_dump_done(&t, now()),
                    Err(e) => {
                        eprintln!("dump of {} failed: {e:?}", t.kind);
                        m.on_dump_failed(&t, now())
                    }
                }
                .expect("ticket");
                if let Applied::Sweep {
                    kind, generation, ..
                } = applied
                {
                    let g = m.generation();
                    let d = mon
                        .drain(&mut |msg: &[u8]| {
                            mirror.apply(msg, g, &tables);
                            Ok::<(), ()>(())
                        })
                        .expect("drain");
                    if d.overrun {
                        m.on_overrun(now());
                    }
                    swept += mirror.sweep(kind, generation);
                }
            }
        }
    }
    panic!("sync did not converge");
}

#[test]
fn live_burst_overruns_a_tiny_buffer_and_resync_recovers() {
    let Some(ns) = namespaces_or_skip::<2>("nbt") else {
        return;
    };
    let (a, b) = (&ns[0], &ns[1]);
    veth_pair(a, b);
    for i in 0..50 {
        a.ip_line(&format!("route add 10.99.{i}.0/24 via 10.1.0.2"))
            .unwrap();
    }
    let (mut req, mut mon) = a.run(|| {
        // Subscribe first, then dump.
        let mon = Monitor::open(&MonitorConfig {
            socket_rcvbuf: 4096,
            rcvbuf_request: BufferRequest::Plain,
            ..MonitorConfig::default()
        })
        .expect("monitor");
        (request_socket(), mon)
    });
    eprintln!(
        "tiny monitor buffer: asked 4096, obtained {:?}",
        mon.recv_buffer()
    );
    let start = Instant::now();
    let mut m = SyncMachine::new(SyncConfig::default());
    let mut mirror = Mirror::default();
    sync_until_live(&mut m, &mut req, &mut mon, &mut mirror, start);
    assert_eq!(mirror.count(2, 254), 51, "50 routes + the connected one");

    // Add 2000 routes and then delete ten in one burst while nobody reads the monitor: the
    // queue is full long before the deletes, so their notifications are lost.
    let mut script = String::new();
    for i in 0..2000 {
        script.push_str(&format!(
            "route add 10.100.{}.{}/32 via 10.1.0.2\n",
            i / 256,
            i % 256
        ));
    }
    for i in 0..10 {
        script.push_str(&format!("route del 10.99.{i}.0/24\n"));
    }
    a.ip_batch(&script).unwrap();
    let mut notified = 0u64;
    let mut deletes_seen = 0;
    let d = mon
        .drain(&mut |msg: &[u8]| {
            notified += 1;
            if matches!(decode(msg), Some(RouteNetlinkMessage::DelRoute(_))) {
                deletes_seen += 1;
            }
            mirror.apply(msg, m.generation(), &[254, 255]);
            Ok::<(), ()>(())
        })
        .expect("drain");
    eprintln!(
        "burst of 2010 route changes: {} notifications delivered, overrun={}, counters {:?}",
        d.messages,
        d.overrun,
        mon.counters()
    );
    assert!(
        d.overrun,
        "ENOBUFS expected with a {}-byte queue",
        mon.recv_buffer().obtained
    );
    assert!(mon.counters().enobufs >= 1);
    assert!(notified < 2010, "some notifications must have been lost");

    let t0 = Instant::now();
    m.on_overrun(start.elapsed().as_nanos() as u64);
    let swept = sync_until_live(&mut m, &mut req, &mut mon, &mut mirror, start);
    eprintln!(
        "resync: {:?}, {} stale rows swept, machine counters {:?}",
        t0.elapsed(),
        swept,
        m.counters()
    );
    let kernel_main = a.ip_line("route show table main").unwrap().lines().count();
    assert_eq!(kernel_main, 2041);
    assert_eq!(
        mirror.count(2, 254),
        kernel_main,
        "resync restored the main table"
    );
    assert_eq!(
        swept + deletes_seen,
        10,
        "the rows whose deletes were lost were swept"
    );
    let kernel_links = a.ip_line("-o link show").unwrap().lines().count();
    assert_eq!(mirror.count(0, 0), kernel_links);
    assert_eq!(m.counters().full_syncs, 2);
    assert!(m.counters().enobufs >= 1);
}

#[test]
fn live_ntf_use_solicitation_resolves_a_neighbour() {
    let Some(ns) = namespaces_or_skip::<2>("nbt") else {
        return;
    };
    let (a, b) = (&ns[0], &ns[1]);
    veth_pair(a, b);
    let (mut req, mut mon) = a.run(|| {
        (
            request_socket(),
            Monitor::open(&MonitorConfig::default()).expect("monitor"),
        )
    });
    let ifindex = dump_all(&mut req, DumpKind::Links)
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l)
                if l.attributes.contains(&LinkAttribute::IfName("a0".into())) =>
            {
                Some(l.header.index)
            }
            _ => None,
        })
        .expect("a0");
    let peer_mac: Vec<u8> = {
        let out = b.ip_line("-o link show b0").unwrap();
        let mac = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("b0 MAC")
            .to_string();
        mac.split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("hex"))
            .collect()
    };
    mon.drain(&mut |_: &[u8]| Ok::<(), ()>(())).expect("drain");

    // An interface that does not exist: the ACK carries the errno.
    match req.solicit_neigh4(999_999, [10, 1, 0, 2]) {
        Err(DumpError::Kernel {
            during: None,
            errno,
            ..
        }) => assert_eq!(errno, libc::ENODEV),
        other => panic!("{other:?}"),
    }

    let t0 = Instant::now();
    req.solicit_neigh4(ifindex, [10, 1, 0, 2])
        .expect("NTF_USE acknowledged");
    let acked = t0.elapsed();
    let mut reachable = None;
    let mut states = Vec::new();
    while reachable.is_none() && t0.elapsed() < Duration::from_secs(3) {
        mon.wait(Some(Duration::from_millis(100))).expect("wait");
        mon.drain(&mut |m: &[u8]| {
            if let Some(RouteNetlinkMessage::NewNeighbour(n)) = decode(m) {
                if neigh_dst(&n) == Some([10, 1, 0, 2].into()) {
                    states.push(n.header.state);
                    if n.header.state == NeighbourState::Reachable {
                        assert_eq!(n.header.ifindex, ifindex);
                        assert!(n
                            .attributes
                            .contains(&NeighbourAttribute::LinkLayerAddress(peer_mac.clone())));
                        reachable = Some(t0.elapsed());
                    }
                }
            }
            Ok::<(), ()>(())
        })
        .expect("drain");
    }
    let took = reachable.unwrap_or_else(|| panic!("never REACHABLE; states seen: {states:?}"));
    eprintln!(
        "NTF_USE: ACK after {acked:?}, REACHABLE notified after {took:?} (states {states:?})"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    // The dump agrees.
    let neigh = dump_all(&mut req, DumpKind::Neigh4);
    assert!(neigh.iter().any(|m| matches!(m,
        RouteNetlinkMessage::NewNeighbour(n)
            if neigh_dst(n) == Some([10, 1, 0, 2].into())
                && n.header.state == NeighbourState::Reachable)));
}
