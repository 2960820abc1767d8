//! Loom models of the hash table's concurrency protocol: the table's own probe and writer code
//! (`Slots`, `SlotWriter`, generic over `Word`) runs on loom's atomics, which explore every
//! interleaving and every reordering the memory model allows.
//!
//! Tables have 4 slots of 2-word rows, so each model runs in seconds. The search is bounded to
//! 3 preemptions per execution (2 for the longest model; one fewer in unoptimized builds) unless
//! `LOOM_MAX_PREEMPTIONS=n` says otherwise: a larger bound covers more interleavings and takes
//! longer (`LOOM_MAX_PREEMPTIONS=200`, i.e. unbounded, takes ~10 s for all but the longest
//! model). Run with `--release`: loom is ~10x slower unoptimized.

mod loom_support;

use loom_support::LoomWord;

use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use netbase_runtime::sync::SeqSlot;
use netbase_runtime::tables::hash::{Lookup, Policy, SlotWriter, Slots, Upsert};
use netbase_runtime::tables::hashfn::SeededHash;
use netbase_runtime::SharedRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, SharedRow)]
#[repr(C)]
struct Row {
    key: u64,
    val: u64,
}

fn key(r: &Row) -> [u8; 8] {
    r.key.to_le_bytes()
}

const CAPACITY: u64 = 4;
const SEED: u64 = 0x10c0;
/// One sequence word and two row words per slot.
const WORDS: usize = 4 * 3;

/// Keys (not 0: a zeroed slot must never look like a row) whose home slot is `home`.
fn keys_at(home: usize, n: usize) -> Vec<u64> {
    let h = SeededHash::new(SEED);
    (1u64..)
        .filter(|k| h.hash(&k.to_le_bytes()) as usize & (CAPACITY as usize - 1) == home)
        .take(n)
        .collect()
}

fn words() -> Arc<Vec<LoomWord>> {
    Arc::new((0..WORDS).map(|_| LoomWord(AtomicU64::new(0))).collect())
}

fn slots(words: &[LoomWord]) -> Slots<'_, LoomWord, Row, [u8; 8]> {
    Slots::new(words, CAPACITY, SEED, key as fn(&Row) -> [u8; 8]).unwrap()
}

/// A writer that compacts only when told to, so models control every step.
fn writer(words: &[LoomWord]) -> SlotWriter<'_, LoomWord, Row, [u8; 8]> {
    let mut w = SlotWriter::new(slots(words));
    let p = w.policy();
    w.set_policy(Policy {
        max_tombstones: CAPACITY as usize,
        ..p
    });
    w
}

/// Looks `k` up until an attempt is conclusive, yielding to the writer between attempts.
fn lookup(words: &[LoomWord], k: u64) -> Option<Row> {
    let s = slots(words);
    loop {
        match s.lookup_once(&k.to_le_bytes()) {
            Lookup::Found(row) => return Some(row),
            Lookup::Absent => return None,
            Lookup::Retry => loom::thread::yield_now(),
        }
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(3, f)
}

/// Explores executions with at most `preemptions` preemptions (one fewer in unoptimized builds,
/// where loom is ~10x slower: `cargo test` of the whole crate stays quick, `--release` runs the
/// full bound), unless `LOOM_MAX_PREEMPTIONS` is set.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        let debug = usize::from(cfg!(debug_assertions));
        b.preemption_bound = Some(preemptions.saturating_sub(debug).max(1));
    }
    b.check(f);
}

/// A compaction moves the looked-up key from slot 1 into the tombstone at slot 0 (copy, then
/// tombstone) and empties slot 1 behind it. A reader may pass slot 0 before the copy and slot 1
/// after it: without the miss validation it would report the key absent.
#[test]
fn compaction_move_never_hides_a_present_key() {
    let ks = keys_at(0, 2);
    let (x, k) = (ks[0], ks[1]);
    model(move || {
        let words = words();
        let mut w = writer(&words);
        w.upsert(&Row { key: x, val: 1 }).unwrap();
        w.upsert(&Row { key: k, val: 7 }).unwrap();
        assert!(w.remove(&x.to_le_bytes()));
        assert_eq!(w.tombstones(), 1);
        let reader_words = words.clone();
        let reader = loom::thread::spawn(move || lookup(&reader_words, k));
        assert_eq!(w.compact(), 1);
        let found = reader.join().unwrap();
        assert_eq!(found, Some(Row { key: k, val: 7 }));
    });
}

/// The key moves twice, each time one slot closer to home (two compactions), with deletes in
/// between: a reader that started behind it still finds it.
#[test]
fn successive_moves_never_hide_a_present_key() {
    let ks = keys_at(0, 3);
    let (a, b, k) = (ks[0], ks[1], ks[2]);
    // Two compactions are many steps: 2 preemptions take ~10 s, 3 take ~50 s (release).
    model_bounded(2, move || {
        let words = words();
        let mut w = writer(&words);
        for key in [a, b, k] {
            w.upsert(&Row { key, val: 5 }).unwrap();
        }
        assert!(w.remove(&a.to_le_bytes()));
        let reader_words = words.clone();
        let reader = loom::thread::spawn(move || lookup(&reader_words, k));
        assert_eq!(w.compact(), 2);
        assert!(w.remove(&b.to_le_bytes()));
        assert_eq!(w.compact(), 1);
        assert_eq!(reader.join().unwrap(), Some(Row { key: k, val: 5 }));
    });
}

/// While the key stays present: another key is inserted into a tombstone earlier on the
/// key's path, the key's row is replaced in place, and a key after it is deleted with
/// backward cleanup (its slot becomes empty because the next one is). The reader finds the
/// key with one of its published values.
#[test]
fn insert_replace_delete_never_hide_a_present_key() {
    let ks = keys_at(0, 4);
    let (a, k, y, z) = (ks[0], ks[1], ks[2], ks[3]);
    model(move || {
        let words = words();
        let mut w = writer(&words);
        for key in [a, k, y] {
            w.upsert(&Row { key, val: 1 }).unwrap();
        }
        assert!(w.remove(&a.to_le_bytes())); // slot 0: tombstone before the key
        let reader_words = words.clone();
        let reader = loom::thread::spawn(move || lookup(&reader_words, k));
        assert_eq!(w.upsert(&Row { key: z, val: 3 }), Ok(Upsert::Inserted));
        assert_eq!(w.upsert(&Row { key: k, val: 2 }), Ok(Upsert::Replaced));
        assert!(w.remove(&y.to_le_bytes()));
        assert_eq!(w.tombstones(), 0);
        let found = reader.join().unwrap().expect("present key missed");
        assert_eq!(found.key, k);
        assert!(
            found.val == 1 || found.val == 2,
            "unpublished value {found:?}"
        );
    });
}

/// The looked-up key is deleted and another key takes its slot: the reader gets the old row
/// or nothing, never the new key's row or a mix of the two.
#[test]
fn reused_slot_never_answers_for_another_key() {
    let ks = keys_at(2, 2);
    let (k, j) = (ks[0], ks[1]);
    model(move || {
        let words = words();
        let mut w = writer(&words);
        w.upsert(&Row { key: k, val: 10 }).unwrap();
        let reader_words = words.clone();
        let reader = loom::thread::spawn(move || lookup(&reader_words, k));
        assert!(w.remove(&k.to_le_bytes()));
        w.upsert(&Row { key: j, val: 20 }).unwrap();
        match reader.join().unwrap() {
            None => {}
            Some(row) => assert_eq!(row, Row { key: k, val: 10 }),
        }
    });
}

/// A slot rewritten twice: a successful read is one of the writes, never a mix.
#[test]
fn slot_reads_are_never_torn() {
    model(|| {
        let words = words();
        let reader_words = words.clone();
        let reader = loom::thread::spawn(move || {
            let slot = SeqSlot::new(&reader_words[..3]);
            slot.try_read::<Row>().map(|s| (s.state, s.value))
        });
        let slot = SeqSlot::new(&words[..3]);
        slot.write(1, &Row { key: 1, val: 1 });
        slot.write(1, &Row { key: 2, val: 2 });
        match reader.join().unwrap() {
            None => {}
            Some((state, row)) => {
                assert_eq!(row.key, row.val, "torn row {row:?}");
                assert!(state == 0 && row.key == 0 || state == 1 && row.key > 0);
            }
        }
    });
}
