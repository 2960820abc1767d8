//! Property tests of the LPM table against a brute-force model: random sequences of inserts,
//! replacements and removals (in a small address space, so prefixes overlap, /25–/32 share
//! groups, groups collapse and metrics shadow each other), and after every operation the
//! writer's lookup, a read-only reader's lookup and the index itself (maintained in every mode)
//! must give the model's answer for every address that matters.
//!
//! Two tables: one without an index (capacity 4096: small arrays only, including the overflow
//! past 64 prefixes), one with (capacity 8192: tbl24 is 32 MiB, so each case builds one region
//! and the case counts stay moderate).
//!
//! The chain of a small table and an indexed one (`local` → `main`, with `throw` routes) is
//! checked the same way: single and burst chain lookups against the model's walk.

use std::collections::{BTreeMap, BTreeSet};

use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::tables::geometry::lpm_layout;
use netbase_runtime::tables::lpm::{
    lookup_chain, lookup_chain_burst, ChainResult, Fib4Reader, Fib4Writer, FibError, Lookup,
};
use netbase_runtime::SharedRow;
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, SharedRow)]
#[repr(C)]
struct Hop {
    gw: u32,
    oif: u32,
}

const BASE: u32 = 0x0a00_0000; // 10.0.0.0/22: four /24s
const SPACE: u32 = 1024;

fn mask(len: u8) -> u32 {
    (u64::from(u32::MAX) << (32 - u32::from(len))) as u32
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        prefix: u32,
        len: u8,
        metric: u32,
        hop: u32,
    },
    /// Removes an existing route (chosen among the model's).
    RemoveSome(Index),
    /// Removes a random route, usually absent.
    Remove { prefix: u32, len: u8, metric: u32 },
}

/// Routes keyed like the table: (prefix, len, metric) → next hop.
#[derive(Default)]
struct Model {
    routes: BTreeMap<(u32, u8, u32), u32>,
    /// Every prefix the case touched: its edges stay worth probing after it goes.
    seen: BTreeSet<(u32, u8)>,
}

impl Model {
    fn prefixes(&self) -> usize {
        self.routes
            .keys()
            .map(|(p, l, _)| (*p, *l))
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn lookup(&self, addr: u32) -> Lookup<Hop> {
        let mut best: Option<(u8, u32, u32)> = None;
        for (&(p, l, m), &h) in &self.routes {
            if addr & mask(l) == p {
                let better = match best {
                    None => true,
                    Some((bl, bm, _)) => l > bl || (l == bl && m < bm),
                };
                if better {
                    best = Some((l, m, h));
                }
            }
        }
        match best {
            None => Lookup::Miss,
            Some((l, _, h)) => Lookup::Hit {
                nexthop: hop(h),
                prefix_len: l,
            },
        }
    }

    /// Addresses where answers change: every prefix's first and last address and their
    /// neighbours, plus a fixed sample of the space and a few addresses outside it.
    fn probes(&self) -> BTreeSet<u32> {
        let mut a: BTreeSet<u32> = (0..SPACE).step_by(13).map(|o| BASE + o).collect();
        a.extend([
            0,
            u32::MAX,
            BASE - 1,
            BASE + SPACE,
            0x0a01_0001,
            0x0b00_0001,
        ]);
        for &(p, l) in &self.seen {
            let last = p | !mask(l);
            for x in [
                p.wrapping_sub(1),
                p,
                p.wrapping_add(1),
                last,
                last.wrapping_add(1),
            ] {
                a.insert(x);
            }
        }
        a
    }
}

fn hop(h: u32) -> Hop {
    Hop { gw: h, oif: 7 }
}

fn region_for(capacity: u64) -> HeapRegion {
    let l = lpm_layout(capacity, core::mem::size_of::<Hop>() as u64, 4).unwrap();
    HeapRegion::zeroed(l.total as usize)
}

fn apply(w: &mut Fib4Writer<'_, Hop, NoReaders>, model: &mut Model, op: &Op, small_only: bool) {
    match *op {
        Op::Insert {
            prefix,
            len,
            metric,
            hop: h,
        } => {
            let r = w.insert(prefix, len, metric, hop(h));
            model.routes.insert((prefix & mask(len), len, metric), h);
            model.seen.insert((prefix & mask(len), len));
            if small_only && model.prefixes() > 64 {
                assert_eq!(r, Err(FibError::SmallFull));
            } else {
                assert_eq!(r, Ok(()), "{op:?}");
            }
        }
        Op::RemoveSome(ix) => {
            if model.routes.is_empty() {
                return;
            }
            let key = *model
                .routes
                .keys()
                .nth(ix.index(model.routes.len()))
                .unwrap();
            assert!(w.remove(key.0, key.1, key.2), "{key:?}");
            model.routes.remove(&key);
        }
        Op::Remove {
            prefix,
            len,
            metric,
        } => {
            let key = (prefix & mask(len), len, metric);
            let present = model.routes.remove(&key).is_some();
            assert_eq!(w.remove(prefix, len, metric), present, "{key:?}");
        }
    }
}

fn check(
    w: &Fib4Writer<'_, Hop, NoReaders>,
    r: &Fib4Reader<'_, Hop>,
    model: &Model,
    small_only: bool,
    step: usize,
) {
    let overflow = small_only && model.prefixes() > 64;
    let probes: Vec<u32> = model.probes().into_iter().collect();
    let mut burst = vec![Lookup::Miss; probes.len()];
    r.lookup_burst(&probes, &mut burst);
    for (&addr, b) in probes.iter().zip(&burst) {
        assert_eq!(*b, r.lookup(addr), "burst, step {step}, addr {addr:#x}");
    }
    for addr in probes {
        let want = if overflow {
            Lookup::Incomplete
        } else {
            model.lookup(addr)
        };
        assert_eq!(w.lookup(addr), want, "writer, step {step}, addr {addr:#x}");
        assert_eq!(r.lookup(addr), want, "reader, step {step}, addr {addr:#x}");
        if !small_only {
            assert_eq!(
                r.lookup_index(addr),
                model.lookup(addr),
                "index, step {step}, addr {addr:#x}"
            );
        }
    }
    assert_eq!(w.len(), model.routes.len());
    assert_eq!(r.len(), model.routes.len() as u64);
    assert_eq!(r.incomplete(), overflow);
    if step % 16 == 0 {
        let listed: BTreeMap<(u32, u8, u32), bool> = r
            .routes()
            .map(|l| l.unwrap())
            .map(|l| ((l.prefix, l.len, l.nexthop.gw), l.active))
            .collect();
        let mut want = BTreeMap::new();
        for (&(p, l, _), &h) in &model.routes {
            want.entry((p, l, h)).or_insert(false);
        }
        let got: BTreeSet<_> = listed.keys().copied().collect();
        assert_eq!(got, want.keys().copied().collect::<BTreeSet<_>>());
    }
}

fn run(ops: &[Op], capacity: u64, small_only: bool) {
    let mem = region_for(capacity);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), capacity, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), capacity).unwrap();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        apply(&mut w, &mut model, op, small_only);
        check(&w, &r, &model, small_only, step);
    }
    // Everything goes; nothing may be left behind.
    let keys: Vec<_> = model.routes.keys().copied().collect();
    for (p, l, m) in keys {
        assert!(w.remove(p, l, m));
    }
    model.routes.clear();
    check(&w, &r, &model, small_only, 0);
    let u = w.usage();
    assert_eq!((u.listed_routes, u.nexthop_ids, u.groups), (0, 0, 0));
}

/// Prefixes anywhere in the space, lengths weighted towards the interesting ones.
fn any_prefix() -> impl Strategy<Value = (u32, u8)> {
    let short = prop::sample::select(vec![0u8, 8, 16, 20]);
    prop_oneof![
        4 => (0..SPACE, 25u8..=32),
        2 => (0..SPACE, 22u8..=24),
        1 => (0..SPACE, short),
    ]
    .prop_map(|(off, len)| ((BASE + off) & mask(len), len))
}

/// A fixed universe of 72 prefixes for the table without index (it overflows past 64).
fn universe() -> Vec<(u32, u8)> {
    let mut u = vec![(0, 0), (BASE & mask(8), 8), (BASE, 16), (BASE, 22)];
    for b in 0..4u32 {
        u.push((BASE + (b << 8), 24));
        u.push((BASE + (b << 8) + 128, 25));
        u.push((BASE + (b << 8) + 64, 26));
    }
    for i in 0..56u32 {
        let off = (i * 97) % SPACE;
        let len = [32, 30, 28, 27][i as usize % 4];
        u.push(((BASE + off) & mask(len), len));
    }
    u
}

fn ops(
    prefix: BoxedStrategy<(u32, u8)>,
    n: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (prefix.clone(), 0u32..3, 0u32..4).prop_map(|((prefix, len), metric, hop)| Op::Insert {
            prefix,
            len,
            metric,
            hop
        }),
        3 => any::<Index>().prop_map(Op::RemoveSome),
        1 => (prefix, 0u32..3).prop_map(|((prefix, len), metric)| Op::Remove { prefix, len, metric }),
    ];
    prop::collection::vec(op, n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn small_table_matches_model(ops in ops(prop::sample::select(universe()).boxed(), 1..160)) {
        run(&ops, 4096, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn indexed_table_matches_model(ops in ops(any_prefix().boxed(), 1..240)) {
        run(&ops, 8192, false);
    }
}

/// The next hop the chain tests treat as a `throw` route.
const THROW_HOP: u32 = 3;

fn is_throw(h: &Hop) -> bool {
    h.gw == THROW_HOP
}

/// The kernel's walk over the models (see `lpm::chain`).
fn model_chain(models: &[&Model], addr: u32) -> ChainResult<Hop> {
    for (table, m) in models.iter().enumerate() {
        if let Lookup::Hit {
            nexthop,
            prefix_len,
        } = m.lookup(addr)
        {
            if !is_throw(&nexthop) {
                return ChainResult::Hit {
                    table,
                    nexthop,
                    prefix_len,
                };
            }
        }
    }
    ChainResult::Unreachable
}

/// Builds a small `local` and an indexed `main` from the inserts, then compares single and
/// burst chain lookups with the models at every probe (bursts of every length up to 150, so
/// partial and several chain steps are covered).
fn run_chain(local_ops: &[Op], main_ops: &[Op]) {
    let (ml, mm) = (region_for(4096), region_for(8192));
    let mut wl = Fib4Writer::<Hop, _>::create(ml.region(), 4096, NoReaders).unwrap();
    let mut wm = Fib4Writer::<Hop, _>::create(mm.region(), 8192, NoReaders).unwrap();
    let (mut local, mut main) = (Model::default(), Model::default());
    for op in local_ops {
        apply(&mut wl, &mut local, op, true);
    }
    for op in main_ops {
        apply(&mut wm, &mut main, op, false);
    }
    let rl = Fib4Reader::<Hop>::attach(ml.read_only(), 4096).unwrap();
    let rm = Fib4Reader::<Hop>::attach(mm.read_only(), 8192).unwrap();
    let tables = [&rl, &rm];
    let overflow = local.prefixes() > 64;
    let mut probes: Vec<u32> = local.probes().union(&main.probes()).copied().collect();
    // Interleave far and near addresses so a burst mixes tables and answers.
    probes.sort_by_key(|a| a.wrapping_mul(0x9e37_79b1));
    let want: Vec<ChainResult<Hop>> = probes
        .iter()
        .map(|&a| {
            if overflow {
                ChainResult::Incomplete { table: 0 }
            } else {
                model_chain(&[&local, &main], a)
            }
        })
        .collect();
    for (&a, w) in probes.iter().zip(&want) {
        assert_eq!(lookup_chain(a, &tables, is_throw), *w, "single {a:#x}");
    }
    let mut out = vec![ChainResult::Unreachable; probes.len()];
    for len in [1, 7, 63, 64, 65, 150] {
        for (p, w) in probes.chunks(len).zip(want.chunks(len)) {
            lookup_chain_burst(p, &tables, is_throw, &mut out[..p.len()]);
            assert_eq!(&out[..p.len()], w, "burst of {len}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chain_burst_matches_model(
        local in ops(prop::sample::select(universe()).boxed(), 1..40),
        main in ops(any_prefix().boxed(), 1..200),
    ) {
        run_chain(&local, &main);
    }
}
