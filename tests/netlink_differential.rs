//! Differential tests of the generated rtnetlink parsers (`parse_interface`, `parse_addr4`,
//! `parse_route4`, `parse_neigh4`) against `netlink-packet-route` on real kernel messages.
//!
//! * `live_capture_matches_reference` (privileged): builds a namespace with veths, a bridge,
//!   macvlan, vxlan, tun/tap (and a VLAN where the kernel has 802.1Q), IPv4/IPv6 addresses,
//!   routes of every type in several tables, nexthop objects, ECMP, PMTU exceptions (cloned
//!   routes) and neighbours in many NUD states; dumps links, addresses, routes and neighbours
//!   with a raw `NETLINK_ROUTE` socket, records notifications for a series of changes, and
//!   compares both parsers on every message. With `NETBASE_BLESS_FIXTURES=1` the messages are
//!   written to `tests/fixtures/netlink/*.bin`.
//! * `fixtures_match_reference` (unprivileged): the same comparison on the committed fixtures,
//!   plus synthetic VLAN messages emitted by `netlink-packet-route`.
//! * `comparison_detects_altered_messages`: the comparison is able to fail.
//! * `parsers_survive_truncation_and_corruption`: truncations and seeded random corruptions of
//!   every fixture message give `Ok` or a specific `Err`, never a panic.
//!
//! Fixture format: each file is a plain concatenation of netlink messages exactly as the
//! kernel sent them (self-delimiting by `nlmsg_len`, each padded to 4 bytes).

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use netbase::schema::{
    parse_addr4, parse_interface, parse_neigh4, parse_route4, Addr4, Interface, LinkType, Neigh4,
    NudState, OperState, Route4, RouteType,
};
use netbase_codegen::schema::{OtherLengths, RowDef, Schema};
use netbase_runtime::netlink::wire::{self, Op, Outcome, ParseError, ParseStats, Parsed, Skip};
use netbase_runtime::schema_info::FieldInfo;
use netbase_runtime::types::{Ipv4, Mac, Name};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, LinkAttribute, LinkInfo, LinkMessage, VlanProtocol,
};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::RouteNetlinkMessage;

use netbase_runtime::rand::SplitMix64;
use support::rtnl;
use support::{hex_dump, packet, Rtnl, TestNetns};

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_BRIDGE: u8 = 7;
const RTM_F_CLONED: u32 = 0x200;
const IFLA_ADDRESS: u16 = 1;
const NDA_LLADDR: u16 = 2;

/// Address families by the names a schema's `message.family` uses (the kernel's numbers,
/// written out here rather than taken from the code generator).
const FAMILY_NAMES: [(&str, u8); 4] = [
    ("AF_UNSPEC", AF_UNSPEC),
    ("AF_INET", AF_INET),
    ("AF_BRIDGE", AF_BRIDGE),
    ("AF_INET6", 10),
];

const BLESS_ENV: &str = "NETBASE_BLESS_FIXTURES";

/// The fixture sets, in capture order.
const SET_NAMES: [&str; 6] = [
    "links",
    "addrs",
    "routes",
    "routes-cloned",
    "neigh",
    "notify",
];

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// One kind of capture: raw netlink messages, one `Vec` each.
#[derive(Debug, Clone)]
struct Set {
    name: &'static str,
    messages: Vec<Vec<u8>>,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netlink")
}

fn bless_requested() -> bool {
    std::env::var(BLESS_ENV).is_ok_and(|v| v == "1")
}

fn encode(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(m);
        out.resize(wire::align4(out.len()), 0);
    }
    out
}

fn decode(name: &str, bytes: &[u8]) -> Vec<Vec<u8>> {
    rtnl::split(bytes)
        .unwrap_or_else(|e| panic!("fixture {name}.bin is not a sequence of messages: {e}"))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_fixtures(sets: &[Set]) {
    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).expect("create the fixture directory");
    for set in sets {
        let path = dir.join(format!("{}.bin", set.name));
        let tmp = dir.join(format!("{}.bin.tmp", set.name));
        std::fs::write(&tmp, encode(&set.messages)).expect("write a fixture");
        std::fs::rename(&tmp, &path).expect("move a fixture into place");
        eprintln!(
            "blessed {} ({} messages)",
            path.display(),
            set.messages.len()
        );
    }
}

fn read_fixtures() -> Vec<Set> {
    SET_NAMES
        .iter()
        .map(|&name| {
            let path = fixture_dir().join(format!("{name}.bin"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read {}: {e} (re-create the fixtures as root with \
                     {BLESS_ENV}=1 cargo test --test netlink_differential)",
                    path.display()
                )
            });
            Set {
                name,
                messages: decode(name, &bytes),
            }
        })
        .collect()
}

/// The live capture, made at most once per test process (several tests may ask for it).
static LIVE: OnceLock<Result<Vec<Set>, String>> = OnceLock::new();

fn live_capture() -> &'static Result<Vec<Set>, String> {
    LIVE.get_or_init(|| {
        if !support::is_root() {
            return Err("needs root to create network namespaces".to_string());
        }
        let ns = TestNetns::new()?;
        let sets = capture(&ns);
        drop(ns);
        if bless_requested() {
            write_fixtures(&sets);
        }
        Ok(sets)
    })
}

/// The committed fixtures; while blessing, the fresh capture instead (so that no test reads a
/// file that is being rewritten).
fn fixture_sets() -> Vec<Set> {
    if bless_requested() {
        if let Ok(sets) = live_capture() {
            return sets.clone();
        }
    }
    read_fixtures()
}

// ---------------------------------------------------------------------------------------------
// Capture (privileged)
// ---------------------------------------------------------------------------------------------

const NBV0_MAC: [u8; 6] = [0x02, 0x6e, 0x62, 0, 0, 0x00];
const GW1_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0xfe];

fn setup(ns: &TestNetns) -> bool {
    ns.ip_lines(&[
        "link set lo up",
        "link add nbv0 address 02:6e:62:00:00:00 type veth peer name nbv1 address 02:6e:62:00:00:01",
        "link add nbv2 address 02:6e:62:00:00:02 mtu 1400 type veth peer name nbv3 address 02:6e:62:00:00:03 mtu 1400",
        "link add nbbr0 address 02:6e:62:00:00:b0 type bridge",
        "link set nbv3 master nbbr0",
        "link add nbm0 link nbv1 address 02:6e:62:00:00:4d type macvlan mode bridge",
        "link add nbvx0 address 02:6e:62:00:00:42 type vxlan id 42 dstport 4789 local 10.1.0.1",
        "tuntap add mode tun name nbtun0",
        "tuntap add mode tap name nbtap0",
        "link set nbtap0 address 02:6e:62:00:00:7a",
    ]);
    // 802.1Q is not built into every kernel (it is not on the reference machine).
    let vlan = match ns.try_ip(&[
        "link", "add", "link", "nbv0", "name", "nbv0.7", "type", "vlan", "id", "7",
    ]) {
        Ok(_) => {
            ns.ip_lines(&["link set nbv0.7 up", "addr add 10.17.0.1/24 dev nbv0.7"]);
            true
        }
        Err(e) => {
            eprintln!(
                "note: no VLAN device in the capture (synthetic VLAN messages cover it): {e}"
            );
            false
        }
    };
    for dev in [
        "nbv0", "nbv1", "nbv2", "nbv3", "nbbr0", "nbm0", "nbvx0", "nbtun0", "nbtap0",
    ] {
        ns.ip(&["link", "set", dev, "up"]);
    }
    ns.ip_lines(&[
        // Addresses: primary, secondary with a label, explicit broadcast, peer, flags that
        // only IFA_FLAGS can carry, finite lifetimes, IPv6.
        "addr add 10.1.0.1/24 dev nbv0",
        "addr add 10.1.0.9/24 dev nbv0 label nbv0:1",
        "addr add 10.2.0.1/24 brd + dev nbv2",
        "addr add 10.3.0.1/24 dev nbbr0",
        "addr add 10.4.0.1 peer 10.4.0.2/32 dev nbtun0",
        "addr add 10.6.0.1/24 dev nbm0 noprefixroute",
        "addr add 10.6.1.1/24 dev nbm0 valid_lft 300 preferred_lft 200",
        "-6 addr add fd00:1::1/64 dev nbv0 nodad",
        "-6 addr add fd00:2::1/64 dev nbv2 nodad",
        // Nexthop objects.
        "nexthop add id 7 via 10.1.0.254 dev nbv0",
        "nexthop add id 9 via 10.2.0.254 dev nbv2",
        "nexthop add id 8 group 7/9",
        // Routes in main.
        "route add default via 10.1.0.254",
        "route add 10.20.0.0/16 via 10.1.0.254",
        "route add 10.21.0.0/16 dev nbv0 metric 50",
        "route add 10.22.0.0/24 via 10.2.0.254 metric 10",
        "route add 10.22.0.0/24 via 10.2.0.254 metric 20",
        "route add 10.22.0.0/24 via 10.1.0.254 metric 30",
        "route add blackhole 10.30.0.0/16",
        "route add unreachable 10.31.0.0/16 metric 5",
        "route add prohibit 10.32.0.0/16",
        "route add throw 10.33.0.0/16",
        "route add 10.34.0.0/16 dev nbv0 proto static scope link",
        "route add 10.35.0.0/16 via 10.1.0.254 src 10.1.0.1 proto 42",
        "route add 10.36.0.0/16 tos 0x10 via 10.1.0.254",
        "route add 10.37.0.0/16 via 10.99.0.1 dev nbv0 onlink",
        "route add 10.38.0.1/32 via 10.2.0.254 mtu 1300 advmss 1200",
        "route add 10.9.0.0/16 nexthop via 10.1.0.254 dev nbv0 weight 1 nexthop via 10.2.0.254 dev nbv2 weight 2",
        "route add 10.8.0.0/16 nhid 7",
        "route add 10.7.0.0/16 nhid 8",
        "route add 10.56.0.0/16 dev nbtun0",
        "route add local 10.55.0.0/16 dev lo table main",
        "route add multicast 239.1.0.0/16 dev nbv0",
        // Other tables: 100 (fits rtm_table) and 1000 (RTA_TABLE only); local.
        "route add 10.41.0.0/16 via 10.1.0.254 table 100",
        "route add 10.40.0.0/16 via 10.1.0.254 table 1000",
        "route add blackhole 10.42.0.0/16 table 1000",
        "route add local 10.50.0.0/16 dev lo",
        "route add broadcast 10.52.0.255 dev nbv0",
        "route add anycast 10.53.0.0/16 dev nbv0",
        // IPv6 routes (skipped by the IPv4 parser).
        "-6 route add fd01::/64 via fd00:1::fe",
        "-6 route add blackhole fd02::/64",
        "-6 route add fd03::/64 nexthop via fd00:1::fe dev nbv0 nexthop via fd00:2::fe dev nbv2",
        // Neighbours in many states, with and without a link-layer address.
        "neigh add 10.1.0.254 lladdr 02:00:00:00:01:fe dev nbv0 nud permanent",
        "neigh add 10.2.0.254 lladdr 02:00:00:00:02:fe dev nbv2 nud permanent",
        "neigh add 10.3.0.7 lladdr 02:00:00:00:03:07 dev nbbr0 nud permanent",
        "neigh add 10.1.0.20 lladdr 02:00:00:00:01:14 dev nbv0 nud reachable",
        "neigh add 10.1.0.21 lladdr 02:00:00:00:01:15 dev nbv0 nud stale",
        "neigh add 10.1.0.22 lladdr 02:00:00:00:01:16 dev nbv0 nud noarp",
        "neigh add 10.1.0.23 dev nbv0 nud incomplete",
        "neigh add 10.1.0.24 lladdr 02:00:00:00:01:18 dev nbv0 nud delay",
        "neigh add 10.1.0.25 lladdr 02:00:00:00:01:19 dev nbv0 nud probe",
        "neigh add 10.1.0.26 dev nbv0 nud failed",
        "neigh add 10.6.0.2 lladdr 02:00:00:00:06:02 dev nbm0 nud permanent",
        "-6 neigh add fd00:1::fe lladdr 02:00:00:00:01:fe dev nbv0 nud permanent",
    ]);
    // Optional extra: an externally learned entry (ndm_flags != 0).
    if let Err(e) = ns.try_ip(&[
        "neigh",
        "add",
        "10.1.0.27",
        "lladdr",
        "02:00:00:00:01:1b",
        "dev",
        "nbv0",
        "extern_learn",
    ]) {
        eprintln!("note: no externally learned neighbour: {e}");
    }
    vlan
}

/// Changes made while a monitor socket listens, for RTM_DEL* and replace notifications.
fn make_changes(ns: &TestNetns) {
    ns.ip_lines(&[
        "link add nbv8 address 02:6e:62:00:00:08 type veth peer name nbv9 address 02:6e:62:00:00:09",
        "addr add 10.5.0.1/24 dev nbv8",
        "link set nbv8 up",
        "link set nbv9 up",
        "route add 10.60.0.0/16 via 10.5.0.254 dev nbv8",
        "route replace 10.60.0.0/16 via 10.5.0.253 dev nbv8",
        "route del 10.60.0.0/16",
        "neigh add 10.5.0.7 lladdr 02:00:00:00:05:07 dev nbv8 nud permanent",
        "neigh del 10.5.0.7 dev nbv8",
        "neigh del 10.1.0.21 dev nbv0",
        "addr del 10.1.0.9/24 dev nbv0",
        "route del 10.20.0.0/16",
        "-6 route del fd01::/64",
        "link del nbv8",
        // A bridge port leaving and re-joining its bridge: the kernel also reports this with
        // AF_BRIDGE link messages, among them an RTM_DELLINK for a device that still exists.
        "link set nbv3 nomaster",
        "link set nbv3 master nbbr0",
    ]);
}

/// PMTU exceptions (cloned routes): ICMP "fragmentation needed" from the gateway, sent from
/// nbv1 so that it arrives on nbv0. Runs inside the namespace.
fn inject_pmtu_exceptions() {
    let nbv1 = packet::ifindex("nbv1").expect("ifindex of nbv1");
    let gw = Ipv4Addr::new(10, 1, 0, 254);
    let host = Ipv4Addr::new(10, 1, 0, 1);
    for (far, mtu) in [
        (Ipv4Addr::new(10, 20, 0, 5), 1300),
        (Ipv4Addr::new(10, 35, 1, 1), 1280),
    ] {
        let frame = packet::frag_needed_frame(NBV0_MAC, GW1_MAC, gw, host, far, mtu);
        packet::send_frame(nbv1, &frame).expect("send a frame from nbv1");
    }
}

fn capture(ns: &TestNetns) -> Vec<Set> {
    let vlan = setup(ns);

    let mut monitor = ns
        .run(Rtnl::open)
        .expect("open a monitor socket in the namespace");
    for group in [
        rtnl::RTNLGRP_LINK,
        rtnl::RTNLGRP_NEIGH,
        rtnl::RTNLGRP_IPV4_IFADDR,
        rtnl::RTNLGRP_IPV4_ROUTE,
        rtnl::RTNLGRP_IPV6_IFADDR,
        rtnl::RTNLGRP_IPV6_ROUTE,
    ] {
        monitor.join_group(group).expect("join an rtnetlink group");
    }

    let (links, addrs, routes, cloned, neigh) = ns.run(|| {
        // IPv4 traffic through the point-to-point tun device: the kernel creates a NOARP
        // neighbour (key 0.0.0.0) whose NDA_LLADDR is 0 bytes long (dev->addr_len).
        if let Ok(sock) = std::net::UdpSocket::bind("0.0.0.0:0") {
            let _ = sock.send_to(b"netbase", "10.56.0.9:9");
        }
        let mut s = Rtnl::open().expect("open a netlink socket in the namespace");
        let links = s
            .dump_consistent(rtnl::RTM_GETLINK, &[0; 16], 3)
            .expect("dump links");
        let addrs = s
            .dump_consistent(rtnl::RTM_GETADDR, &[0; 8], 3)
            .expect("dump addresses");
        // AF_UNSPEC, table 0, no flags: every table of every family (strict checking is on,
        // but the request asks for no filter).
        let routes = s
            .dump_consistent(rtnl::RTM_GETROUTE, &[0; 12], 3)
            .expect("dump routes");
        // Exceptions only: AF_INET with RTM_F_CLONED in rtm_flags. The frames above are
        // processed asynchronously, so wait for them a little.
        let mut cloned_req = [0u8; 12];
        cloned_req[0] = AF_INET;
        cloned_req[8..12].copy_from_slice(&RTM_F_CLONED.to_ne_bytes());
        let mut cloned = Vec::new();
        for _ in 0..40 {
            inject_pmtu_exceptions();
            std::thread::sleep(Duration::from_millis(50));
            cloned = s
                .dump_consistent(rtnl::RTM_GETROUTE, &cloned_req, 3)
                .expect("dump cloned routes");
            if cloned.len() >= 2 {
                break;
            }
        }
        let neigh = s
            .dump_consistent(rtnl::RTM_GETNEIGH, &[0; 12], 3)
            .expect("dump neighbours");
        (links, addrs, routes, cloned, neigh)
    });

    if cloned.len() < 2 {
        eprintln!(
            "note: {} cloned routes dumped; `ip route show cache`: {:?}",
            cloned.len(),
            ns.try_ip(&["route", "show", "cache"])
        );
    }
    // Nothing that happened before the changes belongs to the notification set.
    let early = monitor
        .drain(Duration::from_millis(100), Duration::from_secs(2))
        .expect("drain the monitor");
    make_changes(ns);
    let notify = monitor
        .drain(Duration::from_millis(300), Duration::from_secs(5))
        .expect("read notifications");
    eprintln!(
        "captured: {} links, {} addresses, {} routes, {} cloned, {} neighbours, {} notifications \
         ({} early ones dropped), vlan device: {vlan}",
        links.len(),
        addrs.len(),
        routes.len(),
        cloned.len(),
        neigh.len(),
        notify.len(),
        early.len()
    );
    vec![
        Set {
            name: "links",
            messages: links,
        },
        Set {
            name: "addrs",
            messages: addrs,
        },
        Set {
            name: "routes",
            messages: routes,
        },
        Set {
            name: "routes-cloned",
            messages: cloned,
        },
        Set {
            name: "neigh",
            messages: neigh,
        },
        Set {
            name: "notify",
            messages: notify,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// The schema's rules that the expectations follow
// ---------------------------------------------------------------------------------------------

/// What `schema/netbase.toml` (the schema the parsers are generated from) says about the rows,
/// beyond field sources: which address family each row's parser accepts and what a MAC
/// attribute of another length than 6 does.
#[derive(Debug)]
struct Rules {
    /// The family each row accepts (`None`: every family); others are `Skip::Family`.
    link_family: Option<u8>,
    addr_family: Option<u8>,
    route_family: Option<u8>,
    neigh_family: Option<u8>,
    /// `other_lengths` of `Interface.mac` (IFLA_ADDRESS) and `Neigh4.mac` (NDA_LLADDR).
    link_mac: OtherLengths,
    neigh_mac: OtherLengths,
}

impl Rules {
    fn load() -> Rules {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/netbase.toml");
        let schema = Schema::load(&path)
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e:?}", path.display()));
        let row = |name: &str| -> RowDef {
            schema
                .row(name)
                .unwrap_or_else(|| panic!("the schema has no row {name}"))
                .clone()
        };
        let family = |name: &str| -> Option<u8> {
            let (family, number) = row(name).message.family?;
            let known = FAMILY_NAMES
                .iter()
                .find(|(n, _)| *n == family)
                .unwrap_or_else(|| panic!("row {name}: family {family} is not modelled here"))
                .1;
            assert_eq!(
                known, number,
                "row {name}: the schema compiler numbers {family} {number}, the kernel {known}"
            );
            Some(number)
        };
        let other_lengths = |name: &str, field: &str| -> OtherLengths {
            let r = row(name);
            let i = r
                .field_index(field)
                .unwrap_or_else(|| panic!("row {name} has no field {field}"));
            r.fields[i].other_lengths
        };
        Rules {
            link_family: family("Interface"),
            addr_family: family("Addr4"),
            route_family: family("Route4"),
            neigh_family: family("Neigh4"),
            link_mac: other_lengths("Interface", "mac"),
            neigh_mac: other_lengths("Neigh4", "mac"),
        }
    }

    /// The family accepted by the parser of message type `ty`.
    fn family_of(&self, ty: u16) -> Option<u8> {
        match ty {
            16 | 17 => self.link_family,
            20 | 21 => self.addr_family,
            24 | 25 => self.route_family,
            28 | 29 => self.neigh_family,
            _ => None,
        }
    }
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(Rules::load)
}

/// `Skip::Family` when `family` is not the one a row accepts.
fn family_filter<R>(accepted: Option<u8>, family: u8) -> Option<Expect<R>> {
    match accepted {
        Some(a) if a != family => Some(skipped(Skip::Family(family))),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Expected rows, from netlink-packet-route's view of a message
// ---------------------------------------------------------------------------------------------

/// What our parser must return for a message, derived from the reference parser and the
/// schema's [`Rules`].
struct Expect<R> {
    outcome: Result<Outcome<R>, ParseError>,
    /// The counters our parser must end with (`None`: not predictable from the reference).
    stats: Option<ParseStats>,
}

fn bit(field: usize) -> u64 {
    1u64 << field
}

fn skipped<R>(skip: Skip) -> Expect<R> {
    Expect {
        outcome: Ok(Outcome::Skipped(skip)),
        stats: Some(ParseStats::default()),
    }
}

fn parsed<R>(op: Op, nl_flags: u16, row: R, present: u64, stats: Option<ParseStats>) -> Expect<R> {
    Expect {
        outcome: Ok(Outcome::Row(Parsed {
            op,
            row,
            present,
            nl_flags,
        })),
        stats,
    }
}

/// Our `LinkType` for a kernel `IFLA_INFO_KIND` (the schema's enum names and aliases).
fn link_type_of_kind(kind: &str) -> Option<LinkType> {
    match kind {
        "veth" => Some(LinkType::VETH),
        "vlan" => Some(LinkType::VLAN),
        "bond" => Some(LinkType::BOND),
        "bridge" => Some(LinkType::BRIDGE),
        "gre" | "gretap" | "ipgre" => Some(LinkType::GRE),
        _ => None,
    }
}

/// Our `LinkType` for an ARP hardware type (the schema's `map` on `hdr.ifi_type`).
fn link_type_of_arphrd(ty: u16) -> Option<LinkType> {
    match ty {
        1 => Some(LinkType::ETHERNET),
        772 => Some(LinkType::LOOPBACK),
        778 => Some(LinkType::GRE),
        _ => None,
    }
}

/// How many attributes of an `IFLA_INFO_DATA` our parser counts as unknown: all but type 1,
/// which it reads as a VLAN id candidate. `None` when the reference does not expose the list.
fn info_data_unknown(data: &InfoData) -> Option<u64> {
    fn not_type_1<T: Nla>(v: &[T]) -> Option<u64> {
        Some(v.iter().filter(|n| n.kind() & 0x3fff != 1).count() as u64)
    }
    match data {
        InfoData::Bridge(v) => not_type_1(v),
        InfoData::Vlan(v) => not_type_1(v),
        InfoData::Vxlan(v) => not_type_1(v),
        InfoData::MacVlan(v) => not_type_1(v),
        InfoData::Tun(v) => not_type_1(v),
        _ => None,
    }
}

/// A MAC attribute (`attr`) whose payload is `len` bytes, not 6, under the field's
/// `other_lengths`: `Ignore` leaves the field absent and counts the attribute in
/// `ignored_lengths`; `Error` fails the whole message with the returned error.
fn odd_mac(
    rule: OtherLengths,
    attr: u16,
    len: usize,
    stats: &mut ParseStats,
) -> Result<(), ParseError> {
    match rule {
        OtherLengths::Ignore => {
            stats.ignored_lengths += 1;
            Ok(())
        }
        OtherLengths::Error => Err(ParseError::BadAttrLength {
            attr,
            len,
            expected: 6,
        }),
    }
}

/// The expectation for a message that the parser rejects at its first odd MAC attribute.
fn failed<R>(e: ParseError) -> Expect<R> {
    Expect {
        outcome: Err(e),
        stats: None,
    }
}

fn expect_link(op: Op, nl_flags: u16, m: &LinkMessage) -> Expect<Interface> {
    // Interface has `family = "AF_UNSPEC"`: bridge-port events (AF_BRIDGE) are skipped.
    let family = u8::from(m.header.interface_family);
    if let Some(skip) = family_filter(rules().link_family, family) {
        return skip;
    }
    let mut row = Interface::ZERO;
    let mut present = 0;
    let mut stats = ParseStats::default();
    let mut stats_known = true;
    row.ifindex = m.header.index;
    present |= bit(Interface::FIELD_IFINDEX);
    row.flags = m.header.flags.bits();
    present |= bit(Interface::FIELD_FLAGS);
    row.arp_type = u16::from(m.header.link_layer_type);
    present |= bit(Interface::FIELD_ARP_TYPE);
    let mut kind = None;
    let mut vlan_id = None;
    for attr in &m.attributes {
        match attr {
            LinkAttribute::Mtu(v) => {
                row.mtu = *v;
                present |= bit(Interface::FIELD_MTU);
            }
            LinkAttribute::Controller(v) => {
                row.master = *v;
                present |= bit(Interface::FIELD_MASTER);
            }
            LinkAttribute::Link(v) => {
                row.link = *v;
                present |= bit(Interface::FIELD_LINK);
            }
            LinkAttribute::IfName(s) => {
                row.name = Name::new(s.as_bytes()).expect("kernel names fit 16 bytes");
                present |= bit(Interface::FIELD_NAME);
            }
            LinkAttribute::Address(a) => match <[u8; 6]>::try_from(a.as_slice()) {
                Ok(mac) => {
                    row.mac = Mac(mac);
                    present |= bit(Interface::FIELD_MAC);
                }
                Err(_) => {
                    if let Err(e) = odd_mac(rules().link_mac, IFLA_ADDRESS, a.len(), &mut stats) {
                        return failed(e);
                    }
                }
            },
            LinkAttribute::OperState(s) => {
                row.oper_state = OperState(u8::from(*s));
                present |= bit(Interface::FIELD_OPER_STATE);
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => kind = Some(k.to_string()),
                        LinkInfo::Data(data) => {
                            match info_data_unknown(data) {
                                Some(n) => stats.unknown_attrs += n,
                                None => stats_known = false,
                            }
                            if let InfoData::Vlan(v) = data {
                                for x in v {
                                    if let InfoVlan::Id(id) = x {
                                        vlan_id = Some(*id);
                                    }
                                }
                            }
                        }
                        _ => stats.unknown_attrs += 1,
                    }
                }
            }
            _ => stats.unknown_attrs += 1,
        }
    }
    let link_type = kind
        .as_deref()
        .and_then(link_type_of_kind)
        .or(link_type_of_arphrd(row.arp_type));
    if let Some(t) = link_type {
        row.link_type = t;
        present |= bit(Interface::FIELD_LINK_TYPE);
    }
    if row.link_type == LinkType::VLAN {
        if let Some(id) = vlan_id {
            row.vlan_id = id;
            present |= bit(Interface::FIELD_VLAN_ID);
        }
    }
    parsed(op, nl_flags, row, present, stats_known.then_some(stats))
}

fn expect_addr(op: Op, nl_flags: u16, m: &AddressMessage) -> Expect<Addr4> {
    if let Some(skip) = family_filter(rules().addr_family, u8::from(m.header.family)) {
        return skip;
    }
    let mut row = Addr4::ZERO;
    let mut present = bit(Addr4::FIELD_IFINDEX)
        | bit(Addr4::FIELD_PREFIX_LEN)
        | bit(Addr4::FIELD_SCOPE)
        | bit(Addr4::FIELD_FLAGS);
    let mut stats = ParseStats::default();
    row.ifindex = m.header.index;
    row.prefix_len = m.header.prefix_len;
    row.scope = u8::from(m.header.scope);
    let (mut local, mut address, mut flags) = (None, None, None);
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(a)) => local = Some(*a),
            AddressAttribute::Address(IpAddr::V4(a)) => address = Some(*a),
            AddressAttribute::Broadcast(a) => {
                row.broadcast = Ipv4::from(*a);
                present |= bit(Addr4::FIELD_BROADCAST);
            }
            AddressAttribute::Flags(f) => flags = Some(f.bits()),
            _ => stats.unknown_attrs += 1,
        }
    }
    if let Some(a) = local.or(address) {
        row.local = Ipv4::from(a);
        present |= bit(Addr4::FIELD_LOCAL);
    }
    row.flags = flags.unwrap_or(u32::from(m.header.flags.bits()));
    parsed(op, nl_flags, row, present, Some(stats))
}

fn expect_route(op: Op, nl_flags: u16, m: &RouteMessage) -> Expect<Route4> {
    if let Some(skip) = family_filter(rules().route_family, u8::from(m.header.address_family)) {
        return skip;
    }
    if m.header.flags.bits() & RTM_F_CLONED != 0 {
        return skipped(Skip::Filtered);
    }
    let mut row = Route4::ZERO;
    let mut present = bit(Route4::FIELD_FLAGS)
        | bit(Route4::FIELD_DST_LEN)
        | bit(Route4::FIELD_TOS)
        | bit(Route4::FIELD_ROUTE_TYPE)
        | bit(Route4::FIELD_SCOPE)
        | bit(Route4::FIELD_PROTOCOL)
        | bit(Route4::FIELD_TABLE);
    let mut stats = ParseStats::default();
    row.flags = m.header.flags.bits();
    row.dst_len = m.header.destination_prefix_length;
    row.tos = m.header.tos;
    row.route_type = RouteType(u8::from(m.header.kind));
    row.scope = u8::from(m.header.scope);
    row.protocol = u8::from(m.header.protocol);
    let mut table = None;
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => {
                row.dst = Ipv4::from(*a);
                present |= bit(Route4::FIELD_DST);
            }
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => {
                row.gateway = Ipv4::from(*a);
                present |= bit(Route4::FIELD_GATEWAY);
            }
            RouteAttribute::PrefSource(RouteAddress::Inet(a)) => {
                row.prefsrc = Ipv4::from(*a);
                present |= bit(Route4::FIELD_PREFSRC);
            }
            RouteAttribute::Oif(v) => {
                row.oif = *v;
                present |= bit(Route4::FIELD_OIF);
            }
            RouteAttribute::Priority(v) => {
                row.priority = *v;
                present |= bit(Route4::FIELD_PRIORITY);
            }
            RouteAttribute::Table(v) => table = Some(*v),
            RouteAttribute::NhId(v) => {
                row.nh_id = *v;
                present |= bit(Route4::FIELD_NH_ID);
            }
            RouteAttribute::MultiPath(_) => {
                row.multipath = 1;
                present |= bit(Route4::FIELD_MULTIPATH);
            }
            _ => stats.unknown_attrs += 1,
        }
    }
    row.table = table.unwrap_or(u32::from(m.header.table));
    parsed(op, nl_flags, row, present, Some(stats))
}

fn expect_neigh(op: Op, nl_flags: u16, m: &NeighbourMessage) -> Expect<Neigh4> {
    if let Some(skip) = family_filter(rules().neigh_family, u8::from(m.header.family)) {
        return skip;
    }
    let mut row = Neigh4::ZERO;
    let mut present = bit(Neigh4::FIELD_IFINDEX)
        | bit(Neigh4::FIELD_STATE)
        | bit(Neigh4::FIELD_FLAGS)
        | bit(Neigh4::FIELD_NDM_TYPE);
    let mut stats = ParseStats::default();
    row.ifindex = m.header.ifindex;
    row.state = NudState(u16::from(m.header.state));
    row.flags = m.header.flags.bits();
    row.ndm_type = u8::from(m.header.kind);
    for attr in &m.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                row.ip = Ipv4::from(*a);
                present |= bit(Neigh4::FIELD_IP);
            }
            // Devices whose hardware address is not 6 bytes (tun, WireGuard, IP tunnels: 0 or
            // 4 bytes) put such an NDA_LLADDR in their neighbour entries. `Neigh4.mac` has
            // `other_lengths = "ignore"`: the MAC stays absent (zero, present bit clear) and
            // the attribute counts in `ignored_lengths`.
            NeighbourAttribute::LinkLayerAddress(a) => match <[u8; 6]>::try_from(a.as_slice()) {
                Ok(mac) => {
                    row.mac = Mac(mac);
                    present |= bit(Neigh4::FIELD_MAC);
                }
                Err(_) => {
                    if let Err(e) = odd_mac(rules().neigh_mac, NDA_LLADDR, a.len(), &mut stats) {
                        return failed(e);
                    }
                }
            },
            _ => stats.unknown_attrs += 1,
        }
    }
    parsed(op, nl_flags, row, present, Some(stats))
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// Counts of what the comparison saw, by key.
#[derive(Debug, Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
}

impl Tally {
    fn bump(&mut self, key: impl Into<String>) {
        *self.counts.entry(key.into()).or_default() += 1;
    }

    fn get(&self, key: &str) -> usize {
        self.counts.get(key).copied().unwrap_or(0)
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.counts {
            s.push_str(&format!("  {k}: {v}\n"));
        }
        s
    }
}

macro_rules! field_diffs {
    ($a:expr, $b:expr, [$($f:ident),+ $(,)?]) => {{
        let (a, b) = ($a, $b);
        let mut out = Vec::new();
        $(
            if a.$f != b.$f {
                out.push(format!(
                    "field {}: ours {:?}, reference {:?}",
                    stringify!($f),
                    a.$f,
                    b.$f
                ));
            }
        )+
        out
    }};
}

fn diff_interface(a: &Interface, b: &Interface) -> Vec<String> {
    field_diffs!(
        a,
        b,
        [ifindex, flags, mtu, master, link, arp_type, vlan_id, name, mac, oper_state, link_type]
    )
}

fn diff_addr4(a: &Addr4, b: &Addr4) -> Vec<String> {
    field_diffs!(a, b, [ifindex, local, broadcast, flags, prefix_len, scope])
}

fn diff_route4(a: &Route4, b: &Route4) -> Vec<String> {
    field_diffs!(
        a,
        b,
        [
            dst, gateway, prefsrc, oif, priority, table, nh_id, flags, dst_len, tos, route_type,
            scope, protocol, multipath
        ]
    )
}

fn diff_neigh4(a: &Neigh4, b: &Neigh4) -> Vec<String> {
    field_diffs!(a, b, [ifindex, ip, updated_ns, mac, state, flags, ndm_type])
}

fn present_names(mask: u64, fields: &[FieldInfo]) -> String {
    let names: Vec<&str> = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, f)| f.name)
        .collect();
    format!("{mask:#x} [{}]", names.join(","))
}

/// Our result against the expectation; every difference as one line.
fn compare<R: Copy + PartialEq + Debug>(
    ours: &Result<Outcome<R>, ParseError>,
    stats: &ParseStats,
    expect: &Expect<R>,
    fields: &[FieldInfo],
    diff: fn(&R, &R) -> Vec<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if *ours != expect.outcome {
        problems.push(format!("ours:      {ours:?}"));
        problems.push(format!("reference: {:?}", expect.outcome));
        if let (Ok(Outcome::Row(a)), Ok(Outcome::Row(b))) = (ours, &expect.outcome) {
            problems.extend(diff(&a.row, &b.row));
            if a.present != b.present {
                problems.push(format!(
                    "present bits: ours {}, reference {}",
                    present_names(a.present, fields),
                    present_names(b.present, fields)
                ));
            }
            if a.op != b.op {
                problems.push(format!("op: ours {:?}, reference {:?}", a.op, b.op));
            }
            if a.nl_flags != b.nl_flags {
                problems.push(format!(
                    "nl_flags: ours {:#x}, reference {:#x}",
                    a.nl_flags, b.nl_flags
                ));
            }
        }
    }
    if let (Some(want), Ok(_)) = (&expect.stats, ours) {
        if stats != want {
            problems.push(format!("stats: ours {stats:?}, expected {want:?}"));
        }
    }
    problems
}

fn route_type_name(t: RouteType) -> String {
    match t.name() {
        Some(n) => n.to_string(),
        None => t.0.to_string(),
    }
}

fn link_type_name(t: LinkType) -> String {
    match t.name() {
        Some(n) => n.to_string(),
        None => t.0.to_string(),
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::New => "new",
        Op::Del => "del",
    }
}

fn tally_link(t: &mut Tally, e: &Expect<Interface>, m: &LinkMessage, ours: &[u8]) {
    t.bump("link");
    let family = u8::from(m.header.interface_family);
    if family != AF_UNSPEC {
        // Bridge-port events (AF_BRIDGE). What parse_interface itself returns for them, for
        // `assert_schema_rules`: the schema's `family = "AF_UNSPEC"` skips them untouched.
        t.bump(format!("link/family/{family}"));
        let mut st = ParseStats::default();
        if parse_interface(ours, &mut st) == Ok(Outcome::Skipped(Skip::Family(family)))
            && st == ParseStats::default()
        {
            t.bump(format!("link/family/{family}/skipped"));
        }
    }
    match &e.outcome {
        Ok(Outcome::Row(p)) => {
            t.bump(format!("link/op/{}", op_name(p.op)));
            t.bump(format!("link/type/{}", link_type_name(p.row.link_type)));
            if p.has(Interface::FIELD_MASTER) {
                t.bump("link/master");
            }
            if p.has(Interface::FIELD_LINK) {
                t.bump("link/link");
            }
            if p.has(Interface::FIELD_VLAN_ID) {
                t.bump("link/vlan_id");
            }
            if !p.has(Interface::FIELD_MAC) {
                t.bump("link/no_mac");
            }
        }
        Ok(Outcome::Skipped(Skip::Family(f))) => t.bump(format!("link/skipped_family/{f}")),
        other => t.bump(format!("link/other/{other:?}")),
    }
}

fn tally_addr(t: &mut Tally, e: &Expect<Addr4>, m: &AddressMessage) {
    match &e.outcome {
        Ok(Outcome::Row(p)) => {
            t.bump("addr4");
            t.bump(format!("addr4/op/{}", op_name(p.op)));
            if p.has(Addr4::FIELD_BROADCAST) {
                t.bump("addr4/broadcast");
            }
            if p.row.flags > 0xff {
                t.bump("addr4/flags_above_8_bits");
            }
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(x) => Some(*x),
                _ => None,
            });
            let address = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(x) => Some(*x),
                _ => None,
            });
            if local.is_some() && address.is_some() && local != address {
                t.bump("addr4/peer");
            }
        }
        Ok(Outcome::Skipped(Skip::Family(f))) => t.bump(format!("addr/skipped_family/{f}")),
        other => t.bump(format!("addr/other/{other:?}")),
    }
}

fn tally_route(t: &mut Tally, e: &Expect<Route4>) {
    match &e.outcome {
        Ok(Outcome::Row(p)) => {
            let r = &p.row;
            t.bump("route4");
            t.bump(format!("route4/op/{}", op_name(p.op)));
            t.bump(format!("route4/type/{}", route_type_name(r.route_type)));
            t.bump(format!("route4/table/{}", r.table));
            t.bump(format!("route4/protocol/{}", r.protocol));
            for (field, key) in [
                (Route4::FIELD_NH_ID, "route4/nh_id"),
                (Route4::FIELD_MULTIPATH, "route4/multipath"),
                (Route4::FIELD_GATEWAY, "route4/gateway"),
                (Route4::FIELD_PREFSRC, "route4/prefsrc"),
                (Route4::FIELD_PRIORITY, "route4/priority"),
                (Route4::FIELD_OIF, "route4/oif"),
            ] {
                if p.has(field) {
                    t.bump(key);
                }
            }
            if !p.has(Route4::FIELD_DST) {
                t.bump("route4/no_dst");
            }
            if r.tos != 0 {
                t.bump("route4/tos");
            }
            if r.flags != 0 {
                t.bump("route4/rtm_flags");
            }
        }
        Ok(Outcome::Skipped(Skip::Family(f))) => t.bump(format!("route/skipped_family/{f}")),
        Ok(Outcome::Skipped(Skip::Filtered)) => t.bump("route4/skipped_cloned"),
        other => t.bump(format!("route/other/{other:?}")),
    }
}

fn tally_neigh(t: &mut Tally, e: &Expect<Neigh4>, m: &NeighbourMessage, ours: &[u8]) {
    let lladdr_lens: Vec<usize> = m
        .attributes
        .iter()
        .filter_map(|a| match a {
            NeighbourAttribute::LinkLayerAddress(x) => Some(x.len()),
            _ => None,
        })
        .collect();
    let odd = lladdr_lens.iter().filter(|&&l| l != 6).count();
    let family = u8::from(m.header.family);
    if odd > 0 && rules().neigh_family.is_none_or(|f| f == family) {
        // An NDA_LLADDR that is not 6 bytes (point-to-point devices: 0 bytes). What
        // parse_neigh4 itself returns, for `assert_schema_rules`: a row whose MAC is absent
        // (unless a 6-byte NDA_LLADDR came too), each odd one counted in `ignored_lengths`.
        t.bump("neigh4/odd_lladdr");
        let six = lladdr_lens.contains(&6);
        let mut st = ParseStats::default();
        if let Ok(Outcome::Row(p)) = parse_neigh4(ours, &mut st) {
            if p.has(Neigh4::FIELD_MAC) == six
                && (six || p.row.mac == Mac([0; 6]))
                && st.ignored_lengths == odd as u64
            {
                t.bump("neigh4/odd_lladdr/ignored");
            }
        }
    }
    match &e.outcome {
        Ok(Outcome::Row(p)) => {
            t.bump("neigh4");
            t.bump(format!("neigh4/op/{}", op_name(p.op)));
            t.bump(format!("neigh4/state/{:?}", p.row.state));
            if !p.has(Neigh4::FIELD_MAC) {
                t.bump("neigh4/no_lladdr");
            }
            if p.row.flags != 0 {
                t.bump("neigh4/ndm_flags");
            }
        }
        Ok(Outcome::Skipped(Skip::Family(f))) => t.bump(format!("neigh/skipped_family/{f}")),
        Err(e) => t.bump(format!("neigh4/error/{e:?}")),
        other => t.bump(format!("neigh/other/{other:?}")),
    }
}

/// Runs one parser of ours and the expectation; problems, if any.
fn run_case<R: Copy + PartialEq + Debug>(
    parser: fn(&[u8], &mut ParseStats) -> Result<Outcome<R>, ParseError>,
    ours: &[u8],
    expect: &Expect<R>,
    fields: &[FieldInfo],
    diff: fn(&R, &R) -> Vec<String>,
) -> Vec<String> {
    let mut stats = ParseStats::default();
    let got = parser(ours, &mut stats);
    compare(&got, &stats, expect, fields, diff)
}

/// The parsers that do not own message type `ty` must refuse it.
fn others_refuse(ty: u16, buf: &[u8]) -> Vec<String> {
    let mut st = ParseStats::default();
    let results = [
        (
            "parse_interface",
            matches!(ty, 16 | 17),
            parse_interface(buf, &mut st).map(|_| ()),
        ),
        (
            "parse_addr4",
            matches!(ty, 20 | 21),
            parse_addr4(buf, &mut st).map(|_| ()),
        ),
        (
            "parse_route4",
            matches!(ty, 24 | 25),
            parse_route4(buf, &mut st).map(|_| ()),
        ),
        (
            "parse_neigh4",
            matches!(ty, 28 | 29),
            parse_neigh4(buf, &mut st).map(|_| ()),
        ),
    ];
    let mut problems = Vec::new();
    for (name, own, r) in results {
        if !own && r != Err(ParseError::UnexpectedType { ty }) {
            problems.push(format!("{name} on a type {ty} message returned {r:?}"));
        }
    }
    problems
}

/// Compares our parser on `ours` with netlink-packet-route on `reference` (the same bytes,
/// except in the test that proves that differences are found). `Err` lists the differences.
fn check_pair(reference: &[u8], ours: &[u8], tally: &mut Tally) -> Result<(), String> {
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(reference)
        .map_err(|e| format!("netlink-packet-route rejects the message: {e:?}"))?;
    let nl_flags = msg.header.flags;
    let ty = msg.header.message_type;
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        tally.bump(format!("other/control/{ty}"));
        return Ok(());
    };
    let mut problems = match &inner {
        RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::DelLink(m) => {
            let op = if ty == rtnl::RTM_NEWLINK {
                Op::New
            } else {
                Op::Del
            };
            let e = expect_link(op, nl_flags, m);
            tally_link(tally, &e, m, ours);
            run_case(
                parse_interface,
                ours,
                &e,
                &Interface::FIELDS,
                diff_interface,
            )
        }
        RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m) => {
            let op = if ty == rtnl::RTM_NEWADDR {
                Op::New
            } else {
                Op::Del
            };
            let e = expect_addr(op, nl_flags, m);
            tally_addr(tally, &e, m);
            run_case(parse_addr4, ours, &e, &Addr4::FIELDS, diff_addr4)
        }
        RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m) => {
            let op = if ty == rtnl::RTM_NEWROUTE {
                Op::New
            } else {
                Op::Del
            };
            let e = expect_route(op, nl_flags, m);
            tally_route(tally, &e);
            run_case(parse_route4, ours, &e, &Route4::FIELDS, diff_route4)
        }
        RouteNetlinkMessage::NewNeighbour(m) | RouteNetlinkMessage::DelNeighbour(m) => {
            let op = if ty == rtnl::RTM_NEWNEIGH {
                Op::New
            } else {
                Op::Del
            };
            let e = expect_neigh(op, nl_flags, m);
            tally_neigh(tally, &e, m, ours);
            run_case(parse_neigh4, ours, &e, &Neigh4::FIELDS, diff_neigh4)
        }
        _ => {
            tally.bump(format!("other/type/{ty}"));
            Vec::new()
        }
    };
    problems.extend(others_refuse(ty, ours));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Runs the comparison on every message of `sets`; fails listing every disagreement.
fn differential(sets: &[Set]) -> Tally {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut total = 0;
    for set in sets {
        for (i, m) in set.messages.iter().enumerate() {
            total += 1;
            tally.bump(format!("set/{}", set.name));
            if let Err(e) = check_pair(m, m, &mut tally) {
                failures.push(format!(
                    "{}[{i}] ({} bytes):\n{e}\n{}",
                    set.name,
                    m.len(),
                    hex_dump(m)
                ));
            }
        }
    }
    eprintln!("differential over {total} messages:\n{}", tally.summary());
    assert!(
        failures.is_empty(),
        "{} of {total} messages: our parsers and netlink-packet-route disagree:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    tally
}

/// The capture (live or fixtures) must contain what the setup creates.
fn assert_coverage(t: &Tally) {
    let mut missing = Vec::new();
    let mut need = |key: &str, min: usize| {
        if t.get(key) < min {
            missing.push(format!("{key}: {} < {min}", t.get(key)));
        }
    };
    need("link", 10);
    need("link/type/veth", 4);
    need("link/type/bridge", 1);
    need("link/type/loopback", 1);
    need("link/type/ethernet", 3);
    need("link/type/other", 1);
    need("link/master", 1);
    need("link/link", 5);
    need("link/no_mac", 1);
    need("link/op/del", 1);
    need("link/family/7", 1);
    need("addr4", 7);
    need("addr4/broadcast", 1);
    need("addr4/peer", 1);
    need("addr4/flags_above_8_bits", 1);
    need("addr4/op/del", 1);
    need("addr/skipped_family/10", 3);
    need("route4", 40);
    need("route4/type/unicast", 20);
    need("route4/type/local", 8);
    need("route4/type/broadcast", 4);
    need("route4/type/blackhole", 2);
    need("route4/type/unreachable", 1);
    need("route4/type/prohibit", 1);
    need("route4/type/throw", 1);
    need("route4/type/multicast", 1);
    need("route4/type/anycast", 1);
    need("route4/table/254", 20);
    need("route4/table/255", 10);
    need("route4/table/100", 1);
    need("route4/table/1000", 2);
    need("route4/protocol/4", 1);
    need("route4/protocol/42", 1);
    need("route4/nh_id", 2);
    need("route4/multipath", 1);
    need("route4/no_dst", 1);
    need("route4/prefsrc", 1);
    need("route4/priority", 5);
    need("route4/tos", 1);
    need("route4/rtm_flags", 1);
    need("route4/op/del", 1);
    need("route4/skipped_cloned", 2);
    need("route/skipped_family/10", 5);
    need("neigh4", 10);
    need("neigh4/state/permanent", 3);
    need("neigh4/state/reachable", 1);
    need("neigh4/state/stale", 1);
    need("neigh4/state/noarp", 1);
    need("neigh4/state/incomplete", 1);
    need("neigh4/state/failed", 1);
    need("neigh4/no_lladdr", 2);
    need("neigh4/odd_lladdr", 1);
    need("neigh4/op/del", 1);
    need("neigh/skipped_family/10", 1);
    assert!(
        missing.is_empty(),
        "the capture lacks expected messages:\n{}",
        missing.join("\n")
    );
}

/// The two schema rules that this comparison first reported as differences from
/// netlink-packet-route hold on the capture, checked on what the parsers return.
fn assert_schema_rules(t: &Tally) {
    // Interface: `family = "AF_UNSPEC"`. The kernel reports bridge-port changes again with
    // ifi_family AF_BRIDGE (7), among them an RTM_DELLINK for a device that still exists;
    // they are not device changes, so parse_interface skips every one of them.
    assert_eq!(
        rules().link_family,
        Some(AF_UNSPEC),
        "the Interface row must accept AF_UNSPEC link messages only"
    );
    assert!(
        t.get(&format!("link/family/{AF_BRIDGE}")) >= 1,
        "no AF_BRIDGE link message"
    );
    for (key, &n) in &t.counts {
        if let Some(family) = key.strip_prefix("link/family/") {
            if !family.contains('/') {
                assert_eq!(
                    t.get(&format!("{key}/skipped")),
                    n,
                    "parse_interface must skip every link message of family {family} \
                     (Skip::Family({family}), no counters)"
                );
            }
        }
    }
    // Neigh4.mac: `other_lengths = "ignore"`. An NDA_LLADDR that is not 6 bytes (the 0-byte
    // one of point-to-point devices) leaves the MAC absent and counts in ignored_lengths.
    assert_eq!(
        rules().neigh_mac,
        OtherLengths::Ignore,
        "Neigh4.mac must ignore NDA_LLADDRs of other lengths"
    );
    let odd = t.get("neigh4/odd_lladdr");
    assert!(
        odd >= 1,
        "no neighbour with an NDA_LLADDR of another length"
    );
    assert_eq!(
        t.get("neigh4/odd_lladdr/ignored"),
        odd,
        "parse_neigh4 must give a row without MAC (ignored_lengths += 1) for each neighbour \
         whose NDA_LLADDR is not 6 bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Synthetic messages (emitted by netlink-packet-route)
// ---------------------------------------------------------------------------------------------

/// VLAN devices need 802.1Q in the kernel; build an RTM_NEWLINK message for one from a captured
/// veth message with netlink-packet-route's emitter (IFLA_INFO_KIND, then IFLA_INFO_DATA).
fn synthetic_vlan(sets: &[Set], id: u16) -> Vec<u8> {
    let veth = sets
        .iter()
        .flat_map(|s| &s.messages)
        .find(|m| {
            let mut st = ParseStats::default();
            matches!(
                parse_interface(m, &mut st),
                Ok(Outcome::Row(p)) if p.row.link_type == LinkType::VETH && p.op == Op::New
            )
        })
        .expect("a veth RTM_NEWLINK in the capture");
    let mut msg =
        NetlinkMessage::<RouteNetlinkMessage>::deserialize(veth).expect("reference parse");
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = &mut msg.payload else {
        panic!("not a NewLink");
    };
    link.attributes.retain(|a| {
        matches!(
            a,
            LinkAttribute::Mtu(_)
                | LinkAttribute::Address(_)
                | LinkAttribute::OperState(_)
                | LinkAttribute::Link(_)
                | LinkAttribute::TxQueueLen(_)
        )
    });
    link.attributes
        .push(LinkAttribute::IfName(format!("nbv0.{id}")));
    link.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vlan),
        LinkInfo::Data(InfoData::Vlan(vec![
            InfoVlan::Protocol(VlanProtocol::Ieee8021Q),
            InfoVlan::Id(id),
        ])),
    ]));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// The same message with the nested attributes of IFLA_LINKINFO in reverse order (the kernel
/// sends IFLA_INFO_KIND first, but nothing requires it; netlink-packet-route refuses the other
/// order, so this copy is compared against the reference's view of the original).
fn reverse_linkinfo(m: &[u8]) -> Vec<u8> {
    let (off, len, _) = top_attrs(m)
        .into_iter()
        .find(|&(_, _, ty)| ty & 0x3fff == 18)
        .expect("an IFLA_LINKINFO");
    let mut children = Vec::new();
    let mut at = off + 4;
    while at + 4 <= off + len {
        let l = usize::from(u16::from_ne_bytes([m[at], m[at + 1]]));
        assert!(l >= 4 && at + l <= off + len, "malformed IFLA_LINKINFO");
        children.push(&m[at..at + l]);
        at += wire::align4(l);
    }
    let mut nested = Vec::new();
    for c in children.iter().rev() {
        nested.resize(wire::align4(nested.len()), 0);
        nested.extend_from_slice(c);
    }
    let mut out = m[..off].to_vec();
    out.extend_from_slice(&((4 + nested.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&m[off + 2..off + 4]);
    out.extend_from_slice(&nested);
    out.resize(wire::align4(out.len()), 0);
    out.extend_from_slice(&m[(off + wire::align4(len)).min(m.len())..]);
    let total = out.len() as u32;
    set_u32(&mut out, 0, total);
    out
}

// ---------------------------------------------------------------------------------------------
// Raw message helpers (independent of the code under test)
// ---------------------------------------------------------------------------------------------

/// Length of the family header of a message type our parsers handle.
fn family_header_len(ty: u16) -> Option<usize> {
    match ty {
        16 | 17 => Some(16),
        20 | 21 => Some(8),
        24 | 25 | 28 | 29 => Some(12),
        _ => None,
    }
}

fn msg_type(m: &[u8]) -> u16 {
    u16::from_ne_bytes([m[4], m[5]])
}

/// Top-level attributes of a message: (offset in the message, nla_len, nla_type).
fn top_attrs(m: &[u8]) -> Vec<(usize, usize, u16)> {
    let Some(hdr) = family_header_len(msg_type(m)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut off = 16 + wire::align4(hdr);
    while off + 4 <= m.len() {
        let len = usize::from(u16::from_ne_bytes([m[off], m[off + 1]]));
        let ty = u16::from_ne_bytes([m[off + 2], m[off + 3]]);
        if len < 4 || off + len > m.len() {
            break;
        }
        out.push((off, len, ty));
        off += wire::align4(len);
    }
    out
}

/// Every attribute header found by walking payloads that look like attribute lists (best
/// effort, for corruption targets): (offset in the message, nla_len).
fn all_attr_headers(m: &[u8]) -> Vec<(usize, usize)> {
    fn walk(m: &[u8], start: usize, end: usize, depth: usize, out: &mut Vec<(usize, usize)>) {
        let mut found = Vec::new();
        let mut off = start;
        while off + 4 <= end {
            let len = usize::from(u16::from_ne_bytes([m[off], m[off + 1]]));
            if len < 4 || off + len > end {
                return;
            }
            found.push((off, len));
            off += wire::align4(len);
        }
        if off < end && depth > 0 {
            return;
        }
        for &(o, l) in &found {
            out.push((o, l));
            if depth < 3 && l > 8 {
                walk(m, o + 4, o + l, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(hdr) = family_header_len(msg_type(m)) {
        walk(m, 16 + wire::align4(hdr), m.len(), 0, &mut out);
    }
    out
}

/// What one of our parsers returned, without the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Row,
    Skipped(Skip),
}

fn summarize<R>(r: Result<Outcome<R>, ParseError>) -> Result<Res, ParseError> {
    r.map(|o| match o {
        Outcome::Row(_) => Res::Row,
        Outcome::Skipped(s) => Res::Skipped(s),
    })
}

/// Our parser for message type `ty`, if there is one.
fn run_ours(ty: u16, buf: &[u8]) -> Option<Result<Res, ParseError>> {
    let mut st = ParseStats::default();
    match ty {
        16 | 17 => Some(summarize(parse_interface(buf, &mut st))),
        20 | 21 => Some(summarize(parse_addr4(buf, &mut st))),
        24 | 25 => Some(summarize(parse_route4(buf, &mut st))),
        28 | 29 => Some(summarize(parse_neigh4(buf, &mut st))),
        _ => None,
    }
}

/// Runs all four parsers (none may panic) and returns the result of the one for `ty`.
fn run_all(ty: u16, buf: &[u8]) -> Option<Result<Res, ParseError>> {
    let mut st = ParseStats::default();
    let _ = parse_interface(buf, &mut st);
    let _ = parse_addr4(buf, &mut st);
    let _ = parse_route4(buf, &mut st);
    let _ = parse_neigh4(buf, &mut st);
    run_ours(ty, buf)
}

/// The schema's `other_lengths` for the MAC attribute `attr` of message type `ty`
/// (IFLA_ADDRESS → Interface.mac, NDA_LLADDR → Neigh4.mac); `None` for other attributes.
fn mac_rule(ty: u16, attr: u16) -> Option<OtherLengths> {
    match (ty, attr) {
        (16 | 17, IFLA_ADDRESS) => Some(rules().link_mac),
        (28 | 29, NDA_LLADDR) => Some(rules().neigh_mac),
        _ => None,
    }
}

/// The MAC (`None`: absent, and then the field must be zero) and `ignored_lengths` that
/// parse_interface or parse_neigh4 give for `m`; `None` if the message gives no row.
fn mac_of(ty: u16, m: &[u8]) -> Option<(Option<Mac>, u64)> {
    let mut st = ParseStats::default();
    let (mac, has) = match ty {
        16 | 17 => match parse_interface(m, &mut st) {
            Ok(Outcome::Row(p)) => (p.row.mac, p.has(Interface::FIELD_MAC)),
            _ => return None,
        },
        28 | 29 => match parse_neigh4(m, &mut st) {
            Ok(Outcome::Row(p)) => (p.row.mac, p.has(Neigh4::FIELD_MAC)),
            _ => return None,
        },
        _ => return None,
    };
    if !has && mac != Mac([0; 6]) {
        return Some((Some(mac), u64::MAX)); // an absent MAC that is not zero: never expected
    }
    Some((has.then_some(mac), st.ignored_lengths))
}

/// What [`mac_of`] must give when every top-level attribute `attr` of `m` that is not 6 bytes
/// long is ignored (the only attributes the schema ignores in these rows): the last 6-byte one
/// (absent if none), and one ignored length per other one.
fn expected_mac(m: &[u8], attr: u16) -> Option<(Option<Mac>, u64)> {
    let macs: Vec<(usize, usize)> = top_attrs(m)
        .into_iter()
        .filter(|&(_, _, ty)| ty == attr)
        .map(|(off, len, _)| (off, len - 4))
        .collect();
    let mac = macs
        .iter()
        .rfind(|&&(_, len)| len == 6)
        .map(|&(off, _)| Mac(m[off + 4..off + 10].try_into().expect("6 bytes")));
    let ignored = macs.iter().filter(|&&(_, len)| len != 6).count() as u64;
    Some((mac, ignored))
}

fn set_u16(m: &mut [u8], at: usize, v: u16) {
    m[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn set_u32(m: &mut [u8], at: usize, v: u32) {
    m[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Fixed-size attributes each parser maps: (type, payload length it requires, or else
/// ignores where [`mac_rule`] says so).
fn fixed_size_attrs(ty: u16) -> &'static [(u16, usize)] {
    match ty {
        16 | 17 => &[(1, 6), (4, 4), (5, 4), (10, 4), (16, 1)],
        20 | 21 => &[(1, 4), (2, 4), (4, 4), (8, 4)],
        24 | 25 => &[(1, 4), (4, 4), (5, 4), (6, 4), (7, 4), (15, 4), (30, 4)],
        28 | 29 => &[(1, 4), (2, 6)],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn live_capture_matches_reference() {
    let sets = match live_capture() {
        Ok(sets) => sets,
        Err(reason) => {
            support::privileged_or_skip(reason);
            return;
        }
    };
    let tally = differential(sets);
    assert_coverage(&tally);
    assert_schema_rules(&tally);
}

#[test]
fn fixtures_match_reference() {
    let sets = fixture_sets();
    for name in SET_NAMES {
        let set = sets.iter().find(|s| s.name == name).expect("every set");
        assert!(!set.messages.is_empty(), "fixture set {name} is empty");
    }
    let tally = differential(&sets);
    assert_coverage(&tally);
    assert_schema_rules(&tally);

    // VLAN devices, emitted by the reference library (Kind before and after Data).
    let mut t = Tally::default();
    for (id, data_first) in [(7, false), (4094, true)] {
        let reference = synthetic_vlan(&sets, id);
        let m = if data_first {
            reverse_linkinfo(&reference)
        } else {
            reference.clone()
        };
        check_pair(&reference, &m, &mut t).unwrap_or_else(|e| {
            panic!("synthetic VLAN {id}: {e}\n{}", hex_dump(&m));
        });
        let mut st = ParseStats::default();
        match parse_interface(&m, &mut st) {
            Ok(Outcome::Row(p)) => {
                assert_eq!(p.row.link_type, LinkType::VLAN);
                assert_eq!(p.row.vlan_id, id);
                assert!(p.has(Interface::FIELD_VLAN_ID));
                assert_eq!(p.row.name.as_bytes(), format!("nbv0.{id}").as_bytes());
            }
            other => panic!("synthetic VLAN {id}: {other:?}"),
        }
    }
    assert_eq!(t.get("link/vlan_id"), 2);
}

/// The comparison must notice when our parser sees different bytes than the reference.
#[test]
fn comparison_detects_altered_messages() {
    let sets = fixture_sets();
    let all: Vec<&Vec<u8>> = sets.iter().flat_map(|s| &s.messages).collect();
    let mut t = Tally::default();

    // One byte changed in the copy our parser sees: the last payload byte of attribute `attr`,
    // or family-header byte `header_byte` when `attr` is None (in messages of the family that
    // the row accepts: AF_UNSPEC for links, AF_INET for the others).
    struct Alteration {
        ty: u16,
        attr: Option<u16>,
        header_byte: usize,
        expect_in_report: &'static str,
    }
    let alterations = [
        Alteration {
            ty: rtnl::RTM_NEWROUTE,
            attr: Some(5), // RTA_GATEWAY
            header_byte: 0,
            expect_in_report: "field gateway",
        },
        Alteration {
            ty: rtnl::RTM_NEWROUTE,
            attr: Some(15), // RTA_TABLE
            header_byte: 0,
            expect_in_report: "field table",
        },
        Alteration {
            ty: rtnl::RTM_NEWNEIGH,
            attr: Some(2), // NDA_LLADDR
            header_byte: 0,
            expect_in_report: "field mac",
        },
        Alteration {
            ty: rtnl::RTM_NEWLINK,
            attr: Some(4), // IFLA_MTU
            header_byte: 0,
            expect_in_report: "field mtu",
        },
        Alteration {
            ty: rtnl::RTM_NEWADDR,
            attr: None,
            header_byte: 1, // ifa_prefixlen
            expect_in_report: "field prefix_len",
        },
    ];
    for alt in &alterations {
        let (orig, at) = all
            .iter()
            .find_map(|m| {
                if msg_type(m) != alt.ty || rules().family_of(alt.ty).is_some_and(|f| m[16] != f) {
                    return None;
                }
                if alt.ty == rtnl::RTM_NEWROUTE
                    && u32::from_ne_bytes([m[24], m[25], m[26], m[27]]) & RTM_F_CLONED != 0
                {
                    return None;
                }
                match alt.attr {
                    Some(a) => top_attrs(m)
                        .into_iter()
                        .find(|&(_, len, ty)| ty == a && len > 4)
                        .map(|(off, len, _)| (*m, off + len - 1)),
                    None => Some((*m, 16 + alt.header_byte)),
                }
            })
            .unwrap_or_else(|| panic!("no fixture message for {}", alt.expect_in_report));
        check_pair(orig, orig, &mut t).expect("the original agrees");
        let mut altered = orig.clone();
        altered[at] ^= 0x5a;
        match check_pair(orig, &altered, &mut t) {
            Ok(()) => panic!(
                "altering byte {at} went unnoticed ({})\n{}",
                alt.expect_in_report,
                hex_dump(orig)
            ),
            Err(report) => assert!(
                report.contains(alt.expect_in_report),
                "report does not name {}: {report}",
                alt.expect_in_report
            ),
        }
    }

    // An attribute our parser no longer sees (RTA_PRIORITY retagged as an unknown type):
    // the value, the present bit and the unknown-attribute count all differ.
    let (orig, off) = all
        .iter()
        .find_map(|m| {
            if msg_type(m) != rtnl::RTM_NEWROUTE || m[16] != AF_INET {
                return None;
            }
            top_attrs(m)
                .into_iter()
                .find(|&(_, _, ty)| ty == 6)
                .map(|(off, _, _)| (*m, off))
        })
        .expect("a route with RTA_PRIORITY");
    let mut altered = orig.clone();
    set_u16(&mut altered, off + 2, 0x3ff);
    let report = check_pair(orig, &altered, &mut t).expect_err("a hidden attribute is noticed");
    for needle in ["field priority", "present bits", "stats"] {
        assert!(report.contains(needle), "report lacks {needle}: {report}");
    }
}

#[test]
fn parsers_survive_truncation_and_corruption() {
    let sets = fixture_sets();
    let mut corruptions = 0usize;
    let mut specific = 0usize;
    let mut parses = 0usize;
    let mut seed = 0x6e62_7465_7374_0001u64;
    for set in &sets {
        for (index, orig) in set.messages.iter().enumerate() {
            let ty = msg_type(orig);
            let Some(hdr_len) = family_header_len(ty) else {
                continue;
            };
            let len = orig.len();
            let ctx = |what: &str| format!("{}[{index}] type {ty}, {what}", set.name);
            let full = run_ours(ty, orig).expect("a parser for the type");

            // 1. Prefixes with nlmsg_len left alone: the header promises more than there is.
            for cut in 0..len {
                let want = ParseError::Truncated {
                    need: if cut < 16 { 16 } else { len },
                    have: cut,
                };
                assert_eq!(
                    run_all(ty, &orig[..cut]),
                    Some(Err(want)),
                    "{}",
                    ctx(&format!("prefix of {cut} bytes"))
                );
                parses += 1;
            }

            // 2. Prefixes with nlmsg_len fixed up: cuts inside an attribute are errors at that
            //    attribute, cuts between attributes leave a shorter, valid message.
            let attrs = top_attrs(orig);
            let attrs_start = 16 + wire::align4(hdr_len);
            for cut in 0..len {
                let mut m = orig[..cut].to_vec();
                if cut >= 4 {
                    set_u32(&mut m, 0, cut as u32);
                }
                let got = run_all(ty, &m).expect("a parser");
                parses += 1;
                let what = ctx(&format!("consistent prefix of {cut} bytes"));
                if cut < 16 {
                    assert_eq!(
                        got,
                        Err(ParseError::Truncated {
                            need: 16,
                            have: cut
                        }),
                        "{what}"
                    );
                } else if cut - 16 < hdr_len {
                    assert_eq!(
                        got,
                        Err(ParseError::ShortHeader {
                            need: hdr_len,
                            have: cut - 16
                        }),
                        "{what}"
                    );
                } else if let Ok(Res::Skipped(s)) = full {
                    assert_eq!(got, Ok(Res::Skipped(s)), "{what}");
                } else if full.is_ok() {
                    let inside = attrs
                        .iter()
                        .find(|&&(off, l, _)| cut > off && cut < off + l);
                    match inside {
                        Some(&(off, _, _)) => assert_eq!(
                            got,
                            Err(ParseError::BadAttrHeader {
                                offset: off - attrs_start
                            }),
                            "{what}"
                        ),
                        None => assert_eq!(got, Ok(Res::Row), "{what}"),
                    }
                }
            }

            // 3. Seeded random corruptions.
            let headers = all_attr_headers(orig);
            let fixed = fixed_size_attrs(ty);
            let mut rng = SplitMix64::new(seed);
            seed = seed.wrapping_add(0x1234_5678_9abc_def1);
            for _ in 0..48 {
                let mut m = orig.clone();
                let choice = rng.index(8);
                // The result our parser must give, when it is clear.
                let mut want: Option<Result<Res, ParseError>> = None;
                match choice {
                    0 => {
                        // Flip 1 to 4 random bytes.
                        for _ in 0..=rng.index(4) {
                            let at = rng.index(len);
                            m[at] ^= (rng.next_u64() as u8) | 1;
                        }
                    }
                    1 => {
                        // Another nlmsg_len.
                        let random = rng.next_u64() as u32;
                        let v = *rng.pick(&[
                            0u32,
                            1,
                            15,
                            16,
                            17,
                            len as u32 - 1,
                            len as u32 + 1,
                            len as u32 + 4,
                            random,
                            u32::MAX,
                        ]);
                        set_u32(&mut m, 0, v);
                        if (v as usize) < 16 {
                            want = Some(Err(ParseError::BadMessageLength { len: v }));
                        } else if v as usize > len {
                            want = Some(Err(ParseError::Truncated {
                                need: v as usize,
                                have: len,
                            }));
                        }
                    }
                    2 | 3 if !headers.is_empty() => {
                        // An attribute length (top-level or nested) set to a bad value.
                        let (off, old) = *rng.pick(&headers);
                        let old = old as u16;
                        let random = rng.next_u64() as u16;
                        let v = *rng.pick(&[
                            0u16,
                            1,
                            2,
                            3,
                            4,
                            5,
                            old - 1,
                            old.wrapping_add(1),
                            old.wrapping_add(4),
                            0xffff,
                            random,
                        ]);
                        set_u16(&mut m, off, v);
                        let top = attrs.iter().any(|&(o, _, _)| o == off);
                        match full {
                            Ok(Res::Skipped(s)) => want = Some(Ok(Res::Skipped(s))),
                            Ok(Res::Row)
                                if top && (usize::from(v) < 4 || off + usize::from(v) > len) =>
                            {
                                want = Some(Err(ParseError::BadAttrHeader {
                                    offset: off - attrs_start,
                                }));
                            }
                            _ => {}
                        }
                    }
                    4 if !attrs.is_empty() && !fixed.is_empty() => {
                        // A top-level attribute retagged as a fixed-size field of another size.
                        let (off, alen, _) = *rng.pick(&attrs);
                        let (target, size) = *rng.pick(fixed);
                        set_u16(&mut m, off + 2, target);
                        match full {
                            Ok(Res::Skipped(s)) => want = Some(Ok(Res::Skipped(s))),
                            Ok(Res::Row) if alen - 4 != size => match mac_rule(ty, target) {
                                // A MAC of another length where the schema says
                                // `other_lengths = "ignore"` (Interface.mac, Neigh4.mac): the
                                // message still gives its row, the MAC only from a 6-byte
                                // attribute, and the odd one counts in ignored_lengths.
                                Some(OtherLengths::Ignore) => {
                                    want = Some(Ok(Res::Row));
                                    assert_eq!(
                                        mac_of(ty, &m),
                                        expected_mac(&m, target),
                                        "{}: (MAC, ignored_lengths) after retagging to {target}\n{}",
                                        ctx("corruption 4"),
                                        hex_dump(&m)
                                    );
                                }
                                _ => {
                                    want = Some(Err(ParseError::BadAttrLength {
                                        attr: target,
                                        len: alen - 4,
                                        expected: size,
                                    }));
                                }
                            },
                            _ => {}
                        }
                    }
                    5 => {
                        // Another address family: skipped unless it is the row's.
                        let f = rng.next_u64() as u8;
                        m[16] = f;
                        if rules().family_of(ty).is_some_and(|accepted| f != accepted) {
                            want = Some(Ok(Res::Skipped(Skip::Family(f))));
                        }
                    }
                    6 if matches!(ty, 24 | 25)
                        && rules().family_of(ty).is_none_or(|f| orig[16] == f) =>
                    {
                        // RTM_F_CLONED set: filtered whatever the rest says.
                        let flags = u32::from_ne_bytes([m[24], m[25], m[26], m[27]]);
                        set_u32(&mut m, 24, flags | RTM_F_CLONED);
                        want = Some(Ok(Res::Skipped(Skip::Filtered)));
                    }
                    _ => {
                        // Cut the tail at a random point, fix nlmsg_len, flip one byte.
                        let cut = 16 + rng.index(len - 15);
                        m.truncate(cut);
                        set_u32(&mut m, 0, cut as u32);
                        let at = rng.index(cut);
                        m[at] ^= (rng.next_u64() as u8) | 1;
                    }
                }
                let got = run_all(ty, &m).expect("a parser");
                // Deterministic, too.
                assert_eq!(got, run_all(ty, &m).expect("a parser"));
                if let Some(w) = want {
                    assert_eq!(
                        got,
                        w,
                        "{}\n{}",
                        ctx(&format!("corruption {choice}")),
                        hex_dump(&m)
                    );
                    specific += 1;
                }
                corruptions += 1;
            }
        }
    }
    eprintln!(
        "robustness: {parses} truncated parses, {corruptions} corruptions \
         ({specific} with a specific expected result)"
    );
    assert!(corruptions >= 3000, "only {corruptions} corruptions");
    assert!(specific >= 1000, "only {specific} specific checks");
}
