//! `fib4`: IPv4 route lookups and updates. netbase's LPM table (a sorted array for tiny tables,
//! DIR-24-8 above 64 prefixes; lookups through a read-only view, as a net tile does) against
//! two baselines measured in the same run:
//!
//! * `linear-hash`: the design of Firedancer's fib4, re-implemented here: every prefix but /32s
//!   in a vector sorted longest first and scanned linearly, /32s in a hash map consulted first.
//!   Its lookups and updates are O(n) in the non-/32 prefixes, so on the synthetic BGP tables
//!   they are measured for a bounded time per round (on the full table), not over every address.
//! * `prefix-trie`: the `prefix-trie` crate's `PrefixMap` (a tree-bitmap trie, single process).
//!
//! Every implementation returns the matched route's next-hop row (`Route4`, 40 bytes) and
//! prefix length; rows feed a checksum through `black_box`, and before timing a sample of
//! lookups is cross-checked between the three implementations.
//!
//! Besides one call per address, netbase is measured with `lookup_burst` (64 addresses per
//! call) and with the net tile's route lookup, the chain of a host's `local` table and the
//! case's table (`lookup_chain_burst`), which prefix-trie runs as a trie per table.
//!
//! Cases: `host` (default route, a /24, a /32), `cloud` (16 subnets and 8,192 /32s),
//! `bgp-100k` and `bgp-1m` (see [`bgp_table`]; `routes` replaces both by one size),
//! `under-updates` (lookups of one reader thread while a writer thread replaces routes of the
//! last BGP table continuously, against the same reader with an idle writer) and
//! `cloud-100k-churn` (the same on a cloud table of 100,000 /32s whose writer churns /32s, plus
//! `linear-hash` looking up and churning the same table alone; see `cloud_churn`).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::{NoReaders, ReaderEpochs};
use netbase_runtime::tables::geometry::lpm_layout;
use netbase_runtime::tables::lpm::{
    lookup_chain, lookup_chain_burst, ChainResult, Fib4Reader, Fib4Writer, Lookup,
};
use netbase_runtime::types::Ipv4;
use prefix_trie::PrefixMap;

use super::report::{median, Report, NETBASE};
use crate::schema::tables::{main4_nexthop, LOCAL4, MAIN4};
use crate::schema::{Route4, RouteType};
use netbase_runtime::rand::SplitMix64;

pub struct Options {
    /// One synthetic BGP-like table of this many routes instead of 100k and 1M.
    pub routes: Option<u64>,
    /// Small tables and short rounds (for tests).
    pub quick: bool,
    pub rounds: usize,
    pub seed: u64,
}

pub const LINEAR_HASH: &str = "linear-hash";
pub const PREFIX_TRIE: &str = "prefix-trie";
/// The reader of `under-updates` without a writer at work.
pub const NO_UPDATES: &str = "netbase-no-updates";

fn mask(len: u8) -> u32 {
    (u64::from(u32::MAX) << (32 - u32::from(len.min(32)))) as u32
}

/// A route of a case: prefix (host order, masked), length, index into the case's next hops.
#[derive(Clone, Copy)]
struct Route {
    prefix: u32,
    len: u8,
    hop: u16,
}

struct Case {
    name: String,
    routes: Vec<Route>,
    hops: Vec<Route4>,
    /// Addresses inside the table's prefixes.
    hits: Vec<u32>,
    /// Addresses no prefix covers (empty when a default route covers everything).
    misses: Vec<u32>,
}

struct Sizes {
    cloud_hosts: u32,
    /// /32s of the churn case.
    churn_hosts: u32,
    bgp: Vec<u64>,
    addresses: usize,
    /// Time each bounded measurement (linear-hash on big tables) runs per round.
    budget: Duration,
    concurrent: Duration,
}

impl Sizes {
    fn new(opts: &Options) -> Self {
        let bgp = match (opts.routes, opts.quick) {
            (Some(n), _) => vec![n.max(1)],
            (None, true) => vec![2_000],
            (None, false) => vec![100_000, 1_000_000],
        };
        if opts.quick {
            Sizes {
                cloud_hosts: 512,
                churn_hosts: 2_000,
                bgp,
                addresses: 20_000,
                budget: Duration::from_millis(10),
                concurrent: Duration::from_millis(30),
            }
        } else {
            Sizes {
                cloud_hosts: 8_192,
                churn_hosts: 100_000,
                bgp,
                addresses: 1 << 20,
                budget: Duration::from_millis(200),
                concurrent: Duration::from_millis(1_000),
            }
        }
    }
}

fn hop_row(i: u32) -> Route4 {
    let row = Route4 {
        gateway: Ipv4::from_u32(0x0a00_0001 + i),
        prefsrc: Ipv4::from_u32(0x0a00_00fe),
        oif: 2 + i % 4,
        table: 254,
        route_type: RouteType(1),
        ..Route4::default()
    };
    main4_nexthop(&row)
}

/// Addresses inside randomly chosen routes, and addresses no route covers.
fn addresses(routes: &[Route], n: usize, rng: &mut SplitMix64) -> (Vec<u32>, Vec<u32>) {
    let hits = (0..n)
        .map(|_| {
            let r = routes[rng.below(routes.len() as u64) as usize];
            r.prefix | (rng.next_u64() as u32 & !mask(r.len))
        })
        .collect();
    let mut trie: PrefixMap<(u32, u8), u16> = PrefixMap::new();
    for r in routes {
        trie.insert((r.prefix, r.len), r.hop);
    }
    let mut misses = Vec::with_capacity(n);
    if trie.get_lpm(&(0, 0)).is_none() {
        for _ in 0..n * 64 {
            let a = rng.next_u64() as u32;
            if trie.get_lpm(&(a, 32)).is_none() {
                misses.push(a);
                if misses.len() == n {
                    break;
                }
            }
        }
    }
    (hits, misses)
}

fn host_case(n: usize, rng: &mut SplitMix64) -> Case {
    let routes = vec![
        Route {
            prefix: 0,
            len: 0,
            hop: 0,
        },
        Route {
            prefix: 0xc0a8_0100,
            len: 24,
            hop: 1,
        },
        Route {
            prefix: 0xc0a8_0142,
            len: 32,
            hop: 2,
        },
    ];
    let (hits, misses) = addresses(&routes, n, rng);
    Case {
        name: "host".into(),
        routes,
        hops: (0..3).map(hop_row).collect(),
        hits,
        misses,
    }
}

/// A cloud host: 16 subnets (/16–/24 in 10/8 and 172.16/12) and `hosts` /32s (pods, VMs)
/// spread over the pod network 10.244.0.0/16, or a wider 10.244.0.0/N when `hosts` would fill
/// more than half of it; no default route. With `pod_route` the pod network itself is routed
/// too (one more subnet, inside which every /32 lies, as on a node whose pods' /32s override
/// the pod network's route).
fn cloud_case(name: &str, hosts: u32, pod_route: bool, n: usize, rng: &mut SplitMix64) -> Case {
    let mut routes = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..16u32 {
        let len = [16u8, 20, 22, 24][i as usize % 4];
        let base = if i % 2 == 0 { 0x0a00_0000 } else { 0xac10_0000 };
        let prefix = (base + (i << 16) + (rng.next_u64() as u32 & 0xffff)) & mask(len);
        if seen.insert((prefix, len)) {
            routes.push(Route {
                prefix,
                len,
                hop: (i % 4) as u16,
            });
        }
    }
    let mut pod_len = 16u8;
    while u64::from(hosts) * 2 > 1u64 << (32 - pod_len) && pod_len > 8 {
        pod_len -= 1;
    }
    let pod = 0x0af4_0000 & mask(pod_len);
    if pod_route && seen.insert((pod, pod_len)) {
        routes.push(Route {
            prefix: pod,
            len: pod_len,
            hop: 3,
        });
    }
    let subnets = routes.len();
    while routes.len() < subnets + hosts as usize {
        let prefix = pod | (rng.next_u64() as u32 & !mask(pod_len));
        if seen.insert((prefix, 32)) {
            routes.push(Route {
                prefix,
                len: 32,
                hop: 4 + rng.below(4) as u16,
            });
        }
    }
    let (hits, misses) = addresses(&routes, n, rng);
    Case {
        name: name.to_string(),
        routes,
        hops: (0..8).map(hop_row).collect(),
        hits,
        misses,
    }
}

/// `1m`, `100k`, `2k` or the number itself: the size part of case names.
fn size_name(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}m", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

/// A synthetic full-BGP-like table of `n` distinct prefixes (no default route):
///
/// | lengths | share | notes |
/// |---|---|---|
/// | /24 | 58% | |
/// | /22–/23 | 20% | half each |
/// | /16–/21 | 15% | /16 2%, /17 1%, /18 2%, /19 3.5%, /20 3.5%, /21 3% |
/// | /8–/15 | 2% | weighted towards /15 (as in real tables) |
/// | /25–/32 | 5% | inside `n / 256` (64..=4096) random /24s, so they share groups |
///
/// Prefix starts are uniform in 1.0.0.0–223.255.255.255 (masked to the length; prefixes
/// overlap as in real tables); duplicates are drawn again. Next hops: 16 rows (routes learnt
/// from a few peers over a few interfaces).
pub fn bgp_table(n: u64, seed: u64) -> Vec<(u32, u8, u16)> {
    let mut rng = SplitMix64::new(seed);
    let blocks: Vec<u32> = (0..(n / 256).clamp(64, 4096))
        .map(|_| (0x0100_0000 + rng.below(0xdf00_0000) as u32) & mask(24))
        .collect();
    let mut seen = HashSet::with_capacity(n as usize);
    let mut out = Vec::with_capacity(n as usize);
    while (out.len() as u64) < n {
        let x = rng.below(10_000);
        let len: u8 = match x {
            0..5_800 => 24,
            5_800..6_800 => 23,
            6_800..7_800 => 22,
            7_800..8_000 => 16,
            8_000..8_100 => 17,
            8_100..8_300 => 18,
            8_300..8_650 => 19,
            8_650..9_000 => 20,
            9_000..9_300 => 21,
            9_300..9_500 => [15, 15, 15, 14, 14, 13, 13, 12, 11, 10, 9, 8][rng.below(12) as usize],
            _ => 25 + rng.below(8) as u8,
        };
        let prefix = if len > 24 {
            blocks[rng.below(blocks.len() as u64) as usize] | (rng.next_u64() as u32 & 0xff)
        } else {
            0x0100_0000 + rng.below(0xdf00_0000) as u32
        } & mask(len);
        if seen.insert((prefix, len)) {
            out.push((prefix, len, rng.below(16) as u16));
        }
    }
    out
}

fn bgp_case(n: u64, addrs: usize, rng: &mut SplitMix64) -> Case {
    let routes: Vec<Route> = bgp_table(n, rng.next_u64())
        .into_iter()
        .map(|(prefix, len, hop)| Route { prefix, len, hop })
        .collect();
    let (hits, misses) = addresses(&routes, addrs, rng);
    Case {
        name: format!("bgp-{}", size_name(n)),
        routes,
        hops: (0..16).map(hop_row).collect(),
        hits,
        misses,
    }
}

// ---- measuring ----

/// What a lookup feeds the checksum: what a net tile uses of the answer (gateway, source
/// address, interface, route type) and the prefix length.
#[inline(always)]
fn fold(row: &Route4, len: u8) -> u64 {
    let addrs = u64::from(row.gateway.to_u32()) << 32 | u64::from(row.prefsrc.to_u32());
    addrs ^ (u64::from(row.oif) << 16 | u64::from(row.route_type.0) << 8 | u64::from(len))
}

/// One round of lookups over `addrs` (stopping after `budget` if given, for O(n) lookups):
/// lookups per second.
fn lookup_round(addrs: &[u32], budget: Option<Duration>, mut f: impl FnMut(u32) -> u64) -> f64 {
    if addrs.is_empty() {
        return f64::NAN;
    }
    let start = Instant::now();
    let (mut acc, mut n) = (0u64, 0usize);
    for chunk in addrs.chunks(64) {
        for &a in chunk {
            acc = acc.wrapping_add(f(a));
        }
        n += chunk.len();
        if budget.is_some_and(|b| start.elapsed() >= b) {
            break;
        }
    }
    black_box(acc);
    per_sec(n, start.elapsed())
}

/// Whether the kernel accepted the huge-page advice for every netbase table (for the note).
static HUGE_ADVISED: AtomicBool = AtomicBool::new(true);

/// The memory of a netbase table: 2 MiB-aligned and advised `MADV_HUGEPAGE`, the heap
/// counterpart of a workspace on hugetlbfs (`Backing::HugeTlb`), so the reader's random tbl24
/// accesses cost few TLB entries as they do there.
fn table_memory(bytes: usize) -> HeapRegion {
    let mem = HeapRegion::zeroed_huge(bytes);
    if !mem.huge_pages_advised() {
        HUGE_ADVISED.store(false, Ordering::Relaxed);
    }
    mem
}

/// The next power of two of the shipped main table's capacity that holds `n` routes.
fn capacity_for(n: usize) -> u64 {
    let mut c = MAIN4.capacity;
    while (c as usize) < n {
        c *= 2;
    }
    c
}

#[inline(always)]
fn ours_fold(l: &Lookup<Route4>) -> u64 {
    match l {
        Lookup::Hit {
            nexthop,
            prefix_len,
        } => fold(nexthop, *prefix_len),
        _ => 0,
    }
}

#[inline(always)]
fn ours_answer(r: &Fib4Reader<'_, Route4>, a: u32) -> u64 {
    ours_fold(&r.lookup(a))
}

/// The `local` table the kernel builds for a host with `lo` and one address, 10.0.0.254/24
/// (`ip route show table local`): what the net tile's lookups walk before `main`.
fn host_local_routes() -> [(u32, u8, Route4); 5] {
    let row = |route_type, oif, prefsrc| Route4 {
        table: 255,
        route_type,
        oif,
        prefsrc: Ipv4::from_u32(prefsrc),
        ..Route4::default()
    };
    [
        (0x7f00_0000, 8, row(RouteType::LOCAL, 1, 0x7f00_0001)),
        (0x7f00_0001, 32, row(RouteType::LOCAL, 1, 0x7f00_0001)),
        (0x7fff_ffff, 32, row(RouteType::BROADCAST, 1, 0x7f00_0001)),
        (0x0a00_00fe, 32, row(RouteType::LOCAL, 2, 0x0a00_00fe)),
        (0x0a00_00ff, 32, row(RouteType::BROADCAST, 2, 0x0a00_00fe)),
    ]
}

/// [`host_local_routes`] in a netbase table of the shipped `local4` capacity.
fn host_local_table() -> Result<HeapRegion, String> {
    let cap = LOCAL4.capacity;
    let layout = lpm_layout(cap, size_of::<Route4>() as u64, 4).ok_or("layout overflows")?;
    let mem = HeapRegion::zeroed(layout.total as usize);
    let mut w =
        Fib4Writer::<Route4, _>::create(mem.region(), cap, NoReaders).map_err(|e| e.to_string())?;
    for (prefix, len, r) in host_local_routes() {
        w.insert(prefix, len, 0, r).map_err(|e| e.to_string())?;
    }
    Ok(mem)
}

fn is_throw(r: &Route4) -> bool {
    r.route_type == RouteType::THROW
}

#[inline(always)]
fn chain_fold(c: &ChainResult<Route4>) -> u64 {
    match c {
        ChainResult::Hit {
            nexthop,
            prefix_len,
            ..
        } => fold(nexthop, *prefix_len),
        _ => 0,
    }
}

/// One round of netbase lookups over `addrs`, 64 addresses at a time (`chunk` looks them up
/// and returns a checksum of the answers), through a reader that announces a quiescent state
/// after each 64, as a net tile's poll loop does: lookups per second.
fn ours_round(
    r: &Fib4Reader<'_, Route4>,
    word: &AtomicU64,
    addrs: &[u32],
    mut chunk: impl FnMut(&[u32]) -> u64,
) -> f64 {
    if addrs.is_empty() {
        return f64::NAN;
    }
    let q = r.qsbr(word);
    q.online();
    let start = Instant::now();
    let mut acc = 0u64;
    for burst in addrs.chunks(64) {
        acc = acc.wrapping_add(chunk(burst));
        q.quiescent();
    }
    black_box(acc);
    let rate = per_sec(addrs.len(), start.elapsed());
    q.offline();
    rate
}

/// One call per address.
fn ours_single_round(r: &Fib4Reader<'_, Route4>, word: &AtomicU64, addrs: &[u32]) -> f64 {
    ours_round(r, word, addrs, |burst| {
        burst
            .iter()
            .fold(0u64, |acc, &a| acc.wrapping_add(ours_answer(r, a)))
    })
}

/// [`Fib4Reader::lookup_burst`] on each 64.
fn ours_burst_round(r: &Fib4Reader<'_, Route4>, word: &AtomicU64, addrs: &[u32]) -> f64 {
    let mut out = [Lookup::Miss; 64];
    ours_round(r, word, addrs, |burst| {
        r.lookup_burst(burst, &mut out);
        out[..burst.len()]
            .iter()
            .fold(0u64, |acc, l| acc.wrapping_add(ours_fold(l)))
    })
}

/// The net tile's route lookup for batches of 64 datagrams: [`lookup_chain_burst`] through
/// `local` then the case's table (`tables[1]`, whose reader announces the quiescent states).
fn ours_chain_round(tables: &[&Fib4Reader<'_, Route4>; 2], word: &AtomicU64, addrs: &[u32]) -> f64 {
    let mut out = [ChainResult::Unreachable; 64];
    ours_round(tables[1], word, addrs, |burst| {
        lookup_chain_burst(burst, tables, is_throw, &mut out);
        out[..burst.len()]
            .iter()
            .fold(0u64, |acc, c| acc.wrapping_add(chain_fold(c)))
    })
}

fn insert_all<R: ReaderEpochs>(
    w: &mut Fib4Writer<'_, Route4, R>,
    case: &Case,
    order: &[usize],
) -> Result<(), String> {
    for &i in order {
        let r = case.routes[i];
        w.insert(r.prefix, r.len, 0, case.hops[usize::from(r.hop)])
            .map_err(|e| format!("{}: insert {:#x}/{}: {e}", case.name, r.prefix, r.len))?;
    }
    Ok(())
}

fn per_sec(n: usize, t: Duration) -> f64 {
    n as f64 / t.as_secs_f64().max(1e-9)
}

/// Updates are timed on whole passes over the routes, repeated until at least this long
/// (tiny tables would time nothing but the clock otherwise).
const MIN_UPDATE_TIME: Duration = Duration::from_millis(20);

/// Samples per (implementation, metric), reported as medians.
#[derive(Default)]
struct Samples(Vec<(&'static str, &'static str, Vec<f64>)>);

impl Samples {
    fn add(&mut self, imp: &'static str, metric: &'static str, v: f64) {
        match self
            .0
            .iter_mut()
            .find(|(i, m, _)| *i == imp && *m == metric)
        {
            Some((_, _, s)) => s.push(v),
            None => self.0.push((imp, metric, vec![v])),
        }
    }

    fn report(&self, report: &mut Report, case: &str) {
        for imp in [NETBASE, PREFIX_TRIE, LINEAR_HASH] {
            let metrics: Vec<(&str, f64)> = self
                .0
                .iter()
                .filter(|(i, _, _)| *i == imp)
                .map(|(_, m, s)| (*m, median(s)))
                .collect();
            if !metrics.is_empty() {
                report.push(case, imp, &metrics);
            }
        }
    }
}

/// Timed insertion of every route in random order into an empty structure, then removal of
/// every route in random order, repeated until `MIN_UPDATE_TIME`: (inserts/s, deletes/s).
fn update_round<T>(
    case: &Case,
    rng: &mut SplitMix64,
    mut fresh: impl FnMut() -> Result<T, String>,
    mut insert: impl FnMut(&mut T, Route) -> Result<(), String>,
    mut remove: impl FnMut(&mut T, Route) -> bool,
) -> Result<(f64, f64), String> {
    let mut order: Vec<usize> = (0..case.routes.len()).collect();
    let (mut ti, mut td, mut n) = (Duration::ZERO, Duration::ZERO, 0);
    let mut t = fresh()?;
    while ti.min(td) < MIN_UPDATE_TIME {
        rng.shuffle(&mut order);
        let s = Instant::now();
        for &i in &order {
            insert(&mut t, case.routes[i])?;
        }
        ti += s.elapsed();
        rng.shuffle(&mut order);
        let s = Instant::now();
        for &i in &order {
            let r = case.routes[i];
            if !remove(&mut t, r) {
                return Err(format!(
                    "{}: remove {:#x}/{} failed",
                    case.name, r.prefix, r.len
                ));
            }
        }
        td += s.elapsed();
        n += order.len();
    }
    Ok((per_sec(n, ti), per_sec(n, td)))
}

/// Every metric of one case, the implementations measured in turn within each round so that
/// machine noise hits them alike.
fn measure_case(
    report: &mut Report,
    case: &Case,
    rounds: usize,
    budget: Duration,
    rng: &mut SplitMix64,
) -> Result<bool, String> {
    let cap = capacity_for(case.routes.len());
    let layout = lpm_layout(cap, size_of::<Route4>() as u64, 4).ok_or("layout overflows")?;
    let mem = table_memory(layout.total as usize);
    let mut samples = Samples::default();
    let bounded = case.routes.iter().filter(|r| r.len != 32).count() > LINEAR_BOUNDED;
    let linear_budget = bounded.then_some(budget);
    {
        let mut order: Vec<usize> = (0..case.routes.len()).collect();
        rng.shuffle(&mut order);
        let mut w = Fib4Writer::<Route4, _>::create(mem.region(), cap, NoReaders)
            .map_err(|e| e.to_string())?;
        insert_all(&mut w, case, &order)?;
        let r = Fib4Reader::<Route4>::attach(mem.read_only(), cap).map_err(|e| e.to_string())?;
        let word = AtomicU64::new(0);
        let mut trie: PrefixMap<(u32, u8), u16> = PrefixMap::new();
        for rt in &case.routes {
            trie.insert((rt.prefix, rt.len), rt.hop);
        }
        let linear = LinearHash::build(&case.routes);
        let trie_answer = |a: u32| match trie.get_lpm(&(a, 32)) {
            Some(((_, len), &h)) => fold(&case.hops[usize::from(h)], len),
            None => 0,
        };
        // The same chain for the trie: the host's `local` routes in a trie of their own,
        // then the case's trie, with the kernel's `throw` rule (as `lookup_chain`).
        let local_routes = host_local_routes();
        let mut local_trie: PrefixMap<(u32, u8), usize> = PrefixMap::new();
        for (i, (prefix, len, _)) in local_routes.iter().enumerate() {
            local_trie.insert((*prefix, *len), i);
        }
        let trie_chain_answer = |a: u32| {
            if let Some(((_, len), &i)) = local_trie.get_lpm(&(a, 32)) {
                if !is_throw(&local_routes[i].2) {
                    return fold(&local_routes[i].2, len);
                }
            }
            match trie.get_lpm(&(a, 32)) {
                Some(((_, len), &h)) if !is_throw(&case.hops[usize::from(h)]) => {
                    fold(&case.hops[usize::from(h)], len)
                }
                _ => 0,
            }
        };
        let linear_answer = |a: u32| match linear.lookup(a) {
            Some((len, h)) => fold(&case.hops[usize::from(h)], len),
            None => 0,
        };
        let check: Vec<u32> = case
            .hits
            .iter()
            .take(10_000)
            .chain(case.misses.iter().take(1_000))
            .copied()
            .collect();
        let local_mem = host_local_table()?;
        let local = Fib4Reader::<Route4>::attach(local_mem.read_only(), LOCAL4.capacity)
            .map_err(|e| e.to_string())?;
        let chain = [&local, &r];
        let mut out = [Lookup::Miss; 64];
        let mut chained = [ChainResult::Unreachable; 64];
        for burst in check.chunks(64) {
            r.lookup_burst(burst, &mut out);
            lookup_chain_burst(burst, &chain, is_throw, &mut chained);
            for ((&a, l), c) in burst.iter().zip(&out).zip(&chained) {
                let ours = ours_answer(&r, a);
                if ours != ours_fold(l) || ours != trie_answer(a) || ours != linear_answer(a) {
                    return Err(format!(
                        "{}: the implementations disagree on {a:#x}",
                        case.name
                    ));
                }
                if *c != lookup_chain(a, &chain, is_throw) || chain_fold(c) != trie_chain_answer(a)
                {
                    return Err(format!(
                        "{}: the chain lookups disagree on {a:#x}",
                        case.name
                    ));
                }
            }
        }
        for _ in 0..rounds {
            samples.add(
                NETBASE,
                "lookups_per_sec",
                ours_single_round(&r, &word, &case.hits),
            );
            samples.add(
                NETBASE,
                "burst_lookups_per_sec",
                ours_burst_round(&r, &word, &case.hits),
            );
            samples.add(
                NETBASE,
                "chain_lookups_per_sec",
                ours_chain_round(&chain, &word, &case.hits),
            );
            samples.add(
                PREFIX_TRIE,
                "chain_lookups_per_sec",
                lookup_round(&case.hits, None, trie_chain_answer),
            );
            samples.add(
                PREFIX_TRIE,
                "lookups_per_sec",
                lookup_round(&case.hits, None, trie_answer),
            );
            samples.add(
                LINEAR_HASH,
                "lookups_per_sec",
                lookup_round(&case.hits, linear_budget, linear_answer),
            );
            if !case.misses.is_empty() {
                samples.add(
                    NETBASE,
                    "miss_lookups_per_sec",
                    ours_single_round(&r, &word, &case.misses),
                );
                samples.add(
                    PREFIX_TRIE,
                    "miss_lookups_per_sec",
                    lookup_round(&case.misses, None, trie_answer),
                );
                samples.add(
                    LINEAR_HASH,
                    "miss_lookups_per_sec",
                    lookup_round(&case.misses, linear_budget, linear_answer),
                );
            }
        }
        samples.add(NETBASE, "bytes", layout.total as f64);
        samples.add(
            NETBASE,
            "writer_private_bytes",
            w.usage().private_bytes as f64,
        );
        samples.add(
            PREFIX_TRIE,
            "bytes",
            (trie.mem_size() + case.hops.len() * size_of::<Route4>()) as f64,
        );
        samples.add(
            LINEAR_HASH,
            "bytes",
            (linear.bytes() + case.hops.len() * size_of::<Route4>()) as f64,
        );
    }
    for _ in 0..rounds {
        let (i, d) = update_round(
            case,
            rng,
            || {
                Fib4Writer::<Route4, _>::create(mem.region(), cap, NoReaders)
                    .map_err(|e| e.to_string())
            },
            |w, r| {
                w.insert(r.prefix, r.len, 0, case.hops[usize::from(r.hop)])
                    .map_err(|e| e.to_string())
            },
            |w, r| w.remove(r.prefix, r.len, 0),
        )?;
        samples.add(NETBASE, "inserts_per_sec", i);
        samples.add(NETBASE, "deletes_per_sec", d);
        let (i, d) = update_round(
            case,
            rng,
            || Ok(PrefixMap::<(u32, u8), u16>::new()),
            |m, r| {
                m.insert((r.prefix, r.len), r.hop);
                Ok(())
            },
            |m, r| m.remove(&(r.prefix, r.len)).is_some(),
        )?;
        samples.add(PREFIX_TRIE, "inserts_per_sec", i);
        samples.add(PREFIX_TRIE, "deletes_per_sec", d);
        let (i, d) = if bounded {
            let mut t = LinearHash::build(&case.routes);
            let mut churn = Churn::new(
                &case.routes,
                case.hops.len(),
                ChurnKind::Replace,
                rng.next_u64(),
            );
            let (i, d, _) = linear_churn(&mut t, &mut churn, budget);
            (i, d)
        } else {
            update_round(
                case,
                rng,
                || Ok(LinearHash::default()),
                |t, r| {
                    t.insert(r);
                    Ok(())
                },
                |t, r| t.remove(r.prefix, r.len),
            )?
        };
        samples.add(LINEAR_HASH, "inserts_per_sec", i);
        samples.add(LINEAR_HASH, "deletes_per_sec", d);
    }
    samples.report(report, &case.name);
    Ok(bounded)
}

// ---- churn: route changes while lookups go on ----

/// What a churn workload does to its routes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChurnKind {
    /// Remove a random route, insert it again with another next hop.
    Replace,
    /// Host routes coming and going, alternately: remove a random /32 and insert it again (a
    /// pod replaced on the same node), and move a random /32 to another next hop in place, with
    /// no removal (a VM migrated).
    Hosts,
}

/// One route change (`Insert` of an existing route replaces its next hop).
#[derive(Clone, Copy)]
enum Change {
    Remove(Route),
    Insert(Route),
}

/// A seeded stream of changes to `routes`: every implementation churned with the same seed
/// gets the same changes.
struct Churn<'c> {
    routes: &'c [Route],
    hops: u64,
    kind: ChurnKind,
    rng: SplitMix64,
    steps: u64,
}

impl<'c> Churn<'c> {
    fn new(routes: &'c [Route], hops: usize, kind: ChurnKind, seed: u64) -> Self {
        Churn {
            routes,
            hops: hops as u64,
            kind,
            rng: SplitMix64::new(seed),
            steps: 0,
        }
    }

    /// Makes the next step, one change or two, through `apply`.
    fn step(&mut self, mut apply: impl FnMut(Change)) {
        let r = self.routes[self.rng.below(self.routes.len() as u64) as usize];
        let other = (u64::from(r.hop) + 1 + self.rng.below(self.hops.max(2) - 1)) % self.hops;
        let moved = Route {
            hop: other as u16,
            ..r
        };
        self.steps += 1;
        match self.kind {
            ChurnKind::Replace => {
                apply(Change::Remove(r));
                apply(Change::Insert(moved));
            }
            ChurnKind::Hosts if self.steps % 2 == 1 => {
                apply(Change::Remove(r));
                apply(Change::Insert(r));
            }
            ChurnKind::Hosts => apply(Change::Insert(moved)),
        }
    }
}

/// Applies `change` to netbase's writer.
fn apply<R: ReaderEpochs>(w: &mut Fib4Writer<'_, Route4, R>, hops: &[Route4], change: Change) {
    match change {
        Change::Remove(r) => {
            w.remove(r.prefix, r.len, 0);
        }
        Change::Insert(r) => {
            // A refusal (table full) would show as a lower lookup rate, not as an error.
            let _ = w.insert(r.prefix, r.len, 0, hops[usize::from(r.hop)]);
        }
    }
}

/// `linear-hash` under `churn` (alone: it cannot be read while it changes) until `budget` is
/// spent: (inserts/s, deletes/s, updates/s). Steps are applied 64 at a time, their removals
/// first, so that removals and insertions are timed apart without reading the clock around
/// every change (which would cost more than a change of its /32 map).
fn linear_churn(t: &mut LinearHash, churn: &mut Churn<'_>, budget: Duration) -> (f64, f64, f64) {
    let (mut ti, mut td, mut inserts, mut deletes) = (Duration::ZERO, Duration::ZERO, 0, 0);
    let mut batch = Vec::with_capacity(128);
    while ti + td < budget {
        batch.clear();
        for _ in 0..64 {
            churn.step(|c| batch.push(c));
        }
        let s = Instant::now();
        for c in &batch {
            if let Change::Remove(r) = c {
                t.remove(r.prefix, r.len);
                deletes += 1;
            }
        }
        let m = Instant::now();
        for c in &batch {
            if let Change::Insert(r) = c {
                t.insert(*r);
                inserts += 1;
            }
        }
        ti += m.elapsed();
        td += m - s;
    }
    (
        per_sec(inserts, ti),
        per_sec(deletes, td),
        per_sec(inserts + deletes, ti + td),
    )
}

/// Multiplicative hashing for the /32 map of `linear-hash` (what fib4's map does too; far
/// cheaper than SipHash).
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0 ^ i)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Clone, Copy)]
struct LinearEntry {
    prefix: u32,
    mask: u32,
    len: u8,
    hop: u16,
}

/// Firedancer fib4's design: non-/32 prefixes sorted longest first, scanned linearly; /32s in
/// a hash map, consulted first.
#[derive(Default)]
struct LinearHash {
    list: Vec<LinearEntry>,
    hosts: HashMap<u32, u16, BuildHasherDefault<MulHasher>>,
}

impl LinearHash {
    /// Bulk build (sort once), for tables too big to insert one by one.
    fn build(routes: &[Route]) -> Self {
        let mut t = LinearHash::default();
        for r in routes {
            if r.len == 32 {
                t.hosts.insert(r.prefix, r.hop);
            } else {
                t.list.push(LinearEntry {
                    prefix: r.prefix,
                    mask: mask(r.len),
                    len: r.len,
                    hop: r.hop,
                });
            }
        }
        t.list.sort_by_key(|e| std::cmp::Reverse(e.len));
        t
    }

    fn insert(&mut self, r: Route) {
        if r.len == 32 {
            self.hosts.insert(r.prefix, r.hop);
            return;
        }
        let at = self.list.partition_point(|e| e.len > r.len);
        let same = self.list[at..]
            .iter()
            .take_while(|e| e.len == r.len)
            .position(|e| e.prefix == r.prefix);
        match same {
            Some(i) => self.list[at + i].hop = r.hop,
            None => self.list.insert(
                at,
                LinearEntry {
                    prefix: r.prefix,
                    mask: mask(r.len),
                    len: r.len,
                    hop: r.hop,
                },
            ),
        }
    }

    fn remove(&mut self, prefix: u32, len: u8) -> bool {
        if len == 32 {
            return self.hosts.remove(&prefix).is_some();
        }
        let at = self.list.partition_point(|e| e.len > len);
        let same = self.list[at..]
            .iter()
            .take_while(|e| e.len == len)
            .position(|e| e.prefix == prefix);
        same.map(|i| self.list.remove(at + i)).is_some()
    }

    fn lookup(&self, a: u32) -> Option<(u8, u16)> {
        if let Some(&h) = self.hosts.get(&a) {
            return Some((32, h));
        }
        self.list
            .iter()
            .find(|e| a & e.mask == e.prefix)
            .map(|e| (e.len, e.hop))
    }

    fn bytes(&self) -> usize {
        self.list.capacity() * size_of::<LinearEntry>()
            + self.hosts.capacity() * (size_of::<(u32, u16)>() + 1)
    }
}

/// Above this many scanned prefixes, `linear-hash` is measured for a bounded time.
const LINEAR_BOUNDED: usize = 20_000;

/// Medians of [`reader_under_churn`].
struct Concurrent {
    /// The reader's lookups/s while the writer churns.
    busy: f64,
    /// The same reader's lookups/s while the writer idles.
    idle: f64,
    /// The writer's changes/s.
    updates: f64,
}

impl Concurrent {
    /// netbase's rows of a concurrent case: the reader under churn (and the writer's rate),
    /// and the same reader with an idle writer as the baseline.
    fn report(&self, report: &mut Report, case: &str) {
        report.push(
            case,
            NETBASE,
            &[
                ("lookups_per_sec", self.busy),
                ("updates_per_sec", self.updates),
            ],
        );
        report.push(case, NO_UPDATES, &[("lookups_per_sec", self.idle)]);
    }
}

/// One reader thread looking `case.hits` up (quiescent every 64 lookups, as a net tile) for
/// `run`, first while the writer idles, then while the calling thread churns `routes` as fast
/// as it can (`kind`, `maintain` every 64 steps); `each_round` runs between rounds (baselines
/// measured in turn with netbase).
fn reader_under_churn(
    case: &Case,
    routes: &[Route],
    kind: ChurnKind,
    rounds: usize,
    run: Duration,
    mut each_round: impl FnMut(usize),
) -> Result<Concurrent, String> {
    let cap = capacity_for(case.routes.len());
    let layout = lpm_layout(cap, size_of::<Route4>() as u64, 4).ok_or("layout overflows")?;
    let mem = table_memory(layout.total as usize);
    let words = [AtomicU64::new(0)];
    let mut w = Fib4Writer::<Route4, _>::create(mem.region(), cap, &words[..])
        .map_err(|e| e.to_string())?;
    let order: Vec<usize> = (0..case.routes.len()).collect();
    insert_all(&mut w, case, &order)?;
    let r = Fib4Reader::<Route4>::attach(mem.read_only(), cap).map_err(|e| e.to_string())?;
    let (mut idle, mut busy, mut updates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        each_round(round);
        for with_updates in [false, true] {
            let stop = AtomicBool::new(false);
            let mut churn = Churn::new(routes, case.hops.len(), kind, round as u64 + 7);
            let (lookups, secs, done) = std::thread::scope(|s| {
                let reader = s.spawn(|| {
                    let counted = lookups_for(&r, &words[0], &case.hits, run);
                    stop.store(true, Ordering::Relaxed);
                    counted
                });
                let mut done = 0u64;
                while with_updates && !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        churn.step(|c| {
                            apply(&mut w, &case.hops, c);
                            done += 1;
                        });
                    }
                    w.maintain();
                }
                let (n, secs) = reader.join().unwrap_or((0, 1.0));
                (n, secs, done)
            });
            let rate = lookups as f64 / secs.max(1e-9);
            if with_updates {
                busy.push(rate);
                updates.push(done as f64 / secs.max(1e-9));
            } else {
                idle.push(rate);
            }
        }
    }
    Ok(Concurrent {
        busy: median(&busy),
        idle: median(&idle),
        updates: median(&updates),
    })
}

/// Single lookups of `addrs` (again and again) for `run`, quiescent every 64: (lookups, s).
fn lookups_for(
    r: &Fib4Reader<'_, Route4>,
    word: &AtomicU64,
    addrs: &[u32],
    run: Duration,
) -> (u64, f64) {
    let q = r.qsbr(word);
    q.online();
    let (mut acc, mut n) = (0u64, 0u64);
    let start = Instant::now();
    'run: loop {
        for chunk in addrs.chunks(64) {
            for &a in chunk {
                acc = acc.wrapping_add(ours_answer(r, a));
            }
            n += chunk.len() as u64;
            q.quiescent();
            if start.elapsed() >= run {
                break 'run;
            }
        }
    }
    q.offline();
    black_box(acc);
    (n, start.elapsed().as_secs_f64())
}

/// `under-updates`: the reader of the biggest BGP table while the writer replaces random
/// routes (remove, then insert with another next hop).
fn under_updates(
    report: &mut Report,
    case: &Case,
    rounds: usize,
    run: Duration,
) -> Result<(), String> {
    reader_under_churn(case, &case.routes, ChurnKind::Replace, rounds, run, |_| {})?
        .report(report, "under-updates");
    report.note(format!(
        "under-updates: {} ({} routes), 1 reader thread (quiescent every 64 lookups) and 1 writer \
         thread replacing random routes (remove + insert with another next hop), {} ms per round",
        case.name,
        case.routes.len(),
        run.as_millis()
    ));
    Ok(())
}

/// The churn case (`cloud-100k-churn`): a cloud table of `hosts` /32s in a routed pod network
/// (see [`cloud_case`]) whose /32s churn ([`ChurnKind::Hosts`]) while one reader looks them
/// up: netbase's reader and writer rates, the reader alone (`netbase-no-updates`), and
/// `linear-hash` looking up the same addresses and applying the same kind of churn (each
/// alone, in turn with netbase every round: its table cannot be read while it changes).
fn cloud_churn(
    report: &mut Report,
    case: &Case,
    rounds: usize,
    run: Duration,
    budget: Duration,
) -> Result<(), String> {
    let hosts: Vec<Route> = case
        .routes
        .iter()
        .filter(|r| r.len == 32)
        .copied()
        .collect();
    if hosts.is_empty() {
        return Err(format!("{}: no /32 to churn", case.name));
    }
    let mut linear = LinearHash::build(&case.routes);
    let (mut lookups, mut updates) = (Vec::new(), Vec::new());
    let ours = reader_under_churn(case, &hosts, ChurnKind::Hosts, rounds, run, |round| {
        lookups.push(lookup_round(&case.hits, None, |a| {
            linear
                .lookup(a)
                .map_or(0, |(len, h)| fold(&case.hops[usize::from(h)], len))
        }));
        let mut churn = Churn::new(&hosts, case.hops.len(), ChurnKind::Hosts, round as u64 + 7);
        updates.push(linear_churn(&mut linear, &mut churn, budget).2);
    })?;
    ours.report(report, &case.name);
    report.push(
        &case.name,
        LINEAR_HASH,
        &[
            ("lookups_per_sec", median(&lookups)),
            ("updates_per_sec", median(&updates)),
        ],
    );
    report.note(format!(
        "{}: {} subnets (the pod network among them) and {} /32s inside the pod network; 1 \
         reader thread (quiescent every 64 lookups) and 1 writer thread churning random /32s \
         (alternately remove + insert again, and a next-hop change in place), {} ms per round; \
         {LINEAR_HASH}: the same lookups and the same churn ({} ms), each alone",
        case.name,
        case.routes.len() - hosts.len(),
        hosts.len(),
        run.as_millis(),
        budget.as_millis()
    ));
    Ok(())
}

pub fn run(opts: &Options) -> Result<Report, String> {
    let sizes = Sizes::new(opts);
    let rounds = if opts.quick {
        opts.rounds.clamp(1, 2)
    } else {
        opts.rounds.max(1)
    };
    let mut rng = SplitMix64::new(opts.seed);
    let mut report = Report::new("fib4");
    // The baselines have no burst call: their loop over the addresses is how they look up many.
    report.compare("burst_lookups_per_sec", "lookups_per_sec");
    let mut cases = vec![
        host_case(sizes.addresses, &mut rng),
        cloud_case("cloud", sizes.cloud_hosts, false, sizes.addresses, &mut rng),
    ];
    for &n in &sizes.bgp {
        cases.push(bgp_case(n, sizes.addresses, &mut rng));
    }
    let churn = cloud_case(
        &format!("cloud-{}-churn", size_name(u64::from(sizes.churn_hosts))),
        sizes.churn_hosts,
        true,
        sizes.addresses,
        &mut rng,
    );
    let mut bounded = Vec::new();
    for case in &cases {
        if measure_case(&mut report, case, rounds, sizes.budget, &mut rng)? {
            bounded.push(case.name.clone());
        }
    }
    if let Some(big) = cases.last() {
        under_updates(&mut report, big, rounds, sizes.concurrent)?;
    }
    cloud_churn(&mut report, &churn, rounds, sizes.concurrent, sizes.budget)?;
    if !bounded.is_empty() {
        report.note(format!(
            "{LINEAR_HASH} on {}: O(n) lookups and updates, so each round runs {} ms on the \
             full table (updates: remove random routes, insert them again with another next \
             hop) instead of every address",
            bounded.join(", "),
            sizes.budget.as_millis()
        ));
    }
    report.note(format!(
        "netbase: capacity {} (the shipped main4) unless more routes, metric 0, next hops are \
         40-byte Route4 rows; bytes = the shared table object (what readers map), \
         writer_private_bytes = the writer's RIB and index bookkeeping; lookups_per_sec = one \
         call per address like the baselines, burst_lookups_per_sec = `lookup_burst` on bursts \
         of 64; chain_lookups_per_sec = the net tile's route lookup: a host's `local` table (5 \
         routes) then this one, with `throw` (netbase: `lookup_chain_burst` on bursts of 64, as \
         the net tile routes a batch of datagrams; prefix-trie: a trie per table, one address \
         at a time); updates = every route inserted into an empty table in \
         random order, then removed in random order; implementations measured in turn each round",
        MAIN4.capacity
    ));
    report.note(format!(
        "netbase table memory: 2 MiB-aligned heap advised MADV_HUGEPAGE (transparent huge \
         pages; advice {}), standing in for a workspace on hugetlbfs (`Backing::HugeTlb`); on \
         4 KiB pages (a tmpfs workspace) big-table lookups are slower (TLB misses on tbl24); \
         baselines use ordinary heap memory",
        if HUGE_ADVISED.load(Ordering::Relaxed) {
            "accepted"
        } else {
            "refused: 4 KiB pages"
        }
    ));
    report.note(format!(
        "{} addresses per lookup round, {rounds} rounds (medians); {} cores",
        sizes.addresses,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_run_has_rows_for_every_implementation() {
        let report = run(&Options {
            routes: None,
            quick: true,
            rounds: 1,
            seed: 3,
        })
        .unwrap();
        for case in ["host", "cloud", "bgp-2k"] {
            for imp in [NETBASE, PREFIX_TRIE, LINEAR_HASH] {
                let v = report.get(case, imp, "lookups_per_sec");
                assert!(v.is_some_and(|v| v > 0.0), "{case} {imp}: {v:?}");
                assert!(report.get(case, imp, "inserts_per_sec").is_some());
            }
            // The net tile's lookup (local, then this table) for both chain implementations.
            for imp in [NETBASE, PREFIX_TRIE] {
                let v = report.get(case, imp, "chain_lookups_per_sec");
                assert!(v.is_some_and(|v| v > 0.0), "{case} {imp} chain: {v:?}");
            }
            assert!(report.get(case, NETBASE, "burst_lookups_per_sec").is_some());
        }
        assert!(report
            .get("bgp-2k", NETBASE, "miss_lookups_per_sec")
            .is_some());
        assert!(report
            .get("host", NETBASE, "miss_lookups_per_sec")
            .is_none());
        assert!(report
            .get("under-updates", NETBASE, "lookups_per_sec")
            .is_some());
        assert!(report
            .get("under-updates", NO_UPDATES, "lookups_per_sec")
            .is_some());
        // The churn case, as its JSON rows carry it.
        let json = report.to_json();
        let row = |imp: &str| {
            json["rows"]
                .as_array()
                .and_then(|rows| {
                    rows.iter()
                        .find(|r| r["case"] == "cloud-2k-churn" && r["impl"] == imp)
                })
                .cloned()
                .unwrap_or_else(|| panic!("no cloud-2k-churn row for {imp}"))
        };
        for (imp, metrics) in [
            (NETBASE, &["lookups_per_sec", "updates_per_sec"][..]),
            (NO_UPDATES, &["lookups_per_sec"][..]),
            (LINEAR_HASH, &["lookups_per_sec", "updates_per_sec"][..]),
        ] {
            let r = row(imp);
            for m in metrics {
                let v = r[*m].as_f64();
                assert!(v.is_some_and(|v| v > 0.0), "cloud-2k-churn {imp} {m}: {r}");
            }
        }
    }

    /// The full benchmark, printed: `cargo test --release -p netbase --lib bench::fib4 --
    /// --ignored --nocapture` (`FIB4_ROUTES=n` for one synthetic size).
    #[test]
    #[ignore = "a measurement, not a test: minutes in release mode"]
    fn full_run() {
        let routes = std::env::var("FIB4_ROUTES")
            .ok()
            .and_then(|v| v.parse().ok());
        let report = run(&Options {
            routes,
            quick: false,
            rounds: 3,
            seed: 1,
        })
        .unwrap();
        println!("{}", report.render());
    }

    #[test]
    fn churn_cloud_hosts_lie_inside_the_routed_pod_network() {
        let case = cloud_case("c", 100_000, true, 10, &mut SplitMix64::new(1));
        let pod = case
            .routes
            .iter()
            .find(|r| r.prefix == 0x0af4_0000)
            .copied()
            .unwrap();
        assert_eq!(pod.len, 14, "100,000 hosts fill at most half of it");
        let hosts: Vec<&Route> = case.routes.iter().filter(|r| r.len == 32).collect();
        assert_eq!(hosts.len(), 100_000);
        assert!(hosts.iter().all(|h| h.prefix & mask(14) == pod.prefix));
        assert_eq!(case.routes.len(), 16 + 1 + 100_000);
        // The plain cloud case keeps its /16 and has no pod route.
        let cloud = cloud_case("cloud", 8_192, false, 10, &mut SplitMix64::new(1));
        assert_eq!(cloud.routes.len(), 16 + 8_192);
        assert!(cloud
            .routes
            .iter()
            .filter(|r| r.len == 32)
            .all(|h| h.prefix >> 16 == 0x0af4));
    }

    #[test]
    fn churn_steps_are_seeded_and_of_their_kind() {
        let routes: Vec<Route> = (0..10)
            .map(|i| Route {
                prefix: 0x0a00_0000 + i,
                len: 32,
                hop: 1,
            })
            .collect();
        // Per step: (removed prefix or 0, inserted prefix, its next hop).
        let steps = |kind, seed| {
            let mut c = Churn::new(&routes, 4, kind, seed);
            (0..6)
                .map(|_| {
                    let mut step = Vec::new();
                    c.step(|change| step.push(change));
                    match step[..] {
                        [Change::Remove(a), Change::Insert(b)] => (a.prefix, b.prefix, b.hop),
                        [Change::Insert(b)] => (0, b.prefix, b.hop),
                        _ => panic!("unexpected step"),
                    }
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(steps(ChurnKind::Hosts, 3), steps(ChurnKind::Hosts, 3));
        for (i, (removed, inserted, hop)) in steps(ChurnKind::Hosts, 3).into_iter().enumerate() {
            if i % 2 == 0 {
                // Removed and inserted again as it was.
                assert_eq!((removed, hop), (inserted, 1));
            } else {
                // Moved to another next hop in place.
                assert_eq!(removed, 0);
                assert_ne!(hop, 1);
            }
        }
        for (removed, inserted, hop) in steps(ChurnKind::Replace, 5) {
            assert_eq!(removed, inserted);
            assert_ne!(hop, 1);
        }
    }

    #[test]
    fn bgp_mix_is_roughly_as_documented() {
        let t = bgp_table(20_000, 1);
        let share = |lo: u8, hi: u8| {
            t.iter().filter(|r| (lo..=hi).contains(&r.1)).count() as f64 / t.len() as f64
        };
        assert!((share(24, 24) - 0.58).abs() < 0.02);
        assert!((share(22, 23) - 0.20).abs() < 0.02);
        assert!((share(25, 32) - 0.05).abs() < 0.01);
        assert!(t.iter().all(|r| r.0 >= 0x0100_0000 && r.0 < 0xe000_0000));
        let distinct: HashSet<_> = t.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(distinct.len(), t.len());
    }
}
