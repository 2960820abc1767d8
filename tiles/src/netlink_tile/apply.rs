//! One rtnetlink message into the tables.
//!
//! Nothing the kernel sends may stop the tile: a message that does not parse, lacks a key
//! field or does not fit a table is counted and skipped. Notifications are applied as
//! idempotent replaces (`RTM_NEW*`) and deletes (`RTM_DEL*`) keyed by key fields only, since
//! delete messages may lack the other attributes.

use netbase_runtime::netlink::request::DumpKind;
use netbase_runtime::netlink::wire::{Op, Outcome, ParseStats, Parsed, Skip};
use netbase_runtime::sync::qsbr::ReaderEpochs;
use netbase_runtime::tables::hash::HashError;
use netbase_runtime::types::Ipv4;

use super::counters::Counters;
use super::mirror::NetbaseWriter;
use super::monotonic_ns;
use super::sweep::{RouteStampKey, Stamps, Touched};
use crate::netbase_view::{NetbaseView, RouteTable, ViewError};
use crate::schema::tables as t;
use crate::schema::{self, Addr4, Interface, Neigh4, OperState, Route4};

// rtnetlink message types (include/uapi/linux/rtnetlink.h); kernel ABI, they never move.
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;

const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;

/// Where a message came from, which decides its mark-and-sweep stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A reply of the dump with this generation.
    Dump { generation: u64 },
    /// A multicast notification: stamped with [`Mirror::set_notification_generation`].
    Notification,
}

/// What applying a message implies beyond the tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effect {
    /// A table changed.
    pub changed: bool,
    /// Routes may have vanished without `RTM_DELROUTE` (a link went down or away, a nexthop
    /// object changed): the route tables must be dumped again.
    pub routes_stale: bool,
    /// A notification showed a link that is new or newly administratively up: the kernel
    /// may create neighbours on it without notifying (multicast groups joined on `NETDEV_UP`,
    /// e.g. IGMP's 224.0.0.22), so the neighbours must be dumped again.
    pub link_up: bool,
    /// A notification announced a link the mirror did not have. A veth pair's first device
    /// is announced before its peer exists (`IFLA_LINK` 0) and the kernel sends no update
    /// once the peer is linked, so the links must be dumped again.
    pub link_new: bool,
}

/// The tables plus the writer-private state needed to keep them equal to the kernel.
pub struct Mirror<'a, R> {
    pub tables: NetbaseWriter<'a, R>,
    pub stamps: Stamps,
    pub counters: Counters,
    /// Keys notifications touched while the current dump is in flight.
    pub touched: Touched,
    notify_generation: u64,
}

/// Whether packets can leave through the interface: administratively up, carrier present,
/// and not reported down. A transition away from this is when the kernel drops routes.
fn link_usable(row: &Interface) -> bool {
    row.flags & IFF_UP != 0
        && row.flags & IFF_RUNNING != 0
        && row.oper_state != OperState::DOWN
        && row.oper_state != OperState::LOWERLAYERDOWN
}

fn present<R>(p: &Parsed<R>, field: usize) -> bool {
    p.present & (1u64 << field) != 0
}

/// The kernel's route table id to the schema's table id.
pub fn route_table_id(kernel_table: u32) -> Option<usize> {
    let probe = Route4 {
        table: kernel_table,
        ..Route4::ZERO
    };
    t::table_for_route4(&probe)
}

fn route_key(id: usize, row: &Route4) -> RouteStampKey {
    let ((prefix, len), metric) = if id == t::LOCAL4_ID {
        (t::local4_prefix(row), t::local4_metric(row))
    } else {
        (t::main4_prefix(row), t::main4_metric(row))
    };
    (id, prefix, len, metric)
}

impl<'a, R: ReaderEpochs + Clone> Mirror<'a, R> {
    pub fn new(tables: NetbaseWriter<'a, R>) -> Self {
        Mirror {
            tables,
            stamps: Stamps::default(),
            counters: Counters::default(),
            touched: Touched::default(),
            notify_generation: 0,
        }
    }

    /// Stamps every row `view` lists (tables adopted from a previous writer of the same
    /// workspace) as older than any dump, so that the first full sync removes what the kernel
    /// no longer has. Returns the rows stamped.
    pub fn stamp_adopted(&mut self, view: &NetbaseView<'_>) -> Result<usize, ViewError> {
        let mut n = 0;
        for row in view.links()? {
            self.stamps.interfaces.insert(t::interfaces_key(&row), 0);
            n += 1;
        }
        for row in view.addrs()? {
            self.stamps.addrs4.insert(t::addrs4_key(&row), 0);
            n += 1;
        }
        for row in view.neighbours()? {
            self.stamps.neigh4.insert(t::neigh4_key(&row), 0);
            n += 1;
        }
        for (table, id) in [
            (RouteTable::Local, t::LOCAL4_ID),
            (RouteTable::Main, t::MAIN4_ID),
        ] {
            for r in view.routes(table)? {
                self.stamps.routes4.insert(route_key(id, &r.row), 0);
                n += 1;
            }
        }
        Ok(n)
    }

    /// The stamp for rows written from notifications (the sync machine's generation).
    pub fn set_notification_generation(&mut self, generation: u64) {
        self.notify_generation = generation;
    }

    /// Applies one message (starting at its `nlmsghdr`), stamping neighbours with the
    /// current CLOCK_MONOTONIC.
    pub fn apply(&mut self, msg: &[u8], origin: Origin) -> Effect {
        self.apply_at(msg, origin, monotonic_ns())
    }

    /// [`Mirror::apply`] with the time given (`updated_ns` of neighbour rows).
    pub fn apply_at(&mut self, msg: &[u8], origin: Origin, now_ns: u64) -> Effect {
        match origin {
            Origin::Dump { .. } => self.counters.dump_messages += 1,
            Origin::Notification => self.counters.notifications += 1,
        }
        let generation = match origin {
            Origin::Dump { generation } => generation,
            Origin::Notification => self.notify_generation,
        };
        let notification = origin == Origin::Notification;
        let Some(ty) = msg.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]])) else {
            self.counters.parse_errors += 1;
            return Effect::default();
        };
        let mut stats = ParseStats::default();
        let effect = match ty {
            RTM_NEWLINK | RTM_DELLINK => match schema::parse_interface(msg, &mut stats) {
                Ok(o) => self.interface(o, generation, notification),
                Err(_) => self.parse_error(),
            },
            RTM_NEWADDR | RTM_DELADDR => match schema::parse_addr4(msg, &mut stats) {
                Ok(o) => self.addr4(o, generation, notification),
                Err(_) => self.parse_error(),
            },
            RTM_NEWROUTE | RTM_DELROUTE => match schema::parse_route4(msg, &mut stats) {
                Ok(o) => self.route4(o, generation, notification),
                Err(_) => self.parse_error(),
            },
            RTM_NEWNEIGH | RTM_DELNEIGH => match schema::parse_neigh4(msg, &mut stats) {
                Ok(o) => self.neigh4(o, generation, now_ns, notification),
                Err(_) => self.parse_error(),
            },
            RTM_NEWNEXTHOP | RTM_DELNEXTHOP => {
                // Routes through a deleted or replaced nexthop object change without any
                // route message; only a re-dump shows what is left.
                self.counters.routes_stale += 1;
                Effect {
                    routes_stale: true,
                    ..Effect::default()
                }
            }
            _ => {
                self.counters.other_types += 1;
                Effect::default()
            }
        };
        self.counters.unknown_attrs += stats.unknown_attrs;
        self.counters.ignored_lengths += stats.ignored_lengths;
        effect
    }

    /// A dump row for a key a notification touched during this dump: the mirror already
    /// holds something at least as new (see [`Touched`]).
    fn superseded(&mut self) -> Effect {
        self.counters.dump_rows_superseded += 1;
        Effect::default()
    }

    /// A dump starts on the request socket (see [`Touched`]).
    pub fn begin_dump(&mut self) {
        self.touched.begin();
    }

    /// The dump ended, failed or was abandoned.
    pub fn end_dump(&mut self) {
        self.touched.end();
    }

    fn parse_error(&mut self) -> Effect {
        self.counters.parse_errors += 1;
        Effect::default()
    }

    /// Returns the parsed row, counting a skipped message.
    fn row<T>(&mut self, o: Outcome<T>) -> Option<Parsed<T>> {
        match o {
            Outcome::Row(p) => Some(p),
            Outcome::Skipped(Skip::Family(_)) => {
                self.counters.other_family += 1;
                None
            }
            Outcome::Skipped(Skip::Filtered) => None,
        }
    }

    fn hash_result<T>(&mut self, table: usize, r: Result<T, HashError>) -> bool {
        match r {
            Ok(_) => {
                self.counters.updates[table] += 1;
                true
            }
            Err(HashError::Full) => {
                self.counters.table_full += 1;
                false
            }
            Err(_) => {
                self.counters.write_errors += 1;
                false
            }
        }
    }

    fn interface(&mut self, o: Outcome<Interface>, generation: u64, notification: bool) -> Effect {
        let Some(p) = self.row(o) else {
            return Effect::default();
        };
        let key = t::interfaces_key(&p.row);
        if notification {
            Touched::note(self.touched.is_active(), &mut self.touched.interfaces, key);
        } else if self.touched.interfaces.contains(&key) {
            return self.superseded();
        }
        match p.op {
            Op::New => {
                let before = self.tables.interfaces.get(&key);
                let was_usable = before.as_ref().map(link_usable);
                let was_up = before.as_ref().is_some_and(|r| r.flags & IFF_UP != 0);
                let r = self.tables.interfaces.upsert(&p.row);
                let changed = self.hash_result(t::INTERFACES_ID, r);
                self.stamps.interfaces.insert(key, generation);
                // Routes through a link that stops being usable vanish without RTM_DELROUTE,
                // and a carrier change sets or clears RTNH_F_LINKDOWN on the routes through
                // it, also silently: either transition calls for a re-dump. Dumps need none:
                // the pass that carries them dumps routes afterwards.
                let routes_stale =
                    notification && was_usable.is_some_and(|was| was != link_usable(&p.row));
                if routes_stale {
                    self.counters.routes_stale += 1;
                }
                let link_up = notification && !was_up && p.row.flags & IFF_UP != 0;
                Effect {
                    changed,
                    routes_stale,
                    link_up,
                    link_new: notification && before.is_none(),
                }
            }
            _ => {
                self.stamps.interfaces.remove(&key);
                let mut changed = self.tables.interfaces.remove(&key);
                if changed {
                    self.counters.updates[t::INTERFACES_ID] += 1;
                }
                changed |= self.cascade_interface(p.row.ifindex) > 0;
                self.counters.routes_stale += 1;
                Effect {
                    changed,
                    routes_stale: true,
                    ..Effect::default()
                }
            }
        }
    }

    /// Removes the addresses and neighbours of a deleted interface: the kernel does not
    /// always send a delete for each of them.
    fn cascade_interface(&mut self, ifindex: u32) -> usize {
        let addrs: Vec<[u8; 8]> = self
            .tables
            .addrs4
            .iter()
            .filter(|r| r.ifindex == ifindex)
            .map(|r| t::addrs4_key(&r))
            .collect();
        let neighs: Vec<[u8; 8]> = self
            .tables
            .neigh4
            .iter()
            .filter(|r| r.ifindex == ifindex)
            .map(|r| t::neigh4_key(&r))
            .collect();
        let mut n = 0;
        for k in &addrs {
            self.stamps.addrs4.remove(k);
            if self.tables.addrs4.remove(k) {
                self.counters.updates[t::ADDRS4_ID] += 1;
                n += 1;
            }
        }
        for k in &neighs {
            self.stamps.neigh4.remove(k);
            if self.tables.neigh4.remove(k) {
                self.counters.updates[t::NEIGH4_ID] += 1;
                n += 1;
            }
        }
        // Keys refused earlier for lack of room are only in the stamps.
        for k in Stamps::on_ifindex(&self.stamps.addrs4, ifindex) {
            self.stamps.addrs4.remove(&k);
            self.tables.addrs4.remove(&k);
        }
        for k in Stamps::on_ifindex(&self.stamps.neigh4, ifindex) {
            self.stamps.neigh4.remove(&k);
            self.tables.neigh4.remove(&k);
        }
        self.counters.cascaded += n as u64;
        n
    }

    fn addr4(&mut self, o: Outcome<Addr4>, generation: u64, notification: bool) -> Effect {
        let Some(p) = self.row(o) else {
            return Effect::default();
        };
        if !present(&p, Addr4::FIELD_LOCAL) {
            self.counters.missing_keys += 1;
            return Effect::default();
        }
        let key = t::addrs4_key(&p.row);
        if notification {
            Touched::note(self.touched.is_active(), &mut self.touched.addrs4, key);
        } else if self.touched.addrs4.contains(&key) {
            return self.superseded();
        }
        let changed = match p.op {
            Op::New => {
                let r = self.tables.addrs4.upsert(&p.row);
                self.stamps.addrs4.insert(key, generation);
                self.hash_result(t::ADDRS4_ID, r)
            }
            _ => {
                self.stamps.addrs4.remove(&key);
                let removed = self.tables.addrs4.remove(&key);
                if removed {
                    self.counters.updates[t::ADDRS4_ID] += 1;
                }
                removed
            }
        };
        Effect {
            changed,
            ..Effect::default()
        }
    }

    fn route4(&mut self, o: Outcome<Route4>, generation: u64, notification: bool) -> Effect {
        let p = match o {
            Outcome::Skipped(Skip::Filtered) => {
                // The schema's only route filter: RTM_F_CLONED (cache entries, not routes).
                self.counters.cloned_routes += 1;
                return Effect::default();
            }
            o => match self.row(o) {
                Some(p) => p,
                None => return Effect::default(),
            },
        };
        let Some(id) = t::table_for_route4(&p.row) else {
            self.counters.ignored_tables += 1;
            return Effect::default();
        };
        let key = route_key(id, &p.row);
        if notification {
            Touched::note(self.touched.is_active(), &mut self.touched.routes4, key);
        } else if self.touched.routes4.contains(&key) {
            return self.superseded();
        }
        let (_, prefix, len, metric) = key;
        let changed = match p.op {
            Op::New => {
                if p.row.multipath != 0 || p.row.nh_id != 0 {
                    // Stored as the kernel has it: the row's fields tell net tiles to drop
                    // (route_unsupported) rather than forward along a wrong path.
                    self.counters.unsupported_routes += 1;
                }
                let nexthop = if id == t::LOCAL4_ID {
                    t::local4_nexthop(&p.row)
                } else {
                    t::main4_nexthop(&p.row)
                };
                let Some(table) = self.tables.route_table(id) else {
                    return Effect::default();
                };
                match table.insert(prefix, len, metric, nexthop) {
                    Ok(()) => {
                        self.counters.updates[id] += 1;
                        self.stamps.routes4.insert(key, generation);
                        true
                    }
                    Err(e) if e.is_pending() => {
                        // Kept by the writer and retried by `maintain`; readers answer
                        // "incomplete" for its addresses meanwhile.
                        self.counters.table_full += 1;
                        self.stamps.routes4.insert(key, generation);
                        true
                    }
                    Err(_) => {
                        self.counters.write_errors += 1;
                        false
                    }
                }
            }
            _ => {
                self.stamps.routes4.remove(&key);
                let removed = self
                    .tables
                    .route_table(id)
                    .is_some_and(|table| table.remove(prefix, len, metric));
                if removed {
                    self.counters.updates[id] += 1;
                }
                removed
            }
        };
        Effect {
            changed,
            ..Effect::default()
        }
    }

    fn neigh4(
        &mut self,
        o: Outcome<Neigh4>,
        generation: u64,
        now_ns: u64,
        notification: bool,
    ) -> Effect {
        let Some(mut p) = self.row(o) else {
            return Effect::default();
        };
        if !present(&p, Neigh4::FIELD_IP) {
            self.counters.missing_keys += 1;
            return Effect::default();
        }
        let key = t::neigh4_key(&p.row);
        if notification {
            Touched::note(self.touched.is_active(), &mut self.touched.neigh4, key);
        } else if self.touched.neigh4.contains(&key) {
            return self.superseded();
        }
        let changed = match p.op {
            Op::New => {
                p.row.updated_ns = now_ns;
                let r = self.tables.neigh4.upsert(&p.row);
                self.stamps.neigh4.insert(key, generation);
                self.hash_result(t::NEIGH4_ID, r)
            }
            _ => {
                // A permanent entry's removal arrives as NEW (state FAILED) then DEL: the
                // DEL removes it whatever the NEW left.
                self.stamps.neigh4.remove(&key);
                let removed = self.tables.neigh4.remove(&key);
                if removed {
                    self.counters.updates[t::NEIGH4_ID] += 1;
                }
                removed
            }
        };
        Effect {
            changed,
            ..Effect::default()
        }
    }

    /// The dump of `kind` with `generation` completed: removes the rows of that kind (routes:
    /// of that table) stamped below `generation`. Returns the rows removed.
    pub fn sweep(&mut self, kind: DumpKind, generation: u64) -> usize {
        let mut n = 0;
        match kind {
            DumpKind::Links => {
                for k in self.stamps.stale_interfaces(generation) {
                    n += usize::from(self.tables.interfaces.remove(&k));
                }
                self.counters.updates[t::INTERFACES_ID] += n as u64;
            }
            DumpKind::Addrs4 => {
                for k in self.stamps.stale_addrs4(generation) {
                    n += usize::from(self.tables.addrs4.remove(&k));
                }
                self.counters.updates[t::ADDRS4_ID] += n as u64;
            }
            DumpKind::Neigh4 => {
                for k in self.stamps.stale_neigh4(generation) {
                    n += usize::from(self.tables.neigh4.remove(&k));
                }
                self.counters.updates[t::NEIGH4_ID] += n as u64;
            }
            DumpKind::Routes4 { table } => {
                let Some(id) = route_table_id(table) else {
                    return 0;
                };
                for (_, prefix, len, metric) in self.stamps.stale_routes4(id, generation) {
                    if let Some(fib) = self.tables.route_table(id) {
                        n += usize::from(fib.remove(prefix, len, metric));
                    }
                }
                // Routes adopted from a previous writer (a restarted tile) carry no metric of
                // their own: once the table's dump has re-inserted what the kernel has, the
                // adopted copies are all stale. Nothing to do on tables created fresh.
                if let Some(fib) = self.tables.route_table(id) {
                    n += fib.sweep_adopted();
                }
                self.counters.updates[id] += n as u64;
            }
        }
        self.counters.swept += n as u64;
        self.tables.maintain();
        n
    }
}

/// Mirrored route `prefix/len` with next-hop row `nexthop`, as the kernel describes it.
pub fn route_row(prefix: u32, len: u8, nexthop: &Route4) -> Route4 {
    Route4 {
        dst: Ipv4::from_u32(prefix),
        dst_len: len,
        ..*nexthop
    }
}
