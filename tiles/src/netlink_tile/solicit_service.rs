//! The netlink tile's solicitation service: drains the `solicit` links of the net tiles,
//! runs each request through the [`Solicitor`] policy and sends the probes it allows.
//!
//! The service is polled by the netlink tile loop next to [`NetlinkSync::step`](super::NetlinkSync::step); it never
//! blocks for longer than one probe's ACK (NTF_USE on a netlink request socket of its own,
//! ~30 µs), and probes are rate limited by the policy (a few per second), so a flood of
//! requests costs ring reads and hash lookups only.
//!
//! * Requests come from any number of lossy [`Consumer`]s; overruns are counted, never
//!   waited for.
//! * `is_known` is answered from the writer's neigh4 table (see [`neigh_state`]).
//! * Probes: `RTM_NEWNEIGH` + `NTF_USE` while the process may (CAP_NET_ADMIN); the first
//!   `EPERM` switches for good to the unprivileged probe, an empty UDP datagram with TTL 1 to
//!   port 9 (discard) of the address, which makes the kernel resolve it all the same.
//! * Probe results: every poll re-reads the neigh4 rows of the probes still outstanding (at
//!   most `max_placeholders`), so no hook into the sync driver is needed; a tile that sees
//!   neighbour notifications one by one may also call [`SolicitService::on_neighbour`].
//! * Gateways: the default routes of the main table, re-read every `gateway_every`; the
//!   policy keeps them resolved, together with the addresses net tiles hint as in use.
//!
//! The netlink tile (`src/supervisor/kinds/netlink.rs` in the `netbase` crate) builds one
//! service over the consumer ends of every net tile's `solicit` link and, once the first sync
//! is done, polls it after each `NetlinkSync::step`:
//!
//! ```text
//! service = SolicitService::new(opts)            sockets opened here, during setup
//! for each solicit ring of the plan: service.add_consumer(consumer)
//! loop: now = monotonic_ns(); sync.step(now); if sync.is_live() { service.poll(&tables, now) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use netbase_runtime::link::Consumer;
use netbase_runtime::netlink::dump::{DumpError, RequestConfig, RequestSocket};
use netbase_runtime::netlink::socket::Mode;
use netbase_runtime::sync::qsbr::ReaderEpochs;
use netbase_runtime::types::{Ipv4, Mac};

use super::mirror::{Neigh4Table, NetbaseWriter};
use crate::schema::tables as t;
use crate::schema::{Neigh4, NudState};
use crate::solicit::{Config, Counters as PolicyCounters, Decision, NeighState, Solicitor};

/// Settings of a [`SolicitService`].
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The policy.
    pub policy: Config,
    /// Lower end of the kernel's reachable time (`base_reachable_time_ms / 2`: the kernel
    /// randomises it between 0.5 and 1.5 times the base), for keepalive refreshes.
    pub reach_time: Duration,
    /// Most ring slots read per consumer per poll.
    pub frames_per_poll: usize,
    /// How often the default gateways are re-read from the main table.
    pub gateway_every: Duration,
    /// How often keepalives and gateways are refreshed and outstanding probes rechecked.
    pub refresh_every: Duration,
    /// Try NTF_USE first (falls back to UDP on `EPERM`). `false`: UDP probes only.
    pub netlink_probes: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            policy: Config::default(),
            reach_time: Duration::from_secs(15),
            frames_per_poll: 4096,
            gateway_every: Duration::from_millis(100),
            refresh_every: Duration::from_millis(1),
            netlink_probes: true,
        }
    }
}

/// What the service did, beyond the policy's own [`PolicyCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// Frames read from the links.
    pub frames: u64,
    /// Times a producer lapped the service.
    pub overruns: u64,
    /// Frames lost to those overruns.
    pub lost: u64,
    /// Corrupt slots skipped.
    pub corrupt: u64,
    /// Probes sent as NTF_USE requests.
    pub netlink_probes: u64,
    /// Probes sent as UDP datagrams.
    pub udp_probes: u64,
    /// Probes that could not be sent (counted, not retried: the policy retries later).
    pub probe_errors: u64,
    /// Refreshes (gateways and keepalives) among the probes.
    pub refreshes: u64,
    /// Probe results reported to the policy.
    pub results: u64,
    /// The NTF_USE path was refused (no CAP_NET_ADMIN) and UDP probes are used.
    pub udp_fallback: bool,
}

/// What one [`SolicitService::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollResult {
    pub frames: u64,
    pub probes: u64,
    /// A consumer stopped at its budget: call again soon.
    pub busy: bool,
}

impl PollResult {
    pub fn idle(&self) -> bool {
        self.frames == 0 && self.probes == 0 && !self.busy
    }
}

enum Prober {
    /// With the UDP socket to fall back to if the kernel refuses NTF_USE (no CAP_NET_ADMIN).
    Netlink(Box<RequestSocket>, Option<UdpSocket>),
    Udp(UdpSocket),
}

/// The UDP probe socket. Opened with the service, during the tile's setup, never later: once
/// the tile's seccomp filter is installed it may not create sockets.
fn udp_probe_socket() -> io::Result<UdpSocket> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_ttl(1)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Requests in, probes out; see the module documentation.
pub struct SolicitService<'a> {
    opts: ServiceOptions,
    solicitor: Solicitor,
    consumers: Vec<Consumer<'a, AtomicU64>>,
    prober: Prober,
    /// Probes sent and not yet answered: when.
    outstanding: HashMap<(u32, Ipv4Addr), Duration>,
    gateways: Vec<(u32, Ipv4Addr)>,
    next_gateways: Duration,
    next_refresh: Duration,
    counters: ServiceCounters,
    buf: Vec<u8>,
}

/// The policy's view of a neigh4 row.
pub fn neigh_state(row: Option<&Neigh4>) -> NeighState {
    let Some(row) = row else {
        return NeighState::Missing;
    };
    let s = row.state.0;
    let usable = NudState::REACHABLE.0
        | NudState::PERMANENT.0
        | NudState::NOARP.0
        | NudState::STALE.0
        | NudState::DELAY.0
        | NudState::PROBE.0;
    if s & usable != 0 && row.mac != Mac::ZERO {
        NeighState::Usable
    } else if s & NudState::INCOMPLETE.0 != 0 {
        NeighState::Resolving
    } else if s & NudState::FAILED.0 != 0 {
        NeighState::Failed
    } else {
        NeighState::Missing
    }
}

/// Looks `(ifindex, ip)` up in the writer's neigh4 table.
pub fn lookup(table: &Neigh4Table<'_>, ifindex: u32, ip: Ipv4Addr) -> NeighState {
    let probe = Neigh4 {
        ifindex,
        ip: Ipv4(ip.octets()),
        ..Neigh4::ZERO
    };
    neigh_state(table.get(&t::neigh4_key(&probe)).as_ref())
}

fn since_origin(now_ns: u64) -> Duration {
    Duration::from_nanos(now_ns)
}

impl<'a> SolicitService<'a> {
    /// A service with no links yet. The probe sockets are opened here, in the calling thread's
    /// network namespace (the UDP one also with NTF_USE probes, as their fallback).
    pub fn new(opts: ServiceOptions) -> io::Result<Self> {
        let prober = if opts.netlink_probes {
            let cfg = RequestConfig {
                mode: Mode::Blocking,
                timeout: Some(Duration::from_millis(100)),
                ..RequestConfig::default()
            };
            Prober::Netlink(
                Box::new(RequestSocket::open(&cfg)?),
                udp_probe_socket().ok(),
            )
        } else {
            Prober::Udp(udp_probe_socket()?)
        };
        Ok(SolicitService {
            solicitor: Solicitor::new(opts.policy.clone()),
            opts,
            consumers: Vec::new(),
            prober,
            outstanding: HashMap::new(),
            gateways: Vec::new(),
            next_gateways: Duration::ZERO,
            next_refresh: Duration::ZERO,
            counters: ServiceCounters::default(),
            buf: vec![0; 64],
        })
    }

    /// Adds the consumer end of one net tile's `solicit` link.
    pub fn add_consumer(&mut self, consumer: Consumer<'a, AtomicU64>) {
        let need = consumer.ring().geometry().frame_size() as usize;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.consumers.push(consumer);
    }

    pub fn counters(&self) -> ServiceCounters {
        self.counters
    }

    pub fn policy_counters(&self) -> PolicyCounters {
        self.solicitor.counters()
    }

    pub fn solicitor(&self) -> &Solicitor {
        &self.solicitor
    }

    /// The probe sockets' descriptors (the NTF_USE request socket and/or the UDP socket), so
    /// that a tile which closes the descriptors it does not use keeps these.
    pub fn descriptors(&self) -> Vec<RawFd> {
        match &self.prober {
            Prober::Netlink(sock, udp) => std::iter::once(sock.socket().as_raw_fd())
                .chain(udp.as_ref().map(|u| u.as_raw_fd()))
                .collect(),
            Prober::Udp(udp) => vec![udp.as_raw_fd()],
        }
    }

    /// The gateways last handed to the policy.
    pub fn gateways(&self) -> &[(u32, Ipv4Addr)] {
        &self.gateways
    }

    /// One bounded round: reads the links, sends the probes the policy allows, reports
    /// answered probes, refreshes gateways and keepalives. `now_ns` is CLOCK_MONOTONIC
    /// ([`super::monotonic_ns`]).
    pub fn poll<R: ReaderEpochs + Clone>(
        &mut self,
        tables: &NetbaseWriter<'_, R>,
        now_ns: u64,
    ) -> PollResult {
        let now = since_origin(now_ns);
        let mut res = PollResult::default();
        let mut probes: Vec<(u32, Ipv4Addr)> = Vec::new();
        let neigh = &tables.neigh4;
        for c in &mut self.consumers {
            let solicitor = &mut self.solicitor;
            let batch = c.poll_batch(&mut self.buf, self.opts.frames_per_poll, |_, frame| {
                let d = solicitor.on_frame(now, frame, |ifindex, ip| lookup(neigh, ifindex, ip));
                if let Decision::Probe(ifindex, ip) = d {
                    probes.push((ifindex, ip));
                }
            });
            // The buffer is sized for every consumer's frames: poll_batch cannot refuse.
            let Ok(batch) = batch else { continue };
            self.counters.frames += batch.frames as u64;
            self.counters.lost += batch.lost;
            self.counters.overruns += u64::from(batch.lost > 0);
            self.counters.corrupt += batch.corrupt;
            res.frames += batch.frames as u64;
            res.busy |= !batch.drained;
        }
        for (ifindex, ip) in probes {
            if self.send_probe(ifindex, ip) {
                self.outstanding.insert((ifindex, ip), now);
            }
            res.probes += 1;
        }

        if now >= self.next_gateways {
            self.next_gateways = now.saturating_add(self.opts.gateway_every);
            self.refresh_gateways(tables);
        }
        if now >= self.next_refresh {
            self.next_refresh = now.saturating_add(self.opts.refresh_every);
            self.check_outstanding(neigh, now);
            let due: Vec<_> = self
                .solicitor
                .due_keepalives(now, self.opts.reach_time)
                .collect();
            for r in due {
                self.counters.refreshes += 1;
                if self.send_probe(r.ifindex, r.ip) {
                    self.outstanding.insert((r.ifindex, r.ip), now);
                }
                res.probes += 1;
            }
        }
        res
    }

    /// Reports a neighbour row the tile just applied (optional: [`SolicitService::poll`]
    /// rechecks outstanding probes by itself).
    pub fn on_neighbour(&mut self, now_ns: u64, ifindex: u32, ip: Ipv4Addr, state: NudState) {
        let row = Neigh4 {
            ifindex,
            ip: Ipv4(ip.octets()),
            state,
            // The caller vouches for the link-layer address by passing a usable state.
            mac: Mac([2, 0, 0, 0, 0, 1]),
            ..Neigh4::ZERO
        };
        self.report(since_origin(now_ns), ifindex, ip, neigh_state(Some(&row)));
    }

    fn report(&mut self, now: Duration, ifindex: u32, ip: Ipv4Addr, state: NeighState) {
        let resolved = match state {
            NeighState::Usable => true,
            NeighState::Failed => false,
            NeighState::Missing | NeighState::Resolving => return,
        };
        if self.outstanding.remove(&(ifindex, ip)).is_some() {
            self.counters.results += 1;
        }
        self.solicitor.on_probe_result(now, ifindex, ip, resolved);
    }

    fn check_outstanding(&mut self, neigh: &Neigh4Table<'_>, now: Duration) {
        let ttl = self.opts.policy.placeholder_ttl;
        let mut done = Vec::new();
        self.outstanding.retain(|&(ifindex, ip), sent| {
            if now.saturating_sub(*sent) >= ttl {
                // The policy expires its placeholder by itself.
                return false;
            }
            let s = lookup(neigh, ifindex, ip);
            if matches!(s, NeighState::Usable | NeighState::Failed) {
                done.push((ifindex, ip, s));
            }
            true
        });
        for (ifindex, ip, s) in done {
            self.report(now, ifindex, ip, s);
        }
    }

    fn refresh_gateways<R: ReaderEpochs + Clone>(&mut self, tables: &NetbaseWriter<'_, R>) {
        let mut gws: Vec<(u32, Ipv4Addr)> = tables
            .main4
            .routes()
            .filter(|r| r.prefix == 0 && r.len == 0 && r.active)
            .map(|r| (r.nexthop.oif, Ipv4Addr::from(r.nexthop.gateway.0)))
            .filter(|&(oif, gw)| oif != 0 && !gw.is_unspecified())
            .collect();
        gws.sort_unstable();
        gws.dedup();
        if gws != self.gateways {
            self.solicitor.set_gateways(&gws);
            self.gateways = gws;
        }
    }

    /// Sends one probe; false if it could not be sent.
    fn send_probe(&mut self, ifindex: u32, ip: Ipv4Addr) -> bool {
        if let Prober::Netlink(sock, udp) = &mut self.prober {
            match sock.solicit_neigh4(ifindex, ip.octets()) {
                Ok(()) => {
                    self.counters.netlink_probes += 1;
                    return true;
                }
                Err(DumpError::Kernel { errno, .. }) if errno == EPERM => match udp.take() {
                    Some(udp) => {
                        self.counters.udp_fallback = true;
                        self.prober = Prober::Udp(udp);
                    }
                    None => {
                        self.counters.probe_errors += 1;
                        return false;
                    }
                },
                Err(_) => {
                    self.counters.probe_errors += 1;
                    return false;
                }
            }
        }
        if let Prober::Udp(sock) = &self.prober {
            let sent = sock.send_to(&[], SocketAddrV4::new(ip, 9)).is_ok();
            if sent {
                self.counters.udp_probes += 1;
            } else {
                self.counters.probe_errors += 1;
            }
            return sent;
        }
        false
    }
}

/// `EPERM` as netlink reports it (a positive errno): no CAP_NET_ADMIN.
const EPERM: i32 = 1;
