//! The hash table against a `HashMap` model: random operation sequences on tiny tables with
//! small key spaces (collisions, tombstones, compactions, full tables, writer restarts), with
//! the writer's invariants and a read-only reader's view checked after every operation.

use std::collections::{HashMap, HashSet};

use netbase_runtime::region::HeapRegion;
use netbase_runtime::tables::geometry::{table_bytes, Kind};
use netbase_runtime::tables::hash::{HashError, HashReader, HashWriter, Policy, Upsert};
use netbase_runtime::tables::header::{stat, word};
use netbase_runtime::SharedRow;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, SharedRow)]
#[repr(C)]
struct Row {
    key: u32,
    tag: u32,
    val: u64,
}

fn key(r: &Row) -> [u8; 4] {
    r.key.to_le_bytes()
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u32, u64),
    Remove(u32),
    Get(u32),
    Compact,
    /// The writer restarts and re-attaches.
    Reattach,
}

fn op(keys: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Upsert(k, v)),
        4 => (0..keys).prop_map(Op::Remove),
        2 => (0..keys).prop_map(Op::Get),
        1 => Just(Op::Compact),
        1 => Just(Op::Reattach),
    ]
}

/// What the writer promises, kept independently.
#[derive(Default)]
struct Model {
    rows: HashMap<u32, Row>,
    missing: HashSet<u32>,
    inherited_missing: u64,
}

fn run(capacity: u64, keys: u32, lazy_compaction: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let heap = HeapRegion::zeroed(table_bytes(Kind::Hash, capacity, 16, 0).unwrap() as usize);
    let policy = |w: &mut HashWriter<'_, Row, [u8; 4]>| {
        if lazy_compaction {
            // Only the load limit forces compactions: tombstones pile up.
            let p = w.policy();
            w.set_policy(Policy {
                max_tombstones: capacity as usize,
                ..p
            });
        }
    };
    let mut w = HashWriter::<Row, [u8; 4]>::create(heap.region(), capacity, key, 0x5eed).unwrap();
    policy(&mut w);
    let r = HashReader::<Row, [u8; 4]>::attach(heap.read_only(), capacity, key).unwrap();
    let max_live = w.policy().max_live;
    let mut m = Model::default();
    let mut full_refusals = 0u64;
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Upsert(k, v) => {
                let row = Row {
                    key: k,
                    tag: n as u32,
                    val: v,
                };
                let expected = if m.rows.contains_key(&k) {
                    Ok(Upsert::Replaced)
                } else if m.rows.len() >= max_live {
                    Err(HashError::Full)
                } else {
                    Ok(Upsert::Inserted)
                };
                prop_assert_eq!(w.upsert(&row), expected.clone(), "op {}: {:?}", n, op);
                if expected.is_ok() {
                    m.rows.insert(k, row);
                    m.missing.remove(&k);
                } else {
                    m.missing.insert(k);
                    full_refusals += 1;
                }
            }
            Op::Remove(k) => {
                prop_assert_eq!(w.remove(&k.to_le_bytes()), m.rows.remove(&k).is_some());
                m.missing.remove(&k);
            }
            Op::Get(k) => prop_assert_eq!(w.get(&k.to_le_bytes()), m.rows.get(&k).copied()),
            Op::Compact => {
                w.compact();
                prop_assert_eq!(w.tombstones(), 0);
            }
            Op::Reattach => {
                drop(w);
                w = HashWriter::<Row, [u8; 4]>::attach(heap.region(), capacity, key).unwrap();
                policy(&mut w);
                prop_assert_eq!(w.repairs().total(), 0);
                m.inherited_missing += m.missing.len() as u64;
                m.missing.clear();
            }
        }
        if let Err(e) = w.slot_writer().check() {
            return Err(TestCaseError::fail(format!("after op {n} {op:?}: {e}")));
        }
        for k in 0..keys {
            let want = m.rows.get(&k).copied();
            prop_assert_eq!(
                r.get(&k.to_le_bytes()),
                Ok(want),
                "reader, key {} op {}",
                k,
                n
            );
        }
        prop_assert_eq!(r.len(), m.rows.len());
        prop_assert_eq!(r.header().load(word::TOMBSTONES), w.tombstones() as u64);
        prop_assert_eq!(r.incomplete(), m.missing.len() as u64 + m.inherited_missing);
        prop_assert_eq!(r.header().stat(stat::INSERT_FULL), full_refusals);
        let mut snap = r.snapshot(1).unwrap();
        snap.sort_by_key(|row| row.key);
        let mut rows: Vec<Row> = m.rows.values().copied().collect();
        rows.sort_by_key(|row| row.key);
        prop_assert_eq!(snap, rows);
    }
    Ok(())
}

proptest! {
    // 512 cases by default; `PROPTEST_CASES=n` for a longer search.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn tiny_tables_agree_with_a_hashmap(
        cap_log in 1u32..=5,
        lazy in any::<bool>(),
        ops in prop::collection::vec(op(24), 1..160),
    ) {
        let capacity = 1u64 << cap_log;
        // Key spaces a little larger than the table: every table fills up at times.
        let keys = (capacity as u32 + 2).min(24);
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                Op::Upsert(k, v) => Op::Upsert(k % keys, v),
                Op::Remove(k) => Op::Remove(k % keys),
                Op::Get(k) => Op::Get(k % keys),
                other => other,
            })
            .collect();
        run(capacity, keys, lazy, &ops)?;
    }
}
