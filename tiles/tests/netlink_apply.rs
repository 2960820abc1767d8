//! Replays captured kernel messages (tests/fixtures/netlink) through the netlink tile's
//! apply/sweep into real tables and checks the result against a model built independently
//! from the generated parsers and BTreeMaps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use netbase_runtime::netlink::request::DumpKind;
use netbase_runtime::netlink::wire::{Op, Outcome, ParseStats};
use netbase_runtime::region::HeapRegion;
use netbase_runtime::sync::qsbr::NoReaders;
use netbase_runtime::workspace::{Backing, CreateOptions, RemoveGuard, Workspace};
use netbase_tiles::netlink_tile::diff::diff;
use netbase_tiles::netlink_tile::{
    Mirror, NetbaseWriter, Origin, RouteKey, Snapshot, TableRegions,
};
use netbase_tiles::schema::{self, tables as t, NudState, Route4, LAYOUT_FINGERPRINT};

const SEED: u64 = 0x5eed_0f7a_b1e5;
const NOW: u64 = 123_456_789;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/netlink")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Splits a concatenation of netlink messages (each padded to 4 bytes).
fn messages(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        assert!(
            len >= 16 && len <= rest.len(),
            "bad fixture message length {len}"
        );
        out.push(&rest[..len]);
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    assert!(rest.is_empty());
    out
}

fn ty(m: &[u8]) -> u16 {
    u16::from_ne_bytes([m[4], m[5]])
}

/// The model: what the tables must hold after applying `msgs` in order, written from the
/// parsers' output with plain maps (deletes by key, an interface delete takes its addresses
/// and neighbours along).
fn model_apply(model: &mut Snapshot, msg: &[u8]) {
    let mut s = ParseStats::default();
    match ty(msg) {
        16 | 17 => {
            if let Ok(Outcome::Row(p)) = schema::parse_interface(msg, &mut s) {
                if p.op == Op::New {
                    model.interfaces.insert(p.row.ifindex, p.row);
                } else {
                    model.interfaces.remove(&p.row.ifindex);
                    model.addrs4.retain(|k, _| k.0 != p.row.ifindex);
                    model.neigh4.retain(|k, _| k.0 != p.row.ifindex);
                }
            }
        }
        20 | 21 => {
            if let Ok(Outcome::Row(p)) = schema::parse_addr4(msg, &mut s) {
                let k = (p.row.ifindex, p.row.local.0);
                if p.op == Op::New {
                    model.addrs4.insert(k, p.row);
                } else {
                    model.addrs4.remove(&k);
                }
            }
        }
        24 | 25 => {
            if let Ok(Outcome::Row(p)) = schema::parse_route4(msg, &mut s) {
                if p.row.table != 254 && p.row.table != 255 {
                    return;
                }
                let k = RouteKey::of(&p.row);
                if p.op == Op::New {
                    model.routes4.insert(k, p.row);
                } else {
                    model.routes4.remove(&k);
                }
            }
        }
        28 | 29 => {
            if let Ok(Outcome::Row(p)) = schema::parse_neigh4(msg, &mut s) {
                let k = (p.row.ifindex, p.row.ip.0);
                if p.op == Op::New {
                    model.neigh4.insert(k, p.row);
                } else {
                    model.neigh4.remove(&k);
                }
            }
        }
        _ => {}
    }
}

fn heap() -> HeapRegion {
    HeapRegion::zeroed(TableRegions::BASE_BYTES as usize)
}

/// Empty tables over `mem`, as a fresh netlink tile creates them.
fn mirror(mem: &HeapRegion) -> Mirror<'_, NoReaders> {
    Mirror::new(
        NetbaseWriter::create(
            TableRegions::from_base(mem.region()).unwrap(),
            NoReaders,
            SEED,
        )
        .unwrap(),
    )
}

fn dump_files() -> Vec<(DumpKind, Vec<u8>)> {
    vec![
        (DumpKind::Links, fixture("links.bin")),
        (DumpKind::Addrs4, fixture("addrs.bin")),
        (DumpKind::Routes4 { table: 254 }, fixture("routes.bin")),
        (DumpKind::Neigh4, fixture("neigh.bin")),
    ]
}

fn assert_same(kernel: &Snapshot, mirror: &Snapshot) {
    let d = diff(kernel, mirror);
    assert!(
        d.is_empty(),
        "{} differences:\n{}",
        d.len(),
        d.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn netlink_apply_replay_dumps_then_notifications_matches_model() {
    let name = format!("nbt-apply-{}", std::process::id());
    let _guard = RemoveGuard::new(&name, &Backing::Shm).unwrap();
    let ws = Workspace::create(&CreateOptions::new(
        &name,
        t::WORKSPACE_BYTES,
        LAYOUT_FINGERPRINT,
    ))
    .unwrap();
    let regions = TableRegions::from_workspace(&ws).unwrap();
    let mut m = Mirror::new(NetbaseWriter::create(regions, NoReaders, SEED).unwrap());
    let mut model = Snapshot::default();

    let mut expect_unsupported = 0u64;
    let mut expect_ignored = 0u64;
    for (kind, bytes) in dump_files() {
        for msg in messages(&bytes) {
            if let (DumpKind::Routes4 { .. }, Ok(Outcome::Row(p))) =
                (kind, schema::parse_route4(msg, &mut ParseStats::default()))
            {
                if p.row.table == 254 || p.row.table == 255 {
                    expect_unsupported += u64::from(p.row.multipath != 0 || p.row.nh_id != 0);
                } else {
                    expect_ignored += 1;
                }
            }
            m.apply_at(msg, Origin::Dump { generation: 1 }, NOW);
            model_apply(&mut model, msg);
        }
    }
    m.tables.maintain();
    assert_eq!(m.counters.parse_errors, 0, "{:?}", m.counters);
    assert!(
        expect_ignored > 0,
        "fixtures hold routes of tables 100/1000"
    );
    assert!(
        expect_unsupported > 0,
        "fixtures hold ECMP / nexthop-object routes"
    );
    assert_eq!(m.counters.ignored_tables, expect_ignored);
    assert_eq!(m.counters.unsupported_routes, expect_unsupported);
    assert!(
        m.counters.other_family > 0,
        "IPv6 rows are skipped, not parsed as IPv4"
    );
    let got = Snapshot::from_tables(&m.tables);
    assert!(got.routes4.keys().all(|k| k.table == 254 || k.table == 255));
    assert!(
        got.routes4.keys().any(|k| k.table == 255) && got.routes4.keys().any(|k| k.table == 254)
    );
    assert!(!got.interfaces.is_empty() && !got.addrs4.is_empty() && !got.neigh4.is_empty());
    assert_same(&model, &got);
    assert!(m.tables.neigh4.iter().all(|n| n.updated_ns == NOW));

    // Cloned routes: skipped and counted, tables unchanged.
    let cloned = fixture("routes-cloned.bin");
    let cloned_v4 = messages(&cloned)
        .into_iter()
        .filter(|msg| msg[16] == 2)
        .count() as u64;
    assert!(cloned_v4 > 0);
    for msg in messages(&cloned) {
        m.apply_at(msg, Origin::Dump { generation: 1 }, NOW);
    }
    assert_eq!(m.counters.cloned_routes, cloned_v4);
    assert_same(&model, &Snapshot::from_tables(&m.tables));

    // Notifications: adds, replaces, deletes (neighbours FAILED then DEL included).
    let notify = fixture("notify.bin");
    let mut neigh_dels = Vec::new();
    for msg in messages(&notify) {
        if ty(msg) == 29 {
            if let Ok(Outcome::Row(p)) = schema::parse_neigh4(msg, &mut ParseStats::default()) {
                neigh_dels.push((p.row.ifindex, p.row.ip.0));
            }
        }
        m.apply_at(msg, Origin::Notification, NOW + 1);
        model_apply(&mut model, msg);
    }
    m.tables.maintain();
    assert_eq!(m.counters.parse_errors, 0);
    assert!(!neigh_dels.is_empty(), "notify.bin deletes neighbours");
    let got = Snapshot::from_tables(&m.tables);
    for k in &neigh_dels {
        // Unless re-added later in the stream, a deleted neighbour is gone.
        assert_eq!(got.neigh4.contains_key(k), model.neigh4.contains_key(k));
    }
    assert!(neigh_dels.iter().any(|k| !got.neigh4.contains_key(k)));
    assert_same(&model, &got);
    assert!(
        m.counters.updates.iter().all(|&n| n > 0),
        "{:?}",
        m.counters.updates
    );
}

#[test]
fn netlink_apply_permanent_neighbour_removal_failed_then_del() {
    let mem = heap();
    let mut m = mirror(&mem);
    let neigh = fixture("neigh.bin");
    let msgs = messages(&neigh);
    let perm = msgs
        .iter()
        .find(|msg| {
            matches!(schema::parse_neigh4(msg, &mut ParseStats::default()),
                Ok(Outcome::Row(p)) if p.row.state == NudState::PERMANENT)
        })
        .expect("a permanent neighbour in neigh.bin");
    m.apply_at(perm, Origin::Notification, NOW);
    assert_eq!(m.tables.neigh4.len(), 1);
    // NEW with state FAILED (same message, state rewritten), then DEL without NDA_LLADDR.
    let mut failed = perm.to_vec();
    failed[16 + 8..16 + 10].copy_from_slice(&NudState::FAILED.0.to_ne_bytes());
    m.apply_at(&failed, Origin::Notification, NOW);
    assert_eq!(
        m.tables.neigh4.iter().next().unwrap().state,
        NudState::FAILED
    );
    let mut del = failed[..16 + 12].to_vec();
    // Keep only NDA_DST (type 1, 8 bytes) from the attributes.
    let attrs = &failed[28..];
    let mut off = 0;
    while off + 4 <= attrs.len() {
        let alen = u16::from_ne_bytes([attrs[off], attrs[off + 1]]) as usize;
        let aty = u16::from_ne_bytes([attrs[off + 2], attrs[off + 3]]);
        if aty == 1 {
            del.extend_from_slice(&attrs[off..off + alen]);
        }
        off += (alen + 3) & !3;
    }
    let len = del.len() as u32;
    del[0..4].copy_from_slice(&len.to_ne_bytes());
    del[4..6].copy_from_slice(&29u16.to_ne_bytes());
    m.apply_at(&del, Origin::Notification, NOW);
    assert!(m.tables.neigh4.is_empty());
    assert_eq!(m.counters.parse_errors, 0);
}

#[test]
fn netlink_apply_interface_delete_cascades_and_marks_routes_stale() {
    let mem = heap();
    let mut m = mirror(&mem);
    for (_, bytes) in dump_files() {
        for msg in messages(&bytes) {
            m.apply_at(msg, Origin::Dump { generation: 1 }, NOW);
        }
    }
    // The interface with the most addresses + neighbours.
    let mut per_if: BTreeMap<u32, usize> = BTreeMap::new();
    for a in m.tables.addrs4.iter() {
        *per_if.entry(a.ifindex).or_default() += 1;
    }
    for n in m.tables.neigh4.iter() {
        *per_if.entry(n.ifindex).or_default() += 1;
    }
    let (&victim, &count) = per_if.iter().max_by_key(|(_, &c)| c).unwrap();
    let links = fixture("links.bin");
    let newlink = messages(&links)
        .into_iter()
        .find(|msg| {
            matches!(schema::parse_interface(msg, &mut ParseStats::default()),
                Ok(Outcome::Row(p)) if p.row.ifindex == victim)
        })
        .unwrap()
        .to_vec();
    // A bare RTM_DELLINK: header + ifinfomsg only.
    let mut del = newlink[..32].to_vec();
    del[0..4].copy_from_slice(&32u32.to_ne_bytes());
    del[4..6].copy_from_slice(&17u16.to_ne_bytes());
    let e = m.apply_at(&del, Origin::Notification, NOW);
    assert!(e.routes_stale && e.changed);
    assert_eq!(m.counters.cascaded, count as u64);
    assert!(m.tables.interfaces.iter().all(|i| i.ifindex != victim));
    assert!(m.tables.addrs4.iter().all(|a| a.ifindex != victim));
    assert!(m.tables.neigh4.iter().all(|n| n.ifindex != victim));

    // Link down (IFF_UP cleared) on a live notification: routes stale. Find an up link.
    let up = messages(&links)
        .into_iter()
        .find(|msg| {
            matches!(schema::parse_interface(msg, &mut ParseStats::default()),
                Ok(Outcome::Row(p)) if p.row.flags & 0x41 == 0x41 && p.row.ifindex != victim)
        })
        .expect("an up link")
        .to_vec();
    let mut down = up.clone();
    let flags = u32::from_ne_bytes([down[24], down[25], down[26], down[27]]) & !0x41;
    down[24..28].copy_from_slice(&flags.to_ne_bytes());
    assert!(m.apply_at(&down, Origin::Notification, NOW).routes_stale);
    // Down again: no transition, nothing to re-dump. Up again: the kernel clears
    // RTNH_F_LINKDOWN on its routes without a notification, so routes are stale again.
    assert!(!m.apply_at(&down, Origin::Notification, NOW).routes_stale);
    assert!(m.apply_at(&up, Origin::Notification, NOW).routes_stale);
    assert!(!m.apply_at(&up, Origin::Notification, NOW).routes_stale);
    // A nexthop notification (RTM_NEWNEXTHOP, header + nhmsg): routes stale.
    let mut nh = vec![0u8; 24];
    nh[0..4].copy_from_slice(&24u32.to_ne_bytes());
    nh[4..6].copy_from_slice(&104u16.to_ne_bytes());
    assert!(m.apply_at(&nh, Origin::Notification, NOW).routes_stale);
}

#[test]
fn netlink_apply_mark_and_sweep_removes_exactly_the_rows_missing_from_the_new_dump() {
    let mem = heap();
    let mut m = mirror(&mem);
    let files = dump_files();
    for (_, bytes) in &files {
        for msg in messages(bytes) {
            m.apply_at(msg, Origin::Dump { generation: 1 }, NOW);
        }
    }
    let before = Snapshot::from_tables(&m.tables);
    // Generation 2: every third message is missing from the dumps (gone from the kernel,
    // delete notification lost). Routes are dumped per table, as the sync machine does.
    let mut model = Snapshot::default();
    for (kind, bytes) in &files {
        let kept: Vec<&[u8]> = messages(bytes)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 1)
            .map(|(_, msg)| msg)
            .collect();
        for msg in &kept {
            model_apply(&mut model, msg);
            m.apply_at(msg, Origin::Dump { generation: 2 }, NOW);
        }
        match kind {
            DumpKind::Routes4 { .. } => {
                for table in [254, 255] {
                    m.sweep(DumpKind::Routes4 { table }, 2);
                }
            }
            k => {
                m.sweep(*k, 2);
            }
        }
    }
    let after = Snapshot::from_tables(&m.tables);
    assert_same(&model, &after);
    assert!(after.len() < before.len());
    assert_eq!(m.counters.swept as usize, before.len() - after.len());
    // A sweep of a table nobody mirrors, or with an older generation, removes nothing.
    assert_eq!(m.sweep(DumpKind::Routes4 { table: 100 }, 3), 0);
    assert_eq!(m.sweep(DumpKind::Links, 2), 0);
    // Notification rows stamped with the current generation survive its sweep.
    m.set_notification_generation(3);
    let routes = fixture("routes.bin");
    let one_main = messages(&routes)
        .into_iter()
        .find(|msg| {
            matches!(schema::parse_route4(msg, &mut ParseStats::default()),
                Ok(Outcome::Row(p)) if p.row.table == 254)
        })
        .unwrap();
    m.apply_at(one_main, Origin::Notification, NOW);
    m.sweep(DumpKind::Routes4 { table: 254 }, 3);
    let left = Snapshot::from_tables(&m.tables);
    assert_eq!(left.routes4.keys().filter(|k| k.table == 254).count(), 1);
    assert!(
        left.routes4.keys().any(|k| k.table == 255),
        "local untouched by a main sweep"
    );
}

#[test]
fn netlink_apply_never_panics_on_mangled_messages() {
    let mem = heap();
    let mut m = mirror(&mem);
    let mut all = Vec::new();
    for name in [
        "links.bin",
        "addrs.bin",
        "routes.bin",
        "neigh.bin",
        "notify.bin",
    ] {
        all.extend(messages(&fixture(name)).into_iter().map(<[u8]>::to_vec));
    }
    let mut rng = 0x1234_5678_9abc_def1u64;
    for msg in &all {
        for cut in [0, 3, 5, 16, 17, 20, msg.len() / 2, msg.len() - 1] {
            m.apply_at(&msg[..cut.min(msg.len())], Origin::Notification, NOW);
        }
        for _ in 0..8 {
            let mut bad = msg.clone();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = (rng as usize) % bad.len();
            bad[i] ^= (rng >> 32) as u8 | 1;
            m.apply_at(&bad, Origin::Notification, NOW);
        }
    }
    assert!(m.counters.parse_errors > 0);
    // Route4 rows stay well-formed for the diff helpers.
    let _ = Snapshot::from_tables(&m.tables)
        .routes4
        .values()
        .map(|r: &Route4| r.dst_len)
        .max();
}

/// A dump reply the kernel built before a delete notification must not bring the deleted
/// route back (the dump is not atomic, and its replies can be older than notifications read
/// before them); the row stays deleted through the sweep of that dump.
#[test]
fn netlink_apply_dump_rows_never_undo_a_newer_notification() {
    let mem = heap();
    let mut m = mirror(&mem);
    let routes = fixture("routes.bin");
    let main_routes: Vec<&[u8]> = messages(&routes)
        .into_iter()
        .filter(|msg| {
            matches!(schema::parse_route4(msg, &mut ParseStats::default()),
                Ok(Outcome::Row(p)) if p.row.table == 254 && p.op == Op::New)
        })
        .collect();
    assert!(main_routes.len() >= 2, "fixture has main routes");
    for msg in &main_routes {
        m.apply_at(msg, Origin::Dump { generation: 1 }, NOW);
    }
    let victim = main_routes[0];
    let key_of = |msg: &[u8]| {
        let Ok(Outcome::Row(p)) = schema::parse_route4(msg, &mut ParseStats::default()) else {
            unreachable!("filtered above")
        };
        (p.row.dst, p.row.dst_len, p.row.priority)
    };
    let present = |m: &Mirror<'_, NoReaders>, msg: &[u8]| {
        let (dst, len, metric) = key_of(msg);
        Snapshot::from_tables(&m.tables)
            .routes4
            .keys()
            .any(|k| k.table == 254 && k.dst == dst.to_u32() && k.len == len && k.metric == metric)
    };
    assert!(present(&m, victim));

    // Resync generation 2 starts; before its reply for the victim is read, a notification
    // deletes the victim.
    m.set_notification_generation(2);
    m.begin_dump();
    let mut delete = victim.to_vec();
    delete[4..6].copy_from_slice(&25u16.to_ne_bytes()); // RTM_DELROUTE
    m.apply_at(&delete, Origin::Notification, NOW);
    assert!(!present(&m, victim));
    // The dump's (older) replies arrive, the victim among them.
    for msg in &main_routes {
        m.apply_at(msg, Origin::Dump { generation: 2 }, NOW);
    }
    m.end_dump();
    m.sweep(DumpKind::Routes4 { table: 254 }, 2);
    assert!(
        !present(&m, victim),
        "a stale dump row resurrected a deleted route"
    );
    assert_eq!(m.counters.dump_rows_superseded, 1);
    for msg in &main_routes[1..] {
        assert!(present(&m, msg), "routes the dump saw survive its sweep");
    }
}
