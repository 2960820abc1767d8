//! Neighbour solicitation engine of the netlink tile.
//!
//! Net tiles that miss a neighbour send `(ifindex, ipv4)` requests over a lossy link; the
//! traffic behind those misses can be spoofed (RFC 6583: sources inside an on-link prefix make
//! a host solicit at line rate), so this engine decides which requests become kernel probes.
//! It is pure and deterministic: time is passed in as a [`Duration`] since any fixed origin,
//! the neighbour table is consulted through a closure, and decisions are returned, never
//! executed, so the whole policy can be simulated and fuzzed.
//!
//! Policy, in the order a request meets it:
//! 1. validation (a bad frame or address is counted, never acted upon);
//! 2. `Known`: the kernel already has a usable entry (the miss raced with resolution);
//! 3. `Deduped`: a probe for the address is pending (a *placeholder* exists);
//! 4. `Suppressed`: the address was probed less than `per_address_window` ago;
//! 5. the global token bucket, of which `reserved` tokens only gateways and keepalives may use;
//!    when tokens are scarce (below half of the request share), a token goes to the address
//!    with the highest recent demand on its fairness slot (see [`Solicitor::on_request`]).
//!
//! A placeholder exists only for a probe actually sent: a request refused by the bucket
//! leaves nothing behind, so it can try again as soon as tokens return. Placeholders expire
//! after `placeholder_ttl`, so a lost notification never blocks an address for good.

mod bucket;
mod demand;
pub mod wire;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

pub use bucket::TokenBucket;
use demand::DemandSketch;
pub use wire::{decode, encode, BadRequest, Kind, Request, FRAME_LEN};

/// What the kernel's neighbour table (as mirrored) says about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    /// No entry.
    Missing,
    /// The kernel is resolving it already (INCOMPLETE): another probe adds nothing.
    Resolving,
    /// A usable link-layer address (REACHABLE, STALE, DELAY, PROBE, PERMANENT).
    Usable,
    /// The last resolution failed.
    Failed,
}

/// The outcome of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ask the kernel to resolve this address now.
    Probe(u32, Ipv4Addr),
    /// A probe for this address is pending.
    Deduped,
    /// This address was probed less than `per_address_window` ago.
    Suppressed,
    /// No token, or the token went to an address with more demand.
    RateLimited,
    /// The neighbour is already usable.
    Known,
    /// A keepalive hint was recorded.
    Hinted,
    /// The frame or request was invalid.
    Bad(BadRequest),
}

/// Why a refresh is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshKind {
    Gateway,
    Keepalive,
}

/// A probe to send to keep an entry resolved (NTF_USE on an existing entry, or a first probe
/// for a gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refresh {
    pub kind: RefreshKind,
    pub ifindex: u32,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Sustained probes per second, all kinds together.
    pub global_rate_per_sec: u32,
    /// Bucket depth.
    pub burst: u32,
    /// Tokens only gateways and keepalives may take (clamped below `burst`): a request flood
    /// drains the bucket down to this level and no further.
    pub reserved: u32,
    /// An address probed less than this ago is not probed again.
    pub per_address_window: Duration,
    /// Most probes pending at once.
    pub max_placeholders: usize,
    /// Most probes pending at once on one interface, so one flooded link cannot hold them all.
    pub max_placeholders_per_ifindex: usize,
    /// A pending probe older than this is forgotten (the kernel answers within ~3 s, and
    /// sends no notification at all for INCOMPLETE, so a lost answer must not block forever).
    pub placeholder_ttl: Duration,
    /// Refresh an in-use entry this long before its reachable time runs out.
    pub keepalive_before_stale: Duration,
    /// An address not hinted for this long is no longer in use and is not refreshed.
    pub keepalive_idle: Duration,
    /// Most addresses refreshed by keepalives.
    pub max_keepalives: usize,
    /// A gateway whose probe failed is retried after this, sooner than a regular refresh.
    pub gateway_retry: Duration,
    /// Length of one fairness round (about one token interval is right).
    pub fairness_epoch: Duration,
    /// Half-life of the demand estimates.
    pub demand_half_life: Duration,
    /// Hash seed of the demand sketch; random per process in production.
    pub seed: u64,
}

impl Default for Config {
    /// Firedancer's numbers for rate and burst (3/s, 128), with the limits it lacked.
    fn default() -> Self {
        Self {
            global_rate_per_sec: 3,
            burst: 128,
            reserved: 16,
            per_address_window: Duration::from_secs(15),
            max_placeholders: 256,
            max_placeholders_per_ifindex: 128,
            placeholder_ttl: Duration::from_secs(5),
            keepalive_before_stale: Duration::from_secs(5),
            keepalive_idle: Duration::from_secs(60),
            max_keepalives: 1024,
            gateway_retry: Duration::from_secs(1),
            fairness_epoch: Duration::from_millis(333),
            demand_half_life: Duration::from_secs(1),
            seed: 0x5eed,
        }
    }
}

/// Counters; all monotonic except `placeholders`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    pub bad_requests: u64,
    pub known: u64,
    pub probes_sent: u64,
    pub deduped: u64,
    /// Refused by the per-address window.
    pub suppressed: u64,
    /// Refused by the global bucket (including `fairness_deferred`).
    pub rate_limited: u64,
    /// Refused because a token was left for an address with more demand.
    pub fairness_deferred: u64,
    /// Gauge: probes pending now.
    pub placeholders: u64,
    pub placeholder_evictions: u64,
    pub placeholder_expired: u64,
    pub probe_resolved: u64,
    pub probe_failed: u64,
    pub hints: u64,
    pub keepalives_sent: u64,
    pub keepalive_evictions: u64,
    pub gateway_probes: u64,
}

type Key = (u32, Ipv4Addr);

fn key_u64(k: Key) -> u64 {
    (u64::from(k.0) << 32) | u64::from(u32::from(k.1))
}

/// A probe we sent: pending until answered or expired, then kept as a suppression record
/// until `per_address_window` has passed.
#[derive(Clone, Copy, Debug)]
struct Probe {
    sent: Duration,
    pending: bool,
}

#[derive(Clone, Copy, Debug)]
struct Keepalive {
    last_hint: Duration,
    /// When the next refresh is due; `None`: at once.
    due: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
struct Gateway {
    key: Key,
    due: Option<Duration>,
}

/// Number of fairness slots; ifindexes hash onto them (collisions only share fairness).
const SLOTS: usize = 64;

/// Per-slot fairness round: the two most demanded addresses not granted this round, and the
/// champion of the previous round, whose demand a request must match to take a scarce token.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    epoch: u64,
    cur: [Option<(Key, u32)>; 2],
    prev: Option<(Key, u32)>,
    granted_epoch: Option<u64>,
}

impl Slot {
    fn roll(&mut self, epoch: u64) {
        if self.epoch != epoch {
            // Demand seen rounds ago says little about now: only the last round counts.
            self.prev = if self.epoch.checked_add(1) == Some(epoch) {
                self.cur[0]
            } else {
                None
            };
            self.cur = [None, None];
            self.epoch = epoch;
        }
    }

    fn note(&mut self, key: Key, est: u32) {
        match self.cur {
            [Some((k, e)), _] if k == key => self.cur[0] = Some((k, e.max(est))),
            [Some((_, e)), _] if est > e => self.cur = [Some((key, est)), self.cur[0]],
            [None, _] => self.cur[0] = Some((key, est)),
            [_, Some((k, e))] if k == key => self.cur[1] = Some((k, e.max(est))),
            [_, Some((_, e))] if est <= e => {}
            [_, _] => self.cur[1] = Some((key, est)),
        }
    }

    fn forget(&mut self, key: Key) {
        if matches!(self.cur[1], Some((k, _)) if k == key) {
            self.cur[1] = None;
        }
        if matches!(self.cur[0], Some((k, _)) if k == key) {
            self.cur = [self.cur[1], None];
        }
        if matches!(self.prev, Some((k, _)) if k == key) {
            self.prev = None;
        }
    }
}

pub struct Solicitor {
    cfg: Config,
    bucket: TokenBucket,
    demand: DemandSketch,
    slots: [Slot; SLOTS],
    probes: HashMap<Key, Probe>,
    pending_per_if: HashMap<u32, usize>,
    keepalives: HashMap<Key, Keepalive>,
    gateways: Vec<Gateway>,
    next_sweep: Duration,
    counters: Counters,
}

impl Solicitor {
    pub fn new(mut cfg: Config) -> Self {
        // Clamp nonsense so arithmetic below never has to care.
        cfg.burst = cfg.burst.max(1);
        cfg.reserved = cfg.reserved.min(cfg.burst - 1);
        cfg.max_placeholders = cfg.max_placeholders.max(1);
        cfg.max_placeholders_per_ifindex = cfg
            .max_placeholders_per_ifindex
            .clamp(1, cfg.max_placeholders);
        cfg.max_keepalives = cfg.max_keepalives.max(1);
        cfg.fairness_epoch = cfg.fairness_epoch.max(Duration::from_micros(1));
        Self {
            bucket: TokenBucket::new(cfg.global_rate_per_sec, cfg.burst),
            demand: DemandSketch::new(cfg.seed, cfg.demand_half_life),
            slots: [Slot::default(); SLOTS],
            probes: HashMap::new(),
            pending_per_if: HashMap::new(),
            keepalives: HashMap::new(),
            gateways: Vec::new(),
            next_sweep: Duration::ZERO,
            counters: Counters::default(),
            cfg,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether a probe for the address is pending (for tests and introspection).
    pub fn is_pending(&self, ifindex: u32, ip: Ipv4Addr) -> bool {
        self.probes.get(&(ifindex, ip)).is_some_and(|p| p.pending)
    }

    /// Decodes one frame from the link and dispatches it.
    pub fn on_frame(
        &mut self,
        now: Duration,
        frame: &[u8],
        is_known: impl Fn(u32, Ipv4Addr) -> NeighState,
    ) -> Decision {
        match decode(frame) {
            Ok(req) => self.on_request(now, req, is_known),
            Err(e) => {
                self.counters.requests += 1;
                self.counters.bad_requests += 1;
                Decision::Bad(e)
            }
        }
    }

    /// Decides what to do with one request. `is_known` reads the mirrored neighbour table.
    ///
    /// Under contention (fewer tokens than half of the request share), each fairness slot (a
    /// hash of the ifindex) grants at most one token per `fairness_epoch`, and only to a
    /// request whose recent demand is at least that of the previous round's most demanded
    /// address on the slot. A legitimate address whose traffic keeps missing therefore wins
    /// over spoofed addresses each requested less often, whatever their number, and a flood
    /// on one interface takes at most one token per round from the others.
    pub fn on_request(
        &mut self,
        now: Duration,
        req: Request,
        is_known: impl Fn(u32, Ipv4Addr) -> NeighState,
    ) -> Decision {
        self.counters.requests += 1;
        if let Err(e) = req.validate() {
            self.counters.bad_requests += 1;
            return Decision::Bad(e);
        }
        if req.kind == Kind::KeepaliveHint {
            self.hint(now, req.ifindex, req.ip);
            return Decision::Hinted;
        }
        self.sweep_if_due(now);
        let key = (req.ifindex, req.ip);
        match is_known(req.ifindex, req.ip) {
            NeighState::Usable => {
                // Resolved behind our back: the placeholder has done its job.
                self.clear(key, true);
                self.counters.known += 1;
                return Decision::Known;
            }
            NeighState::Resolving => {
                self.counters.deduped += 1;
                return Decision::Deduped;
            }
            NeighState::Missing | NeighState::Failed => {}
        }
        if let Some(p) = self.probes.get(&key).copied() {
            let age = now.saturating_sub(p.sent);
            if p.pending && age >= self.cfg.placeholder_ttl {
                self.expire(key);
            } else if p.pending {
                self.counters.deduped += 1;
                return Decision::Deduped;
            }
            if age < self.cfg.per_address_window {
                self.counters.suppressed += 1;
                return Decision::Suppressed;
            }
        }

        let is_gateway = self.gateways.iter().any(|g| g.key == key);
        let est = self.demand.add(now, key_u64(key));
        let epoch =
            u64::try_from(now.as_nanos() / self.cfg.fairness_epoch.as_nanos()).unwrap_or(u64::MAX);
        let slot_ix = (demand_slot(req.ifindex)) % SLOTS;
        let slot = &mut self.slots[slot_ix];
        slot.roll(epoch);

        let granted = if is_gateway {
            // Gateways carry all off-link traffic: they may use the reserved share.
            self.bucket.take(now, 0)
        } else {
            let share = self.cfg.burst - self.cfg.reserved;
            let contended =
                self.bucket.tokens(now) < u64::from(self.cfg.reserved + share.div_ceil(2));
            let entitled = !contended
                || (slot.granted_epoch != Some(epoch)
                    && slot.prev.is_none_or(|(k, e)| k == key || est >= e));
            if !entitled && self.bucket.tokens(now) > u64::from(self.cfg.reserved) {
                self.counters.fairness_deferred += 1;
            }
            entitled && self.bucket.take(now, self.cfg.reserved)
        };
        let slot = &mut self.slots[slot_ix];
        if !granted {
            slot.note(key, est);
            self.counters.rate_limited += 1;
            return Decision::RateLimited;
        }
        slot.forget(key);
        slot.granted_epoch = Some(epoch);
        self.add_placeholder(now, key);
        self.counters.probes_sent += 1;
        Decision::Probe(req.ifindex, req.ip)
    }

    /// A neighbour notification answered a probe (or resolved the address by other means).
    pub fn on_probe_result(&mut self, now: Duration, ifindex: u32, ip: Ipv4Addr, resolved: bool) {
        let key = (ifindex, ip);
        if self.probes.get(&key).is_some_and(|p| p.pending) {
            if resolved {
                self.counters.probe_resolved += 1;
            } else {
                self.counters.probe_failed += 1;
            }
        }
        // A resolved address needs no suppression record: if it disappears later, the next
        // miss should probe at once. A failed one keeps it, so spoofed dead addresses are not
        // re-probed before the window ends.
        self.clear(key, resolved);
        if let Some(g) = self.gateways.iter_mut().find(|g| g.key == key) {
            if !resolved {
                g.due = Some(now.saturating_add(self.cfg.gateway_retry));
            }
        }
        if !resolved {
            self.keepalives.remove(&key);
        }
    }

    /// Records that a net tile is sending to this (resolved) neighbour.
    pub fn on_keepalive_hint(&mut self, now: Duration, ifindex: u32, ip: Ipv4Addr) -> Decision {
        self.counters.requests += 1;
        let req = Request {
            kind: Kind::KeepaliveHint,
            ifindex,
            ip,
        };
        if let Err(e) = req.validate() {
            self.counters.bad_requests += 1;
            return Decision::Bad(e);
        }
        self.hint(now, ifindex, ip);
        Decision::Hinted
    }

    fn hint(&mut self, now: Duration, ifindex: u32, ip: Ipv4Addr) {
        self.counters.hints += 1;
        let key = (ifindex, ip);
        if let Some(k) = self.keepalives.get_mut(&key) {
            k.last_hint = k.last_hint.max(now);
            return;
        }
        if self.keepalives.len() >= self.cfg.max_keepalives {
            // The least recently used neighbour is the one whose refresh matters least.
            if let Some(old) = self
                .keepalives
                .iter()
                .min_by_key(|(_, k)| k.last_hint)
                .map(|e| *e.0)
            {
                self.keepalives.remove(&old);
                self.counters.keepalive_evictions += 1;
            }
        }
        // Due at once: we do not know when the kernel last confirmed the entry.
        self.keepalives.insert(
            key,
            Keepalive {
                last_hint: now,
                due: None,
            },
        );
    }

    /// Replaces the set of default gateways. Gateways stay resolved: probed at once, then
    /// refreshed like keepalives with the highest priority, and never evicted.
    pub fn set_gateways(&mut self, gws: &[(u32, Ipv4Addr)]) {
        let old = std::mem::take(&mut self.gateways);
        for &key in gws {
            if key.0 == 0 || !wire::address_ok(key.1) || self.gateways.iter().any(|g| g.key == key)
            {
                continue;
            }
            let due = old.iter().find(|g| g.key == key).and_then(|g| g.due);
            self.gateways.push(Gateway { key, due });
        }
    }

    /// Gateway probes and keepalive refreshes due at `now`, as many as the bucket allows
    /// (gateways first, then keepalives oldest-due first). `reach_time` is the kernel's
    /// reachable time for the entries (the lower end of its randomised range); an entry is
    /// refreshed `keepalive_before_stale` before it would run out. Call it every tick.
    pub fn due_keepalives(
        &mut self,
        now: Duration,
        reach_time: Duration,
    ) -> impl Iterator<Item = Refresh> {
        self.sweep_if_due(now);
        let period = reach_time
            .saturating_sub(self.cfg.keepalive_before_stale)
            .max(Duration::from_millis(1));
        let mut out = Vec::new();
        for g in &mut self.gateways {
            if g.due.is_some_and(|d| d > now) {
                continue;
            }
            if !self.bucket.take(now, 0) {
                return out.into_iter();
            }
            g.due = Some(now.saturating_add(period));
            self.counters.gateway_probes += 1;
            out.push(Refresh {
                kind: RefreshKind::Gateway,
                ifindex: g.key.0,
                ip: g.key.1,
            });
        }
        let idle = self.cfg.keepalive_idle;
        self.keepalives
            .retain(|_, k| now.saturating_sub(k.last_hint) <= idle);
        let mut due: Vec<(Option<Duration>, Key)> = self
            .keepalives
            .iter()
            .filter(|(_, k)| k.due.is_none_or(|d| d <= now))
            .map(|(key, k)| (k.due, *key))
            .collect();
        // Oldest first, and a total order so results do not depend on hash iteration order.
        due.sort_unstable();
        for (_, key) in due {
            if !self.bucket.take(now, 0) {
                break;
            }
            if let Some(k) = self.keepalives.get_mut(&key) {
                k.due = Some(now.saturating_add(period));
            }
            self.counters.keepalives_sent += 1;
            out.push(Refresh {
                kind: RefreshKind::Keepalive,
                ifindex: key.0,
                ip: key.1,
            });
        }
        out.into_iter()
    }

    /// Expires placeholders and drops suppression records that no longer suppress anything.
    pub fn sweep(&mut self, now: Duration) {
        let ttl = self.cfg.placeholder_ttl;
        let expired: Vec<Key> = self
            .probes
            .iter()
            .filter(|(_, p)| p.pending && now.saturating_sub(p.sent) >= ttl)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            self.expire(key);
        }
        let window = self.cfg.per_address_window;
        self.probes
            .retain(|_, p| p.pending || now.saturating_sub(p.sent) < window);
    }

    fn sweep_if_due(&mut self, now: Duration) {
        if now >= self.next_sweep {
            self.sweep(now);
            let every = self.cfg.placeholder_ttl.min(self.cfg.per_address_window) / 4;
            self.next_sweep = now.saturating_add(every.max(Duration::from_millis(1)));
        }
    }

    fn add_placeholder(&mut self, now: Duration, key: Key) {
        let on_if = self.pending_per_if.get(&key.0).copied().unwrap_or(0);
        let full_if = on_if >= self.cfg.max_placeholders_per_ifindex;
        if full_if || self.counters.placeholders >= self.cfg.max_placeholders as u64 {
            // Evict the oldest pending probe (of this interface if that is what is full)
            // rather than refuse: it is the one most likely lost, and refusing would let a
            // full set stop all resolution until the TTL. The evicted address keeps its
            // suppression record, so eviction cannot be used to re-probe it early.
            let victim = self
                .probes
                .iter()
                .filter(|(k, p)| p.pending && (!full_if || k.0 == key.0))
                .min_by_key(|(k, p)| (p.sent, **k))
                .map(|(k, _)| *k);
            if let Some(v) = victim {
                self.unpend(v);
                self.counters.placeholder_evictions += 1;
            }
        }
        let old = self.probes.insert(
            key,
            Probe {
                sent: now,
                pending: true,
            },
        );
        if !old.is_some_and(|p| p.pending) {
            *self.pending_per_if.entry(key.0).or_insert(0) += 1;
            self.counters.placeholders += 1;
        }
    }

    /// Marks a pending probe as no longer pending; keeps its suppression record.
    fn unpend(&mut self, key: Key) -> bool {
        let Some(p) = self.probes.get_mut(&key) else {
            return false;
        };
        if !p.pending {
            return false;
        }
        p.pending = false;
        self.counters.placeholders = self.counters.placeholders.saturating_sub(1);
        if let Some(n) = self.pending_per_if.get_mut(&key.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.pending_per_if.remove(&key.0);
            }
        }
        true
    }

    fn expire(&mut self, key: Key) {
        if self.unpend(key) {
            self.counters.placeholder_expired += 1;
        }
    }

    /// Ends a pending probe; with `forget`, drops the suppression record too.
    fn clear(&mut self, key: Key, forget: bool) {
        self.unpend(key);
        if forget {
            self.probes.remove(&key);
        }
    }
}

/// Fairness slot of an ifindex.
fn demand_slot(ifindex: u32) -> usize {
    // Multiplicative hash: consecutive ifindexes (the common case) land on distinct slots.
    (ifindex.wrapping_mul(0x9e37_79b1) >> 26) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keeps_top_two_distinct() {
        let k = |i: u8| (1u32, Ipv4Addr::new(10, 0, 0, i));
        let mut s = Slot::default();
        s.roll(1);
        s.note(k(1), 5);
        s.note(k(2), 9);
        s.note(k(1), 7);
        s.note(k(3), 6);
        assert_eq!(s.cur, [Some((k(2), 9)), Some((k(1), 7))]);
        s.forget(k(2));
        assert_eq!(s.cur, [Some((k(1), 7)), None]);
        s.roll(2);
        assert_eq!(s.prev, Some((k(1), 7)));
        s.roll(4);
        assert_eq!(s.prev, None);
    }

    #[test]
    fn slots_spread_small_ifindexes() {
        let mut seen = std::collections::HashSet::new();
        for i in 1..=16 {
            seen.insert(demand_slot(i));
        }
        assert!(seen.len() >= 14, "{}", seen.len());
    }
}
