//! Where a datagram to send goes: output interface, MAC addresses, source address — resolved
//! per packet against the netbase tables, without allocating.
//!
//! # Rules
//!
//! * **Destination classes** that no single neighbour receives are refused with
//!   [`DropReason::RouteOther`], whatever their route: `0.0.0.0/8`, multicast `224.0.0.0/4`,
//!   and `240.0.0.0/4` (which holds the limited broadcast `255.255.255.255`). (A batch looks
//!   them up with the rest; the answer is not used.)
//! * **Lookup**: `local`, then `main`, where a `throw` route passes to the next table (as
//!   [`NetbaseView::route_get`]). A batch of datagrams is routed with one burst lookup per
//!   table ([`Resolver::route_burst`]), each datagram then resolved with its route
//!   ([`Resolver::resolve_routed`]); [`Resolver::resolve`] does both for one datagram. No
//!   route: [`DropReason::NoRoute`]. A table that cannot answer (routes it could not store,
//!   or a next hop that stayed mid-write) gives [`DropReason::TableIncomplete`], and so does
//!   any other table read that stays busy.
//! * **Unsupported routes**: the netlink tile stores multipath (`multipath != 0`) and
//!   nexthop-object (`nh_id != 0`) routes as the kernel has them;
//!   [`DropReason::RouteUnsupported`], whatever their type.
//! * **Route types**: `unicast` sends to the gateway, else on-link to the destination;
//!   `local` delivers through the loopback device ([`TxPath::local`]); `blackhole`,
//!   `unreachable`, `prohibit` drop with their own reasons; every other type (`broadcast`,
//!   `anycast`, `multicast`, `nat`, ...) with [`DropReason::RouteOther`].
//! * **Interface**: missing from the table: [`DropReason::InterfaceUnknown`]; not up:
//!   [`DropReason::InterfaceDown`]. "Up" ([`interface_up`]) is `IFF_UP` and `IFF_RUNNING`
//!   (carrier: a veth whose peer is down lacks it) and an operational state of `up` or
//!   `unknown` (loopback and some drivers never report one; `dormant`, `testing`,
//!   `lowerlayerdown`, ... are not up).
//! * **MTU**: an IPv4 total length (payload + 28) above the output interface's MTU (the
//!   loopback device's for local delivery): [`DropReason::Mtu`]; DF is always set, nothing is
//!   fragmented.
//! * **Source address**: the caller's preferred source if it is an address of this host (any
//!   interface, in `addrs4`: the weak host model, like binding a socket to it), else ignored;
//!   then the route's `prefsrc`; then, for `local` routes, the destination itself; then the
//!   selection of [`SourceSelection`] on the output interface. None: [`DropReason::NoSourceAddress`].
//! * **Neighbour** (output interface, next hop) in `neigh4`: a state among `reachable`,
//!   `stale`, `delay`, `probe`, `permanent`, `noarp` with a non-zero MAC sends (`stale` too,
//!   like the kernel: keeping the entry fresh is the caller's keepalive hint); such a state
//!   with a zero MAC cannot be sent to and is [`DropReason::NoNeighbour`] without a solicit
//!   (the kernel has nothing better to learn). `failed`: [`DropReason::NeighbourFailed`],
//!   without a solicit. The kernel would start a new resolution on its next packet; the net
//!   tile does not, so a dead neighbour does not cost a solicit per datagram. The entry leaves
//!   `failed` when the kernel re-resolves it for its own traffic or garbage-collects it
//!   (periodic neighbour GC removes unused `failed` entries), and the next datagram then
//!   solicits. Missing, `incomplete` or `none`: [`Resolve::Solicit`], which the caller
//!   turns into a solicit request to the netlink tile and a drop counted as
//!   [`DropReason::NoNeighbour`].
//!
//! # Caches
//!
//! Routes and neighbours are read for every packet (they change often, and reads are cheap).
//! Interface rows, the host's addresses and the loopback device are cached, keyed by the
//! generation the caller passes: it must change whenever the `interfaces` or `addrs4` tables
//! change, and be read *before* the datagrams it is used for ([`Resolver::generation`] is such
//! a value). Filling the address cache walks the `addrs4` table once per generation, into
//! vectors whose capacity is kept, so steady state allocates nothing.

use std::net::Ipv4Addr;

use netbase_runtime::sync::seqlock::Busy;
use netbase_runtime::tables::lpm::{lookup_chain, lookup_chain_burst, ChainResult};
use netbase_runtime::types::{Ipv4, Mac};

use super::drop_reason::DropReason;
use super::headers::IP_UDP_OVERHEAD;
use crate::netbase_view::{is_throw, NetbaseView, SourceSelection};
use crate::schema::{Addr4, Interface, LinkType, Neigh4, NudState, OperState, Route4, RouteType};

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_RUNNING: u32 = 0x40;
/// The kernel gives the loopback device ifindex 1 in every namespace; checked, not assumed.
const LOOPBACK_IFINDEX: u32 = 1;
/// Interface cache entries (direct-mapped by ifindex): a net tile sends through few.
const IFACE_SLOTS: usize = 16;

/// Neighbour states whose link-layer address the kernel itself sends to (`NUD_VALID`).
const NUD_VALID: u16 = NudState::REACHABLE.0
    | NudState::STALE.0
    | NudState::DELAY.0
    | NudState::PROBE.0
    | NudState::PERMANENT.0
    | NudState::NOARP.0;

/// How to send one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPath {
    /// Output interface (the loopback device for local delivery).
    pub ifindex: u32,
    /// The output interface's MAC (zero for local delivery).
    pub src_mac: Mac,
    /// The next hop's MAC (zero for local delivery).
    pub dst_mac: Mac,
    /// The neighbour the datagram goes to: the gateway, else the destination (on-link); the
    /// destination itself for local delivery. What keepalive hints name.
    pub next_hop: Ipv4Addr,
    pub src_ip: Ipv4Addr,
    /// The output interface's MTU.
    pub mtu: u32,
    /// The destination is this host: deliver via loopback.
    pub local: bool,
}

/// The answer for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    Send(TxPath),
    /// The next hop's link-layer address is unknown or being resolved: ask the netlink tile
    /// to solicit it, and drop the datagram as [`DropReason::NoNeighbour`].
    Solicit {
        ifindex: u32,
        next_hop: Ipv4Addr,
    },
    Drop(DropReason),
}

/// Whether packets can be sent through the interface (see the module docs).
#[inline]
pub fn interface_up(i: &Interface) -> bool {
    i.flags & IFF_UP != 0
        && i.flags & IFF_RUNNING != 0
        && (i.oper_state == OperState::UP || i.oper_state == OperState::UNKNOWN)
}

fn is_loopback(i: &Interface) -> bool {
    i.flags & IFF_LOOPBACK != 0 || i.link_type == LinkType::LOOPBACK
}

/// Destinations no route can send to a single neighbour: 0.0.0.0/8 ("this network"),
/// multicast 224.0.0.0/4, and 240.0.0.0/4 (reserved, with the limited broadcast).
#[inline]
fn refused_destination(dst: u32) -> bool {
    let first = dst >> 24;
    first == 0 || first >= 224
}

fn neighbour_key(ifindex: u32, ip: Ipv4) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&ifindex.to_le_bytes());
    key[4..].copy_from_slice(&ip.0);
    key
}

/// Per-net-tile resolver state: small caches over the netbase tables (see the module docs).
pub struct Resolver {
    generation: Option<u64>,
    ifaces: [Option<Interface>; IFACE_SLOTS],
    /// `None`: not looked up in this generation; `Some(None)`: there is none.
    loopback: Option<Option<Interface>>,
    addrs_loaded: bool,
    /// Every address, by (ifindex, address).
    addrs: Vec<Addr4>,
    /// Every address of this host (host order), sorted, each once.
    hosts: Vec<u32>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new()
    }
}

impl Resolver {
    pub fn new() -> Self {
        Resolver {
            generation: None,
            ifaces: [None; IFACE_SLOTS],
            loopback: None,
            addrs_loaded: false,
            addrs: Vec::with_capacity(64),
            hosts: Vec::with_capacity(64),
        }
    }

    /// A generation for [`Resolver::resolve`] that changes whenever the `interfaces` or
    /// `addrs4` table changes (the sum of their table generations, which only grow).
    #[inline]
    pub fn generation(view: &NetbaseView<'_>) -> u64 {
        view.interfaces
            .generation()
            .wrapping_add(view.addrs4.generation())
    }

    /// How to send a UDP datagram of `payload_len` bytes to `dst`, from `preferred_src` if it
    /// is an address of this host. `generation`: see the module docs.
    pub fn resolve(
        &mut self,
        view: &NetbaseView<'_>,
        generation: u64,
        dst: Ipv4Addr,
        preferred_src: Option<Ipv4Addr>,
        payload_len: usize,
    ) -> Resolve {
        let route = lookup_chain(u32::from(dst), &[&view.local4, &view.main4], is_throw);
        self.resolve_routed(view, generation, dst, preferred_src, payload_len, route)
    }

    /// The route lookups of a batch of datagrams: `routes[i]` for `dsts[i]` (host order),
    /// through `local` then `main` with one burst per table, which on large tables overlaps
    /// the lookups' cache misses. Hand each to [`resolve_routed`](Self::resolve_routed).
    pub fn route_burst(view: &NetbaseView<'_>, dsts: &[u32], routes: &mut [ChainResult<Route4>]) {
        lookup_chain_burst(dsts, &[&view.local4, &view.main4], is_throw, routes);
    }

    /// [`resolve`](Self::resolve) with the route lookup done: `route` is the answer of
    /// [`route_burst`](Self::route_burst) (or `lookup_chain`) for `dst`, in this poll.
    pub fn resolve_routed(
        &mut self,
        view: &NetbaseView<'_>,
        generation: u64,
        dst: Ipv4Addr,
        preferred_src: Option<Ipv4Addr>,
        payload_len: usize,
        route: ChainResult<Route4>,
    ) -> Resolve {
        if self.generation != Some(generation) {
            self.invalidate(generation);
        }
        let ip_len = payload_len.saturating_add(IP_UDP_OVERHEAD);
        let preferred = preferred_src
            .filter(|p| !p.is_unspecified())
            .map(Ipv4::from);
        match self.resolve_inner(view, Ipv4::from(dst), preferred, ip_len, route) {
            Ok(r) => r,
            Err(Busy) => Resolve::Drop(DropReason::TableIncomplete),
        }
    }

    fn invalidate(&mut self, generation: u64) {
        self.generation = Some(generation);
        self.ifaces = [None; IFACE_SLOTS];
        self.loopback = None;
        self.addrs_loaded = false;
    }

    fn resolve_inner(
        &mut self,
        view: &NetbaseView<'_>,
        dst: Ipv4,
        preferred: Option<Ipv4>,
        ip_len: usize,
        route: ChainResult<Route4>,
    ) -> Result<Resolve, Busy> {
        let drop = |r| Ok(Resolve::Drop(r));
        if refused_destination(dst.to_u32()) {
            return drop(DropReason::RouteOther);
        }
        let route = match route {
            ChainResult::Hit { nexthop, .. } => nexthop,
            ChainResult::Unreachable => return drop(DropReason::NoRoute),
            ChainResult::Incomplete { .. } | ChainResult::Busy { .. } => {
                return drop(DropReason::TableIncomplete)
            }
        };
        if route.multipath != 0 || route.nh_id != 0 {
            return drop(DropReason::RouteUnsupported);
        }
        match route.route_type {
            RouteType::UNICAST => self.unicast(view, &route, dst, preferred, ip_len),
            RouteType::LOCAL => self.local(view, &route, dst, preferred, ip_len),
            RouteType::BLACKHOLE => drop(DropReason::Blackhole),
            RouteType::UNREACHABLE => drop(DropReason::Unreachable),
            RouteType::PROHIBIT => drop(DropReason::Prohibit),
            _ => drop(DropReason::RouteOther),
        }
    }

    fn unicast(
        &mut self,
        view: &NetbaseView<'_>,
        route: &Route4,
        dst: Ipv4,
        preferred: Option<Ipv4>,
        ip_len: usize,
    ) -> Result<Resolve, Busy> {
        let drop = |r| Ok(Resolve::Drop(r));
        let oif = route.oif;
        let Some(iface) = self.interface(view, oif)? else {
            return drop(DropReason::InterfaceUnknown);
        };
        if !interface_up(&iface) {
            return drop(DropReason::InterfaceDown);
        }
        if ip_len > iface.mtu as usize {
            return drop(DropReason::Mtu);
        }
        let next_hop = if route.gateway.is_unspecified() {
            dst
        } else {
            route.gateway
        };
        let Some(src) = self.source(view, route, next_hop, preferred)? else {
            return drop(DropReason::NoSourceAddress);
        };
        let Some(n) = view.neigh4.get(&neighbour_key(oif, next_hop))? else {
            return Ok(Resolve::Solicit {
                ifindex: oif,
                next_hop: next_hop.into(),
            });
        };
        Ok(match neighbour_mac(&n) {
            Ok(dst_mac) => Resolve::Send(TxPath {
                ifindex: oif,
                src_mac: iface.mac,
                dst_mac,
                next_hop: next_hop.into(),
                src_ip: src.into(),
                mtu: iface.mtu,
                local: false,
            }),
            Err(None) => Resolve::Solicit {
                ifindex: oif,
                next_hop: next_hop.into(),
            },
            Err(Some(reason)) => Resolve::Drop(reason),
        })
    }

    fn local(
        &mut self,
        view: &NetbaseView<'_>,
        route: &Route4,
        dst: Ipv4,
        preferred: Option<Ipv4>,
        ip_len: usize,
    ) -> Result<Resolve, Busy> {
        let drop = |r| Ok(Resolve::Drop(r));
        let Some(lo) = self.loopback(view)? else {
            return drop(DropReason::InterfaceUnknown);
        };
        if !interface_up(&lo) {
            return drop(DropReason::InterfaceDown);
        }
        if ip_len > lo.mtu as usize {
            return drop(DropReason::Mtu);
        }
        let src = match preferred {
            Some(p) if self.is_host_address(view, p)? => p,
            _ if !route.prefsrc.is_unspecified() => route.prefsrc,
            _ => dst,
        };
        Ok(Resolve::Send(TxPath {
            ifindex: lo.ifindex,
            src_mac: Mac::ZERO,
            dst_mac: Mac::ZERO,
            next_hop: dst.into(),
            src_ip: src.into(),
            mtu: lo.mtu,
            local: true,
        }))
    }

    /// The source address of a unicast route (see the module docs).
    fn source(
        &mut self,
        view: &NetbaseView<'_>,
        route: &Route4,
        next_hop: Ipv4,
        preferred: Option<Ipv4>,
    ) -> Result<Option<Ipv4>, Busy> {
        if let Some(p) = preferred {
            if self.is_host_address(view, p)? {
                return Ok(Some(p));
            }
        }
        if !route.prefsrc.is_unspecified() {
            return Ok(Some(route.prefsrc));
        }
        self.load_addrs(view)?;
        let mut selection = SourceSelection::new(route.oif, route.scope, next_hop);
        for a in self.addrs_of(route.oif) {
            selection.offer(a);
        }
        Ok(selection.chosen())
    }

    fn is_host_address(&mut self, view: &NetbaseView<'_>, ip: Ipv4) -> Result<bool, Busy> {
        self.load_addrs(view)?;
        Ok(self.hosts.binary_search(&ip.to_u32()).is_ok())
    }

    fn addrs_of(&self, ifindex: u32) -> &[Addr4] {
        let lo = self.addrs.partition_point(|a| a.ifindex < ifindex);
        let hi = self.addrs.partition_point(|a| a.ifindex <= ifindex);
        self.addrs.get(lo..hi).unwrap_or(&[])
    }

    fn load_addrs(&mut self, view: &NetbaseView<'_>) -> Result<(), Busy> {
        if self.addrs_loaded {
            return Ok(());
        }
        self.addrs.clear();
        self.hosts.clear();
        for a in view.addrs4.iter() {
            self.addrs.push(a?);
        }
        // A row the writer moved during the walk may show twice; the generation it bumps
        // afterwards makes the next datagram walk again.
        self.addrs
            .sort_unstable_by_key(|a| (a.ifindex, a.local.to_u32()));
        self.addrs.dedup_by_key(|a| (a.ifindex, a.local));
        self.hosts
            .extend(self.addrs.iter().map(|a| a.local.to_u32()));
        self.hosts.sort_unstable();
        self.hosts.dedup();
        self.addrs_loaded = true;
        Ok(())
    }

    fn interface(
        &mut self,
        view: &NetbaseView<'_>,
        ifindex: u32,
    ) -> Result<Option<Interface>, Busy> {
        let slot = ifindex as usize % IFACE_SLOTS;
        if let Some(i) = self.ifaces[slot].filter(|i| i.ifindex == ifindex) {
            return Ok(Some(i));
        }
        let row = view.interfaces.get(&ifindex.to_le_bytes())?;
        if row.is_some() {
            self.ifaces[slot] = row;
        }
        Ok(row)
    }

    fn loopback(&mut self, view: &NetbaseView<'_>) -> Result<Option<Interface>, Busy> {
        if let Some(lo) = self.loopback {
            return Ok(lo);
        }
        let mut found = self.interface(view, LOOPBACK_IFINDEX)?.filter(is_loopback);
        if found.is_none() {
            for i in view.interfaces.iter() {
                let i = i?;
                if is_loopback(&i) {
                    found = Some(i);
                    break;
                }
            }
        }
        self.loopback = Some(found);
        Ok(found)
    }
}

/// The MAC to send to, or why not: `Err(None)` asks for a solicit.
#[inline]
fn neighbour_mac(n: &Neigh4) -> Result<Mac, Option<DropReason>> {
    if n.state.0 & NUD_VALID != 0 {
        if n.mac == Mac::ZERO {
            return Err(Some(DropReason::NoNeighbour));
        }
        return Ok(n.mac);
    }
    if n.state.0 & NudState::FAILED.0 != 0 {
        return Err(Some(DropReason::NeighbourFailed));
    }
    Err(None)
}
