//! The XDP data path end to end: the default topology running in the demo's sandbox, clients
//! sending real datagrams through their kernels, the net tile routing replies through the
//! netbase.
//!
//! Privileged (root, `ip`, XDP on veth): skips otherwise, or fails with
//! `NETBASE_REQUIRE_PRIVILEGED=1`. Each test has its own namespaces and instance name; every
//! namespace, XDP program and shared-memory file goes with the guards, also on failure.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use netbase::demo::Instance;
use netbase::sandbox::{list_namespaces, Role, Sandbox, SandboxConfig};
use netbase_runtime::netns::{is_root, privileged_or_skip, Netns};
use netbase_runtime::types::Mac;

const PORT: u16 = 7000;

fn privileged() -> bool {
    if !is_root() {
        privileged_or_skip("needs root for namespaces, XDP and AF_XDP");
        return false;
    }
    true
}

/// A sandbox and the default topology running in its server namespace.
struct Setup {
    instance: Instance,
    sandbox: Sandbox,
    log: std::path::PathBuf,
}

impl Setup {
    fn start(prefix: &str, before_start: impl FnOnce(&Sandbox)) -> Setup {
        Setup::start_topology(prefix, Instance::default_topology(), before_start)
    }

    fn start_topology(prefix: &str, topology: &str, before_start: impl FnOnce(&Sandbox)) -> Setup {
        let cfg = SandboxConfig {
            prefix: prefix.into(),
            ..SandboxConfig::default()
        };
        Setup::start_with(cfg, topology, before_start)
    }

    fn start_with(
        cfg: SandboxConfig,
        topology: &str,
        before_start: impl FnOnce(&Sandbox),
    ) -> Setup {
        let prefix = cfg.prefix.clone();
        let sandbox = Sandbox::create(cfg).unwrap();
        before_start(&sandbox);
        let name = format!("{prefix}-{}", std::process::id());
        let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
        let exe = std::path::Path::new(env!("CARGO_BIN_EXE_netbase"));
        let instance =
            Instance::start_topology(sandbox.server(), &name, &log, exe, topology).unwrap();
        Setup {
            instance,
            sandbox,
            log,
        }
    }

    fn server(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.sandbox.server_ip(), PORT)
    }

    fn client(&self, role: Role) -> (&Netns, Ipv4Addr) {
        (self.sandbox.ns(role), self.sandbox.ip(role).unwrap())
    }

    /// Sends `n` datagrams of `len` bytes from `role`, one at a time, each waiting up to
    /// `wait` for its echo; returns how many came back intact.
    fn exchange(&self, role: Role, n: usize, len: usize, wait: Duration) -> usize {
        let (ns, ip) = self.client(role);
        let server = self.server();
        ns.run(|| {
            let s = UdpSocket::bind((ip, 0)).unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            let mut buf = vec![0u8; 4096];
            let mut ok = 0;
            for i in 0..n {
                let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                s.send_to(&payload, server).unwrap();
                let deadline = Instant::now() + wait;
                while Instant::now() < deadline {
                    match s.recv_from(&mut buf) {
                        Ok((got, from)) if from == server.into() && buf[..got] == payload[..] => {
                            ok += 1;
                            break;
                        }
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
            }
            ok
        })
    }

    fn metric(&self, name: &str) -> u64 {
        self.instance.metric(name)
    }

    /// `metric` once it is at least `min`, or its value at `timeout`: tiles publish their
    /// counters on housekeeping ticks, so a count lags the packet it counts.
    fn metric_reaching(&self, name: &str, min: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.metric(name);
            if v >= min || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Retries `exchange` until an echo comes back (neighbour resolution and netlink
    /// notifications take a moment), up to `timeout`.
    fn until_echoed(&self, role: Role, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.exchange(role, 1, 32, Duration::from_millis(200)) == 1 {
                return true;
            }
        }
        false
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn first_contact_solicits_once_then_echoes_and_the_far_client_goes_via_the_gateway() {
    if !privileged() {
        return;
    }
    // c1 knows the server's MAC statically: it sends no ARP request, so the server's kernel
    // learns nothing about c1 and the first replies find no neighbour.
    let setup = Setup::start("nbdp1", |sb| {
        let mac = sb.mac(Role::Server, sb.server_interface()).unwrap();
        sb.static_neighbour(Role::Client1, sb.server_ip(), mac)
            .unwrap();
    });
    let first = setup.exchange(Role::Client1, 1, 32, Duration::from_millis(200));
    assert_eq!(
        first, 0,
        "no reply can leave before the neighbour is resolved"
    );
    assert_eq!(
        setup.metric("net_drop_no_neighbour_total"),
        1,
        "{}",
        setup.log_text()
    );
    assert_eq!(setup.metric("net_solicits_total"), 1);
    assert!(
        setup.until_echoed(Role::Client1, Duration::from_secs(5)),
        "echoes after the solicit resolved c1"
    );
    assert!(setup.metric("solicit_probes_sent_total") >= 1);
    assert_eq!(
        setup.exchange(Role::Client1, 50, 100, Duration::from_secs(1)),
        50
    );
    assert_eq!(
        setup.metric("net_solicits_total"),
        1,
        "a resolved neighbour is not solicited again"
    );

    // c2 is behind the router: replies go to the gateway's MAC.
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    assert_eq!(
        setup.exchange(Role::Client2, 50, 100, Duration::from_secs(1)),
        50
    );
    assert_eq!(setup.metric("net_drop_no_route_total"), 0);
}

#[test]
fn a_blackhole_route_drops_with_its_reason_and_removing_it_restores_the_path() {
    if !privileged() {
        return;
    }
    let setup = Setup::start("nbdp2", |_| {});
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    let srv = setup.sandbox.server();
    let c2 = setup.sandbox.ip(Role::Client2).unwrap();
    srv.ip(&["route", "add", "blackhole", &format!("{c2}/32")])
        .unwrap();
    // The netlink tile applies the change within milliseconds; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while setup.metric("net_drop_blackhole_total") == 0 && Instant::now() < deadline {
        setup.exchange(Role::Client2, 1, 32, Duration::from_millis(50));
    }
    assert!(setup.metric("net_drop_blackhole_total") > 0);
    assert_eq!(
        setup.exchange(Role::Client2, 5, 32, Duration::from_millis(100)),
        0
    );
    // The other client is not affected (once the server has resolved it: its first datagram
    // may race the kernel's neighbour entry for it into the netbase).
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    assert_eq!(
        setup.exchange(Role::Client1, 5, 32, Duration::from_secs(1)),
        5
    );
    srv.ip(&["route", "del", "blackhole", &format!("{c2}/32")])
        .unwrap();
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
}

#[test]
fn a_new_neighbour_mac_is_picked_up() {
    if !privileged() {
        return;
    }
    let setup = Setup::start("nbdp3", |_| {});
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    // c1 changes its MAC; the server is told the new one by a neighbour replace. Replies then
    // reach c1 only if the net tile uses the new MAC from the netbase.
    let new_mac = Mac([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    let text = "02:00:5e:10:20:30";
    let c1 = setup.sandbox.ns(Role::Client1);
    c1.ip(&["link", "set", "eth0", "address", text]).unwrap();
    let c1_ip = setup.sandbox.ip(Role::Client1).unwrap();
    setup
        .sandbox
        .static_neighbour(Role::Server, c1_ip, new_mac)
        .unwrap();
    assert!(
        setup.until_echoed(Role::Client1, Duration::from_secs(5)),
        "echoes reach c1 at its new MAC"
    );
    assert_eq!(
        setup.exchange(Role::Client1, 20, 64, Duration::from_secs(1)),
        20
    );
}

#[test]
fn demo_json_exits_zero_echoes_and_leaves_nothing_behind() {
    if !privileged() {
        return;
    }
    let before: Vec<String> = list_namespaces().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netbase"))
        .args(["demo", "--duration", "5", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in [
        "sent",
        "echoed",
        "lost",
        "solicits",
        "pkts_per_sec",
        "drops",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert!(v["echoed"].as_u64().unwrap() > 0);
    assert!(v["drops"].is_object());
    let pid_prefix = "nbdemo-";
    let after: Vec<String> = list_namespaces().unwrap();
    let new: Vec<&String> = after
        .iter()
        .filter(|n| !before.contains(n) && n.starts_with(pid_prefix))
        .collect();
    assert!(new.is_empty(), "namespaces left behind: {new:?}");
    let shm: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("netbase-demo-"))
        .collect();
    assert!(shm.is_empty(), "shared memory left behind: {shm:?}");
}

#[test]
fn a_reply_larger_than_the_output_mtu_is_dropped_with_the_mtu_reason() {
    if !privileged() {
        return;
    }
    // The path from c1 to the server carries 1504-byte packets, the server's veth0 has MTU
    // 1500. A veth accepts a frame up to MTU + 4 (room for a VLAN tag), so a 1504-byte request
    // arrives; its echo is 1504 bytes too, more than veth0 sends.
    let setup = Setup::start("nbdp4", |sb| {
        let sw = sb.ns(Role::Switch);
        for dev in ["p-c1", "p-srv", "br0"] {
            sw.ip(&["link", "set", dev, "mtu", "1504"]).unwrap();
        }
        sb.ns(Role::Client1)
            .ip(&["link", "set", "eth0", "mtu", "1504"])
            .unwrap();
    });
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    // 1472 + 28 = 1500 bytes: fits.
    assert_eq!(
        setup.exchange(Role::Client1, 3, 1472, Duration::from_secs(1)),
        3
    );
    assert_eq!(setup.metric("net_drop_mtu_total"), 0);
    // 1476 + 28 = 1504 bytes: received, but the reply does not fit veth0.
    assert_eq!(
        setup.exchange(Role::Client1, 3, 1476, Duration::from_millis(300)),
        0
    );
    assert_eq!(
        setup.metric("net_drop_mtu_total"),
        3,
        "{:?}",
        setup.instance.samples()
    );
}

/// IPv4 datagrams `ns` forwarded so far (`Ip: ForwDatagrams` of its /proc/net/snmp).
fn forwarded(ns: &Netns) -> u64 {
    let text = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap());
    let mut ip = text.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (ip.next().unwrap(), ip.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "ForwDatagrams")
        .unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

#[test]
fn a_route_change_moves_replies_to_the_new_gateway_while_traffic_flows() {
    if !privileged() {
        return;
    }
    let setup = Setup::start("nbdp5", |sb| {
        // c1 can act as a second gateway towards c2's subnet (through the router).
        let c1 = sb.ns(Role::Client1);
        netbase::sandbox::write_sysctl(c1, "net.ipv4.ip_forward", "1").unwrap();
        netbase::sandbox::write_sysctl(c1, "net.ipv4.conf.all.send_redirects", "0").unwrap();
        netbase::sandbox::write_sysctl(c1, "net.ipv4.conf.eth0.send_redirects", "0").unwrap();
        let rt = sb.ip(Role::Router).unwrap().to_string();
        let far = sb.config().far();
        c1.ip(&[
            "route",
            "add",
            &format!("{}/{}", far.network, far.len),
            "via",
            &rt,
        ])
        .unwrap();
    });
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    let c1 = setup.sandbox.ns(Role::Client1);
    let before = forwarded(c1);
    assert_eq!(
        setup.exchange(Role::Client2, 20, 64, Duration::from_secs(1)),
        20
    );
    assert!(
        forwarded(c1) - before < 5,
        "replies go straight to the router"
    );

    let far = setup.sandbox.config().far();
    let c1_ip = setup.sandbox.ip(Role::Client1).unwrap().to_string();
    let subnet = format!("{}/{}", far.network, far.len);
    setup
        .sandbox
        .server()
        .ip(&["route", "add", &subnet, "via", &c1_ip])
        .unwrap();
    // The netbase follows within milliseconds; the first replies after the change may still
    // find c1's neighbour entry being resolved.
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    let before = forwarded(c1);
    assert_eq!(
        setup.exchange(Role::Client2, 20, 64, Duration::from_secs(1)),
        20
    );
    assert!(
        forwarded(c1) - before >= 20,
        "every reply went through the new gateway c1"
    );

    setup
        .sandbox
        .server()
        .ip(&["route", "del", &subnet, "via", &c1_ip])
        .unwrap();
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(100));
    let before = forwarded(c1);
    assert_eq!(
        setup.exchange(Role::Client2, 20, 64, Duration::from_secs(1)),
        20
    );
    assert!(forwarded(c1) - before < 5, "back on the default route");
}

#[test]
fn a_reply_to_an_address_of_the_host_goes_through_loopback() {
    if !privileged() {
        return;
    }
    use netbase_tiles::net_tile::tx_build::{build_udp4, Udp4Headers};
    let setup = Setup::start("nbdp6", |_| {});
    let sb = &setup.sandbox;
    let server_ip = sb.server_ip();
    // A socket of the server itself, and a datagram that claims to come from it: the echo
    // goes to an address of this host, which the net tile delivers through `lo`.
    let local = sb
        .server()
        .run(|| UdpSocket::bind((server_ip, 5555)).unwrap());
    local
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let c1 = sb.ns(Role::Client1);
    let headers = Udp4Headers {
        src_mac: sb.mac(Role::Client1, "eth0").unwrap(),
        dst_mac: sb.mac(Role::Server, sb.server_interface()).unwrap(),
        src_ip: server_ip,
        dst_ip: server_ip,
        src_port: 5555,
        dst_port: PORT,
        ip_id: 1,
    };
    let mut frame = [0u8; 128];
    let n = build_udp4(&mut frame, &headers, b"to myself").unwrap();
    let mut got = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.is_none() && Instant::now() < deadline {
        c1.run(|| {
            let eth0 = netbase_runtime::rawframe::ifindex("eth0").unwrap();
            netbase_runtime::rawframe::send_frame(eth0, &frame[..n]).unwrap();
        });
        let mut buf = [0u8; 64];
        if let Ok((len, from)) = local.recv_from(&mut buf) {
            got = Some((buf[..len].to_vec(), from));
        }
    }
    let (payload, from) = got.unwrap_or_else(|| {
        panic!(
            "the echo never reached the host's own socket: {:?}",
            setup.instance.samples()
        )
    });
    assert_eq!(payload, b"to myself");
    assert_eq!(from, std::net::SocketAddr::from((server_ip, PORT)));
    assert!(setup.metric_reaching("net_tx_local_total", 1, Duration::from_secs(5)) >= 1);
}

#[test]
fn a_killed_netlink_tile_restarts_while_the_net_tile_keeps_serving() {
    if !privileged() {
        return;
    }
    let topology = Instance::default_topology().replace(
        "kind = \"netlink\"\n",
        "kind = \"netlink\"\nrestart = true\n",
    );
    assert!(topology.contains("restart = true"));
    let setup = Setup::start_topology("nbdp7", &topology, |_| {});
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));

    let old = setup.instance.tile_pid("netlink.0").unwrap();
    // The pid comes from this instance's pid file: a process this test started.
    netbase_runtime::process::send_signal(old, libc::SIGKILL).unwrap();
    // Meanwhile the net tile serves from the last netbase.
    assert_eq!(
        setup.exchange(Role::Client1, 20, 64, Duration::from_secs(1)),
        20
    );
    assert_eq!(
        setup.exchange(Role::Client2, 20, 64, Duration::from_secs(1)),
        20
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        match setup.instance.tile_pid("netlink.0") {
            Some(p) if p != old => break p,
            _ if Instant::now() > deadline => panic!("not restarted:\n{}", setup.log_text()),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_ne!(new, old);
    // The restarted tile adopted the netbase and follows the kernel again.
    assert_eq!(
        setup.metric_reaching("netlink_live", 1, Duration::from_secs(10)),
        1,
        "{}",
        setup.log_text()
    );
    let c2 = setup.sandbox.ip(Role::Client2).unwrap();
    let srv = setup.sandbox.server();
    srv.ip(&["route", "add", "blackhole", &format!("{c2}/32")])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while setup.metric("net_drop_blackhole_total") == 0 && Instant::now() < deadline {
        setup.exchange(Role::Client2, 1, 32, Duration::from_millis(50));
    }
    if setup.metric("net_drop_blackhole_total") == 0 {
        // What the netbase answers for c2, for the failure message below.
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_netbase"))
            .args([
                "route",
                "get",
                &c2.to_string(),
                "--name",
                setup.instance.name(),
            ])
            .output()
            .unwrap();
        eprintln!(
            "netbase route get {c2}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(
        setup.metric("net_drop_blackhole_total") > 0,
        "{}\n{:?}",
        setup.log_text(),
        setup
            .instance
            .samples()
            .iter()
            .filter(|s| s.value > 0)
            .collect::<Vec<_>>()
    );
    assert!(setup.log_text().contains("restarted tile netlink.0"));
    assert_eq!(
        setup.exchange(Role::Client1, 10, 64, Duration::from_secs(1)),
        10
    );
}

#[test]
fn two_net_tiles_serve_two_queues_of_one_interface() {
    if !privileged() {
        return;
    }
    // The shipped multi-queue topology, on the sandbox's veth0 with two queues and without
    // hugepages.
    let topology = include_str!("../schema/topologies/multiqueue.toml")
        .replace("interface = \"eth0\"", "interface = \"veth0\"")
        .replace("backing = \"hugetlb\"\n", "")
        .replace("count = 4", "count = 2");
    assert_eq!(topology.matches("count = 2").count(), 2);
    let cfg = SandboxConfig {
        prefix: "nbdp8".into(),
        server_queues: 2,
        ..SandboxConfig::default()
    };
    let setup = Setup::start_with(cfg, &topology, |_| {});
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    // Many flows (source ports): the switch port spreads them over its two transmit queues,
    // which are veth0's receive queues.
    let (ns, ip) = setup.client(Role::Client1);
    let server = setup.server();
    let echoed = ns.run(|| {
        let mut ok = 0;
        for flow in 0..32u8 {
            let s = UdpSocket::bind((ip, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            for i in 0..4u8 {
                let payload = [flow, i, 0xab, 0xcd, 1, 2, 3, 4];
                s.send_to(&payload, server).unwrap();
                let mut buf = [0u8; 64];
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    ok += usize::from(buf[..n] == payload);
                }
            }
        }
        ok
    });
    assert_eq!(echoed, 128);
    let per_tile: Vec<u64> = ["net.0", "net.1"]
        .iter()
        .map(|t| {
            setup
                .instance
                .samples()
                .iter()
                .filter(|s| s.tile == *t && s.metric == "net_rx_frames_total")
                .map(|s| s.value)
                .sum()
        })
        .collect();
    assert!(
        per_tile.iter().all(|&n| n > 0),
        "each queue's socket received: {per_tile:?}"
    );
}

#[test]
fn demo_without_root_says_what_it_needs_and_fails() {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_netbase"));
    cmd.args(["demo", "--duration", "1"]);
    if is_root() {
        // As `nobody`: no capabilities at all.
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
}

#[test]
fn a_spoofed_flood_inside_the_subnet_keeps_probes_bounded_and_clients_answered() {
    if !privileged() {
        return;
    }
    use netbase_tiles::net_tile::tx_build::{build_udp4, Udp4Headers};
    // The server's subnet is a /16: every spoofed source in it is on-link, so each echo to
    // one needs a neighbour, i.e. a solicitation.
    let cfg = SandboxConfig {
        prefix: "nbdp9".into(),
        lan_prefix_len: 16,
        router_far_ip: Ipv4Addr::new(10, 201, 2, 254),
        client2_ip: Ipv4Addr::new(10, 201, 2, 2),
        ..SandboxConfig::default()
    };
    let setup = Setup::start_with(cfg, Instance::default_topology(), |_| {});
    assert!(setup.until_echoed(Role::Client1, Duration::from_secs(5)));
    assert!(setup.until_echoed(Role::Client2, Duration::from_secs(5)));
    let sb = &setup.sandbox;
    let gateway = sb.ip(Role::Router).unwrap();
    let headers = Udp4Headers {
        src_mac: sb.mac(Role::Client1, "eth0").unwrap(),
        dst_mac: sb.mac(Role::Server, sb.server_interface()).unwrap(),
        src_ip: Ipv4Addr::UNSPECIFIED,
        dst_ip: sb.server_ip(),
        src_port: 4444,
        dst_port: PORT,
        ip_id: 0,
    };
    let started = Instant::now();
    let flood_for = Duration::from_secs(3);
    let (legit_sent, legit_echoed) = std::thread::scope(|s| {
        s.spawn(|| {
            sb.ns(Role::Client1).run(|| {
                let eth0 = netbase_runtime::rawframe::ifindex("eth0").unwrap();
                let mut rng = netbase_runtime::rand::SplitMix64::new(7);
                let mut frame = [0u8; 128];
                while started.elapsed() < flood_for {
                    // 10.200.2.0 – 10.200.255.255: on-link, nobody there.
                    let host = 2 * 256 + (rng.next_u64() % (254 * 256)) as u32;
                    let h = Udp4Headers {
                        src_ip: Ipv4Addr::from(u32::from_be_bytes([10, 200, 0, 0]) + host),
                        ip_id: host as u16,
                        ..headers
                    };
                    let n = build_udp4(&mut frame, &h, b"spoofed").unwrap();
                    netbase_runtime::rawframe::send_frame(eth0, &frame[..n]).unwrap();
                }
            })
        });
        // Meanwhile the real clients keep asking.
        let (mut sent, mut echoed) = (0, 0);
        while started.elapsed() < flood_for {
            for role in [Role::Client1, Role::Client2] {
                sent += 10;
                echoed += setup.exchange(role, 10, 64, Duration::from_millis(200));
            }
        }
        (sent, echoed)
    });
    let elapsed = started.elapsed().as_secs_f64().ceil() as u64 + 1;
    let probes = setup.metric("solicit_probes_sent_total");
    let placeholders = setup.metric("solicit_placeholders");
    eprintln!(
        "legit {legit_echoed}/{legit_sent} echoed; probes {probes}, placeholders {placeholders}, \
         solicits {}, rate-limited {}",
        setup.metric("net_solicits_total"),
        setup.metric("solicit_rate_limited_total")
    );
    assert!(
        setup.metric("net_solicits_total") > 100,
        "the flood drove solicitation"
    );
    // Global bucket: a burst of 128, then 3 per second.
    assert!(
        probes <= 128 + 3 * elapsed,
        "{probes} probes in {elapsed} s"
    );
    assert!(placeholders <= 256, "{placeholders} placeholders");
    assert!(
        legit_echoed * 10 >= legit_sent * 9,
        "legitimate clients answered: {legit_echoed}/{legit_sent}"
    );
    // The gateway stays resolved in the netbase.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netbase"))
        .args(["show", "neigh", "--name", setup.instance.name()])
        .output()
        .unwrap();
    let neigh = String::from_utf8_lossy(&out.stdout);
    let line = neigh
        .lines()
        .find(|l| l.starts_with(&format!("{gateway} ")))
        .unwrap_or_else(|| panic!("no gateway entry:\n{neigh}"));
    assert!(
        ["REACHABLE", "STALE", "DELAY", "PROBE"]
            .iter()
            .any(|s| line.contains(s)),
        "{line}"
    );
}
