//! `netlink`: how fast the netlink tile's sync brings the kernel's routes into netbase, measured
//! against the kernel in a throw-away network namespace (`nbb-<pid>`, deleted at the end, also
//! on error or Ctrl-C).
//!
//! Cases:
//! * `full-sync`: from opening the sync (monitor, first dump request) to a complete netbase
//!   with N routes in `main`, against `ip route show table main` read to the end.
//! * `change-latency`: K single route replaces, one at a time, each timed from writing it to a
//!   long-lived `ip -batch` process until a `Fib4Reader` (read-only mapping of the same
//!   workspace, another thread than the sync's) sees the new next hop.
//! * `notification-burst`: M route replaces in one `ip -batch`; the sync's main4 updates per
//!   second until every changed route is visible, against the rate `ip` applied them at.
//!
//! Needs root (network namespaces).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use netbase_runtime::netns::Netns;
use netbase_runtime::region::Region;
use netbase_runtime::sync::qsbr::OFFLINE;
use netbase_runtime::tables::lpm::{Fib4Reader, Lookup};
use netbase_runtime::workspace::{Access, Backing, CreateOptions, RemoveGuard, Workspace};
use netbase_tiles::netlink_tile::{
    monotonic_ns, NetbaseWriter, NetlinkSync, SyncOptions, TableRegions,
};

use super::report::{median, quantile, Report, NETBASE};
use crate::schema::{tables, Route4, LAYOUT_FINGERPRINT};

pub struct Options {
    /// Routes in `main` (besides the connected ones).
    pub routes: u64,
    /// Single changes timed one at a time.
    pub changes: usize,
    /// Changes of the notification burst.
    pub burst: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            routes: 100_000,
            changes: 1000,
            burst: 20_000,
        }
    }
}

/// The veth on which every route leaves, and the next hops routes alternate between.
const DEV: &str = "nbb0";
const GW_FILL: u32 = 0xc0a8_0002; // 192.168.0.2
const GW_A: u32 = 0xc0a8_0003;
const GW_B: u32 = 0xc0a8_0004;
const GW_BURST: u32 = 0xc0a8_0005; // and 192.168.0.6
/// Most /24s (in 10.0.0.0/9); the rest are /32s in 10.128.0.0/9.
const MAX_24: u64 = 1 << 15;
pub const MAX_ROUTES: u64 = MAX_24 + (1 << 23);
/// How long any one phase may take before the bench gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

fn dotted(a: u32) -> String {
    let b = a.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// The routes: (prefix, length) with host-order prefixes.
fn routes(n: u64) -> (Vec<(u32, u8)>, Vec<u32>) {
    let n24 = (n / 2).min(MAX_24);
    let n32 = n - n24;
    let r24 = (0..n24).map(|i| ((0x0a00_0000 | (i << 8)) as u32, 24));
    let host32: Vec<u32> = (0..n32).map(|i| (0x0a80_0000 | i) as u32).collect();
    let all = r24.chain(host32.iter().map(|&a| (a, 32))).collect();
    (all, host32)
}

fn route_line(verb: &str, prefix: u32, len: u8, gw: u32) -> String {
    format!(
        "route {verb} {}/{len} via {} dev {DEV}\n",
        dotted(prefix),
        dotted(gw)
    )
}

/// Set by SIGINT/SIGTERM: every wait checks it, so that the guards run.
fn interrupted(flag: &AtomicBool) -> Result<(), String> {
    if flag.load(Ordering::Relaxed) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Feeds `lines` to a new `ip -batch` and waits for it; the seconds it took.
fn run_batch(ns: &Netns, lines: impl Iterator<Item = String>) -> Result<f64, String> {
    let t = Instant::now();
    let mut child = ns.spawn_batch(&["-force"])?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut buf = String::new();
    let mut write_err = None;
    for line in lines {
        buf.push_str(&line);
        if buf.len() > 1 << 16 {
            if let Err(e) = stdin.write_all(buf.as_bytes()) {
                write_err = Some(e);
                break;
            }
            buf.clear();
        }
    }
    if write_err.is_none() {
        write_err = stdin.write_all(buf.as_bytes()).err();
    }
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`ip -batch`: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || write_err.is_some() || !err.trim().is_empty() {
        return Err(format!(
            "`ip -n {} -batch -` failed ({}): {}",
            ns.name(),
            out.status,
            err.lines().take(3).collect::<Vec<_>>().join("; ")
        ));
    }
    Ok(secs)
}

/// What the sync thread publishes.
#[derive(Default)]
struct Shared {
    /// Set once the baseline ran: the sync starts then, so that they do not share the cores.
    go: AtomicBool,
    stop: AtomicBool,
    live: AtomicBool,
    failed: Mutex<Option<String>>,
    /// f64 bits: open to live.
    sync_seconds: AtomicU64,
    main4_updates: AtomicU64,
    notifications: AtomicU64,
    enobufs: AtomicU64,
    full_syncs: AtomicU64,
}

/// Stops the sync thread when the measuring side leaves, also by `?` or a panic.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The sync thread: opens the sync in the namespace, steps it to live, then keeps it live.
fn sync_thread<R>(ns: &Netns, writer: NetbaseWriter<'_, R>, sh: &Shared, sigint: &AtomicBool)
where
    R: netbase_runtime::sync::qsbr::ReaderEpochs + Clone,
{
    let fail = |e: String| {
        *sh.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
    };
    if let Err(e) = ns.enter() {
        return fail(e.into());
    }
    while !sh.go.load(Ordering::Acquire) {
        if sh.stop.load(Ordering::Relaxed) || sigint.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let t = Instant::now();
    let mut sync = match NetlinkSync::open(SyncOptions::default(), writer) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot open the netlink sync: {e}")),
    };
    while !sync.is_live() {
        if sh.stop.load(Ordering::Relaxed) || sigint.load(Ordering::Relaxed) {
            return;
        }
        if t.elapsed() > PHASE_TIMEOUT {
            return fail(format!("no full sync within {PHASE_TIMEOUT:?}"));
        }
        let r = sync.step(monotonic_ns());
        if r.sleep_until.is_some() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let publish = |sync: &NetlinkSync<'_, R>| {
        let c = sync.counters();
        sh.main4_updates
            .store(c.updates[tables::MAIN4_ID], Ordering::Release);
        sh.notifications.store(c.notifications, Ordering::Release);
        sh.enobufs.store(c.enobufs, Ordering::Release);
        sh.full_syncs.store(c.full_syncs, Ordering::Release);
    };
    publish(&sync);
    sh.sync_seconds.store(secs.to_bits(), Ordering::Release);
    sh.live.store(true, Ordering::Release);
    while !sh.stop.load(Ordering::Relaxed) && !sigint.load(Ordering::Relaxed) {
        let r = sync.step(monotonic_ns());
        if r.notifications > 0 || r.dump_messages > 0 {
            publish(&sync);
        }
        if r.idle() {
            // Woken by the next notification; the timeout only rechecks `stop`.
            let _ = sync.wait(Some(Duration::from_millis(20)));
        } else if r.sleep_until.is_some() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Runs the bench (needs root).
pub fn run(opts: &Options) -> Result<Report, String> {
    // SAFETY: geteuid has no preconditions.
    if !netbase_runtime::netns::is_root() {
        return Err("bench netlink needs root: it creates a network namespace \
                    (`ip netns add`) and routes in it; run it with sudo"
            .into());
    }
    if opts.routes == 0 || opts.routes > MAX_ROUTES {
        return Err(format!("--routes must be 1..={MAX_ROUTES}"));
    }
    let sigint = Arc::new(AtomicBool::new(false));
    let mut sig_ids = Vec::new();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        sig_ids.push(
            signal_hook::flag::register(sig, Arc::clone(&sigint))
                .map_err(|e| format!("cannot install the signal handler: {e}"))?,
        );
    }
    let r = run_in_netns(opts, &sigint);
    for id in sig_ids {
        signal_hook::low_level::unregister(id);
    }
    r
}

fn run_in_netns(opts: &Options, sigint: &AtomicBool) -> Result<Report, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let ns = Netns::create(format!("nbb-{unique}"))?;
    for args in [
        &["link", "set", "lo", "up"][..],
        &["link", "add", DEV, "type", "veth", "peer", "name", "nbb1"],
        &["addr", "add", "192.168.0.1/24", "dev", DEV],
        &["addr", "add", "192.168.1.1/24", "dev", "nbb1"],
        &["link", "set", DEV, "up"],
        &["link", "set", "nbb1", "up"],
    ] {
        ns.ip(args)?;
    }
    interrupted(sigint)?;

    let mut report = Report::new("netlink");
    let n = opts.routes;
    let (all, hosts) = routes(n);

    // 1. Fill.
    let fill = run_batch(
        &ns,
        all.iter().map(|&(p, l)| route_line("add", p, l, GW_FILL)),
    )?;
    interrupted(sigint)?;
    report.push(
        "fill",
        "ip-batch",
        &[
            ("routes", n as f64),
            ("ip_batch_seconds", fill),
            ("routes_per_sec", n as f64 / fill),
        ],
    );

    // 2.–4. The sync in its thread, the measurements here.
    let ws_name = format!("nbb-{unique}.netbase");
    let _ws_guard = RemoveGuard::new(&ws_name, &Backing::Shm).map_err(|e| format!("{e}"))?;
    let ws = Workspace::create(&CreateOptions::new(
        &ws_name,
        tables::WORKSPACE_BYTES,
        LAYOUT_FINGERPRINT,
    ))
    .map_err(|e| format!("cannot create workspace {ws_name}: {e}"))?;
    let reader_ws = Workspace::join(&ws_name, LAYOUT_FINGERPRINT, Access::ReadOnly)
        .map_err(|e| format!("cannot map workspace {ws_name} read-only: {e}"))?;
    let reader_words = [AtomicU64::new(OFFLINE)];
    let regions = TableRegions::from_workspace(&ws).map_err(|e| format!("{e}"))?;
    let writer = NetbaseWriter::create(regions, &reader_words[..], 0x5eed)
        .map_err(|e| format!("cannot create the tables: {e}"))?;
    let shared = Shared::default();

    std::thread::scope(|s| -> Result<(), String> {
        let sync = s.spawn(|| sync_thread(&ns, writer, &shared, sigint));
        let stop = StopOnDrop(&shared.stop);
        let r = measure(
            opts,
            &ns,
            &reader_ws,
            &reader_words[0],
            &shared,
            sigint,
            &hosts,
            &mut report,
        );
        drop(stop);
        if sync.join().is_err() {
            return Err("the sync thread panicked".into());
        }
        r
    })?;
    report.note(format!(
        "network namespace {}: {n} routes in main ({} /24s, {} /32s) via veth {DEV}; \
         change latency over {} single replaces, burst of {} replaces",
        ns.name(),
        n - hosts.len() as u64,
        hosts.len(),
        opts.changes,
        opts.burst
    ));
    Ok(report)
}

/// Waits until the sync is live (or failed).
fn wait_live(sh: &Shared, sigint: &AtomicBool) -> Result<(), String> {
    let t = Instant::now();
    while !sh.live.load(Ordering::Acquire) {
        if let Some(e) = sh
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(e);
        }
        interrupted(sigint)?;
        if t.elapsed() > PHASE_TIMEOUT + Duration::from_secs(5) {
            return Err("the sync did not become live".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

fn gateway_of(main: &Fib4Reader<'_, Route4>, addr: u32) -> Option<u32> {
    match main.lookup(addr) {
        Lookup::Hit { nexthop, .. } => Some(nexthop.gateway.to_u32()),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    opts: &Options,
    ns: &Netns,
    reader_ws: &Workspace,
    word: &AtomicU64,
    sh: &Shared,
    sigint: &AtomicBool,
    hosts: &[u32],
    report: &mut Report,
) -> Result<(), String> {
    let n = opts.routes as f64;
    // Baseline of the full sync (same run, same kernel state), before the sync starts.
    let t = Instant::now();
    let shown = ns.ip(&["route", "show", "table", "main"])?;
    let ip_show = t.elapsed().as_secs_f64();
    let shown_lines = shown.lines().count();
    sh.go.store(true, Ordering::Release);
    wait_live(sh, sigint)?;
    let secs = f64::from_bits(sh.sync_seconds.load(Ordering::Acquire));

    let region = Region::from_workspace(reader_ws, tables::MAIN4_OFFSET, tables::MAIN4_BYTES)
        .map_err(|e| format!("{e}"))?;
    let main = Fib4Reader::<Route4>::attach(region, tables::MAIN4.capacity)
        .map_err(|e| format!("cannot attach main4: {e}"))?;
    let qsbr = main.qsbr(word);
    qsbr.online();
    let mirrored = main.len();
    if mirrored < opts.routes {
        return Err(format!(
            "the sync is live with {mirrored} routes in main4, expected at least {}",
            opts.routes
        ));
    }
    report.push(
        "full-sync",
        NETBASE,
        &[
            ("seconds", secs),
            ("routes_per_sec", n / secs),
            ("routes", mirrored as f64),
        ],
    );
    report.push(
        "full-sync",
        "ip-route-show",
        &[
            ("seconds", ip_show),
            ("routes_per_sec", n / ip_show),
            ("routes", shown_lines as f64),
        ],
    );

    // 3. Change latency: one replace at a time through a long-lived `ip -batch`.
    let mut batch = ns.spawn_batch(&["-force"])?;
    let mut stdin = batch.stdin.take().ok_or("no stdin")?;
    let mut samples = Vec::with_capacity(opts.changes);
    let mut timeouts = 0u32;
    for i in 0..opts.changes {
        interrupted(sigint)?;
        let addr = hosts[i % hosts.len()];
        let old = gateway_of(&main, addr);
        let gw = if old == Some(GW_A) { GW_B } else { GW_A };
        let line = route_line("replace", addr, 32, gw);
        let t = Instant::now();
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("`ip -batch` stopped: {e}"))?;
        loop {
            qsbr.quiescent();
            if gateway_of(&main, addr) == Some(gw) {
                samples.push(t.elapsed().as_nanos() as f64);
                break;
            }
            if t.elapsed() > Duration::from_secs(1) {
                timeouts += 1;
                break;
            }
            std::hint::spin_loop();
        }
    }
    drop(stdin);
    let _ = batch.wait();
    if samples.is_empty() {
        return Err("no route change became visible in netbase".into());
    }
    report.push(
        "change-latency",
        NETBASE,
        &[
            ("ns_p50", median(&samples)),
            ("ns_p99", quantile(&samples, 0.99)),
            ("ns_max", quantile(&samples, 1.0)),
            ("timeouts", f64::from(timeouts)),
        ],
    );

    // 4. Notification burst.
    let m = opts.burst;
    // Change j sets host j mod H; a host changed more than once alternates between two next
    // hops so that every change is a real one, its last change setting GW_BURST.
    let h = hosts.len();
    let changed: Vec<(u32, u32)> = (0..m)
        .map(|j| {
            let gw = if ((m - 1 - j) / h) % 2 == 0 {
                GW_BURST
            } else {
                GW_BURST + 1
            };
            (hosts[j % h], gw)
        })
        .collect();
    let updates0 = sh.main4_updates.load(Ordering::Acquire);
    let enobufs0 = sh.enobufs.load(Ordering::Acquire);
    let syncs0 = sh.full_syncs.load(Ordering::Acquire);
    let t = Instant::now();
    let ip_secs = std::thread::scope(|s| {
        let ip = s.spawn(|| {
            run_batch(
                ns,
                changed
                    .iter()
                    .map(|&(a, gw)| route_line("replace", a, 32, gw)),
            )
        });
        ip.join()
            .unwrap_or_else(|_| Err("the `ip -batch` feeder panicked".into()))
    })?;
    // Every changed route visible (checked one by one: a resync could reorder things).
    let mut pending: Vec<u32> = changed.iter().map(|&(a, _)| a).collect();
    pending.sort_unstable();
    pending.dedup();
    loop {
        interrupted(sigint)?;
        qsbr.quiescent();
        pending.retain(|&a| gateway_of(&main, a) != Some(GW_BURST));
        if pending.is_empty() {
            break;
        }
        if t.elapsed() > PHASE_TIMEOUT {
            return Err(format!(
                "{} of the burst's routes never became visible",
                pending.len()
            ));
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let secs = t.elapsed().as_secs_f64();
    qsbr.offline();
    let updates = sh.main4_updates.load(Ordering::Acquire) - updates0;
    let enobufs = sh.enobufs.load(Ordering::Acquire) - enobufs0;
    let resyncs = sh.full_syncs.load(Ordering::Acquire) - syncs0;
    report.push(
        "notification-burst",
        NETBASE,
        &[
            ("updates_per_sec", updates as f64 / secs),
            ("updates", updates as f64),
            ("seconds", secs),
            ("enobufs", enobufs as f64),
            ("resyncs", resyncs as f64),
        ],
    );
    report.push(
        "notification-burst",
        "ip-batch",
        &[
            ("updates_per_sec", m as f64 / ip_secs),
            ("updates", m as f64),
            ("seconds", ip_secs),
        ],
    );
    report.note(format!(
        "notifications applied in total: {}",
        sh.notifications.load(Ordering::Acquire)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_a_namespace_with_a_small_table() {
        // SAFETY: geteuid has no preconditions.
        if !netbase_runtime::netns::is_root() {
            assert!(
                std::env::var("NETBASE_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                "NETBASE_REQUIRE_PRIVILEGED=1 but bench netlink needs root"
            );
            eprintln!("skipped: bench netlink needs root");
            return;
        }
        let report = run(&Options {
            routes: 2000,
            changes: 50,
            burst: 500,
        })
        .unwrap();
        for (case, imp, metric) in [
            ("fill", "ip-batch", "ip_batch_seconds"),
            ("full-sync", NETBASE, "seconds"),
            ("full-sync", NETBASE, "routes_per_sec"),
            ("full-sync", "ip-route-show", "routes_per_sec"),
            ("change-latency", NETBASE, "ns_p50"),
            ("change-latency", NETBASE, "ns_p99"),
            ("notification-burst", NETBASE, "updates_per_sec"),
            ("notification-burst", "ip-batch", "updates_per_sec"),
        ] {
            let v = report.get(case, imp, metric);
            assert!(
                v.is_some_and(|v| v > 0.0 && v.is_finite()),
                "{case}/{imp}/{metric}: {v:?}"
            );
        }
        assert!(report.get("full-sync", NETBASE, "routes").unwrap() >= 2000.0);
        let render = report.render();
        assert!(render.contains("netbase / ip-route-show"), "{render}");
    }
}
