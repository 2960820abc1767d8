//! The demo's sandbox with the kernel echo server standing in for netbase: both clients get
//! every datagram echoed (c2 through the router), and nothing is left behind, also when
//! building the sandbox fails half way.
//!
//! Privileged: needs root and `ip`; skips otherwise, or fails with
//! `NETBASE_REQUIRE_PRIVILEGED=1`. Each test uses its own name prefix, so they run in parallel.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use netbase::sandbox::{list_namespaces, Role, Sandbox, SandboxConfig};
use netbase::traffic::kernel_echo::{KernelEcho, KernelEchoConfig};
use netbase::traffic::{self, Client, Rate, TrafficConfig};
use netbase_runtime::netns::{is_root, privileged_or_skip, Netns};
use netbase_runtime::types::Mac;

const PORT: u16 = 7000;

/// Whether namespaces can be made here; if not, the privilege policy has been applied.
fn privileged() -> bool {
    if !is_root() {
        privileged_or_skip("needs root to create network namespaces");
        return false;
    }
    match Netns::unique("nbdprobe") {
        Ok(_) => true,
        Err(e) => {
            privileged_or_skip(&format!("cannot create a network namespace: {e}"));
            false
        }
    }
}

fn config(prefix: &str) -> SandboxConfig {
    SandboxConfig {
        prefix: prefix.into(),
        ..SandboxConfig::default()
    }
}

/// The namespaces of this process's sandboxes with `prefix` that still exist.
fn leftovers(prefix: &str) -> Vec<String> {
    let start = Sandbox::name_prefix(prefix);
    list_namespaces()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&start))
        .collect()
}

#[test]
fn both_clients_get_every_datagram_echoed_and_drop_removes_everything() {
    if !privileged() {
        return;
    }
    let prefix = "nbdt-echo";
    let sb = Sandbox::create(config(prefix)).unwrap();
    let names = sb.namespace_names();
    assert_eq!(names.len(), 5);
    assert_eq!(leftovers(prefix).len(), 5, "{:?}", leftovers(prefix));
    assert_eq!(sb.server_interface(), "veth0");
    assert_eq!(names[0], Sandbox::namespace_name(prefix, Role::Server));

    let echo = KernelEcho::start(
        sb.server(),
        sb.server_ip(),
        PORT,
        KernelEchoConfig::default(),
    )
    .unwrap();
    let clients = Client::for_sandbox(&sb, PORT).unwrap();
    let cfg = TrafficConfig {
        duration: Duration::from_secs(1),
        rate: Rate::Window(32),
        ..TrafficConfig::default()
    };
    let mut ticks = 0;
    let stats = traffic::run(clients, &cfg, &AtomicBool::new(false), &mut |_| ticks += 1).unwrap();
    let counts = echo.stop().unwrap();

    for name in ["c1", "c2"] {
        let c = stats.client(name).unwrap();
        assert!(c.sent > 0, "{name} sent nothing: {stats:?}");
        assert_eq!(c.echoed, c.sent, "{name}: {stats:?}");
        assert_eq!((c.lost, c.duplicates, c.corrupt), (0, 0, 0), "{name}");
        assert!(c.rtt_ns_p50.is_some());
    }
    assert_eq!(counts.echoed, stats.sent, "{counts:?}");
    assert!(ticks >= 4, "progress called {ticks} times in 1 s");
    assert!(stats.echo_pps() > 0.0);

    // c2's traffic went through the router: the server resolved the gateway, not c2.
    let neigh = sb.server().ip(&["neigh", "show"]).unwrap();
    assert!(neigh.contains("10.200.1.254"), "{neigh}");
    assert!(!neigh.contains("10.200.2.2 "), "{neigh}");

    drop(sb);
    assert_eq!(leftovers(prefix), Vec::<String>::new());
}

#[test]
fn blast_measures_an_echo_rate() {
    if !privileged() {
        return;
    }
    let sb = Sandbox::create(config("nbdt-blast")).unwrap();
    let echo = KernelEcho::start(
        sb.server(),
        sb.server_ip(),
        PORT,
        KernelEchoConfig::default(),
    )
    .unwrap();
    let c1 = &sb.clients()[0];
    let server = std::net::SocketAddrV4::new(sb.server_ip(), PORT);
    let client = Client::open(c1.ns, c1.name, c1.ip, server).unwrap();
    let cfg = TrafficConfig::blast(Duration::from_millis(800), Duration::from_millis(200));
    let stats = traffic::run(vec![client], &cfg, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let counts = echo.stop().unwrap();
    eprintln!(
        "blast: sent {} echoed {} ({:.0} echoes/s over {:.2} s), server {counts:?}",
        stats.sent,
        stats.echoed,
        stats.echo_pps(),
        stats.window_secs
    );
    assert!(
        stats.window_secs > 0.4 && stats.window_secs < 0.8,
        "{stats:?}"
    );
    assert!(
        stats.window_echoed > 0 && stats.echo_pps() > 1000.0,
        "{stats:?}"
    );
    assert_eq!(stats.corrupt, 0);
    assert_eq!(stats.echoed + stats.lost, stats.sent);
}

#[test]
fn a_failure_half_way_leaves_no_namespace_behind() {
    if !privileged() {
        return;
    }
    // The fifth namespace cannot be created: its name is taken.
    let prefix = "nbdt-taken";
    let squatter = Netns::create(Sandbox::namespace_name(prefix, Role::Client2)).unwrap();
    let e = Sandbox::create(config(prefix)).unwrap_err();
    assert!(e.contains("c2"), "{e}");
    assert_eq!(leftovers(prefix), vec![squatter.name().to_string()]);
    drop(squatter);
    assert_eq!(leftovers(prefix), Vec::<String>::new());

    // Every namespace exists, then the kernel refuses the server's interface name.
    let prefix = "nbdt-ifname";
    let cfg = SandboxConfig {
        server_interface: "a-name-far-too-long-for-linux".into(),
        ..config(prefix)
    };
    let e = Sandbox::create(cfg).unwrap_err();
    assert!(e.contains("switch links"), "{e}");
    assert_eq!(leftovers(prefix), Vec::<String>::new());
}

#[test]
fn an_invalid_address_fails_before_anything_is_made() {
    let prefix = "nbdt-addr";
    let cfg = SandboxConfig {
        client2_ip: Ipv4Addr::new(172, 16, 0, 2),
        ..config(prefix)
    };
    let e = Sandbox::create(cfg).unwrap_err();
    assert!(
        e.contains("client2_ip 172.16.0.2 is not in 10.0.0.0/8"),
        "{e}"
    );
    if is_root() {
        assert_eq!(leftovers(prefix), Vec::<String>::new());
    }
}

#[test]
fn macs_and_static_neighbours() {
    if !privileged() {
        return;
    }
    let sb = Sandbox::create(config("nbdt-neigh")).unwrap();
    let server_mac = sb.mac(Role::Server, sb.server_interface()).unwrap();
    assert_ne!(server_mac, Mac::ZERO);
    sb.static_neighbour(Role::Client1, sb.server_ip(), server_mac)
        .unwrap();
    let shown = sb
        .ns(Role::Client1)
        .ip(&["neigh", "show", &sb.server_ip().to_string()])
        .unwrap();
    assert!(shown.contains(&server_mac.to_string()), "{shown}");
    assert!(shown.contains("PERMANENT"), "{shown}");
    assert!(shown.contains("dev eth0"), "{shown}");

    // The router picks the interface on c2's side by itself.
    let fake = Mac([0x02, 0, 0, 0, 0, 0x22]);
    sb.static_neighbour(Role::Router, sb.config().client2_ip, fake)
        .unwrap();
    let shown = sb.ns(Role::Router).ip(&["neigh", "show"]).unwrap();
    assert!(
        shown.contains("10.200.2.2 dev eth1 lladdr 02:00:00:00:00:22 PERMANENT"),
        "{shown}"
    );
    assert!(sb.mac(Role::Server, "nonexistent0").is_err());
}

#[test]
fn clients_send_complete_checksums_unless_asked_not_to() {
    if !privileged() {
        return;
    }
    use netbase_runtime::ethtool::tx_checksum_offload;
    let offload = |sb: &Sandbox, role: Role, dev: &'static str| {
        sb.ns(role).run(|| tx_checksum_offload(dev)).unwrap()
    };
    let sb = Sandbox::create(config("nbdt-csum")).unwrap();
    assert!(!offload(&sb, Role::Client1, "eth0"));
    assert!(!offload(&sb, Role::Client2, "eth0"));
    // Untouched elsewhere: veth offloads by default.
    assert!(offload(&sb, Role::Router, "eth0"));
    drop(sb);

    let sb = Sandbox::create(SandboxConfig {
        client_checksum_offload: true,
        ..config("nbdt-csum")
    })
    .unwrap();
    assert!(offload(&sb, Role::Client1, "eth0"));
}
