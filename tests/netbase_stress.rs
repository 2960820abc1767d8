//! Multi-process stress of the netbase tables: a writer churns the real netbase layout (tables
//! at their generated offsets in a shared-memory workspace) while readers in two other
//! processes, mapping the workspace read-only, check that every answer is one the writer
//! published (half of their route lookups through `lookup_burst`, as a net tile routes).
//!
//! Every row carries a checksum of its identity and version, so a torn row, a row answered for
//! the wrong key, or an invented value is a violation; keys that are never removed must always
//! be found. Routes carry their own prefix and a checksum in their next hop, so an answer must
//! be a route that exists, covers the address, and is at least as specific as the stable route
//! covering it; each reader publishes its quiescent epoch in a workspace of its own, which the
//! writer maps read-only before reusing memory (QSBR across processes).
//! `NETBASE_STRESS_LOOKUPS` sets the number of checked lookups (CI runs 10^8 in a
//! release build); the default keeps a debug `cargo test` short.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

use netbase::schema::{tables, Neigh4, NudState, Route4, RouteType, LAYOUT_FINGERPRINT};
use netbase_runtime::rand::SplitMix64;
use netbase_runtime::region::Region;
use netbase_runtime::sync::qsbr::ReaderEpochs;
use netbase_runtime::tables::hash::{HashReader, HashWriter};
use netbase_runtime::tables::lpm::{Fib4Reader, Fib4Writer, Lookup};
use netbase_runtime::types::{Ipv4, Mac};
use netbase_runtime::workspace::{Access, Backing, CreateOptions, RemoveGuard, Workspace};

const CHILD_ENV: &str = "NETBASE_STRESS_CHILD";
/// Which reader a child is (its status workspace's suffix).
const CHILD_INDEX_ENV: &str = "NETBASE_STRESS_CHILD_INDEX";
/// Reader processes, each checking its share of the lookups.
const READERS: usize = 2;
const STABLE: u32 = 1024;
const CHURN: u32 = 4096;

fn lookups_wanted() -> u64 {
    std::env::var("NETBASE_STRESS_LOOKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

fn key_ip(i: u32) -> Ipv4 {
    Ipv4::from_u32(0x0a00_0000 | i)
}

fn ifindex_of(i: u32) -> u32 {
    1 + i % 7
}

/// The MAC a row must carry for its key and version: any mix-up shows.
fn check_mac(ifindex: u32, ip: Ipv4, version: u64) -> Mac {
    let mut x = u64::from(ifindex) << 32 ^ u64::from(ip.to_u32()) ^ version.rotate_left(17);
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let b = x.to_le_bytes();
    Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn row(i: u32, version: u64) -> Neigh4 {
    let (ifindex, ip) = (ifindex_of(i), key_ip(i));
    Neigh4 {
        ifindex,
        ip,
        updated_ns: version,
        mac: check_mac(ifindex, ip, version),
        state: NudState::REACHABLE,
        ..Neigh4::ZERO
    }
}

fn key(i: u32) -> [u8; 8] {
    tables::neigh4_key(&row(i, 0))
}

fn neigh_region(ws: &Workspace) -> Region<'_> {
    Region::from_workspace(ws, tables::NEIGH4_OFFSET, tables::NEIGH4_BYTES).expect("neigh4 region")
}

/// Stable routes (never removed): 10.0.0.0/8 covers every address the reader asks for.
const STABLE_ROUTES: [(u32, u8); 4] = [
    (0x0a00_0000, 8),
    (0x0a01_0000, 16),
    (0x0a02_0000, 16),
    (0x0a02_0100, 24),
];

/// Churning routes: /32s and /25–/30s under the stable ones, and /20s between them.
fn churn_route(n: u64) -> (u32, u8) {
    match n % 4 {
        0 => (0x0a01_0000 | ((n as u32 >> 2) % 4096), 32),
        1 => {
            let len = 25 + ((n >> 2) % 6) as u8;
            let base = 0x0a02_0000 | (((n >> 5) as u32 % 16) << 8);
            let off = ((n >> 9) as u32 % 4) << (32 - len);
            (base | (off & !(u32::MAX >> len)), len)
        }
        2 => (0x0a00_0000 | (((n >> 2) as u32 % 64) << 12), 20),
        _ => (0x0a01_0000 | (((n >> 2) as u32 % 256) << 8), 24),
    }
}

fn route_check(prefix: u32, len: u8, version: u32) -> u32 {
    let mut x = (u64::from(prefix) << 8 | u64::from(len)) ^ u64::from(version).rotate_left(40);
    x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x ^ (x >> 29)) as u32
}

/// The next hop of a route: it names its own prefix, so the reader can check the answer.
fn nexthop(prefix: u32, len: u8, version: u32) -> Route4 {
    Route4 {
        gateway: Ipv4::from_u32(prefix),
        oif: u32::from(len),
        priority: version,
        prefsrc: Ipv4::from_u32(route_check(prefix, len, version)),
        table: 254,
        route_type: RouteType::UNICAST,
        ..Route4::ZERO
    }
}

fn covers(prefix: u32, len: u8, addr: u32) -> bool {
    len == 0 || (addr ^ prefix) >> (32 - u32::from(len)) == 0
}

fn stable_len(addr: u32) -> u8 {
    STABLE_ROUTES
        .iter()
        .filter(|(p, l)| covers(*p, *l, addr))
        .map(|(_, l)| *l)
        .max()
        .unwrap_or(0)
}

fn main_region(ws: &Workspace) -> Region<'_> {
    Region::from_workspace(ws, tables::MAIN4_OFFSET, tables::MAIN4_BYTES).expect("main4 region")
}

/// The readers' quiescent words, each in a workspace its reader owns and the writer maps
/// read-only. Until a reader is up the writer assumes epoch 0 for it, which holds all reuse
/// back.
struct ChildReaders {
    status: [OnceLock<Workspace>; READERS],
}

impl ReaderEpochs for ChildReaders {
    fn min_epoch(&self) -> Option<u64> {
        let mut min: Option<u64> = None;
        for s in &self.status {
            let e = match s.get() {
                Some(ws) => ws
                    .slice::<AtomicU64>(STATUS_WORD, 1)
                    .map(|w| w.min_epoch())
                    .unwrap_or(Some(0)),
                None => Some(0),
            };
            min = match (min, e) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        min
    }
}

const STATUS_WORD: u64 = 4096;
const STATUS_FINGERPRINT: u64 = 0x5747_4154_5553_0001;

fn status_name(name: &str, reader: usize) -> String {
    format!("{name}-r{reader}")
}

/// The reader process: checks `lookups` answers and prints the tally.
#[test]
fn stress_reader_child() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let index: usize = std::env::var(CHILD_INDEX_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("reader index");
    let ws = Workspace::join(&name, LAYOUT_FINGERPRINT, Access::ReadOnly).expect("join read-only");
    let neigh = HashReader::<Neigh4, [u8; 8]>::attach(
        neigh_region(&ws),
        tables::NEIGH4.capacity,
        tables::neigh4_key,
    )
    .expect("attach neigh4");
    let main = Fib4Reader::<Route4>::attach(main_region(&ws), tables::MAIN4.capacity)
        .expect("attach main4");
    let mut status = Workspace::create(&CreateOptions::new(
        status_name(&name, index),
        4096,
        STATUS_FINGERPRINT,
    ))
    .expect("create reader status");
    status.remove_on_drop(true);
    let word = status
        .slice::<AtomicU64>(STATUS_WORD, 1)
        .expect("status word");
    let qsbr = main.qsbr(&word[0]);
    qsbr.online();
    let (mut routes_checked, mut route_violations) = (0u64, 0u64);
    let wanted = lookups_wanted().div_ceil(READERS as u64);
    let mut rng = SplitMix64::new(std::process::id().into());
    let (mut checked, mut violations, mut busy, mut found_churn) = (0u64, 0u64, 0u64, 0u64);
    let mut first_violation = String::new();
    println!("READY");
    let route_ok = |addr: u32, answer: &Lookup<Route4>| match *answer {
        Lookup::Hit {
            nexthop: n,
            prefix_len,
        } => {
            let (p, l) = (n.gateway.to_u32(), n.oif);
            u32::from(prefix_len) == l
                && covers(p, prefix_len, addr)
                && n.prefsrc.to_u32() == route_check(p, prefix_len, n.priority)
                && prefix_len >= stable_len(addr)
        }
        _ => false,
    };
    let (mut addrs, mut answers) = ([0u32; 64], [Lookup::Miss; 64]);
    let (mut batches, mut step) = (0u64, 0u64);
    while checked < wanted {
        step += 1;
        // One route batch of 64 per 64 neighbour checks.
        if step % 65 == 0 {
            // A batch of route lookups between quiescent points, as a net tile's poll loop
            // does: every other batch through `lookup_burst`, the others one by one.
            qsbr.quiescent();
            for a in addrs.iter_mut() {
                *a = 0x0a00_0000 | (rng.next_u64() as u32 & 0x0003_ffff);
            }
            batches += 1;
            if batches % 2 == 0 {
                main.lookup_burst(&addrs, &mut answers);
            } else {
                for (o, &a) in answers.iter_mut().zip(&addrs) {
                    *o = main.lookup(a);
                }
            }
            for (&addr, answer) in addrs.iter().zip(&answers) {
                if *answer == Lookup::Busy {
                    busy += 1;
                    continue;
                }
                checked += 1;
                routes_checked += 1;
                if !route_ok(addr, answer) {
                    route_violations += 1;
                    if first_violation.is_empty() {
                        first_violation = format!("route for {addr:#x}: {answer:?}");
                    }
                }
            }
            continue;
        }
        let i = (rng.next_u64() % u64::from(STABLE + CHURN)) as u32;
        let answer = match neigh.get(&key(i)) {
            Ok(a) => a,
            Err(_) => {
                busy += 1;
                continue;
            }
        };
        checked += 1;
        let ok = match answer {
            Some(r) => {
                let valid = r.ifindex == ifindex_of(i)
                    && r.ip == key_ip(i)
                    && r.mac == check_mac(r.ifindex, r.ip, r.updated_ns);
                if i >= STABLE {
                    found_churn += 1;
                }
                valid
            }
            // Only churning keys may be absent.
            None => i >= STABLE,
        };
        if !ok {
            violations += 1;
            if first_violation.is_empty() {
                first_violation = format!("key {i}: {answer:?}");
            }
        }
    }
    qsbr.offline();
    let violations = violations + route_violations;
    println!(
        "RESULT checked={checked} violations={violations} routes_checked={routes_checked} busy={busy} found_churn={found_churn} first={first_violation}"
    );
}

#[test]
fn readers_in_another_process_only_see_published_rows() {
    let name = format!("nbt-stress-{}", std::process::id());
    let _guard = RemoveGuard::new(&name, &Backing::Shm);
    let ws = Workspace::create(&CreateOptions::new(
        &name,
        tables::WORKSPACE_BYTES,
        LAYOUT_FINGERPRINT,
    ))
    .expect("create netbase workspace");
    let mut neigh = HashWriter::<Neigh4, [u8; 8]>::create(
        neigh_region(&ws),
        tables::NEIGH4.capacity,
        tables::neigh4_key,
        0x5eed,
    )
    .expect("create neigh4");
    for i in 0..STABLE {
        neigh.upsert(&row(i, 1)).expect("stable row");
    }
    let readers = ChildReaders {
        status: [const { OnceLock::new() }; READERS],
    };
    let _status_guards: Vec<RemoveGuard> = (0..READERS)
        .map(|k| RemoveGuard::new(&status_name(&name, k), &Backing::Shm).expect("status guard"))
        .collect();
    let mut main = Fib4Writer::<Route4, &ChildReaders>::create(
        main_region(&ws),
        tables::MAIN4.capacity,
        &readers,
    )
    .expect("create main4");
    for (p, l) in STABLE_ROUTES {
        main.insert(p, l, 0, nexthop(p, l, 1))
            .expect("stable route");
    }

    let mut children: Vec<_> = (0..READERS)
        .map(|k| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "stress_reader_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &name)
                .env(CHILD_INDEX_ENV, k.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn reader")
        })
        .collect();
    let outputs: Vec<_> = children
        .iter_mut()
        .map(|c| c.stdout.take().expect("stdout"))
        .collect();
    let running = AtomicUsize::new(READERS);
    let started = Instant::now();
    let (updates, results) = std::thread::scope(|s| {
        let collectors: Vec<_> = outputs
            .into_iter()
            .map(|stdout| {
                let running = &running;
                s.spawn(move || {
                    let mut result = None;
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        if line.starts_with("RESULT") {
                            result = Some(line);
                        }
                    }
                    running.fetch_sub(1, Ordering::Release);
                    result
                })
            })
            .collect();
        // Churn until every reader is done: replace stable rows with new versions, insert and
        // remove churning keys.
        let mut rng = SplitMix64::new(7);
        let mut version = 2u64;
        let mut updates = 0u64;
        while running.load(Ordering::Acquire) > 0 {
            for (k, status) in readers.status.iter().enumerate() {
                if status.get().is_none() {
                    if let Ok(ws) = Workspace::join(
                        &status_name(&name, k),
                        STATUS_FINGERPRINT,
                        Access::ReadOnly,
                    ) {
                        let _ = status.set(ws);
                    }
                }
            }
            // A route change: re-point a stable route, or add / remove a churning one.
            let n = rng.next_u64();
            if n % 8 == 0 {
                let (p, l) = STABLE_ROUTES[(n >> 3) as usize % STABLE_ROUTES.len()];
                let _ = main.insert(p, l, 0, nexthop(p, l, version as u32));
            } else {
                let (p, l) = churn_route(n >> 3);
                if n % 3 == 0 {
                    main.remove(p, l, 0);
                } else {
                    let _ = main.insert(p, l, 0, nexthop(p, l, version as u32));
                }
            }
            if updates % 256 == 0 {
                main.maintain();
            }
            let i = (rng.next_u64() % u64::from(STABLE + CHURN)) as u32;
            if i < STABLE || rng.next_u64() % 2 == 0 {
                neigh.upsert(&row(i, version)).expect("upsert");
            } else {
                neigh.remove(&key(i));
            }
            version += 1;
            updates += 1;
            if started.elapsed() > Duration::from_secs(1800) {
                break;
            }
        }
        let results: Vec<Option<String>> = collectors
            .into_iter()
            .map(|c| c.join().expect("reader thread"))
            .collect();
        (updates, results)
    });
    let secs = started.elapsed().as_secs_f64();
    let mut checked = 0;
    for (k, (child, result)) in children.iter_mut().zip(results).enumerate() {
        let status = child.wait().expect("reader exit");
        let result =
            result.unwrap_or_else(|| panic!("reader {k} printed no result (status {status})"));
        println!("reader {k}: {result} updates={updates} secs={secs:.1}");
        assert!(status.success(), "reader {k} failed: {result}");
        let field = |key: &str| -> u64 {
            result
                .split_whitespace()
                .find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .and_then(|v| v.parse().ok())
                .unwrap_or(u64::MAX)
        };
        assert_eq!(field("violations"), 0, "reader {k}: {result}");
        assert!(
            updates > 0 && field("found_churn") > 0,
            "the writer must have churned: {result}"
        );
        checked += field("checked");
    }
    assert!(checked >= lookups_wanted(), "{checked} checked lookups");
}
