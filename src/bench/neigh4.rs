//! `neigh4`: the shared neighbour table (netbase's seqlocked open-addressed hash table) against
//! the obvious in-process alternative, a `HashMap` behind an `RwLock`.
//!
//! Cases: tables of 1,000 and 50,000 neighbours (capacity 65,536, the schema's), lookups of
//! present keys in random order, and updates (upserts of present keys with a new MAC); then one
//! reader thread looking up while one writer thread updates. Keys are drawn before timing
//! starts, so the generator's cost is not measured; every lookup's row feeds a checksum that
//! goes through `black_box`, so no lookup can be optimized away.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use netbase_runtime::region::HeapRegion;
use netbase_runtime::tables::geometry::{table_bytes, Kind};
use netbase_runtime::tables::hash::{HashReader, HashWriter, Upsert};
use netbase_runtime::types::{Ipv4, Mac};

use super::report::{median, rates, Report, NETBASE};
use crate::schema::tables::{neigh4_key, NEIGH4};
use crate::schema::{Neigh4, NudState};
use netbase_runtime::rand::SplitMix64;

pub struct Options {
    /// Small tables and short rounds (for tests).
    pub quick: bool,
    pub rounds: usize,
    pub seed: u64,
}

pub const BASELINE: &str = "std-hashmap-rwlock";

type BaseKey = (u32, [u8; 4]);
type Baseline = RwLock<HashMap<BaseKey, Neigh4>>;
type Ours<'a> = HashWriter<'a, Neigh4, [u8; 8]>;

struct Sizes {
    entries: [usize; 2],
    capacity: u64,
    /// Keys per lookup or update round (the list is walked once per round).
    ops: usize,
    /// How long the concurrent case runs per round.
    concurrent: Duration,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                entries: [100, 1_000],
                capacity: 2048,
                ops: 20_000,
                concurrent: Duration::from_millis(20),
            }
        } else {
            Sizes {
                entries: [1_000, 50_000],
                capacity: NEIGH4.capacity,
                ops: 1 << 22,
                concurrent: Duration::from_millis(300),
            }
        }
    }
}

/// `n` distinct neighbours on 16 interfaces.
fn neighbours(n: usize, rng: &mut SplitMix64) -> Vec<Neigh4> {
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(n);
    while rows.len() < n {
        let r = rng.next_u64();
        let ifindex = 1 + (r >> 32) as u32 % 16;
        let ip = Ipv4::from_u32(0x0a00_0000 | (r as u32 & 0x00ff_ffff));
        if seen.insert((ifindex, ip)) {
            rows.push(Neigh4 {
                ifindex,
                ip,
                mac: Mac([0x02, 0, 0, 0, 0, rows.len() as u8]),
                state: NudState::REACHABLE,
                ndm_type: 1,
                ..Neigh4::ZERO
            });
        }
    }
    rows
}

fn base_key(n: &Neigh4) -> BaseKey {
    (n.ifindex, n.ip.0)
}

/// A different MAC for update number `i`.
fn updated(row: &Neigh4, i: usize) -> Neigh4 {
    let mut r = *row;
    r.mac.0[1..5].copy_from_slice(&(i as u32).to_le_bytes());
    r.updated_ns = i as u64;
    r
}

/// What a lookup contributes to the checksum: reading the row's fields forces the copy.
fn fold(acc: u64, n: &Neigh4) -> u64 {
    acc.wrapping_mul(31) ^ u64::from(n.mac.0[5]) ^ n.updated_ns
}

/// Looks every key up once; returns the number found.
fn lookups_ours(r: &HashReader<'_, Neigh4, [u8; 8]>, keys: &[[u8; 8]]) -> u64 {
    let mut acc = 0u64;
    let mut found = 0u64;
    for k in keys {
        if let Ok(Some(n)) = r.get(k) {
            acc = fold(acc, &n);
            found += 1;
        }
    }
    black_box(acc);
    found
}

fn lookups_base(map: &Baseline, keys: &[BaseKey]) -> u64 {
    let mut acc = 0u64;
    let mut found = 0u64;
    for k in keys {
        let m = map.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get(k) {
            acc = fold(acc, n);
            found += 1;
        }
    }
    black_box(acc);
    found
}

/// One table of one size, both implementations, filled with the same rows.
struct Tables<'a> {
    writer: Ours<'a>,
    reader: HashReader<'a, Neigh4, [u8; 8]>,
    base: Baseline,
    rows: Vec<Neigh4>,
    /// Rows to look up or update, in random order (indexes into `rows`).
    order: Vec<usize>,
    keys: Vec<[u8; 8]>,
    base_keys: Vec<BaseKey>,
}

impl<'a> Tables<'a> {
    fn new(
        heap: &'a HeapRegion,
        sizes: &Sizes,
        n: usize,
        rng: &mut SplitMix64,
    ) -> Result<Self, String> {
        let key_of = neigh4_key as fn(&Neigh4) -> [u8; 8];
        let mut writer = Ours::create(heap.region(), sizes.capacity, key_of, rng.next_u64())
            .map_err(|e| e.to_string())?;
        let reader = HashReader::attach(heap.read_only(), sizes.capacity, key_of)
            .map_err(|e| e.to_string())?;
        let rows = neighbours(n, rng);
        let mut map = HashMap::with_capacity(n);
        for r in &rows {
            writer.upsert(r).map_err(|e| e.to_string())?;
            map.insert(base_key(r), *r);
        }
        let order: Vec<usize> = (0..sizes.ops).map(|_| rng.index(n)).collect();
        let keys = order.iter().map(|&i| neigh4_key(&rows[i])).collect();
        let base_keys = order.iter().map(|&i| base_key(&rows[i])).collect();
        Ok(Tables {
            writer,
            reader,
            base: RwLock::new(map),
            rows,
            order,
            keys,
            base_keys,
        })
    }
}

pub fn run(opts: &Options) -> Result<Report, String> {
    let sizes = Sizes::new(opts.quick);
    let rounds = if opts.quick {
        opts.rounds.clamp(1, 2)
    } else {
        opts.rounds.max(1)
    };
    let mut rng = SplitMix64::new(opts.seed);
    let mut report = Report::new("neigh4");
    let bytes = table_bytes(Kind::Hash, sizes.capacity, size_of::<Neigh4>() as u64, 0)
        .ok_or("table size overflows")?;
    for (i, &n) in sizes.entries.iter().enumerate() {
        let heap = HeapRegion::zeroed(bytes as usize);
        let mut t = Tables::new(&heap, &sizes, n, &mut rng)?;
        let case = format!("{n} entries");
        single_threaded(&mut report, &case, &mut t, rounds, bytes)?;
        if i + 1 == sizes.entries.len() {
            let case = format!("lookups during updates ({n} entries)");
            concurrent(&mut report, &case, &mut t, rounds, sizes.concurrent, bytes);
        }
    }
    report.note(format!(
        "capacity {}, {} keys per round in random order, {rounds} rounds (medians); {} cores",
        sizes.capacity,
        sizes.ops,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    Ok(report)
}

fn single_threaded(
    report: &mut Report,
    case: &str,
    t: &mut Tables<'_>,
    rounds: usize,
    bytes: u64,
) -> Result<(), String> {
    let ops = t.keys.len() as u64;
    let ours_lookups = rates(rounds, || lookups_ours(&t.reader, &t.keys));
    let base_lookups = rates(rounds, || lookups_base(&t.base, &t.base_keys));
    if lookups_ours(&t.reader, &t.keys) != ops || lookups_base(&t.base, &t.base_keys) != ops {
        return Err(format!("{case}: a present key was not found"));
    }
    let mut replaced = true;
    let mut seq = 0usize;
    let ours_updates = rates(rounds, || {
        for &i in &t.order {
            seq += 1;
            replaced &= t.writer.upsert(&updated(&t.rows[i], seq)) == Ok(Upsert::Replaced);
        }
        ops
    });
    let base_updates = rates(rounds, || {
        for &i in &t.order {
            seq += 1;
            let row = updated(&t.rows[i], seq);
            let mut m = t.base.write().unwrap_or_else(PoisonError::into_inner);
            replaced &= m.insert(base_key(&row), row).is_some();
        }
        ops
    });
    if !replaced {
        return Err(format!("{case}: an update did not replace its row"));
    }
    report.push(
        case,
        NETBASE,
        &[
            ("lookups_per_sec", median(&ours_lookups)),
            ("updates_per_sec", median(&ours_updates)),
            ("bytes", bytes as f64),
        ],
    );
    report.push(
        case,
        BASELINE,
        &[
            ("lookups_per_sec", median(&base_lookups)),
            ("updates_per_sec", median(&base_updates)),
        ],
    );
    Ok(())
}

/// One reader thread looking up while one writer thread updates, for `span` per round.
/// Returns (lookups/s, updates/s) of one round.
fn contend(
    span: Duration,
    lookup: impl Fn(usize) -> u64 + Send,
    mut update: impl FnMut(usize) + Send,
) -> (f64, f64) {
    let stop = &AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let start = Instant::now();
            let (mut done, mut calls) = (0u64, 0usize);
            while start.elapsed() < span {
                done += lookup(calls);
                calls += 1;
            }
            stop.store(true, Ordering::Relaxed);
            done as f64 / start.elapsed().as_secs_f64()
        });
        let start = Instant::now();
        let mut updates = 0usize;
        while !stop.load(Ordering::Relaxed) {
            update(updates);
            updates += 1;
        }
        let rate = updates as f64 / start.elapsed().as_secs_f64();
        (reader.join().unwrap_or(0.0), rate)
    })
}

fn concurrent(
    report: &mut Report,
    case: &str,
    t: &mut Tables<'_>,
    rounds: usize,
    span: Duration,
    bytes: u64,
) {
    // The reader walks the whole key list, a chunk per call, so it checks the clock often.
    let chunk = t.keys.len().min(4096);
    let chunks = t.keys.len() / chunk;
    let part = move |n: usize| (n % chunks) * chunk..(n % chunks + 1) * chunk;
    let (mut ours_l, mut ours_u, mut base_l, mut base_u) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (reader, keys) = (&t.reader, &t.keys);
        let (writer, rows, order) = (&mut t.writer, &t.rows, &t.order);
        let (l, u) = contend(
            span,
            |n| lookups_ours(reader, &keys[part(n)]),
            |n| {
                let _ = writer.upsert(&updated(&rows[order[n % order.len()]], n));
            },
        );
        ours_l.push(l);
        ours_u.push(u);
        let (base, base_keys) = (&t.base, &t.base_keys);
        let (l, u) = contend(
            span,
            |n| lookups_base(base, &base_keys[part(n)]),
            |n| {
                let row = updated(&rows[order[n % order.len()]], n);
                base.write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(base_key(&row), row);
            },
        );
        base_l.push(l);
        base_u.push(u);
    }
    report.push(
        case,
        NETBASE,
        &[
            ("lookups_per_sec", median(&ours_l)),
            ("updates_per_sec", median(&ours_u)),
            ("bytes", bytes as f64),
        ],
    );
    report.push(
        case,
        BASELINE,
        &[
            ("lookups_per_sec", median(&base_l)),
            ("updates_per_sec", median(&base_u)),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_run_measures_both_implementations() {
        let report = run(&Options {
            quick: true,
            rounds: 1,
            seed: 7,
        })
        .unwrap();
        let cases = [
            "100 entries",
            "1000 entries",
            "lookups during updates (1000 entries)",
        ];
        for case in cases {
            for implementation in [NETBASE, BASELINE] {
                for metric in ["lookups_per_sec", "updates_per_sec"] {
                    let v = report.get(case, implementation, metric);
                    assert!(
                        v.is_some_and(|v| v > 0.0),
                        "{case} {implementation} {metric}"
                    );
                }
            }
            assert!(report.get(case, NETBASE, "bytes").is_some_and(|b| b > 0.0));
        }
    }

    /// The full benchmark, printed: `cargo test --release -p netbase --lib bench::neigh4 --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "takes a minute; run in release"]
    fn full_run() {
        let report = run(&Options {
            quick: false,
            rounds: 7,
            seed: 1,
        })
        .unwrap();
        println!("{}", report.render());
    }
}
