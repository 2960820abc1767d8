//! `netbase show`, `netbase route get` and `netbase diff` against a tables workspace the test
//! writes itself, under a fake instance run directory.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use core::sync::atomic::AtomicU64;

use netbase::plans::netlink::workspaces::{guest_readers as guest_plan, netbase as ws_plan};
use netbase::plans::netlink::PLAN_JSON;
use netbase::schema::tables as t;
use netbase::schema::{Addr4, Interface, LinkType, Neigh4, NudState, OperState, Route4, RouteType};
use netbase_runtime::region::Region;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::tile::{GuestSlots, GUEST_SLOTS};
use netbase_runtime::types::{Ipv4, Mac, Name};
use netbase_runtime::workspace::{Backing, CreateOptions, RemoveGuard, Workspace};
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, SyncOptions, TableRegions,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netbase");

/// A fake instance: run directory with the netlink topology's plan, and its tables workspace.
/// Removes both when dropped.
struct Instance {
    name: String,
    run_root: PathBuf,
    ws: Workspace,
    /// The guest reader slots, as the supervisor creates them (it stays their writer).
    guests: Workspace,
    _guards: [RemoveGuard; 2],
}

impl Instance {
    fn new(tag: &str) -> Instance {
        let name = format!("nbshow-{tag}-{}", std::process::id());
        let run_root =
            std::env::temp_dir().join(format!("nbshow-run-{tag}-{}", std::process::id()));
        let dir = run_root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plan.json"), PLAN_JSON).unwrap();
        let ws_name = format!("{name}.netbase");
        let guard = RemoveGuard::new(&ws_name, &Backing::Shm).unwrap();
        let ws = Workspace::create(&CreateOptions::new(
            &ws_name,
            ws_plan::SIZE,
            ws_plan::FINGERPRINT,
        ))
        .expect("create tables workspace");
        let guests_name = format!("{name}.guest.readers");
        let guests_guard = RemoveGuard::new(&guests_name, &Backing::Shm).unwrap();
        let guests = Workspace::create(&CreateOptions::new(
            &guests_name,
            guest_plan::SIZE,
            guest_plan::FINGERPRINT,
        ))
        .expect("create guest slots workspace");
        let inst = Instance {
            name,
            run_root,
            ws,
            guests,
            _guards: [guard, guests_guard],
        };
        inst.slots().initialize();
        inst
    }

    fn slots(&self) -> GuestSlots<'_, AtomicU64> {
        let region = Region::from_workspace(
            &self.guests,
            guest_plan::GUEST_READERS,
            netbase_runtime::tile::GUEST_READERS_BYTES,
        )
        .unwrap();
        GuestSlots::new(region).unwrap()
    }

    fn writer(&self) -> NetbaseWriter<'_, NoReaders> {
        let regions = TableRegions::from_workspace(&self.ws).unwrap();
        NetbaseWriter::create(regions, NoReaders, 7).unwrap()
    }

    /// `netbase ARGS` (run inside namespace `netns` if given) with this instance's run root.
    fn run(&self, netns: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(args)
            .args(["--name", &self.name])
            .env("NETBASE_RUN_DIR", &self.run_root)
            .output()
            .expect("run netbase")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(None, args);
        assert!(
            out.status.success(),
            "netbase {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Vec<Value> {
        let text = self.ok(args);
        match serde_json::from_str(&text) {
            Ok(Value::Array(v)) => v,
            other => panic!("netbase {args:?}: not a JSON array: {other:?}\n{text}"),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_root);
    }
}

fn ip(s: &str) -> Ipv4 {
    Ipv4::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

fn iface(ifindex: u32, name: &str, arp_type: u16, mac: [u8; 6], mtu: u32) -> Interface {
    Interface {
        ifindex,
        flags: 0x1 | 0x40 | 0x10000 | if arp_type == 772 { 0x8 } else { 0x2 | 0x1000 },
        mtu,
        arp_type,
        name: Name::new(name.as_bytes()).unwrap(),
        mac: Mac(mac),
        oper_state: if arp_type == 772 {
            OperState::UNKNOWN
        } else {
            OperState::UP
        },
        link_type: if arp_type == 772 {
            LinkType::LOOPBACK
        } else {
            LinkType::VETH
        },
        ..Interface::ZERO
    }
}

fn addr(ifindex: u32, local: &str, len: u8, brd: &str, scope: u8) -> Addr4 {
    Addr4 {
        ifindex,
        local: ip(local),
        broadcast: ip(brd),
        prefix_len: len,
        scope,
        flags: 0x80,
        ..Addr4::ZERO
    }
}

#[allow(clippy::too_many_arguments)]
fn route(
    table: u32,
    ty: RouteType,
    dst: &str,
    len: u8,
    gw: &str,
    oif: u32,
    proto: u8,
    scope: u8,
    src: &str,
    metric: u32,
) -> Route4 {
    Route4 {
        dst: ip(dst),
        dst_len: len,
        gateway: ip(gw),
        oif,
        protocol: proto,
        scope,
        prefsrc: ip(src),
        priority: metric,
        table,
        route_type: ty,
        ..Route4::ZERO
    }
}

const Z: &str = "0.0.0.0";

/// The rows of the fake instance: (local routes, main routes).
fn fill(inst: &Instance) -> (Vec<Route4>, Vec<Route4>) {
    let mut w = inst.writer();
    for i in [
        iface(1, "lo", 772, [0; 6], 65536),
        iface(2, "veth0", 1, [2, 0, 0, 0, 0, 1], 1500),
        iface(3, "veth1", 1, [2, 0, 0, 0, 0, 2], 9000),
    ] {
        w.interfaces.upsert(&i).unwrap();
    }
    for a in [
        addr(1, "127.0.0.1", 8, Z, 254),
        addr(2, "10.0.0.1", 24, "10.0.0.255", 0),
        addr(3, "10.0.1.1", 24, "10.0.1.255", 0),
    ] {
        w.addrs4.upsert(&a).unwrap();
    }
    use RouteType as T;
    let local = vec![
        route(255, T::LOCAL, "127.0.0.0", 8, Z, 1, 2, 254, "127.0.0.1", 0),
        route(255, T::LOCAL, "10.0.0.1", 32, Z, 2, 2, 254, "10.0.0.1", 0),
        route(255, T::LOCAL, "10.0.1.1", 32, Z, 3, 2, 254, "10.0.1.1", 0),
        route(
            255,
            T::BROADCAST,
            "10.0.0.255",
            32,
            Z,
            2,
            2,
            253,
            "10.0.0.1",
            0,
        ),
    ];
    let main = vec![
        route(254, T::UNICAST, Z, 0, "10.0.0.254", 2, 4, 0, Z, 100),
        route(254, T::UNICAST, "10.0.0.0", 24, Z, 2, 2, 253, "10.0.0.1", 0),
        route(254, T::UNICAST, "10.0.1.0", 24, Z, 3, 2, 253, "10.0.1.1", 0),
        route(
            254,
            T::UNICAST,
            "192.168.0.0",
            16,
            "10.0.1.254",
            3,
            3,
            0,
            Z,
            0,
        ),
        route(
            254,
            T::UNICAST,
            "192.168.5.0",
            24,
            "10.0.0.253",
            2,
            4,
            0,
            Z,
            20,
        ),
        route(
            254,
            T::UNICAST,
            "192.168.5.0",
            24,
            "10.0.1.253",
            3,
            4,
            0,
            Z,
            10,
        ),
        route(254, T::BLACKHOLE, "172.16.0.0", 12, Z, 0, 4, 0, Z, 0),
    ];
    for r in &local {
        w.local4
            .insert(r.dst.to_u32(), r.dst_len, r.priority, t::local4_nexthop(r))
            .unwrap();
    }
    for r in &main {
        w.main4
            .insert(r.dst.to_u32(), r.dst_len, r.priority, t::main4_nexthop(r))
            .unwrap();
    }
    w.maintain();
    for n in [
        Neigh4 {
            ifindex: 2,
            ip: ip("10.0.0.254"),
            mac: Mac([2, 0, 0, 0, 0, 0xfe]),
            state: NudState::REACHABLE,
            ..Neigh4::ZERO
        },
        Neigh4 {
            ifindex: 3,
            ip: ip("10.0.1.7"),
            mac: Mac([2, 0, 0, 0, 1, 7]),
            state: NudState::STALE,
            ..Neigh4::ZERO
        },
    ] {
        w.neigh4.upsert(&n).unwrap();
    }
    (local, main)
}

/// Longest prefix, then lowest metric; local before main.
fn brute_force(addr: u32, local: &[Route4], main: &[Route4]) -> Option<Route4> {
    for table in [local, main] {
        let best = table
            .iter()
            .filter(|r| {
                let len = u32::from(r.dst_len);
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                addr & mask == r.dst.to_u32() & mask
            })
            .min_by_key(|r| (std::cmp::Reverse(r.dst_len), r.priority));
        if let Some(r) = best {
            return Some(*r);
        }
    }
    None
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

#[test]
fn show_commands_print_like_ip() {
    let inst = Instance::new("show");
    fill(&inst);

    let links = inst.ok(&["show", "links"]);
    assert!(links.contains("2: veth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP"));
    assert!(
        links.contains("    link/ether 02:00:00:00:00:01"),
        "{links}"
    );
    assert!(links.contains("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN"));
    let lj = inst.json(&["show", "links", "-j"]);
    assert_eq!(lj.len(), 3);
    assert_eq!(lj[2]["ifindex"], 3);
    assert_eq!(s(&lj[2], "ifname"), "veth1");
    assert_eq!(lj[2]["mtu"], 9000);
    assert_eq!(s(&lj[2], "address"), "02:00:00:00:00:02");
    assert_eq!(s(&lj[2], "operstate"), "UP");
    assert_eq!(s(&lj[2], "link_type"), "ether");
    assert_eq!(s(&lj[0], "link_type"), "loopback");

    let addrs = inst.ok(&["show", "addrs"]);
    assert!(
        addrs.contains("    inet 10.0.0.1/24 brd 10.0.0.255 scope global veth0"),
        "{addrs}"
    );
    assert!(
        addrs.contains("    inet 127.0.0.1/8 scope host lo"),
        "{addrs}"
    );
    let aj = inst.json(&["show", "addrs", "-j"]);
    assert_eq!(aj.len(), 3);
    assert_eq!(s(&aj[1], "ifname"), "veth0");
    let info = &aj[1]["addr_info"][0];
    assert_eq!(s(info, "family"), "inet");
    assert_eq!(s(info, "local"), "10.0.0.1");
    assert_eq!(info["prefixlen"], 24);
    assert_eq!(s(info, "broadcast"), "10.0.0.255");
    assert_eq!(s(info, "scope"), "global");

    let routes = inst.ok(&["show", "routes"]);
    for line in [
        "default via 10.0.0.254 dev veth0 proto static metric 100",
        "10.0.0.0/24 dev veth0 proto kernel scope link src 10.0.0.1",
        "192.168.0.0/16 via 10.0.1.254 dev veth1\n",
        "blackhole 172.16.0.0/12 proto static",
        "192.168.5.0/24 via 10.0.1.253 dev veth1 proto static metric 10",
    ] {
        assert!(routes.contains(line), "missing {line:?} in\n{routes}");
    }
    let rj = inst.json(&["show", "routes", "-j"]);
    assert_eq!(rj.len(), 7);
    let default = rj.iter().find(|r| s(r, "dst") == "default").unwrap();
    assert_eq!(s(default, "gateway"), "10.0.0.254");
    assert_eq!(s(default, "dev"), "veth0");
    assert_eq!(s(default, "protocol"), "static");
    assert_eq!(s(default, "type"), "unicast");
    assert_eq!(s(default, "table"), "main");
    assert_eq!(default["metric"], 100);
    assert!(default["flags"].is_array());
    let connected = rj.iter().find(|r| s(r, "dst") == "10.0.0.0/24").unwrap();
    assert_eq!(s(connected, "scope"), "link");
    assert_eq!(s(connected, "prefsrc"), "10.0.0.1");

    let local = inst.ok(&["show", "routes", "--table", "local"]);
    assert!(
        local.contains("local 10.0.0.1 dev veth0 proto kernel scope host src 10.0.0.1"),
        "{local}"
    );
    assert!(local.contains("broadcast 10.0.0.255 dev veth0 proto kernel scope link src 10.0.0.1"));
    let lrj = inst.json(&["show", "routes", "--table", "local", "-j"]);
    assert_eq!(lrj.len(), 4);
    assert!(lrj.iter().all(|r| s(r, "table") == "local"));
    assert!(lrj
        .iter()
        .any(|r| s(r, "type") == "local" && s(r, "dst") == "127.0.0.0/8"));

    let neigh = inst.ok(&["show", "neigh"]);
    assert!(neigh.contains("10.0.0.254 dev veth0 lladdr 02:00:00:00:00:fe REACHABLE"));
    assert!(neigh.contains("10.0.1.7 dev veth1 lladdr 02:00:00:00:01:07 STALE"));
    let nj = inst.json(&["show", "neigh", "-j"]);
    assert_eq!(nj.len(), 2);
    assert_eq!(s(&nj[0], "dst"), "10.0.0.254");
    assert_eq!(s(&nj[0], "dev"), "veth0");
    assert_eq!(s(&nj[0], "lladdr"), "02:00:00:00:00:fe");
    assert_eq!(nj[0]["state"], serde_json::json!(["REACHABLE"]));
}

#[test]
fn route_get_agrees_with_brute_force() {
    let inst = Instance::new("get");
    let (local, main) = fill(&inst);

    let text = inst.ok(&["route", "get", "8.8.8.8"]);
    assert!(
        text.starts_with("8.8.8.8 via 10.0.0.254 dev veth0 src 10.0.0.1\n"),
        "{text}"
    );
    assert!(text.contains("neighbour 10.0.0.254 dev veth0 lladdr 02:00:00:00:00:fe REACHABLE"));
    let text = inst.ok(&["route", "get", "10.0.0.1"]);
    assert!(
        text.starts_with("local 10.0.0.1 dev lo table local src 10.0.0.1"),
        "{text}"
    );

    let mut addrs: Vec<String> = [
        "8.8.8.8",
        "10.0.0.1",
        "10.0.0.7",
        "10.0.0.255",
        "10.0.1.7",
        "127.3.4.5",
        "192.168.5.9",
        "192.168.77.1",
        "172.20.0.1",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..40 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        addrs.push(std::net::Ipv4Addr::from(x).to_string());
    }
    for a in &addrs {
        let addr: std::net::Ipv4Addr = a.parse().unwrap();
        let want = brute_force(u32::from(addr), &local, &main).expect("a default route");
        let got = inst.json(&["route", "get", a, "-j"]);
        let got = &got[0];
        assert_eq!(
            s(got, "route"),
            if want.dst_len == 0 {
                "default".to_string()
            } else if want.dst_len == 32 {
                want.dst.to_string()
            } else {
                format!("{}/{}", want.dst, want.dst_len)
            },
            "{a}: {got}"
        );
        let gw = if want.gateway.is_unspecified() {
            String::new()
        } else {
            want.gateway.to_string()
        };
        assert_eq!(s(got, "gateway"), gw, "{a}: {got}");
        assert_eq!(
            s(got, "type"),
            want.route_type.name().unwrap(),
            "{a}: {got}"
        );
        if want.route_type == RouteType::UNICAST {
            assert_eq!(
                got["neighbour"]["dst"],
                if gw.is_empty() {
                    a.as_str()
                } else {
                    gw.as_str()
                }
            );
        }
    }
}

#[test]
fn readers_hold_a_guest_slot_while_reading_and_free_it_after() {
    let inst = Instance::new("guest");
    let (local, _) = fill(&inst);
    assert!(!local.is_empty());
    // A live guest (this process) holds slot 0 online: the command takes another slot and
    // frees it on exit, leaving the live guest's slot alone.
    let mine = inst.slots().claim(std::process::id()).unwrap();
    inst.ok(&["show", "routes", "--table", "local"]);
    inst.ok(&["route", "get", "10.1.0.9"]);
    assert_eq!(inst.slots().owners(), vec![std::process::id()]);
    drop(mine);
    assert!(inst.slots().owners().is_empty());

    // Every slot taken (by this process, alive): the command waits, then says why.
    let held: Vec<_> = (0..GUEST_SLOTS)
        .map(|_| inst.slots().claim(std::process::id()).unwrap())
        .collect();
    let out = inst.run(None, &["show", "links"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("all {GUEST_SLOTS} guest reader slots"))
            && err.contains("stayed taken"),
        "{err}"
    );
    drop(held);
    inst.ok(&["show", "links"]);
}

#[test]
fn missing_instance_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["show", "links", "--name", "nbshow-none"])
        .env("NETBASE_RUN_DIR", std::env::temp_dir().join("nbshow-none"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no instance \"nbshow-none\""), "{err}");
}

/// Steps the sync until it is live and quiet.
fn settle(sync: &mut NetlinkSync<'_, NoReaders>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            Instant::now() < deadline,
            "no convergence: {:?}",
            sync.counters()
        );
        let r = sync.step(monotonic_ns());
        if r.live && r.idle() {
            quiet += 1;
            std::thread::sleep(Duration::from_millis(2));
        } else {
            quiet = 0;
        }
    }
}

fn ip_route_get(ns: &str, a: &str) -> Option<Value> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ip", "-j", "route", "get", a])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get(0).cloned()
}

#[test]
fn diff_and_route_get_against_a_live_namespace() {
    let Some(ns) = support::netns_or_skip() else {
        return;
    };
    ns.ip_lines(&[
        "link set lo up",
        "link add veth0 type veth peer name veth1",
        "addr add 10.0.0.1/24 dev veth0",
        "addr add 10.0.1.1/24 dev veth1",
        "link set veth0 up",
        "link set veth1 up",
        "route add default via 10.0.0.254",
        "route add 192.168.0.0/16 via 10.0.1.254",
        "route add 192.168.5.0/24 via 10.0.0.253 metric 20",
        "route add blackhole 172.16.0.0/12",
        "neigh add 10.0.0.254 lladdr 02:00:00:00:00:fe dev veth0 nud permanent",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let inst = Instance::new("live");
    let tables = inst.writer();
    ns.run(|| {
        let mut sync = NetlinkSync::open(SyncOptions::default(), tables).unwrap();
        settle(&mut sync);
    });

    let out = inst.run(Some(ns.name()), &["diff"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff after sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut x: u32 = 0x9e37_79b9;
    let mut addrs: Vec<String> = [
        "10.0.0.1",
        "10.0.0.9",
        "10.0.1.200",
        "192.168.5.1",
        "127.0.0.9",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    while addrs.len() < 300 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let a = std::net::Ipv4Addr::from(x);
        let first = a.octets()[0];
        if first == 0 || first >= 224 {
            continue;
        }
        // Bias a third of them into the configured prefixes.
        let a = match x % 6 {
            0 => std::net::Ipv4Addr::new(10, 0, (x >> 8) as u8 & 1, (x >> 16) as u8),
            1 => std::net::Ipv4Addr::new(192, 168, (x >> 8) as u8 % 8, (x >> 16) as u8),
            _ => a,
        };
        addrs.push(a.to_string());
    }
    let mut compared = 0;
    for a in &addrs {
        let kernel = ip_route_get(ns.name(), a);
        let out = inst.run(Some(ns.name()), &["route", "get", a, "-j"]);
        let ours: Option<Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone());
        match (kernel, ours) {
            (None, None) => {}
            (Some(k), Some(o)) => {
                let ktype = k.get("type").and_then(Value::as_str).unwrap_or("unicast");
                assert_eq!(ktype, s(&o, "type"), "{a}: kernel {k} netbase {o}");
                assert_eq!(s(&k, "dev"), s(&o, "dev"), "{a}: kernel {k} netbase {o}");
                assert_eq!(
                    s(&k, "gateway"),
                    s(&o, "gateway"),
                    "{a}: kernel {k} netbase {o}"
                );
                if ktype == "unicast" {
                    assert_eq!(
                        s(&k, "prefsrc"),
                        s(&o, "prefsrc"),
                        "{a}: kernel {k} netbase {o}"
                    );
                }
                compared += 1;
            }
            // The kernel refuses `ip route get` through blackhole/unreachable/prohibit routes.
            (None, Some(o))
                if ["blackhole", "unreachable", "prohibit"].contains(&s(&o, "type").as_str()) => {}
            (k, o) => panic!("{a}: kernel {k:?} netbase {o:?}"),
        }
    }
    assert!(compared > 250, "only {compared} answers compared");

    ns.ip(&["route", "add", "10.9.0.0/24", "via", "10.0.0.254"]);
    let out = inst.run(Some(ns.name()), &["diff"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "diff after an unsynced add: {text}"
    );
    assert!(
        text.contains("routes4 10.9.0.0/24 table main metric 0: not mirrored"),
        "{text}"
    );
}
