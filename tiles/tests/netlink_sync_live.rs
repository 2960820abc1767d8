//! Privileged: the netlink tile's sync driver in a fresh network namespace, against scripted
//! changes made with `ip -n NS`, compared with a fresh kernel dump after every step.
//!
//! Needs root. Without it (or without `ip netns`), prints "skipped: ..." and passes, unless
//! `NETBASE_REQUIRE_PRIVILEGED=1`, which turns the skip into a failure.

use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netbase_runtime::netlink::dump::{RequestConfig, RequestSocket};
use netbase_runtime::netlink::socket::BufferRequest;
use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_tiles::netlink_tile::diff::diff;
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, Snapshot, SyncOptions, TableRegions,
};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A throw-away namespace `nbt-<pid>-<n>`, deleted on drop (also while a test unwinds).
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Result<Self, String> {
        let name = format!(
            "nbt-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`ip netns add {name}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Netns { name })
    }

    #[track_caller]
    fn ip(&self, line: &str) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(line.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "`ip -n {} {line}`: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    #[track_caller]
    fn batch(&self, script: &str) {
        let path = std::env::temp_dir().join(format!("{}.batch", self.name));
        std::fs::write(&path, script).unwrap();
        let out = Command::new("ip")
            .args(["-n", &self.name, "-batch"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("run ip");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "ip -batch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// Runs `f` on a thread inside the namespace (sockets opened there stay in it).
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            });
            match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .output();
    }
}

fn netns_or_skip() -> Option<Netns> {
    let required = std::env::var("NETBASE_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1");
    let reason = if !rustix::process::geteuid().is_root() {
        "needs root to create network namespaces".to_string()
    } else {
        match Netns::new() {
            Ok(ns) => return Some(ns),
            Err(e) => e,
        }
    };
    assert!(
        !required,
        "privileged test cannot run (NETBASE_REQUIRE_PRIVILEGED=1): {reason}"
    );
    eprintln!("skipped: {reason}");
    None
}

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

fn blocking_request() -> RequestSocket {
    RequestSocket::open(&RequestConfig::default()).unwrap()
}

#[test]
fn netlink_sync_live_scripted_changes_match_kernel() {
    let Some(ns) = netns_or_skip() else { return };
    let mem = HeapRegion::zeroed(TableRegions::BASE_BYTES as usize);
    ns.ip("link set lo up");
    ns.ip("link add v0 type veth peer name v1");
    ns.ip("link set v0 up");
    ns.ip("link set v1 up");
    ns.ip("addr add 10.1.0.1/24 dev v0");
    ns.ip("addr add 10.2.0.1/24 dev v1");
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
            ns.ip(line);
        }
        settle_and_compare(&mut sync, &mut req, "routes added");
        assert!(sync.counters().ignored_tables >= 1);
        assert!(sync.counters().unsupported_routes >= 1);

        ns.ip("route del 10.9.0.0/16 via 10.2.0.2 metric 50");
        ns.ip("route del blackhole 198.51.100.0/24");
        settle_and_compare(&mut sync, &mut req, "routes deleted");

        for line in [
            "neigh add 10.1.0.20 lladdr 02:00:00:00:00:20 dev v0 nud permanent",
            "neigh add 10.1.0.21 lladdr 02:00:00:00:00:21 dev v0 nud reachable",
            "neigh add 10.2.0.22 lladdr 02:00:00:00:00:22 dev v1 nud stale",
            "neigh change 10.1.0.21 lladdr 02:00:00:00:00:99 dev v0 nud permanent",
        ] {
            ns.ip(line);
        }
        settle_and_compare(&mut sync, &mut req, "neighbours added");
        ns.ip("neigh del 10.1.0.20 dev v0");
        ns.ip("neigh del 10.2.0.22 dev v1");
        settle_and_compare(&mut sync, &mut req, "neighbours deleted");

        let passes = sync.machine().counters().route_passes;
        ns.ip("link set v1 down");
        settle_and_compare(&mut sync, &mut req, "link down");
        assert!(
            sync.machine().counters().route_passes > passes,
            "link down re-dumps routes"
        );
        ns.ip("link set v1 up");
        ns.ip("route add 10.10.0.0/16 via 10.2.0.2");
        settle_and_compare(&mut sync, &mut req, "link up");

        ns.ip("addr add 10.3.0.1/24 dev v0");
        ns.ip("addr del 10.1.0.1/24 dev v0");
        settle_and_compare(&mut sync, &mut req, "addresses changed");

        ns.ip("link del v0");
        settle_and_compare(&mut sync, &mut req, "link deleted");
        let c = sync.counters();
        assert_eq!(c.parse_errors, 0, "{c:?}");
        assert_eq!(c.enobufs, 0, "{c:?}");
    });
}

#[test]
fn netlink_sync_live_enobufs_resyncs_to_a_clean_diff() {
    let Some(ns) = netns_or_skip() else { return };
    let mem = HeapRegion::zeroed(TableRegions::BASE_BYTES as usize);
    ns.ip("link set lo up");
    ns.ip("link add v0 type veth peer name v1");
    ns.ip("link set v0 up");
    ns.ip("link set v1 up");
    ns.ip("addr add 10.1.0.1/24 dev v0");
    ns.run(|| {
        let tables =
            NetbaseWriter::create(TableRegions::from_base(mem.region()).unwrap(), NoReaders, 7)
                .unwrap();
        let mut opts = SyncOptions::default();
        // A tiny notification queue: a burst overflows it.
        opts.monitor.socket_rcvbuf = 8 << 10;
        opts.monitor.rcvbuf_request = BufferRequest::Plain;
        let mut sync = NetlinkSync::open(opts, tables).unwrap();
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
        ns.batch(&script);
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
