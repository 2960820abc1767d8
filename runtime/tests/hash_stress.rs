//! In-process stress: a writer thread churns a small table (inserts, deletes, replacements,
//! refusals when full, compactions) while a reader thread looks keys up through a read-only
//! view. Every answer must be a row the writer published for that key, never torn, never
//! older than one the reader already saw, and keys that are never deleted must never be
//! missed. (The multi-process version of this test maps a workspace instead of the heap.)
//!
//! `NETBASE_STRESS_MS` sets the duration (default 700 ms).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netbase_runtime::rand::SplitMix64;
use netbase_runtime::region::HeapRegion;
use netbase_runtime::tables::geometry::{table_bytes, Kind};
use netbase_runtime::tables::hash::{HashError, HashReader, HashWriter};
use netbase_runtime::tables::header::stat;
use netbase_runtime::SharedRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, SharedRow)]
#[repr(C)]
struct Row {
    key: u32,
    /// A checksum of key and `seq`: a row mixed from two writes fails it.
    check: u32,
    seq: u64,
}

fn key(r: &Row) -> [u8; 4] {
    r.key.to_le_bytes()
}

fn checksum(key: u32, seq: u64) -> u32 {
    ((u64::from(key) << 40 ^ seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

fn row(key: u32, seq: u64) -> Row {
    Row {
        key,
        check: checksum(key, seq),
        seq,
    }
}

const CAPACITY: u64 = 1024;
/// Keys 0..STABLE are inserted first and never deleted.
const STABLE: u32 = 200;
/// Keys STABLE..KEYS come and go; together more than the table may hold.
const KEYS: u32 = 1300;

/// A lookup, retried while it reports `Busy`. `Busy` is legitimate when the writer thread is
/// descheduled in the middle of a slot write (this machine is shared: that happens for
/// milliseconds at a time); it must end when the writer runs again.
fn get_patiently(r: &HashReader<'_, Row, [u8; 4]>, k: u32, busy: &mut u64) -> Option<Row> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match r.get(&k.to_le_bytes()) {
            Ok(found) => return found,
            Err(_) => {
                *busy += 1;
                assert!(Instant::now() < deadline, "key {k} busy for 5 s");
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn reader_sees_only_published_rows_and_never_misses_stable_keys() {
    let duration = Duration::from_millis(
        std::env::var("NETBASE_STRESS_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(700),
    );
    let heap = HeapRegion::zeroed(table_bytes(Kind::Hash, CAPACITY, 16, 0).unwrap() as usize);
    let mut w = HashWriter::<Row, [u8; 4]>::create(heap.region(), CAPACITY, key, 77).unwrap();
    // The newest sequence number announced per key, stored *before* the row is published, so
    // a reader that sees a row also sees its announcement.
    let announced: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    for k in 0..STABLE {
        w.upsert(&row(k, 1)).unwrap();
        announced[k as usize].store(1, Ordering::Release);
    }
    let done = AtomicBool::new(false);
    let ((lookups, busy), writes) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let r = HashReader::<Row, [u8; 4]>::attach(heap.read_only(), CAPACITY, key).unwrap();
            let mut seen = vec![0u64; KEYS as usize];
            let mut rng = SplitMix64::new(1);
            let mut lookups = 0u64;
            let mut busy = 0u64;
            while !done.load(Ordering::Acquire) {
                let k = rng.below(KEYS.into()) as u32;
                let found = get_patiently(&r, k, &mut busy);
                lookups += 1;
                let Some(found) = found else {
                    assert!(k >= STABLE, "stable key {k} missed");
                    continue;
                };
                assert_eq!(found.key, k, "row of another key");
                assert_eq!(found.check, checksum(k, found.seq), "torn row {found:?}");
                let newest = announced[k as usize].load(Ordering::Acquire);
                assert!(
                    found.seq <= newest,
                    "unpublished {found:?}, newest {newest}"
                );
                assert!(
                    found.seq >= seen[k as usize],
                    "went back in time: {found:?}"
                );
                seen[k as usize] = found.seq;
            }
            (lookups, busy)
        });
        let mut rng = SplitMix64::new(2);
        let mut seq = 1u64;
        let mut writes = 0u64;
        let start = Instant::now();
        while start.elapsed() < duration {
            for _ in 0..256 {
                seq += 1;
                let k = rng.below(KEYS.into()) as u32;
                if k >= STABLE && rng.below(3) == 0 {
                    w.remove(&k.to_le_bytes());
                } else {
                    announced[k as usize].store(seq, Ordering::Release);
                    match w.upsert(&row(k, seq)) {
                        Ok(_) | Err(HashError::Full) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                writes += 1;
            }
            if rng.below(16) == 0 {
                w.compact();
            }
        }
        done.store(true, Ordering::Release);
        (reader.join().unwrap(), writes)
    });
    w.slot_writer().check().unwrap();
    let h = w.header();
    println!(
        "{lookups} lookups ({busy} Busy) during {writes} writes; {} compactions moved {} rows; \
         {} inserts refused",
        h.stat(stat::COMPACTIONS),
        w.slot_writer().moves(),
        h.stat(stat::INSERT_FULL)
    );
    assert!(lookups > 1000 && writes > 1000);
    assert!(h.stat(stat::COMPACTIONS) > 0 && w.slot_writer().moves() > 0);
    assert!(h.stat(stat::INSERT_FULL) > 0);
}
