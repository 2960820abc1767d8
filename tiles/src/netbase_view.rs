//! A read-only view of an instance's netbase: the five table readers over a tables workspace
//! joined read-only, with consistent-enough listings for tools (`netbase show`, `netbase route
//! get`, `netbase diff`) and a route lookup that answers like `ip route get`.
//!
//! Nothing here writes to the workspace; it may be mapped `PROT_READ`.

use netbase_runtime::region::Region;
use netbase_runtime::sync::seqlock::Busy;
use netbase_runtime::tables::hash::{HashError, HashReader};
use netbase_runtime::tables::lpm::{lookup_chain, ChainResult, Fib4Reader, FibError};
use netbase_runtime::types::Ipv4;
use netbase_runtime::workspace::{Workspace, WorkspaceError};

use crate::netlink_tile::apply::route_row;
use crate::netlink_tile::diff::{RouteKey, Snapshot};
use crate::netlink_tile::mirror::TableRegions;
use crate::schema::tables as t;
use crate::schema::{Addr4, Interface, Neigh4, Route4, RouteType};

/// Whether a route is a `throw` route: the walk from `local` to `main` goes on past it.
pub(crate) fn is_throw(r: &Route4) -> bool {
    r.route_type == RouteType::THROW
}

/// `IFA_F_SECONDARY`: an address that is not the primary one of its subnet.
const IFA_F_SECONDARY: u32 = 0x01;

/// Attempts of a hash-table snapshot before a writer that keeps changing the table wins.
const SNAPSHOT_ATTEMPTS: u32 = 64;

pub type InterfaceReader<'a> = HashReader<'a, Interface, [u8; 4]>;
pub type Addr4Reader<'a> = HashReader<'a, Addr4, [u8; 8]>;
pub type Neigh4Reader<'a> = HashReader<'a, Neigh4, [u8; 8]>;
pub type Route4Reader<'a> = Fib4Reader<'a, Route4>;

/// The mirrored route tables, in the order the kernel's default rules consult them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteTable {
    Local,
    Main,
}

impl RouteTable {
    /// Lookup order of the kernel's default rules (`local` at priority 0, then `main`).
    pub const ALL: [RouteTable; 2] = [RouteTable::Local, RouteTable::Main];

    /// The kernel table id (`RT_TABLE_LOCAL` 255, `RT_TABLE_MAIN` 254).
    pub fn kernel_id(self) -> u32 {
        match self {
            RouteTable::Local => 255,
            RouteTable::Main => 254,
        }
    }

    /// The name `ip` uses.
    pub fn name(self) -> &'static str {
        match self {
            RouteTable::Local => "local",
            RouteTable::Main => "main",
        }
    }

    /// `local` or `main` (also the kernel ids `255` and `254`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "local" | "255" => Some(RouteTable::Local),
            "main" | "254" => Some(RouteTable::Main),
            _ => None,
        }
    }
}

/// Why a view could not be attached or read.
#[derive(Debug)]
pub enum ViewError {
    Workspace(WorkspaceError),
    Hash(&'static str, HashError),
    Fib(&'static str, FibError),
    /// A slot stayed mid-write for every attempt: its writer keeps changing it, or died in it.
    Busy(&'static str),
}

impl core::fmt::Display for ViewError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ViewError::Workspace(e) => write!(f, "tables workspace: {e}"),
            ViewError::Hash(table, e) => write!(f, "table {table}: {e}"),
            ViewError::Fib(table, e) => write!(f, "table {table}: {e}"),
            ViewError::Busy(table) => write!(
                f,
                "table {table}: the writer kept changing it (or died mid-write); try again"
            ),
        }
    }
}

impl std::error::Error for ViewError {}

/// A route as listed: the full row (prefix included) and whether it is the one in use for its
/// prefix (lowest metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewRoute {
    pub row: Route4,
    pub active: bool,
}

/// The answer of [`NetbaseView::route_get`], like `ip route get ADDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteGet {
    /// The address looked up.
    pub dst: Ipv4,
    /// The chain lookup through `local` then `main` (`table` indexes [`RouteTable::ALL`]).
    pub result: ChainResult<Route4>,
    /// The table that decided, for a hit.
    pub table: Option<RouteTable>,
    /// The route that decided, prefix included, for a hit.
    pub route: Option<Route4>,
    /// The source address: see [`NetbaseView::route_get`].
    pub source: Option<Ipv4>,
    /// The neighbour the packet would be sent to: the gateway, else the destination itself
    /// (on-link). `None` for routes that send nothing to a neighbour (local, broadcast,
    /// blackhole, unreachable, prohibit, ...).
    pub neighbour_addr: Option<Ipv4>,
    /// The neighbour entry of `neighbour_addr` on the output interface, if there is one.
    pub neighbour: Option<Neigh4>,
}

/// The simple source-address selection of [`NetbaseView::route_get`] and the net tile's
/// resolver, in one pass over addresses offered in any order, without allocating.
///
/// Among the addresses of the output interface `oif` whose scope is at least as wide as the
/// route's (scopes grow narrower with their value: universe 0, link 253, host 254, so an
/// address of scope `host` is never chosen for a `global` route), it chooses the lowest
/// primary address whose subnet contains the next hop, else the lowest primary address, else
/// the lowest address at all. Not the kernel's full algorithm (which also looks at other
/// interfaces when `oif` has no address).
#[derive(Debug, Clone, Copy)]
pub struct SourceSelection {
    oif: u32,
    route_scope: u8,
    next_hop: u32,
    on_subnet: Option<u32>,
    primary: Option<u32>,
    any: Option<u32>,
}

impl SourceSelection {
    pub fn new(oif: u32, route_scope: u8, next_hop: Ipv4) -> Self {
        SourceSelection {
            oif,
            route_scope,
            next_hop: next_hop.to_u32(),
            on_subnet: None,
            primary: None,
            any: None,
        }
    }

    /// Considers one address (addresses of other interfaces are ignored).
    #[inline]
    pub fn offer(&mut self, a: &Addr4) {
        if self.oif == 0 || a.ifindex != self.oif || a.scope > self.route_scope {
            return;
        }
        let local = a.local.to_u32();
        let lowest = |best: Option<u32>| Some(best.map_or(local, |b| b.min(local)));
        self.any = lowest(self.any);
        if a.flags & IFA_F_SECONDARY != 0 {
            return;
        }
        self.primary = lowest(self.primary);
        let len = a.prefix_len.min(32);
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        if local & mask == self.next_hop & mask {
            self.on_subnet = lowest(self.on_subnet);
        }
    }

    /// The address chosen among those offered so far.
    pub fn chosen(&self) -> Option<Ipv4> {
        self.on_subnet
            .or(self.primary)
            .or(self.any)
            .map(Ipv4::from_u32)
    }
}

/// The five table readers of one netbase.
pub struct NetbaseView<'a> {
    pub interfaces: InterfaceReader<'a>,
    pub addrs4: Addr4Reader<'a>,
    pub local4: Route4Reader<'a>,
    pub main4: Route4Reader<'a>,
    pub neigh4: Neigh4Reader<'a>,
}

impl<'a> NetbaseView<'a> {
    /// Attaches to the tables of a tables workspace. The layout fingerprint is checked when
    /// the caller joins `ws` (`Workspace::join` with the plan's fingerprint); here each table's
    /// header is checked (kind, capacity, row size), and the workspace must be large enough.
    pub fn attach(ws: &'a Workspace) -> Result<Self, ViewError> {
        let regions = TableRegions::from_workspace(ws).map_err(ViewError::Workspace)?;
        Self::from_regions(regions)
    }

    /// Attaches to tables at the given regions (heap-backed tables in tests).
    pub fn from_regions(r: TableRegions<'a>) -> Result<Self, ViewError> {
        let hash = |name: &'static str| move |e| ViewError::Hash(name, e);
        let fib = |name: &'static str| move |e| ViewError::Fib(name, e);
        Ok(NetbaseView {
            interfaces: HashReader::attach(
                r.interfaces,
                t::INTERFACES.capacity,
                t::interfaces_key as fn(&Interface) -> [u8; 4],
            )
            .map_err(hash("interfaces"))?,
            addrs4: HashReader::attach(
                r.addrs4,
                t::ADDRS4.capacity,
                t::addrs4_key as fn(&Addr4) -> [u8; 8],
            )
            .map_err(hash("addrs4"))?,
            local4: Fib4Reader::attach(r.local4, t::LOCAL4.capacity).map_err(fib("local4"))?,
            main4: Fib4Reader::attach(r.main4, t::MAIN4.capacity).map_err(fib("main4"))?,
            neigh4: HashReader::attach(
                r.neigh4,
                t::NEIGH4.capacity,
                t::neigh4_key as fn(&Neigh4) -> [u8; 8],
            )
            .map_err(hash("neigh4"))?,
        })
    }

    /// Attaches to tables laid out like a whole workspace in `base` (see
    /// [`TableRegions::from_base`]).
    pub fn from_base(base: Region<'a>) -> Result<Self, ViewError> {
        let regions = TableRegions::from_base(base).ok_or(ViewError::Workspace(
            WorkspaceError::OutOfBounds {
                offset: 0,
                len: TableRegions::BASE_BYTES,
                size: base.len_bytes() as u64,
            },
        ))?;
        Self::from_regions(regions)
    }

    /// The route table reader of `table`.
    pub fn table(&self, table: RouteTable) -> &Route4Reader<'a> {
        match table {
            RouteTable::Local => &self.local4,
            RouteTable::Main => &self.main4,
        }
    }

    /// Every interface, by ifindex.
    pub fn links(&self) -> Result<Vec<Interface>, ViewError> {
        let mut rows = self
            .interfaces
            .snapshot(SNAPSHOT_ATTEMPTS)
            .map_err(|Busy| ViewError::Busy("interfaces"))?;
        rows.sort_by_key(|r| r.ifindex);
        Ok(rows)
    }

    /// Every IPv4 address, by interface, primaries before secondaries, then by address.
    pub fn addrs(&self) -> Result<Vec<Addr4>, ViewError> {
        let mut rows = self
            .addrs4
            .snapshot(SNAPSHOT_ATTEMPTS)
            .map_err(|Busy| ViewError::Busy("addrs4"))?;
        rows.sort_by_key(|r| (r.ifindex, r.flags & IFA_F_SECONDARY, r.local));
        Ok(rows)
    }

    /// Every route of `table` (including routes shadowed by a lower metric), by prefix,
    /// length, then metric. Each route is read consistently; the list is not one instant.
    pub fn routes(&self, table: RouteTable) -> Result<Vec<ViewRoute>, ViewError> {
        let mut out = Vec::new();
        for r in self.table(table).routes() {
            let r = r.map_err(|Busy| ViewError::Busy(table.name()))?;
            out.push(ViewRoute {
                row: route_row(r.prefix, r.len, &r.nexthop),
                active: r.active,
            });
        }
        out.sort_by_key(|r| (r.row.dst.to_u32(), r.row.dst_len, r.row.priority));
        Ok(out)
    }

    /// Every IPv4 neighbour, by interface then address.
    pub fn neighbours(&self) -> Result<Vec<Neigh4>, ViewError> {
        let mut rows = self
            .neigh4
            .snapshot(SNAPSHOT_ATTEMPTS)
            .map_err(|Busy| ViewError::Busy("neigh4"))?;
        rows.sort_by_key(|r| (r.ifindex, r.ip));
        Ok(rows)
    }

    /// The interface with `ifindex`.
    pub fn interface(&self, ifindex: u32) -> Result<Option<Interface>, ViewError> {
        self.interfaces
            .get(&ifindex.to_le_bytes())
            .map_err(|Busy| ViewError::Busy("interfaces"))
    }

    /// The neighbour entry of `ip` on `ifindex`.
    pub fn neighbour(&self, ifindex: u32, ip: Ipv4) -> Result<Option<Neigh4>, ViewError> {
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&ifindex.to_le_bytes());
        key[4..].copy_from_slice(&ip.0);
        self.neigh4
            .get(&key)
            .map_err(|Busy| ViewError::Busy("neigh4"))
    }

    /// Looks `dst` up like the kernel with its default rules: `local`, then `main`, where a
    /// `throw` route passes to the next table.
    ///
    /// The source address is a simple selection, not the kernel's full algorithm: the route's
    /// `prefsrc` if it has one; routes of type `local` use the destination itself; else,
    /// among the output interface's addresses whose scope is at least as wide as the route's
    /// (an address of scope `host` is never chosen for a `global` route), a primary address
    /// whose subnet contains the next hop (gateway, else destination), else the lowest
    /// primary address, else the lowest address at all.
    pub fn route_get(&self, dst: Ipv4) -> Result<RouteGet, ViewError> {
        let tables = [&self.local4, &self.main4];
        let result = lookup_chain(dst.to_u32(), &tables, is_throw);
        let mut get = RouteGet {
            dst,
            result,
            table: None,
            route: None,
            source: None,
            neighbour_addr: None,
            neighbour: None,
        };
        let ChainResult::Hit {
            table,
            nexthop,
            prefix_len,
        } = result
        else {
            return Ok(get);
        };
        let route = route_row(dst.to_u32(), prefix_len, &nexthop);
        // The prefix itself, host bits cleared, as the table stores it.
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len))
        };
        let route = Route4 {
            dst: Ipv4::from_u32(dst.to_u32() & mask),
            ..route
        };
        get.table = RouteTable::ALL.get(table).copied();
        get.route = Some(route);

        let sends_to_neighbour = route.route_type == RouteType::UNICAST;
        let next_hop = if route.gateway.is_unspecified() {
            dst
        } else {
            route.gateway
        };
        if sends_to_neighbour && route.oif != 0 {
            get.neighbour_addr = Some(next_hop);
            get.neighbour = self.neighbour(route.oif, next_hop)?;
        }
        get.source = if !route.prefsrc.is_unspecified() {
            Some(route.prefsrc)
        } else if route.route_type == RouteType::LOCAL {
            Some(dst)
        } else {
            self.select_source(route.oif, route.scope, next_hop)?
        };
        Ok(get)
    }

    /// The simple source selection of [`NetbaseView::route_get`] (see [`SourceSelection`]).
    fn select_source(
        &self,
        oif: u32,
        route_scope: u8,
        next_hop: Ipv4,
    ) -> Result<Option<Ipv4>, ViewError> {
        if oif == 0 {
            return Ok(None);
        }
        let mut selection = SourceSelection::new(oif, route_scope, next_hop);
        for a in self.addrs()? {
            selection.offer(&a);
        }
        Ok(selection.chosen())
    }

    /// What the tables hold, as [`Snapshot`] (the shape `netbase diff` compares with a kernel
    /// dump): neighbour `updated_ns` zeroed like [`Snapshot::from_tables`].
    pub fn snapshot(&self) -> Result<Snapshot, ViewError> {
        let mut snap = Snapshot::default();
        for r in self.links()? {
            snap.interfaces.insert(r.ifindex, r);
        }
        for r in self.addrs()? {
            snap.addrs4.insert((r.ifindex, r.local.0), r);
        }
        for table in RouteTable::ALL {
            for r in self.routes(table)? {
                snap.routes4.insert(RouteKey::of(&r.row), r.row);
            }
        }
        for mut r in self.neighbours()? {
            r.updated_ns = 0;
            snap.neigh4.insert((r.ifindex, r.ip.0), r);
        }
        Ok(snap)
    }
}
