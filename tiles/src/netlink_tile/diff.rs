//! Kernel rows against mirrored rows, by key and field by field. Backs the live tests and
//! `netbase diff`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Debug;

use netbase_runtime::netlink::dump::{ReadError, RequestSocket};
use netbase_runtime::netlink::request::DumpKind;
use netbase_runtime::netlink::wire::{Op, Outcome, ParseStats};
use netbase_runtime::sync::qsbr::ReaderEpochs;

use super::apply::route_row;
use super::mirror::NetbaseWriter;
use crate::schema::{self, tables as t, Addr4, Interface, Neigh4, Route4};

/// A route's identity: kernel table, prefix (host order), length, metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub table: u32,
    pub dst: u32,
    pub len: u8,
    pub metric: u32,
}

impl RouteKey {
    pub fn of(row: &Route4) -> Self {
        RouteKey {
            table: row.table,
            dst: row.dst.to_u32(),
            len: row.dst_len,
            metric: row.priority,
        }
    }
}

/// The rows of every mirrored kind, by key. Neighbour `updated_ns` is zeroed: the kernel has
/// no such field, it says when the mirror wrote the row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub interfaces: BTreeMap<u32, Interface>,
    pub addrs4: BTreeMap<(u32, [u8; 4]), Addr4>,
    /// Routes of the mirrored tables (local and main) only.
    pub routes4: BTreeMap<RouteKey, Route4>,
    pub neigh4: BTreeMap<(u32, [u8; 4]), Neigh4>,
}

impl Snapshot {
    /// Adds one message's row as the mirror would keep it (skips, deletes and other tables
    /// ignored). For building the kernel side from dump messages.
    pub fn add_message(&mut self, msg: &[u8]) {
        let mut stats = ParseStats::default();
        let ty = msg.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        match ty {
            Some(16) => {
                if let Ok(Outcome::Row(p)) = schema::parse_interface(msg, &mut stats) {
                    if p.op == Op::New {
                        self.interfaces.insert(p.row.ifindex, p.row);
                    }
                }
            }
            Some(20) => {
                if let Ok(Outcome::Row(p)) = schema::parse_addr4(msg, &mut stats) {
                    if p.op == Op::New {
                        self.addrs4.insert((p.row.ifindex, p.row.local.0), p.row);
                    }
                }
            }
            Some(24) => {
                if let Ok(Outcome::Row(p)) = schema::parse_route4(msg, &mut stats) {
                    if p.op == Op::New && t::table_for_route4(&p.row).is_some() {
                        self.routes4.insert(RouteKey::of(&p.row), p.row);
                    }
                }
            }
            Some(28) => {
                if let Ok(Outcome::Row(mut p)) = schema::parse_neigh4(msg, &mut stats) {
                    if p.op == Op::New {
                        p.row.updated_ns = 0;
                        self.neigh4.insert((p.row.ifindex, p.row.ip.0), p.row);
                    }
                }
            }
            _ => {}
        }
    }

    /// What the kernel has now: one dump of each kind on `req` (routes of local and main).
    pub fn from_kernel(req: &mut RequestSocket) -> Result<Snapshot, String> {
        let mut snap = Snapshot::default();
        let kinds = [
            DumpKind::Links,
            DumpKind::Addrs4,
            DumpKind::Routes4 { table: 254 },
            DumpKind::Routes4 { table: 255 },
            DumpKind::Neigh4,
        ];
        for kind in kinds {
            let mut add = |m: &[u8]| {
                snap.add_message(m);
                Ok::<(), Infallible>(())
            };
            match req.run_consistent(kind, 5, &mut add) {
                Ok(_) => {}
                Err(ReadError::Dump(e)) if e.is_missing_table() => {}
                Err(e) => return Err(format!("dump of {kind}: {e}")),
            }
        }
        Ok(snap)
    }

    /// What the writer's tables hold.
    pub fn from_tables<R: ReaderEpochs + Clone>(tables: &NetbaseWriter<'_, R>) -> Snapshot {
        let mut snap = Snapshot::default();
        for r in tables.interfaces.iter() {
            snap.interfaces.insert(r.ifindex, r);
        }
        for r in tables.addrs4.iter() {
            snap.addrs4.insert((r.ifindex, r.local.0), r);
        }
        for fib in [&tables.local4, &tables.main4] {
            for r in fib.routes() {
                let row = route_row(r.prefix, r.len, &r.nexthop);
                snap.routes4.insert(RouteKey::of(&row), row);
            }
        }
        for mut r in tables.neigh4.iter() {
            r.updated_ns = 0;
            snap.neigh4.insert((r.ifindex, r.ip.0), r);
        }
        snap
    }

    pub fn len(&self) -> usize {
        self.interfaces.len() + self.addrs4.len() + self.routes4.len() + self.neigh4.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A field that differs: (name, kernel value, mirrored value).
pub type FieldDiff = (&'static str, String, String);

/// One difference between the kernel and the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// In the kernel, not mirrored.
    Missing { table: &'static str, key: String },
    /// Mirrored, gone from the kernel.
    Extra { table: &'static str, key: String },
    /// Both have the row; these fields differ: (name, kernel value, mirrored value).
    Fields {
        table: &'static str,
        key: String,
        fields: Vec<FieldDiff>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing { table, key } => write!(f, "{table} {key}: not mirrored"),
            Mismatch::Extra { table, key } => write!(f, "{table} {key}: not in the kernel"),
            Mismatch::Fields { table, key, fields } => {
                write!(f, "{table} {key}:")?;
                for (name, k, m) in fields {
                    write!(f, " {name} kernel={k} mirror={m};")?;
                }
                Ok(())
            }
        }
    }
}

/// Compares named fields of two rows; the names and accessors are listed per row type.
macro_rules! field_diff {
    ($a:expr, $b:expr, [$($f:ident),* $(,)?]) => {{
        let mut out: Vec<FieldDiff> = Vec::new();
        $(
            if $a.$f != $b.$f {
                out.push((stringify!($f), format!("{:?}", $a.$f), format!("{:?}", $b.$f)));
            }
        )*
        out
    }};
}

fn interface_fields(a: &Interface, b: &Interface) -> Vec<FieldDiff> {
    field_diff!(
        a,
        b,
        [ifindex, flags, mtu, master, link, arp_type, vlan_id, name, mac, oper_state, link_type]
    )
}

fn addr4_fields(a: &Addr4, b: &Addr4) -> Vec<FieldDiff> {
    field_diff!(a, b, [ifindex, local, broadcast, flags, prefix_len, scope])
}

fn route4_fields(a: &Route4, b: &Route4) -> Vec<FieldDiff> {
    field_diff!(
        a,
        b,
        [
            dst, gateway, prefsrc, oif, priority, table, nh_id, flags, dst_len, tos, route_type,
            scope, protocol, multipath
        ]
    )
}

fn neigh4_fields(a: &Neigh4, b: &Neigh4) -> Vec<FieldDiff> {
    field_diff!(a, b, [ifindex, ip, mac, state, flags, ndm_type])
}

fn diff_map<K: Ord + Debug, V>(
    table: &'static str,
    kernel: &BTreeMap<K, V>,
    mirror: &BTreeMap<K, V>,
    fields: fn(&V, &V) -> Vec<FieldDiff>,
    out: &mut Vec<Mismatch>,
) {
    for (k, kv) in kernel {
        match mirror.get(k) {
            None => out.push(Mismatch::Missing {
                table,
                key: format!("{k:?}"),
            }),
            Some(mv) => {
                let f = fields(kv, mv);
                if !f.is_empty() {
                    out.push(Mismatch::Fields {
                        table,
                        key: format!("{k:?}"),
                        fields: f,
                    });
                }
            }
        }
    }
    for k in mirror.keys() {
        if !kernel.contains_key(k) {
            out.push(Mismatch::Extra {
                table,
                key: format!("{k:?}"),
            });
        }
    }
}

/// Every difference between `kernel` and `mirror`; empty when they agree.
pub fn diff(kernel: &Snapshot, mirror: &Snapshot) -> Vec<Mismatch> {
    let mut out = Vec::new();
    diff_map(
        "interfaces",
        &kernel.interfaces,
        &mirror.interfaces,
        interface_fields,
        &mut out,
    );
    diff_map(
        "addrs4",
        &kernel.addrs4,
        &mirror.addrs4,
        addr4_fields,
        &mut out,
    );
    diff_map(
        "routes4",
        &kernel.routes4,
        &mirror.routes4,
        route4_fields,
        &mut out,
    );
    diff_map(
        "neigh4",
        &kernel.neigh4,
        &mirror.neigh4,
        neigh4_fields,
        &mut out,
    );
    out
}
