//! Unit tests of the LPM table through its public API (writer, reader, chain).

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::region::HeapRegion;
use crate::sync::qsbr::{NoReaders, OFFLINE};
use crate::tables::geometry::lpm_layout;
use crate::tables::header::stat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, crate::SharedRow)]
#[repr(C)]
struct Hop {
    gw: u32,
    kind: u32,
}

const THROW: u32 = 9;

fn hop(gw: u32) -> Hop {
    Hop { gw, kind: 1 }
}

fn heap(capacity: u64) -> HeapRegion {
    let l = lpm_layout(capacity, core::mem::size_of::<Hop>() as u64, 4).unwrap();
    HeapRegion::zeroed(l.total as usize)
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn hit(gw: u32, prefix_len: u8) -> Lookup<Hop> {
    Lookup::Hit {
        nexthop: hop(gw),
        prefix_len,
    }
}

#[test]
fn host_table_small_mode_metrics_and_replace() {
    let mem = heap(4096);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 4096, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), 4096).unwrap();
    w.insert(0, 0, 100, hop(1)).unwrap();
    w.insert(ip(192, 168, 1, 0), 24, 0, hop(2)).unwrap();
    w.insert(ip(192, 168, 1, 7), 32, 0, hop(3)).unwrap();
    for (addr, want) in [
        (ip(8, 8, 8, 8), hit(1, 0)),
        (ip(192, 168, 1, 9), hit(2, 24)),
        (ip(192, 168, 1, 7), hit(3, 32)),
    ] {
        assert_eq!(r.lookup(addr), want);
        assert_eq!(w.lookup(addr), want);
    }
    // A lower metric shadows; removing it reveals the next.
    w.insert(0, 0, 50, hop(4)).unwrap();
    assert_eq!(r.lookup(ip(8, 8, 8, 8)), hit(4, 0));
    assert!(w.remove(0, 0, 50));
    assert_eq!(r.lookup(ip(8, 8, 8, 8)), hit(1, 0));
    assert!(!w.remove(0, 0, 50));
    // Replace keeps the route count.
    w.insert(0, 0, 100, hop(5)).unwrap();
    assert_eq!((w.len(), r.len()), (3, 3));
    assert_eq!(r.lookup(ip(1, 2, 3, 4)), hit(5, 0));
    assert!(w.remove(0, 0, 100));
    assert_eq!(r.lookup(ip(1, 2, 3, 4)), Lookup::Miss);
    assert!(!r.incomplete());
    assert!(!w.index_mode());
    // Host bits are ignored; lengths above 32 are refused.
    w.insert(ip(10, 1, 2, 3), 8, 0, hop(6)).unwrap();
    assert_eq!(r.lookup(ip(10, 9, 9, 9)), hit(6, 8));
    assert_eq!(w.insert(0, 33, 0, hop(1)), Err(FibError::BadLength(33)));
}

#[test]
fn listed_routes_show_shadowed_ones() {
    let mem = heap(64);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 64, NoReaders).unwrap();
    w.insert(ip(10, 0, 0, 0), 8, 20, hop(1)).unwrap();
    w.insert(ip(10, 0, 0, 0), 8, 10, hop(2)).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), 64).unwrap();
    let mut listed: Vec<_> = r.routes().map(|x| x.unwrap()).collect();
    listed.sort_by_key(|l| l.nexthop.gw);
    assert_eq!(
        listed,
        vec![
            ListedRoute {
                prefix: ip(10, 0, 0, 0),
                len: 8,
                nexthop: hop(1),
                active: false
            },
            ListedRoute {
                prefix: ip(10, 0, 0, 0),
                len: 8,
                nexthop: hop(2),
                active: true
            },
        ]
    );
    let wr: Vec<_> = w.routes().map(|x| (x.metric, x.active)).collect();
    assert_eq!(wr, vec![(Some(10), true), (Some(20), false)]);
}

#[test]
fn switches_to_index_and_back_with_hysteresis() {
    let cap = 8192;
    let mem = heap(cap);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    w.insert(ip(10, 0, 0, 0), 8, 0, hop(1)).unwrap();
    for i in 0..100u32 {
        w.insert(ip(10, 0, 0, 0) + i * 3, 32, 0, hop(2 + i % 5))
            .unwrap();
        let expect_index = w.prefixes() > 64;
        assert_eq!(
            w.index_mode(),
            expect_index,
            "after {} prefixes",
            w.prefixes()
        );
        assert_eq!(r.lookup(ip(10, 0, 0, 0) + i * 3), hit(2 + i % 5, 32));
        assert_eq!(r.lookup(ip(10, 0, 0, 1) + i * 3), hit(1, 8));
    }
    assert_eq!(r.stat(stat::MODE_SWITCHES), 1);
    for i in (0..100u32).rev() {
        assert!(w.remove(ip(10, 0, 0, 0) + i * 3, 32, 0));
        assert_eq!(r.lookup(ip(10, 0, 0, 0) + i * 3), hit(1, 8));
        if w.prefixes() > SMALL_RETURN {
            assert!(w.index_mode());
        }
    }
    assert!(!w.index_mode());
    assert_eq!(r.stat(stat::MODE_SWITCHES), 2);
    // All groups went back (retired, reusable at once without readers).
    let u = w.usage();
    assert_eq!((u.groups, u.listed_routes, u.nexthop_ids), (0, 1, 1));
}

#[test]
fn index_lookups_cover_group_edges() {
    let cap = 8192;
    let mem = heap(cap);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    w.insert(ip(10, 0, 0, 0), 16, 0, hop(1)).unwrap();
    w.insert(ip(10, 0, 1, 0), 24, 0, hop(2)).unwrap();
    w.insert(ip(10, 0, 1, 128), 25, 0, hop(3)).unwrap();
    w.insert(ip(10, 0, 1, 192), 26, 0, hop(4)).unwrap();
    w.insert(ip(10, 0, 1, 255), 32, 0, hop(5)).unwrap();
    for addr in 0..=255u8 {
        let a = ip(10, 0, 1, addr);
        assert_eq!(r.lookup_index(a), w.lookup(a), "{addr}");
    }
    // Removing the /24 under a group exposes the /16 in the uncovered entries only.
    assert!(w.remove(ip(10, 0, 1, 0), 24, 0));
    assert_eq!(r.lookup_index(ip(10, 0, 1, 5)), hit(1, 16));
    assert_eq!(r.lookup_index(ip(10, 0, 1, 130)), hit(3, 25));
    assert!(w.remove(ip(10, 0, 1, 192), 26, 0));
    assert_eq!(r.lookup_index(ip(10, 0, 1, 200)), hit(3, 25));
    assert_eq!(r.lookup_index(ip(10, 0, 1, 255)), hit(5, 32));
    assert!(w.remove(ip(10, 0, 1, 128), 25, 0));
    assert!(w.remove(ip(10, 0, 1, 255), 32, 0));
    assert_eq!(w.usage().groups, 0);
    assert_eq!(r.lookup_index(ip(10, 0, 1, 255)), hit(1, 16));
}

#[test]
fn full_route_list_answers_incomplete_until_room() {
    let mem = heap(4);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 4, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), 4).unwrap();
    for i in 0..4 {
        w.insert(ip(10, i, 0, 0), 16, 0, hop(1)).unwrap();
    }
    assert_eq!(
        w.insert(ip(10, 0, 7, 0), 24, 0, hop(2)),
        Err(FibError::TableFull)
    );
    assert!(FibError::TableFull.is_pending());
    assert!(r.incomplete());
    assert_eq!(r.stat(stat::INSERT_FULL), 1);
    // Only the missing prefix's addresses are affected.
    assert_eq!(r.lookup(ip(10, 0, 7, 1)), Lookup::Incomplete);
    assert_eq!(w.lookup(ip(10, 0, 7, 1)), Lookup::Incomplete);
    assert_eq!(r.lookup(ip(10, 0, 8, 1)), hit(1, 16));
    assert!(w.remove(ip(10, 3, 0, 0), 16, 0));
    assert_eq!(w.maintain(), Backlog::default());
    assert!(!r.incomplete());
    assert_eq!(r.lookup(ip(10, 0, 7, 1)), hit(2, 24));
    // Removing a route that was never stored also clears the flag.
    w.insert(ip(10, 9, 0, 0), 16, 0, hop(3)).unwrap_err();
    assert!(r.incomplete());
    assert!(w.remove(ip(10, 9, 0, 0), 16, 0));
    assert!(!r.incomplete());
}

#[test]
fn exhausted_nexthop_ids_and_groups() {
    let mem = heap(3);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 3, NoReaders).unwrap();
    w.insert(ip(10, 0, 0, 0), 8, 0, hop(1)).unwrap();
    w.insert(ip(11, 0, 0, 0), 8, 0, hop(2)).unwrap();
    w.insert(ip(12, 0, 0, 0), 8, 0, hop(1)).unwrap();
    // Three ids (capacity 3); the next new (row, length) pair has none.
    assert!(w.remove(ip(12, 0, 0, 0), 8, 0));
    w.insert(ip(12, 0, 0, 0), 16, 0, hop(1)).unwrap();
    assert_eq!(
        w.insert(ip(13, 0, 0, 0), 8, 0, hop(3)),
        Err(FibError::TableFull)
    );
    assert!(w.remove(ip(12, 0, 0, 0), 16, 0));
    // Removing the /16 frees a slot and the id of (hop 1, /16), which hop 3 reuses.
    assert_eq!(w.maintain().missing_routes, 0);

    let cap = 4097;
    let mem = heap(cap);
    let l = lpm_layout(cap, 8, 4).unwrap();
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    w.insert(0, 0, 0, hop(7)).unwrap();
    let mut starved = None;
    for b in 0..l.tbl8_groups as u32 {
        if let Err(e) = w.insert(ip(10, 0, 0, 1) + (b << 8), 32, 0, hop(1)) {
            assert_eq!(e, FibError::GroupsFull);
            starved = Some(b);
            break;
        }
    }
    let b = starved.expect("groups run out before tbl8_groups /24s");
    assert_eq!(r.stat(stat::GROUPS_FULL), 1);
    assert!(r.incomplete());
    assert_eq!(r.lookup(ip(10, 0, 0, 1) + (b << 8)), Lookup::Incomplete);
    assert_eq!(r.lookup(ip(10, 0, 0, 2) + (b << 8)), Lookup::Incomplete);
    assert_eq!(r.lookup(ip(10, 0, 0, 2)), hit(7, 0));
    assert_eq!(r.lookup(ip(10, 0, 0, 1)), hit(1, 32));
    assert!(w.remove(ip(10, 0, 0, 1), 32, 0));
    assert_eq!(w.maintain().starved_blocks, 0);
    assert_eq!(r.lookup(ip(10, 0, 0, 1) + (b << 8)), hit(1, 32));
    assert_eq!(r.lookup(ip(10, 0, 0, 2) + (b << 8)), hit(7, 0));
    assert!(!r.incomplete());
}

#[test]
fn table_without_index_overflows_to_incomplete() {
    let mem = heap(4096);
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 4096, NoReaders).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), 4096).unwrap();
    for i in 0..64u32 {
        w.insert(i << 8, 24, 0, hop(1)).unwrap();
    }
    assert_eq!(r.lookup(5 << 8), hit(1, 24));
    assert_eq!(w.insert(64 << 8, 24, 0, hop(1)), Err(FibError::SmallFull));
    assert_eq!(r.lookup(5 << 8), Lookup::Incomplete);
    assert!(r.incomplete());
    assert!(w.remove(0, 24, 0));
    assert_eq!(r.lookup(5 << 8), hit(1, 24));
    assert_eq!(r.lookup(64 << 8), hit(1, 24));
    assert!(!r.incomplete());
}

#[test]
fn reuse_waits_for_readers() {
    let cap = 8192;
    let mem = heap(cap);
    let words: Vec<AtomicU64> = vec![AtomicU64::new(0)];
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, &words[..]).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    let q = r.qsbr(&words[0]);
    q.online();
    // Small mode: the second change finds the other array still possibly read, so the table
    // goes to its (always current) index rather than wait.
    w.insert(ip(10, 0, 0, 0), 8, 0, hop(1)).unwrap();
    assert!(!w.index_mode());
    w.insert(ip(10, 0, 0, 1), 32, 0, hop(2)).unwrap();
    assert!(w.index_mode());
    assert_eq!(r.lookup(ip(10, 0, 0, 1)), hit(2, 32));
    q.quiescent();
    assert_eq!(w.maintain(), Backlog::default());
    assert!(
        !w.index_mode(),
        "back to a small array once the reader moved on"
    );
    // A group unlinked while the reader may hold it is not reused before it moves on.
    q.quiescent();
    assert!(w.remove(ip(10, 0, 0, 1), 32, 0));
    assert_eq!(w.usage().retired_groups, 1);
    let old = w.usage();
    w.insert(ip(10, 0, 1, 1), 32, 0, hop(3)).unwrap();
    assert_eq!(w.usage().groups, 1);
    assert_eq!(
        w.usage().retired_groups,
        old.retired_groups,
        "fresh group used"
    );
    assert!(w.usage().retired_nexthop_ids >= 1);
    q.offline();
    assert_eq!(words[0].load(Relaxed), OFFLINE);
    assert_eq!(w.maintain(), Backlog::default());
}

#[test]
fn groups_are_reused_only_after_grace() {
    let cap = 4097;
    let mem = heap(cap);
    let l = lpm_layout(cap, 8, 4).unwrap();
    let words: Vec<AtomicU64> = vec![AtomicU64::new(0)];
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, &words[..]).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    let q = r.qsbr(&words[0]);
    q.online();
    let mut n = 0u32;
    while w.insert(n << 8, 32, 0, hop(1)).is_ok() {
        n += 1;
    }
    assert!(n < l.tbl8_groups as u32);
    assert!(w.remove(n << 8, 32, 0));
    assert!(w.remove(0, 32, 0));
    // The freed group is retired: the reader has not moved on, so it is not reused.
    assert_eq!(w.insert(n << 8, 32, 0, hop(1)), Err(FibError::GroupsFull));
    assert_eq!(r.lookup(n << 8), Lookup::Incomplete);
    q.quiescent();
    assert_eq!(w.maintain().starved_blocks, 0);
    assert_eq!(r.lookup(n << 8), hit(1, 32));
}

#[test]
fn restarted_writer_adopts_routes_and_sweeps() {
    let cap = 8192;
    let mem = heap(cap);
    {
        let mut w = Fib4Writer::<Hop, _>::create(mem.region(), cap, NoReaders).unwrap();
        w.insert(ip(10, 0, 0, 0), 8, 5, hop(1)).unwrap();
        w.insert(ip(10, 0, 0, 0), 8, 9, hop(2)).unwrap();
        for i in 0..80u32 {
            w.insert(ip(10, 1, 0, 0) + (i << 4), 28, 0, hop(3 + i % 3))
                .unwrap();
        }
        assert!(w.index_mode());
    }
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    let before: Vec<_> = (0..2000u32)
        .map(|i| r.lookup(ip(10, 1, 0, 0) + i * 7))
        .collect();
    let mut w = Fib4Writer::<Hop, _>::attach(mem.region(), cap, NoReaders).unwrap();
    assert_eq!(w.len(), 82);
    let after: Vec<_> = (0..2000u32)
        .map(|i| r.lookup(ip(10, 1, 0, 0) + i * 7))
        .collect();
    assert_eq!(before, after);
    assert_eq!(w.lookup(ip(10, 2, 0, 0)), hit(1, 8));
    // Resync: the kernel still has the /8 with metric 9 and half of the /28s.
    w.insert(ip(10, 0, 0, 0), 8, 9, hop(2)).unwrap();
    for i in 0..40u32 {
        w.insert(ip(10, 1, 0, 0) + (i << 4), 28, 0, hop(3 + i % 3))
            .unwrap();
    }
    assert_eq!(w.sweep_adopted(), 82);
    assert_eq!(r.lookup(ip(10, 2, 0, 0)), hit(2, 8));
    assert_eq!(r.lookup(ip(10, 1, 0, 0) + (50 << 4)), hit(2, 8));
    // Route 39 had next hop 3 + 39 % 3.
    assert_eq!(r.lookup(ip(10, 1, 0, 0) + (39 << 4)), hit(3, 28));
    assert_eq!(w.len(), 41);
    assert!(!w.index_mode());
}

#[test]
fn chain_throw_continues_and_last_throw_is_unreachable() {
    let (ml, mm) = (heap(64), heap(64));
    let mut local = Fib4Writer::<Hop, _>::create(ml.region(), 64, NoReaders).unwrap();
    let mut main = Fib4Writer::<Hop, _>::create(mm.region(), 64, NoReaders).unwrap();
    let throw = Hop { gw: 0, kind: THROW };
    local.insert(ip(127, 0, 0, 0), 8, 0, hop(1)).unwrap();
    local.insert(ip(10, 0, 0, 0), 8, 0, throw).unwrap();
    main.insert(ip(10, 0, 0, 0), 16, 0, hop(2)).unwrap();
    main.insert(ip(10, 0, 0, 0), 8, 0, hop(3)).unwrap();
    main.insert(ip(10, 1, 0, 0), 16, 0, throw).unwrap();
    let rl = Fib4Reader::<Hop>::attach(ml.read_only(), 64).unwrap();
    let rm = Fib4Reader::<Hop>::attach(mm.read_only(), 64).unwrap();
    let is_throw = |h: &Hop| h.kind == THROW;
    let tables = [&rl, &rm];
    assert_eq!(
        lookup_chain(ip(127, 0, 0, 1), &tables, is_throw),
        ChainResult::Hit {
            table: 0,
            nexthop: hop(1),
            prefix_len: 8
        }
    );
    assert_eq!(
        lookup_chain(ip(10, 0, 3, 4), &tables, is_throw),
        ChainResult::Hit {
            table: 1,
            nexthop: hop(2),
            prefix_len: 16
        }
    );
    // A throw ends the search in its table: main's /8 is not consulted for 10.1/16.
    assert_eq!(
        lookup_chain(ip(10, 1, 3, 4), &tables, is_throw),
        ChainResult::Unreachable
    );
    assert_eq!(
        lookup_chain(ip(11, 1, 3, 4), &tables, is_throw),
        ChainResult::Unreachable
    );
    let mut junk = main;
    for i in 0..70u32 {
        let _ = junk.insert(ip(20, 0, 0, 0) + (i << 8), 24, 0, hop(4));
    }
    assert_eq!(
        lookup_chain(ip(10, 0, 3, 4), &tables, is_throw),
        ChainResult::Incomplete { table: 1 }
    );
}

#[test]
fn attach_checks_identity_and_survives_garbage() {
    let cap = 8192;
    let mem = heap(cap);
    assert!(matches!(
        Fib4Reader::<Hop>::attach(mem.read_only(), cap),
        Err(FibError::Header(_))
    ));
    assert!(matches!(
        Fib4Writer::<Hop, _>::create(mem.read_only(), cap, NoReaders),
        Err(FibError::Header(_))
    ));
    let _w = Fib4Writer::<Hop, _>::create(mem.region(), cap, NoReaders).unwrap();
    assert!(Fib4Reader::<Hop>::attach(mem.read_only(), 4096).is_err());
    assert!(Fib4Reader::<[u32; 4]>::attach(mem.read_only(), cap).is_err());
    let small = HeapRegion::zeroed(4096);
    assert!(matches!(
        Fib4Reader::<Hop>::attach(small.read_only(), cap),
        Err(FibError::Layout(_))
    ));
    // Scribble over everything after the header: lookups and listings return garbage
    // answers or misses, never panic.
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), cap).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for w in &mem.region().words()[512..] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.store(x, Relaxed);
    }
    for m in [0, 1, 2, 3, 7, u64::MAX] {
        mem.region().words()[crate::tables::header::word::MODE].store(m, Relaxed);
        for i in 0..10_000u32 {
            let _ = r.lookup(i.wrapping_mul(0x9e37_79b9));
        }
    }
    assert!(r.routes().take(100).count() <= 100);
}

#[test]
fn table_without_index_defers_publication_until_readers_move_on() {
    let mem = heap(64);
    let words: Vec<AtomicU64> = vec![AtomicU64::new(0)];
    let mut w = Fib4Writer::<Hop, _>::create(mem.region(), 64, &words[..]).unwrap();
    let r = Fib4Reader::<Hop>::attach(mem.read_only(), 64).unwrap();
    let q = r.qsbr(&words[0]);
    q.online();
    w.insert(ip(10, 0, 0, 0), 8, 0, hop(1)).unwrap();
    assert_eq!(
        r.lookup(ip(10, 1, 1, 1)),
        hit(1, 8),
        "the fresh array is published at once"
    );
    // The other array may still be scanned by the reader: the change waits.
    w.insert(ip(10, 1, 0, 0), 16, 0, hop(2)).unwrap();
    assert!(w.remove(ip(10, 0, 0, 0), 8, 0));
    assert_eq!(r.lookup(ip(10, 1, 1, 1)), hit(1, 8));
    assert_eq!(
        r.lookup(ip(10, 2, 1, 1)),
        hit(1, 8),
        "the /8's next hop is still valid"
    );
    let b = w.maintain();
    assert!(b.unpublished);
    q.quiescent();
    assert_eq!(w.maintain(), Backlog::default());
    assert_eq!(r.lookup(ip(10, 1, 1, 1)), hit(2, 16));
    assert_eq!(r.lookup(ip(10, 2, 1, 1)), Lookup::Miss);
    // The id of (hop 1, /8) was held while the old array could show it, and is free now.
    q.quiescent();
    w.maintain();
    let u = w.usage();
    assert_eq!((u.nexthop_ids, u.retired_nexthop_ids), (1, 0));
}
