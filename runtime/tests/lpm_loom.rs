//! Loom models of the LPM table's publication and reclamation protocols: the index's own code
//! (`Levels`, generic over the 16-bit cell) and the QSBR code (`QsbrReader`, `EpochClock`,
//! `RetireQueue`, `min_epoch_fenced`, generic over `Word`) run on loom's atomics, which
//! explore every interleaving and every reordering the memory model allows.
//!
//! The index is scaled down (groups of 4 entries instead of 256: `Levels<_, 2>`); the protocol
//! does not depend on the group size. The search is bounded to 3 preemptions per execution
//! unless `LOOM_MAX_PREEMPTIONS=n` says otherwise. Run with `--release`.
//!
//! Loom does not produce load buffering (a load returning a store that comes later in the
//! other thread's program order), so the release ordering of a reader's quiescent store —
//! which keeps its earlier lookups from reading the writer's reuse — is argued in
//! `sync::qsbr`, not checked here; everything else in these protocols is (each model fails
//! when the fence or ordering it is about is removed).

mod loom_support;

use core::sync::atomic::Ordering;
use loom_support::LoomWord;

use loom::sync::atomic::{AtomicU16, AtomicU64};
use loom::sync::Arc;
use netbase_runtime::sync::qsbr::{min_epoch_fenced, EpochClock, QsbrReader, RetireQueue};
use netbase_runtime::tables::lpm::{Cell16, Levels, GROUP_BIT};

struct LoomCell(AtomicU16);

impl Cell16 for LoomCell {
    fn load(&self, order: Ordering) -> u16 {
        self.0.load(order)
    }
    fn store(&self, value: u16, order: Ordering) {
        self.0.store(value, order)
    }
    fn fence(order: Ordering) {
        loom::sync::atomic::fence(order)
    }
}

/// Two first-level entries (addresses 0..8), two groups of four.
struct Index {
    top: Vec<LoomCell>,
    groups: Vec<LoomCell>,
    epoch: LoomWord,
    reader: Vec<LoomWord>,
}

const GROUP_BITS: u32 = 2;

impl Index {
    fn new(reader_word: u64) -> Arc<Self> {
        Arc::new(Index {
            top: (0..2).map(|_| LoomCell(AtomicU16::new(0))).collect(),
            groups: (0..8).map(|_| LoomCell(AtomicU16::new(0))).collect(),
            epoch: LoomWord(AtomicU64::new(0)),
            reader: vec![LoomWord(AtomicU64::new(reader_word))],
        })
    }

    fn levels(&self) -> Levels<'_, LoomCell, GROUP_BITS> {
        Levels::new(&self.top, &self.groups)
    }

    fn qsbr(&self) -> QsbrReader<'_, LoomWord> {
        QsbrReader::new(&self.epoch, &self.reader[0])
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Values of the model's routes: the /1-ish plain route of block 0, the longer prefix inside
/// it, the route of block 1, and what a reused group is filled with.
const COVER: u16 = 5;
const SPECIFIC: u16 = 7;
const OTHER: u16 = 9;
const REUSED: u16 = 66;

/// Publishing a group and then the first-level entry pointing at it: a reader sees the old
/// plain value or the fully populated group, never the zeroed memory of the group.
#[test]
fn group_is_complete_before_it_is_linked() {
    model(|| {
        let ix = Index::new(0);
        ix.levels().store_top(0, COVER);
        let w = ix.clone();
        let writer = loom::thread::spawn(move || {
            let l = w.levels();
            l.install_group(0, 1, |low| if low == 3 { SPECIFIC } else { COVER });
            // A later change inside the published group: old or new, per entry.
            l.release();
            l.store_in_group(1, 2, SPECIFIC);
        });
        let l = ix.levels();
        let a = l.resolve(3);
        assert!(a == COVER || a == SPECIFIC, "addr 3 read {a}");
        let b = l.resolve(1);
        assert_eq!(b, COVER, "addr 1 is covered by the plain route only");
        let c = l.resolve(2);
        assert!(c == COVER || c == SPECIFIC, "addr 2 read {c}");
        writer.join().unwrap();
        assert_eq!(ix.levels().resolve(3), SPECIFIC);
        assert_eq!(ix.levels().top(0), GROUP_BIT | 1);
    });
}

/// A burst lookup issues the first-level loads of several addresses, then one acquire fence,
/// then follows the groups (`Fib4Reader::lookup_burst`): each address still sees the old plain
/// value or the complete group.
#[test]
fn burst_reads_see_complete_groups() {
    model(|| {
        let ix = Index::new(0);
        ix.levels().store_top(0, COVER);
        ix.levels().store_top(1, OTHER);
        let w = ix.clone();
        let writer = loom::thread::spawn(move || {
            let l = w.levels();
            l.install_group(1, 0, |low| if low == 1 { SPECIFIC } else { OTHER });
            l.install_group(0, 1, |low| if low == 3 { SPECIFIC } else { COVER });
        });
        let l = ix.levels();
        let addrs = [3u32, 5];
        let firsts = addrs.map(|a| l.first_level(a));
        LoomCell::fence(Ordering::Acquire);
        let a = l.second_level(firsts[0], addrs[0]);
        assert!(a == COVER || a == SPECIFIC, "addr 3 read {a}");
        let b = l.second_level(firsts[1], addrs[1]);
        assert!(b == OTHER || b == SPECIFIC, "addr 5 read {b}");
        writer.join().unwrap();
    });
}

/// The writer collapses block 0's group (its last long prefix goes), retires it, and reuses
/// it for block 1 as soon as the grace period allows, while a reader that passes quiescent
/// points looks addresses up. The reader never sees the reused group's contents in block 0.
#[test]
fn retired_group_is_not_reused_under_a_reader() {
    model(|| {
        let ix = Index::new(0);
        {
            let l = ix.levels();
            l.install_group(0, 1, |low| if low == 3 { SPECIFIC } else { COVER });
            l.store_top(1, OTHER);
        }
        let w = ix.clone();
        let writer = loom::thread::spawn(move || {
            let l = w.levels();
            let mut clock = EpochClock::new(&w.epoch);
            let mut retired = RetireQueue::default();
            l.release();
            l.store_top(0, COVER);
            retired.push(clock.retire(), 1u16);
            clock.advance_if_retired();
            for _ in 0..3 {
                let min = min_epoch_fenced::<LoomWord, _>(&w.reader[..]);
                if let Some((_, g)) = retired.pop_reusable(min) {
                    l.install_group(1, g, |_| REUSED);
                    return true;
                }
                loom::thread::yield_now();
            }
            false
        });
        let q = ix.qsbr();
        let l = ix.levels();
        for _ in 0..2 {
            q.quiescent();
            let a = l.resolve(3);
            assert!(a == COVER || a == SPECIFIC, "block 0 read {a}");
            let b = l.resolve(5);
            assert!(b == OTHER || b == REUSED, "block 1 read {b}");
        }
        q.offline();
        writer.join().unwrap();
    });
}

/// A reader that comes back online while the writer reuses a group: the full fences on both
/// sides make the writer either wait for it or the reader see the collapsed entry.
#[test]
fn reader_coming_online_never_sees_reuse() {
    model(|| {
        let ix = Index::new(netbase_runtime::sync::qsbr::OFFLINE);
        {
            let l = ix.levels();
            l.install_group(0, 1, |low| if low == 3 { SPECIFIC } else { COVER });
            l.store_top(1, OTHER);
        }
        let w = ix.clone();
        let writer = loom::thread::spawn(move || {
            let l = w.levels();
            let mut clock = EpochClock::new(&w.epoch);
            let mut retired = RetireQueue::default();
            l.release();
            l.store_top(0, COVER);
            retired.push(clock.retire(), 1u16);
            clock.advance_if_retired();
            let min = min_epoch_fenced::<LoomWord, _>(&w.reader[..]);
            if let Some((_, g)) = retired.pop_reusable(min) {
                l.install_group(1, g, |_| REUSED);
            }
        });
        let q = ix.qsbr();
        q.online();
        let a = ix.levels().resolve(3);
        assert!(a == COVER || a == SPECIFIC, "block 0 read {a}");
        q.offline();
        writer.join().unwrap();
    });
}
