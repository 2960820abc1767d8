//! Privileged: the netlink tile's sync driver in a fresh network namespace, against scripted
//! changes made with `ip -n NS`, compared with a fresh kernel dump after every step.
//!
//! Needs root. Without it (or without `ip netns`), prints "skipped: ..." and passes, unless
//! `NETBASE_REQUIRE_PRIVILEGED=1`, which turns the skip into a failure.

use std::time::{Duration, Instant};

use netbase_runtime::netlink::dump::{RequestConfig, RequestSocket};
use netbase_runtime::netlink::socket::BufferRequest;
use netbase_runtime::netns::netns_or_skip;
use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_tiles::netlink_tile::diff::diff;
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, Snapshot, SyncOptions, TableRegions,
};

/// Steps until live and quiet, then compares the mirror with a fresh kernel dump.
#[track_caller]
fn settle_and_compare(sync: &mut NetlinkSync<'_, NoReaders>, req: &mut RequestSocket, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            Instant::now() < deadline,
            "{what}: no convergence: {:?}",
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
    let kernel = Snapshot::from_kernel(req).unwrap();
    let mirror = Snapshot::from_tables(&sync.mirror.tables);
    let d = diff(&kernel, &mirror);
    assert!(
        d.is_empty(),
        "{what}: {} differences:\n{}",
        d.len(),
        d.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `v0` (10.1.0.1/24) and its peer `v1`, up, with `lo`.
fn veth_with_address(ns: &netbase_runtime::netns::Netns) {
    ns.ip_line("link set lo up").unwrap();
    ns.ip_line("link add v0 type veth peer name v1").unwrap();
    ns.ip_line("link set v0 up").unwrap();
    ns.ip_line("link set v1 up").unwrap();
    ns.ip_line("addr add 10.1.0.1/24 dev v0").unwrap();
}

/// A sync over fresh tables in `mem` whose notification queue is tiny: a burst overflows it.
fn small_queue_sync(mem: &HeapRegion) -> NetlinkSync<'_, NoReaders> {
    let tables =
        NetbaseWriter::create(TableRegions::from_base(mem.region()).unwrap(), NoReaders, 7)
            .unwrap();
    let mut opts = SyncOptions::default();
    opts.monitor.socket_rcvbuf = 8 << 10;
    opts.monitor.rcvbuf_request = BufferRequest::Plain;
    NetlinkSync::open(opts, tables).unwrap()
}

fn blocking_request() -> RequestSocket {
    RequestSocket::open(&RequestConfig::default()).unwrap()
}

#[test]
fn netlink_sync_live_scripted_changes_match_kernel() {
    let Some(ns) = netns_or_skip("nbt") else {
        return;
    };
    let mem = HeapRegion::zeroed(TableRegions::BASE_BYTES as usize);
    ns.ip_line("link set lo up").unwrap();
    ns.ip_line("link add v0 type veth peer name v1").unwrap();
    ns.ip_line("link set v0 up").unwrap();
    ns.ip_line("link set v1 up").unwrap();
    ns.ip_line("addr add 10.1.0.1/24 dev v0").unwrap();
    ns.ip_line("addr add 10.2.0.1/24 dev v1").unwrap();
    ns.run(|| {
        let tables =
            NetbaseWriter::create(TableRegions::from_base(mem.region()).unwrap(), NoReaders, 7)
                .unwrap();
        let mut sync = NetlinkSync::open(SyncOptions::default(), tables).unwrap();
        let mut req = blocking_request();
        settle_and_compare(&mut sync, &mut req, "initial sync");
        assert_eq!(sync.counters().full_syncs, 1);

        for line in [
            "route add 10.9.0.0/16 via 10.1.0.2",
            "route add 10.9.0.0/16 via 10.2.0.2 metric 50",
            "route add 192.0.2.0/24 dev v0 proto static scope link",
            "route add blackhole 198.51.100.0/24",
            "route add unreachable 198.51.101.0/24",
            "route add prohibit 198.51.102.0/24",
            "route add throw 198.51.103.0/24",
            "route add 203.0.113.0/24 nexthop via 10.1.0.2 nexthop via 10.2.0.2",
            "route add local 10.77.0.1/32 dev v0 table local",
            "route add broadcast 10.77.0.255/32 dev v0 table local",
            "route add 172.16.0.0/12 via 10.1.0.2 table 100",
            "route replace 10.9.0.0/16 via 10.2.0.3",
        ] {
            ns.ip_line(line).unwrap();
        }
        settle_and_compare(&mut sync, &mut req, "routes added");
        assert!(sync.counters().ignored_tables >= 1);
        assert!(sync.counters().unsupported_routes >= 1);

        ns.ip_line("route del 10.9.0.0/16 via 10.2.0.2 metric 50")
            .unwrap();
        ns.ip_line("route del blackhole 198.51.100.0/24").unwrap();
        settle_and_compare(&mut sync, &mut req, "routes deleted");

        for line in [
            "neigh add 10.1.0.20 lladdr 02:00:00:00:00:20 dev v0 nud permanent",
            "neigh add 10.1.0.21 lladdr 02:00:00:00:00:21 dev v0 nud reachable",
            "neigh add 10.2.0.22 lladdr 02:00:00:00:00:22 dev v1 nud stale",
            "neigh change 10.1.0.21 lladdr 02:00:00:00:00:99 dev v0 nud permanent",
        ] {
            ns.ip_line(line).unwrap();
        }
        settle_and_compare(&mut sync, &mut req, "neighbours added");
        ns.ip_line("neigh del 10.1.0.20 dev v0").unwrap();
        ns.ip_line("neigh del 10.2.0.22 dev v1").unwrap();
        settle_and_compare(&mut sync, &mut req, "neighbours deleted");

        let passes = sync.machine().counters().route_passes;
        ns.ip_line("link set v1 down").unwrap();
        settle_and_compare(&mut sync, &mut req, "link down");
        assert!(
            sync.machine().counters().route_passes > passes,
            "link down re-dumps routes"
        );
        ns.ip_line("link set v1 up").unwrap();
        ns.ip_line("route add 10.10.0.0/16 via 10.2.0.2").unwrap();
        settle_and_compare(&mut sync, &mut req, "link up");

        ns.ip_line("addr add 10.3.0.1/24 dev v0").unwrap();
        ns.ip_line("addr del 10.1.0.1/24 dev v0").unwrap();
        settle_and_compare(&mut sync, &mut req, "addresses changed");

        ns.ip_line("link del v0").unwrap();
        settle_and_compare(&mut sync, &mut req, "link deleted");
        let c = sync.counters();
        assert_eq!(c.parse_errors, 0, "{c:?}");
        assert_eq!(c.enobufs, 0, "{c:?}");
    });
}

#[test]
fn netlink_sync_live_enobufs_resyncs_to_a_clean_diff() {
    let Some(ns) = netns_or_skip("nbt") else {
        return;
    };
    let mem = HeapRegion::zeroed(TableRegions::BASE_BYTES as usize);
    veth_with_address(&ns);
    ns.run(|| {
        let mut sync = small_queue_sync(&mem);
        let mut req = blocking_request();
        settle_and_compare(&mut sync, &mut req, "initial sync");

        let mut script = String::new();
        for i in 0..3000u32 {
            script.push_str(&format!(
                "route add 10.{}.{}.0/24 via 10.1.0.2\n",
                100 + i / 256,
                i % 256
            ));
        }
        for i in (0..3000u32).filter(|i| i % 3 != 0) {
            script.push_str(&format!(
                "route del 10.{}.{}.0/24 via 10.1.0.2\n",
                100 + i / 256,
                i % 256
            ));
        }
        // Nobody reads the monitor during the burst: its queue overflows.
        ns.ip_batch(&script).unwrap();
        settle_and_compare(&mut sync, &mut req, "after the burst");
        let c = sync.counters();
        assert!(c.enobufs >= 1, "{c:?}");
        assert!(c.full_syncs >= 2, "{c:?}");
        assert_eq!(
            sync.mirror.tables.main4.len(),
            Snapshot::from_kernel(&mut req)
                .unwrap()
                .routes4
                .keys()
                .filter(|k| k.table == 254)
                .count()
        );
    });
}

/// The notifications queued around an overrun are older than the loss; applied with the
/// resync's generation, a stale RTM_NEWROUTE would protect a route whose RTM_DELROUTE was lost
/// from the resync's sweep. Deterministic: the sync is not stepped while the kernel queues
/// "add R", overflows the queue, and deletes R (that notification is lost). Whatever of the
/// queue is read before the resync starts is applied with the old generation, the rest is
/// discarded (`discarded_after_overrun`); either way R must be swept.
#[test]
fn netlink_sync_live_discards_notifications_queued_before_an_overrun() {
    let Some(ns) = netns_or_skip("nbt") else {
        return;
    };
    let mem = HeapRegion::zeroed(TableRegions::BASE_BYTES as usize);
    veth_with_address(&ns);
    ns.run(|| {
        let mut sync = small_queue_sync(&mem);
        let mut req = blocking_request();
        settle_and_compare(&mut sync, &mut req, "initial sync");

        let mut script = String::from("route add 10.77.0.0/16 via 10.1.0.2\n");
        for i in 0..2000u32 {
            script.push_str(&format!(
                "route add 10.{}.{}.0/24 via 10.1.0.2\n",
                100 + i / 256,
                i % 256
            ));
        }
        script.push_str("route del 10.77.0.0/16 via 10.1.0.2\n");
        ns.ip_batch(&script).unwrap();
        settle_and_compare(&mut sync, &mut req, "after the overrun");
        let c = sync.counters();
        assert!(c.enobufs >= 1, "{c:?}");
        assert!(c.swept >= 1, "R was removed by the sweep: {c:?}");
        let r = sync
            .mirror
            .tables
            .main4
            .lookup(u32::from(std::net::Ipv4Addr::new(10, 77, 1, 1)));
        assert!(
            !matches!(r, netbase_runtime::tables::lpm::Lookup::Hit { .. }),
            "the deleted route came back: {r:?}"
        );
    });
}
