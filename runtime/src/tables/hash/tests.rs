use core::sync::atomic::Ordering::Relaxed;

use super::state::{EMPTY, FULL, TOMBSTONE};
use super::*;
use crate::region::HeapRegion;
use crate::sync::seqlock::slot_words as seq_slot_words;
use crate::tables::geometry::{slot_words, table_bytes, Kind, TABLE_HEADER_BYTES};
use crate::tables::header::{stat, word, HeaderError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, crate::SharedRow)]
#[repr(C)]
struct Row {
    key: u32,
    tag: u32,
    val: u64,
}

fn key(r: &Row) -> [u8; 4] {
    r.key.to_le_bytes()
}

fn row(k: u32, val: u64) -> Row {
    Row {
        key: k,
        tag: 0,
        val,
    }
}

fn heap(capacity: u64) -> HeapRegion {
    HeapRegion::zeroed(table_bytes(Kind::Hash, capacity, 16, 0).unwrap() as usize)
}

/// `n` keys whose home slot is `home`.
fn colliding<F: Fn(&Row) -> [u8; 4]>(
    w: &HashWriter<'_, Row, [u8; 4], F>,
    home: usize,
    n: usize,
) -> Vec<u32> {
    let slots = w.slot_writer().slots();
    (0u32..)
        .filter(|k| slots.home(&k.to_le_bytes()) == home)
        .take(n)
        .collect()
}

fn state_of<F: Fn(&Row) -> [u8; 4]>(w: &HashWriter<'_, Row, [u8; 4], F>, i: usize) -> u8 {
    w.slot_writer().slots().slot(i).state().unwrap()
}

#[test]
fn layout_matches_the_generator() {
    for row_size in [1u64, 8, 16, 32, 48, 256] {
        assert_eq!(slot_words(row_size), 1 + row_size.div_ceil(8));
    }
    assert_eq!(seq_slot_words::<Row>() as u64, slot_words(16));
    // The last slot ends inside the object the generator reserves.
    let h = heap(64);
    let mut w = HashWriter::create(h.region(), 64, key, 1).unwrap();
    assert_eq!(w.capacity(), 64);
    for k in 0..50 {
        w.upsert(&row(k, 1)).unwrap();
    }
    let r = HashReader::attach(h.read_only(), 64, key).unwrap();
    assert_eq!(r.iter().count(), 50);
    let small = HeapRegion::zeroed((TABLE_HEADER_BYTES + 64 * 24 - 8) as usize);
    assert_eq!(
        HashWriter::create(small.region(), 64, key, 1).err(),
        Some(HashError::RegionTooSmall {
            need: TABLE_HEADER_BYTES + 64 * 24,
            have: TABLE_HEADER_BYTES + 64 * 24 - 8
        })
    );
}

#[test]
fn upsert_get_remove_and_header_counters() {
    let h = heap(16);
    let mut w = HashWriter::create(h.region(), 16, key, 7).unwrap();
    let r = HashReader::attach(h.read_only(), 16, key).unwrap();
    let g0 = r.generation();
    assert_eq!(w.upsert(&row(1, 10)), Ok(Upsert::Inserted));
    assert_eq!(w.upsert(&row(2, 20)), Ok(Upsert::Inserted));
    assert_eq!(w.upsert(&row(1, 11)), Ok(Upsert::Replaced));
    assert_eq!(r.get(&1u32.to_le_bytes()), Ok(Some(row(1, 11))));
    assert_eq!(w.get(&2u32.to_le_bytes()), Some(row(2, 20)));
    assert_eq!(r.get(&3u32.to_le_bytes()), Ok(None));
    assert_eq!(r.try_get(&3u32.to_le_bytes()), Lookup::Absent);
    assert_eq!((w.len(), r.len()), (2, 2));
    assert_eq!(r.generation(), g0 + 3);
    assert!(w.remove(&1u32.to_le_bytes()));
    assert!(!w.remove(&1u32.to_le_bytes()));
    assert_eq!(r.get(&1u32.to_le_bytes()), Ok(None));
    assert_eq!(r.generation(), g0 + 4);
    assert_eq!(w.header().load(word::COUNT), 1);
    assert_eq!(w.iter().collect::<Vec<_>>(), vec![row(2, 20)]);
    w.clear_all();
    assert!(r.is_empty() && w.is_empty());
    assert_eq!(r.get(&2u32.to_le_bytes()), Ok(None));
    w.slot_writer().check().unwrap();
}

#[test]
fn full_table_refuses_counts_and_recovers() {
    let h = heap(8);
    let mut w = HashWriter::create(h.region(), 8, key, 3).unwrap();
    let r = HashReader::attach(h.read_only(), 8, key).unwrap();
    assert_eq!(w.policy().max_live, 7);
    for k in 0..7 {
        w.upsert(&row(k, 0)).unwrap();
    }
    assert_eq!(w.upsert(&row(100, 0)), Err(HashError::Full));
    assert_eq!(w.upsert(&row(101, 0)), Err(HashError::Full));
    assert_eq!(w.upsert(&row(100, 1)), Err(HashError::Full));
    // Existing keys can still change.
    assert_eq!(w.upsert(&row(3, 9)), Ok(Upsert::Replaced));
    assert_eq!(w.header().stat(stat::INSERT_FULL), 3);
    assert_eq!(r.incomplete(), 2);
    assert!(w.remove(&0u32.to_le_bytes()));
    assert_eq!(w.upsert(&row(100, 2)), Ok(Upsert::Inserted));
    assert_eq!(r.incomplete(), 1);
    // The kernel deleted the other refused key: nothing is missing any more.
    assert!(!w.remove(&101u32.to_le_bytes()));
    assert_eq!((r.incomplete(), w.missing()), (0, 0));
    w.slot_writer().check().unwrap();
}

#[test]
fn delete_at_cluster_end_empties_the_tombstone_run() {
    let h = heap(16);
    let mut w = HashWriter::create(h.region(), 16, key, 9).unwrap();
    w.set_policy(Policy {
        max_tombstones: 16,
        ..w.policy()
    });
    let ks = colliding(&w, 5, 3);
    for &k in &ks {
        w.upsert(&row(k, 0)).unwrap();
    }
    // Slots 5, 6, 7. Deleting the middle leaves a tombstone: the third key probes past it.
    assert!(w.remove(&ks[1].to_le_bytes()));
    assert_eq!((state_of(&w, 6), w.tombstones()), (TOMBSTONE, 1));
    // Deleting the last one empties it and the tombstone before it.
    assert!(w.remove(&ks[2].to_le_bytes()));
    assert_eq!((state_of(&w, 6), state_of(&w, 7)), (EMPTY, EMPTY));
    assert_eq!(w.tombstones(), 0);
    w.slot_writer().check().unwrap();
}

#[test]
fn compaction_moves_rows_home_and_empties_tombstones() {
    let h = heap(16);
    let mut w = HashWriter::create(h.region(), 16, key, 9).unwrap();
    w.set_policy(Policy {
        max_tombstones: 16,
        ..w.policy()
    });
    let ks = colliding(&w, 14, 4); // slots 14, 15, 0, 1: the cluster wraps
    for &k in &ks {
        w.upsert(&row(k, u64::from(k))).unwrap();
    }
    assert!(w.remove(&ks[0].to_le_bytes()));
    assert!(w.remove(&ks[2].to_le_bytes()));
    assert_eq!(w.tombstones(), 2);
    let r = HashReader::attach(h.read_only(), 16, key).unwrap();
    assert_eq!(w.compact(), 2);
    assert_eq!(w.tombstones(), 0);
    assert_eq!((state_of(&w, 14), state_of(&w, 15)), (FULL, FULL));
    assert_eq!((state_of(&w, 0), state_of(&w, 1)), (EMPTY, EMPTY));
    for k in [ks[1], ks[3]] {
        assert_eq!(r.get(&k.to_le_bytes()), Ok(Some(row(k, u64::from(k)))));
    }
    assert_eq!(w.header().stat(stat::COMPACTIONS), 1);
    w.slot_writer().check().unwrap();
}

#[test]
fn tombstones_past_the_limit_compact_automatically() {
    let h = heap(64);
    let mut w = HashWriter::create(h.region(), 64, key, 2).unwrap();
    assert_eq!(w.policy().max_tombstones, 8);
    let ks = colliding(&w, 10, 20);
    for &k in &ks {
        w.upsert(&row(k, 0)).unwrap();
    }
    for &k in &ks[..9] {
        w.remove(&k.to_le_bytes());
    }
    assert_eq!(w.header().stat(stat::COMPACTIONS), 1);
    assert_eq!(w.tombstones(), 0);
    assert_eq!(state_of(&w, 10), FULL);
    w.slot_writer().check().unwrap();
}

#[test]
fn inserting_past_the_used_limit_compacts_first() {
    let h = heap(8);
    let mut w = HashWriter::create(h.region(), 8, key, 4).unwrap();
    w.set_policy(Policy {
        max_tombstones: 8,
        ..w.policy()
    });
    let ks = colliding(&w, 0, 7);
    for &k in &ks {
        w.upsert(&row(k, 0)).unwrap();
    }
    for &k in &ks[..3] {
        w.remove(&k.to_le_bytes());
    }
    assert_eq!((w.len(), w.tombstones()), (4, 3));
    // A key whose path has no tombstone needs the last empty slot: tombstones go first.
    let other = (0u32..)
        .find(|k| w.slot_writer().slots().home(&k.to_le_bytes()) == 7)
        .unwrap();
    assert_eq!(w.upsert(&row(other, 0)), Ok(Upsert::Inserted));
    assert_eq!((w.len(), w.tombstones()), (5, 0));
    w.slot_writer().check().unwrap();
}

#[test]
fn attach_rebuilds_and_repairs_a_crashed_writer() {
    let h = heap(16);
    {
        let mut w = HashWriter::create(h.region(), 16, key, 5).unwrap();
        w.set_policy(Policy {
            max_tombstones: 16,
            ..w.policy()
        });
        let ks = colliding(&w, 3, 3);
        for &k in &ks {
            w.upsert(&row(k, 1)).unwrap();
        }
        w.upsert(&row(1000, 1)).unwrap();
        // Died between the copy and the tombstone of a move: key 2 in slots 3 and 5.
        assert!(w.remove(&ks[0].to_le_bytes()));
        let slots = w.slot_writer().slots();
        slots.slot(3).write(FULL, &row(ks[2], 1));
        // Died mid-write of another slot, and an unknown state elsewhere.
        let words = h.region().words();
        let base = (TABLE_HEADER_BYTES / 8) as usize;
        let free: Vec<usize> = (0..16).filter(|&i| state_of(&w, i) == EMPTY).collect();
        words[base + free[0] * 3].fetch_or(1, Relaxed);
        words[base + free[1] * 3].store(7 << 1, Relaxed);
    }
    let w = HashWriter::attach(h.region(), 16, key).unwrap();
    let rep = w.repairs();
    assert_eq!(
        (rep.torn, rep.unknown_state, rep.duplicates, rep.unreachable),
        (1, 1, 1, 0)
    );
    assert_eq!(w.len(), 3);
    w.slot_writer().check().unwrap();
    let r = HashReader::attach(h.read_only(), 16, key).unwrap();
    assert_eq!(r.get(&1000u32.to_le_bytes()), Ok(Some(row(1000, 1))));
    assert_eq!(r.snapshot(4).unwrap().len(), 3);
}

#[test]
fn attach_checks_identity_and_access() {
    let h = heap(16);
    assert_eq!(
        HashReader::attach(h.read_only(), 16, key).err(),
        Some(HashError::Header(HeaderError::NotInitialized))
    );
    assert_eq!(
        HashWriter::create(h.read_only(), 16, key, 1).err(),
        Some(HashError::Header(HeaderError::ReadOnly))
    );
    assert_eq!(
        HashWriter::create(h.region(), 12, key, 1).err(),
        Some(HashError::Capacity(12))
    );
    HashWriter::create(h.region(), 16, key, 1).unwrap();
    assert!(matches!(
        HashReader::attach(h.read_only(), 8, key).err(),
        Some(HashError::Header(HeaderError::Mismatch {
            what: "capacity",
            ..
        }))
    ));
    assert!(HashWriter::attach(h.read_only(), 16, key).is_err());
}

#[test]
fn function_pointer_keys_name_the_type() {
    let h = heap(16);
    let mut w = HashWriter::<'_, Row, [u8; 4]>::create(h.region(), 16, key, 1).unwrap();
    w.upsert(&row(1, 1)).unwrap();
    let r: HashReader<'_, Row, [u8; 4]> =
        HashReader::attach(h.read_only(), 16, key as fn(&Row) -> [u8; 4]).unwrap();
    let _: HashWriter<'_, Row, [u8; 4]> = w;
    assert_eq!(r.get(&1u32.to_le_bytes()), Ok(Some(row(1, 1))));
}

/// A foreign or corrupt region: readers and a re-attaching writer return answers or errors,
/// never panic or loop.
#[test]
fn garbage_slots_never_panic() {
    let h = heap(32);
    HashWriter::create(h.region(), 32, key, 1).unwrap();
    let base = (TABLE_HEADER_BYTES / 8) as usize;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..8 {
        for w in &h.region().words()[base..] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Even sequence words mostly, so that probes get past them.
            w.store(if round % 4 == 3 { x } else { x & !1 }, Relaxed);
        }
        let r = HashReader::attach(h.read_only(), 32, key).unwrap();
        for k in 0..16u32 {
            let _ = r.get(&k.to_le_bytes());
        }
        let _ = r.snapshot(2);
        if let Ok(mut w) = HashWriter::attach(h.region(), 32, key) {
            w.slot_writer().check().unwrap();
            let _ = w.upsert(&row(5, 5));
            w.slot_writer().check().unwrap();
        }
    }
}

thread_local! {
    static LOADS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// A word that counts the loads made through it (on this thread).
struct Counting(core::sync::atomic::AtomicU64);

impl crate::sync::Word for Counting {
    fn load(&self, order: core::sync::atomic::Ordering) -> u64 {
        LOADS.with(|n| n.set(n.get() + 1));
        self.0.load(order)
    }
    fn store(&self, value: u64, order: core::sync::atomic::Ordering) {
        self.0.store(value, order)
    }
    fn fence(order: core::sync::atomic::Ordering) {
        core::sync::atomic::fence(order)
    }
}

/// A miss reads its path twice (forward, then back to the home slot) and nothing else.
#[test]
fn misses_read_only_their_path() {
    let words: Vec<Counting> = (0..64 * 3)
        .map(|_| Counting(core::sync::atomic::AtomicU64::new(0)))
        .collect();
    let slots = Slots::new(&words[..], 64, 3, key as fn(&Row) -> [u8; 4]).unwrap();
    let mut w = SlotWriter::new(slots.clone());
    let loads = |k: u32| {
        LOADS.with(|n| n.set(0));
        let found = slots.lookup(&k.to_le_bytes()).unwrap();
        (found.is_some(), LOADS.with(|n| n.get()))
    };
    // One slot read: sequence, two row words, sequence again.
    assert_eq!(loads(1), (false, 4));
    let home = slots.home(&1u32.to_le_bytes());
    let cluster: Vec<u32> = (2u32..)
        .filter(|k| slots.home(&k.to_le_bytes()) == home)
        .take(3)
        .collect();
    for &k in &cluster {
        w.upsert(&row(k, 0)).unwrap();
    }
    // Three full slots and the empty one forward, the three back.
    assert_eq!(loads(1), (false, 7 * 4));
    assert_eq!(loads(cluster[1]), (true, 2 * 4));
}
