//! The net tile's route resolver against a netbase built in heap memory with the netlink
//! tile's table writers: every `Resolve` outcome, throw routes, a table that cannot answer,
//! and the generation-keyed caches.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::tables::header::word;
use netbase_runtime::tables::lpm::{mode, ChainResult};
use netbase_runtime::types::{Ipv4, Mac, Name};
use netbase_tiles::net_tile::{DropReason, Resolve, Resolver, TxPath};
use netbase_tiles::netbase_view::{NetbaseView, SourceSelection};
use netbase_tiles::netlink_tile::{NetbaseWriter, TableRegions};
use netbase_tiles::schema::{
    tables as t, Addr4, Interface, LinkType, Neigh4, NudState, OperState, Route4, RouteType,
};
use proptest::prelude::*;

const SEED: u64 = 0x5eed_0f7a_b1e5;

const LO: u32 = 1;
const ETH: u32 = 2;
const DOWN: u32 = 3;
const BARE: u32 = 4;
const ETH_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x02]);
const GW_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0xfe]);
const GW2_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0xfd]);
const N_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x05]);

const IFF_UP: u32 = 0x1;
const IFF_BROADCAST: u32 = 0x2;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_RUNNING: u32 = 0x40;
const IFA_F_SECONDARY: u32 = 0x1;
const SCOPE_LINK: u8 = 253;
const SCOPE_HOST: u8 = 254;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4 {
    Ipv4::from(ip(s))
}

fn heap() -> HeapRegion {
    HeapRegion::zeroed(TableRegions::BASE_BYTES as usize)
}

/// Empty tables over `mem`, as a fresh netlink tile creates them.
fn writer(mem: &HeapRegion) -> NetbaseWriter<'_, NoReaders> {
    NetbaseWriter::create(
        TableRegions::from_base(mem.region()).unwrap(),
        NoReaders,
        SEED,
    )
    .unwrap()
}

fn iface(ifindex: u32, name: &str, flags: u32, oper: OperState, mtu: u32, mac: Mac) -> Interface {
    Interface {
        ifindex,
        flags,
        mtu,
        name: Name::new(name.as_bytes()).unwrap(),
        mac,
        oper_state: oper,
        link_type: if flags & IFF_LOOPBACK != 0 {
            LinkType::LOOPBACK
        } else {
            LinkType::VETH
        },
        ..Interface::ZERO
    }
}

fn addr(ifindex: u32, local: &str, prefix_len: u8, scope: u8, flags: u32) -> Addr4 {
    Addr4 {
        ifindex,
        local: v4(local),
        prefix_len,
        scope,
        flags,
        ..Addr4::ZERO
    }
}

fn neigh(ifindex: u32, ip: &str, state: NudState, mac: Mac) -> Neigh4 {
    Neigh4 {
        ifindex,
        ip: v4(ip),
        state,
        mac,
        ..Neigh4::ZERO
    }
}

/// A route row; `table` 255 goes to `local4`, 254 to `main4`.
fn route(table: u32, dst: &str, len: u8, ty: RouteType, oif: u32) -> Route4 {
    Route4 {
        dst: v4(dst),
        dst_len: len,
        table,
        route_type: ty,
        oif,
        ..Route4::ZERO
    }
}

fn insert(w: &mut NetbaseWriter<'_, NoReaders>, r: Route4) {
    let id = t::table_for_route4(&r).unwrap();
    let (prefix, len) = (r.dst.to_u32(), r.dst_len);
    let nexthop = if id == t::LOCAL4_ID {
        t::local4_nexthop(&r)
    } else {
        t::main4_nexthop(&r)
    };
    w.route_table(id)
        .unwrap()
        .insert(prefix, len, r.priority, nexthop)
        .unwrap();
}

/// A host with `lo`, an up veth `ETH` (10.0.0.1/24, 10.1.0.1/16, secondary 10.0.0.9), a veth
/// `DOWN` whose peer is down (10.3.0.1/24), an up veth `BARE` without addresses, and routes
/// and neighbours exercising every rule.
fn populate(w: &mut NetbaseWriter<'_, NoReaders>) {
    let up = IFF_UP | IFF_BROADCAST | IFF_RUNNING;
    for i in [
        iface(
            LO,
            "lo",
            IFF_UP | IFF_LOOPBACK | IFF_RUNNING,
            OperState::UNKNOWN,
            65536,
            Mac::ZERO,
        ),
        iface(ETH, "veth0", up, OperState::UP, 1500, ETH_MAC),
        iface(
            DOWN,
            "veth1",
            IFF_UP | IFF_BROADCAST,
            OperState::LOWERLAYERDOWN,
            1500,
            ETH_MAC,
        ),
        iface(BARE, "veth2", up, OperState::UP, 1500, ETH_MAC),
    ] {
        w.interfaces.upsert(&i).unwrap();
    }
    for a in [
        addr(LO, "127.0.0.1", 8, SCOPE_HOST, 0),
        addr(ETH, "10.0.0.1", 24, 0, 0),
        addr(ETH, "10.0.0.9", 24, 0, IFA_F_SECONDARY),
        addr(ETH, "10.1.0.1", 16, 0, 0),
        addr(DOWN, "10.3.0.1", 24, 0, 0),
    ] {
        w.addrs4.upsert(&a).unwrap();
    }

    let local = |dst: &str, len: u8, ty: RouteType, oif: u32, prefsrc: &str| Route4 {
        prefsrc: v4(prefsrc),
        scope: SCOPE_HOST,
        ..route(255, dst, len, ty, oif)
    };
    insert(w, local("127.0.0.0", 8, RouteType::LOCAL, LO, "127.0.0.1"));
    insert(w, local("127.0.0.1", 32, RouteType::LOCAL, LO, "127.0.0.1"));
    insert(w, local("10.0.0.1", 32, RouteType::LOCAL, ETH, "10.0.0.1"));
    insert(w, local("10.1.0.1", 32, RouteType::LOCAL, ETH, "10.1.0.1"));
    insert(
        w,
        local("10.0.0.255", 32, RouteType::BROADCAST, ETH, "10.0.0.1"),
    );
    // Throw in `local`: the lookup goes on in `main`.
    insert(w, route(255, "10.9.0.0", 16, RouteType::THROW, 0));

    let main = |dst: &str, len: u8, ty: RouteType, oif: u32| route(254, dst, len, ty, oif);
    insert(
        w,
        Route4 {
            gateway: v4("10.0.0.254"),
            ..main("0.0.0.0", 0, RouteType::UNICAST, ETH)
        },
    );
    insert(
        w,
        Route4 {
            prefsrc: v4("10.0.0.1"),
            scope: SCOPE_LINK,
            ..main("10.0.0.0", 24, RouteType::UNICAST, ETH)
        },
    );
    // On-link without prefsrc: the source is selected.
    insert(
        w,
        Route4 {
            scope: SCOPE_LINK,
            ..main("10.1.0.0", 16, RouteType::UNICAST, ETH)
        },
    );
    insert(w, main("10.3.0.0", 24, RouteType::UNICAST, DOWN));
    insert(w, main("10.4.0.0", 16, RouteType::UNICAST, BARE));
    insert(
        w,
        Route4 {
            gateway: v4("10.0.0.253"),
            ..main("10.9.0.0", 16, RouteType::UNICAST, ETH)
        },
    );
    insert(w, main("10.66.0.0", 16, RouteType::BLACKHOLE, 0));
    insert(w, main("10.67.0.0", 16, RouteType::UNREACHABLE, 0));
    insert(w, main("10.68.0.0", 16, RouteType::PROHIBIT, 0));
    insert(
        w,
        Route4 {
            multipath: 1,
            ..main("10.70.0.0", 16, RouteType::UNICAST, 0)
        },
    );
    insert(
        w,
        Route4 {
            nh_id: 5,
            ..main("10.71.0.0", 16, RouteType::UNICAST, ETH)
        },
    );
    insert(w, main("10.72.0.0", 16, RouteType::ANYCAST, ETH));
    insert(w, main("10.80.0.0", 16, RouteType::UNICAST, 99));
    // Throw in the last table: nothing decides.
    insert(w, main("10.99.0.0", 16, RouteType::THROW, 0));

    for n in [
        neigh(ETH, "10.0.0.254", NudState::REACHABLE, GW_MAC),
        neigh(ETH, "10.0.0.253", NudState::REACHABLE, GW2_MAC),
        neigh(ETH, "10.0.0.5", NudState::STALE, N_MAC),
        neigh(ETH, "10.0.0.6", NudState::FAILED, N_MAC),
        neigh(ETH, "10.0.0.7", NudState::INCOMPLETE, Mac::ZERO),
        neigh(ETH, "10.0.0.8", NudState::PERMANENT, N_MAC),
        neigh(ETH, "10.0.0.10", NudState::NOARP, N_MAC),
        neigh(ETH, "10.0.0.11", NudState::REACHABLE, Mac::ZERO),
        neigh(ETH, "10.0.0.12", NudState::DELAY, N_MAC),
        neigh(ETH, "10.0.0.13", NudState::PROBE, N_MAC),
        neigh(ETH, "10.0.0.14", NudState::NONE, Mac::ZERO),
        neigh(ETH, "10.1.2.3", NudState::REACHABLE, N_MAC),
    ] {
        w.neigh4.upsert(&n).unwrap();
    }
    w.maintain();
}

struct Host {
    mem: HeapRegion,
}

impl Host {
    fn new() -> Self {
        let mem = heap();
        let mut w = writer(&mem);
        populate(&mut w);
        Host { mem }
    }

    fn view(&self) -> NetbaseView<'_> {
        NetbaseView::from_base(self.mem.read_only()).unwrap()
    }
}

fn resolve_with(
    r: &mut Resolver,
    view: &NetbaseView<'_>,
    dst: &str,
    src: Option<&str>,
    len: usize,
) -> Resolve {
    let generation = Resolver::generation(view);
    r.resolve(view, generation, ip(dst), src.map(ip), len)
}

/// Sent through `ETH` to `next_hop`.
fn send(next_hop: &str, dst_mac: Mac, src: &str) -> Resolve {
    Resolve::Send(TxPath {
        ifindex: ETH,
        src_mac: ETH_MAC,
        dst_mac,
        next_hop: ip(next_hop),
        src_ip: ip(src),
        mtu: 1500,
        local: false,
    })
}

/// Delivered through `lo` to `dst` (this host).
fn local(dst: &str, src: &str) -> Resolve {
    Resolve::Send(TxPath {
        ifindex: LO,
        src_mac: Mac::ZERO,
        dst_mac: Mac::ZERO,
        next_hop: ip(dst),
        src_ip: ip(src),
        mtu: 65536,
        local: true,
    })
}

fn drop(r: DropReason) -> Resolve {
    Resolve::Drop(r)
}

#[test]
fn every_outcome() {
    let host = Host::new();
    let view = host.view();
    let mut r = Resolver::new();
    let mut seen = Vec::new();
    let mut go = |dst: &str, src: Option<&str>, len: usize| {
        let answer = resolve_with(&mut r, &view, dst, src, len);
        seen.push((ip(dst), src.map(ip), len, answer));
        answer
    };

    // Default route through the gateway; source selected on its subnet.
    assert_eq!(
        go("8.8.8.8", None, 100),
        send("10.0.0.254", GW_MAC, "10.0.0.1")
    );
    // On-link, prefsrc of the connected route.
    assert_eq!(
        go("10.0.0.5", None, 100),
        send("10.0.0.5", N_MAC, "10.0.0.1")
    );
    // Every valid neighbour state sends; STALE too.
    for n in ["10.0.0.8", "10.0.0.10", "10.0.0.12", "10.0.0.13"] {
        assert_eq!(go(n, None, 0), send(n, N_MAC, "10.0.0.1"), "{n}");
    }
    // Missing, INCOMPLETE and NONE neighbours: solicit.
    for n in ["10.0.0.42", "10.0.0.7", "10.0.0.14"] {
        assert_eq!(
            go(n, None, 10),
            Resolve::Solicit {
                ifindex: ETH,
                next_hop: ip(n)
            },
            "{n}"
        );
    }
    assert_eq!(go("10.0.0.6", None, 10), drop(DropReason::NeighbourFailed));
    assert_eq!(go("10.0.0.11", None, 10), drop(DropReason::NoNeighbour));

    // Source selection without prefsrc prefers the address on the next hop's subnet.
    assert_eq!(
        go("10.1.2.3", None, 10),
        send("10.1.2.3", N_MAC, "10.1.0.1")
    );

    // Local delivery: through lo, MACs zero, source = the local route's prefsrc.
    assert_eq!(go("10.0.0.1", None, 10), local("10.0.0.1", "10.0.0.1"));
    assert_eq!(go("127.0.0.5", None, 10), local("127.0.0.5", "127.0.0.1"));
    assert_eq!(go("10.1.0.1", None, 10), local("10.1.0.1", "10.1.0.1"));

    // Route types that drop.
    assert_eq!(go("10.66.1.1", None, 10), drop(DropReason::Blackhole));
    assert_eq!(go("10.67.1.1", None, 10), drop(DropReason::Unreachable));
    assert_eq!(go("10.68.1.1", None, 10), drop(DropReason::Prohibit));
    assert_eq!(
        go("10.70.1.1", None, 10),
        drop(DropReason::RouteUnsupported)
    );
    assert_eq!(
        go("10.71.1.1", None, 10),
        drop(DropReason::RouteUnsupported)
    );
    assert_eq!(go("10.72.1.1", None, 10), drop(DropReason::RouteOther));
    assert_eq!(go("10.0.0.255", None, 10), drop(DropReason::RouteOther));
    // Destination classes refused whatever their route.
    for d in [
        "224.0.0.1",
        "239.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "0.0.0.0",
        "0.1.2.3",
    ] {
        assert_eq!(go(d, None, 10), drop(DropReason::RouteOther), "{d}");
    }

    // Throw in `local` goes on to `main`.
    assert_eq!(
        go("10.9.1.1", None, 10),
        send("10.0.0.253", GW2_MAC, "10.0.0.1")
    );
    // Throw in `main`, the last table: no route (not the default route).
    assert_eq!(go("10.99.1.1", None, 10), drop(DropReason::NoRoute));

    // Interfaces.
    assert_eq!(go("10.3.0.5", None, 10), drop(DropReason::InterfaceDown));
    assert_eq!(
        go("10.80.0.5", None, 10),
        drop(DropReason::InterfaceUnknown)
    );
    assert_eq!(go("10.4.0.5", None, 10), drop(DropReason::NoSourceAddress));

    // MTU: the IPv4 total length (payload + 28) against the interface's 1500.
    assert_eq!(
        go("10.0.0.5", None, 1472),
        send("10.0.0.5", N_MAC, "10.0.0.1")
    );
    assert_eq!(go("10.0.0.5", None, 1473), drop(DropReason::Mtu));
    assert_eq!(
        go("10.0.0.1", None, 65536 - 28),
        local("10.0.0.1", "10.0.0.1")
    );
    assert_eq!(go("10.0.0.1", None, 65536 - 27), drop(DropReason::Mtu));
    assert_eq!(go("10.0.0.5", None, usize::MAX), drop(DropReason::Mtu));

    // The same datagrams as one batch, the way the net tile sends: one burst lookup per
    // table, then each resolved with its route. Same answers.
    let dsts: Vec<u32> = seen.iter().map(|c| u32::from(c.0)).collect();
    let mut routes = vec![ChainResult::Unreachable; dsts.len()];
    Resolver::route_burst(&view, &dsts, &mut routes);
    let g = Resolver::generation(&view);
    let mut batch = Resolver::new();
    for (&(dst, src, len, answer), route) in seen.iter().zip(routes) {
        let got = batch.resolve_routed(&view, g, dst, src, len, route);
        assert_eq!(got, answer, "{dst} in a batch");
    }
}

#[test]
fn preferred_source() {
    let host = Host::new();
    let view = host.view();
    let mut r = Resolver::new();
    let mut go = |dst: &str, src: Option<&str>| resolve_with(&mut r, &view, dst, src, 10);

    // An address of this host wins over prefsrc and selection, even of another interface.
    assert_eq!(
        go("8.8.8.8", Some("10.1.0.1")),
        send("10.0.0.254", GW_MAC, "10.1.0.1")
    );
    assert_eq!(
        go("10.0.0.5", Some("10.1.0.1")),
        send("10.0.0.5", N_MAC, "10.1.0.1")
    );
    assert_eq!(
        go("10.0.0.5", Some("10.3.0.1")),
        send("10.0.0.5", N_MAC, "10.3.0.1")
    );
    assert_eq!(
        go("10.0.0.5", Some("10.0.0.9")),
        send("10.0.0.5", N_MAC, "10.0.0.9")
    );
    // Not an address of this host, or unspecified: ignored.
    assert_eq!(
        go("8.8.8.8", Some("192.168.1.1")),
        send("10.0.0.254", GW_MAC, "10.0.0.1")
    );
    assert_eq!(
        go("8.8.8.8", Some("0.0.0.0")),
        send("10.0.0.254", GW_MAC, "10.0.0.1")
    );
    // Local delivery.
    assert_eq!(
        go("10.0.0.1", Some("10.1.0.1")),
        local("10.0.0.1", "10.1.0.1")
    );
    assert_eq!(
        go("10.0.0.1", Some("192.168.1.1")),
        local("10.0.0.1", "10.0.0.1")
    );
    // It does not create a source where the interface has none... but a host address is
    // a source on any interface (weak host model).
    assert_eq!(
        go("10.4.0.5", Some("10.0.0.1")),
        Resolve::Solicit {
            ifindex: BARE,
            next_hop: ip("10.4.0.5")
        }
    );
}

#[test]
fn source_selection_matches_route_get() {
    // The resolver and `netbase route get` share one selection: same answers.
    let host = Host::new();
    let view = host.view();
    let mut r = Resolver::new();
    for d in [
        "8.8.8.8",
        "10.0.0.5",
        "10.1.2.3",
        "10.9.1.1",
        "10.0.0.1",
        "127.0.0.5",
    ] {
        let get = view.route_get(v4(d)).unwrap();
        let Resolve::Send(p) = resolve_with(&mut r, &view, d, None, 10) else {
            panic!("{d}: not sent");
        };
        assert_eq!(Some(Ipv4::from(p.src_ip)), get.source, "{d}");
    }
}

/// The selection as `route_get` had it before it became [`SourceSelection`]: sort, filter,
/// first match.
fn reference_selection(addrs: &[Addr4], oif: u32, scope: u8, next_hop: Ipv4) -> Option<Ipv4> {
    let mut c: Vec<Addr4> = addrs
        .iter()
        .filter(|a| a.ifindex == oif && a.scope <= scope)
        .copied()
        .collect();
    c.sort_by_key(|a| (a.flags & IFA_F_SECONDARY, a.local));
    let primary = |a: &&Addr4| a.flags & IFA_F_SECONDARY == 0;
    let on_subnet = |a: &&Addr4| {
        let len = a.prefix_len.min(32);
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        a.local.to_u32() & mask == next_hop.to_u32() & mask
    };
    c.iter()
        .filter(primary)
        .find(on_subnet)
        .or_else(|| c.iter().find(primary))
        .or_else(|| c.first())
        .map(|a| a.local)
}

proptest! {
    #[test]
    fn selection_is_order_independent_and_matches_the_reference(
        raw in proptest::collection::vec(
            (1u32..4, 0u32..16, 0u8..33, prop_oneof![Just(0u8), Just(200u8), Just(253u8), Just(254u8)], any::<bool>()),
            0..12,
        ),
        oif in 0u32..4,
        scope in prop_oneof![Just(0u8), Just(253u8), Just(254u8)],
        hop in 0u32..16,
        rotate in any::<prop::sample::Index>(),
    ) {
        let mut addrs: Vec<Addr4> = raw
            .iter()
            .map(|&(ifindex, host, prefix_len, scope, secondary)| Addr4 {
                ifindex,
                local: Ipv4::from_u32(0x0a00_0000 | (host << 4)),
                prefix_len,
                scope,
                flags: if secondary { IFA_F_SECONDARY } else { 0 },
                ..Addr4::ZERO
            })
            .collect();
        // One row per (ifindex, local), as in the table.
        addrs.sort_by_key(|a| (a.ifindex, a.local));
        addrs.dedup_by_key(|a| (a.ifindex, a.local));
        let next_hop = Ipv4::from_u32(0x0a00_0000 | (hop << 4) | 1);
        let want = if oif == 0 { None } else { reference_selection(&addrs, oif, scope, next_hop) };
        let n = addrs.len();
        if n > 0 {
            addrs.rotate_left(rotate.index(n));
        }
        let mut s = SourceSelection::new(oif, scope, next_hop);
        for a in addrs.iter().rev() {
            s.offer(a);
        }
        prop_assert_eq!(s.chosen(), want);
    }
}

#[test]
fn empty_tables_have_no_route() {
    let mem = heap();
    let _w = writer(&mem);
    let view = NetbaseView::from_base(mem.read_only()).unwrap();
    let mut r = Resolver::new();
    assert_eq!(
        resolve_with(&mut r, &view, "10.0.0.1", None, 10),
        drop(DropReason::NoRoute)
    );
}

#[test]
fn incomplete_table() {
    let host = Host::new();
    // A `main` table that cannot answer (as after more routes than it can show): its header's
    // mode says overflow, and every lookup in it answers "incomplete".
    let regions = TableRegions::from_base(host.mem.region()).unwrap();
    regions.main4.words()[word::MODE].fetch_or(mode::OVERFLOW, Ordering::SeqCst);
    let view = host.view();
    let mut r = Resolver::new();
    assert_eq!(
        resolve_with(&mut r, &view, "8.8.8.8", None, 10),
        drop(DropReason::TableIncomplete)
    );
    // `local` decides before `main` is consulted.
    assert_eq!(
        resolve_with(&mut r, &view, "10.0.0.1", None, 10),
        local("10.0.0.1", "10.0.0.1")
    );
    // A throw in `local` passes to the table that cannot answer.
    assert_eq!(
        resolve_with(&mut r, &view, "10.9.1.1", None, 10),
        drop(DropReason::TableIncomplete)
    );
}

#[test]
fn caches_follow_the_generation() {
    let mem = heap();
    let mut w = writer(&mem);
    populate(&mut w);
    let view = NetbaseView::from_base(mem.read_only()).unwrap();
    let mut r = Resolver::new();
    let g0 = Resolver::generation(&view);
    assert_eq!(
        r.resolve(&view, g0, ip("10.0.0.5"), None, 10),
        send("10.0.0.5", N_MAC, "10.0.0.1")
    );

    // The interface goes down: a new generation shows it.
    let mut eth = w.interfaces.get(&ETH.to_le_bytes()).unwrap();
    eth.flags &= !IFF_RUNNING;
    w.interfaces.upsert(&eth).unwrap();
    let g1 = Resolver::generation(&view);
    assert_ne!(g0, g1);
    // With the old generation the cached row is used (the caller's contract).
    assert_eq!(
        r.resolve(&view, g0, ip("10.0.0.5"), None, 10),
        send("10.0.0.5", N_MAC, "10.0.0.1")
    );
    assert_eq!(
        r.resolve(&view, g1, ip("10.0.0.5"), None, 10),
        drop(DropReason::InterfaceDown)
    );
    eth.flags |= IFF_RUNNING;
    w.interfaces.upsert(&eth).unwrap();

    // An address appears: preferred source and selection see it after the generation moves.
    let g2 = Resolver::generation(&view);
    assert_eq!(
        r.resolve(&view, g2, ip("8.8.8.8"), Some(ip("10.5.0.1")), 10),
        send("10.0.0.254", GW_MAC, "10.0.0.1")
    );
    w.addrs4.upsert(&addr(BARE, "10.5.0.1", 24, 0, 0)).unwrap();
    let g3 = Resolver::generation(&view);
    assert_ne!(g2, g3);
    assert_eq!(
        r.resolve(&view, g3, ip("8.8.8.8"), Some(ip("10.5.0.1")), 10),
        send("10.0.0.254", GW_MAC, "10.5.0.1")
    );
    assert_eq!(
        r.resolve(&view, g3, ip("10.4.0.5"), None, 10),
        Resolve::Solicit {
            ifindex: BARE,
            next_hop: ip("10.4.0.5")
        }
    );

    // Neighbours are read per packet, whatever the generation.
    w.neigh4
        .upsert(&neigh(ETH, "10.0.0.5", NudState::FAILED, N_MAC))
        .unwrap();
    assert_eq!(
        r.resolve(&view, g3, ip("10.0.0.5"), None, 10),
        drop(DropReason::NeighbourFailed)
    );
}

#[test]
fn loopback_found_by_flag_when_not_ifindex_1() {
    let mem = heap();
    let mut w = writer(&mem);
    w.interfaces
        .upsert(&iface(
            7,
            "lo",
            IFF_UP | IFF_LOOPBACK | IFF_RUNNING,
            OperState::UNKNOWN,
            65536,
            Mac::ZERO,
        ))
        .unwrap();
    insert(
        &mut w,
        Route4 {
            prefsrc: v4("10.0.0.1"),
            ..route(255, "10.0.0.1", 32, RouteType::LOCAL, 2)
        },
    );
    w.maintain();
    let view = NetbaseView::from_base(mem.read_only()).unwrap();
    let mut r = Resolver::new();
    assert_eq!(
        resolve_with(&mut r, &view, "10.0.0.1", None, 10),
        Resolve::Send(TxPath {
            ifindex: 7,
            src_mac: Mac::ZERO,
            dst_mac: Mac::ZERO,
            next_hop: ip("10.0.0.1"),
            src_ip: ip("10.0.0.1"),
            mtu: 65536,
            local: true,
        })
    );

    // No loopback device at all.
    let mem = heap();
    let mut w = writer(&mem);
    insert(&mut w, route(255, "10.0.0.1", 32, RouteType::LOCAL, 2));
    w.maintain();
    let view = NetbaseView::from_base(mem.read_only()).unwrap();
    assert_eq!(
        resolve_with(&mut Resolver::new(), &view, "10.0.0.1", None, 10),
        drop(DropReason::InterfaceUnknown)
    );
}
