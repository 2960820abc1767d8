//! The sync state machine: which dump to run next, and what to do when one ends.
//!
//! It performs no I/O and reads no clock: the caller asks [`SyncMachine::poll`] what to do,
//! runs the dump on its request socket, and reports the result with the ticket it was given;
//! times are passed in (monotonic nanoseconds from any fixed origin) and randomness comes from
//! a seeded generator, so tests can script every sequence of events.
//!
//! ```text
//!   Initial ──poll──▶ Dumping(links → addrs → routes per table → neighbours) ──▶ Live
//!                        ▲   │ interrupted: same kind again (bounded)        │
//!                        │   │ failed / too many interruptions: Backoff       │ overrun (ENOBUFS)
//!                        │   ▼                                                ▼
//!                        └─ Backoff(until) ◀──────────── Resync: every kind again, new generation
//! ```
//!
//! A routes-only pass ([`SyncMachine::on_routes_stale`]) covers routes that vanish without an
//! `RTM_DELROUTE` (their link went down, their nexthop object was deleted).
//!
//! # Mark-and-sweep contract for the table code
//!
//! Every mirrored row carries a `u64` generation stamp.
//!
//! * A row written from a dump message stamps the [`Ticket::generation`] of that dump.
//! * A row written from a notification stamps [`SyncMachine::generation`].
//! * A notification delete removes the row at once.
//! * [`Applied::Sweep`] `{ kind, generation }`: the dump of `kind` completed. First drain the
//!   monitor and apply what it holds (a row that changed while it was being dumped may be
//!   missing from the dump but is then re-stamped by its notification), then remove the rows
//!   of that kind (for routes: of that table only) whose stamp is below `generation`. Those
//!   were neither in a complete dump nor touched since the pass began: they are gone from the
//!   kernel, and their deletion notification was lost.
//! * Interrupted, failed and stale dumps sweep nothing. Rows they already wrote are kept
//!   (each was true at some instant, and notifications keep it current); a retry stamps them
//!   again with the same generation.
//!
//! Rows are updated in place and only the stale ones are removed at the end, so readers never
//! see a table emptied for a resync: during one they see the old rows, some already refreshed.
//! The one limit: a row that the kernel left out of a dump without flagging it
//! `NLM_F_DUMP_INTR` and that did not change is swept wrongly, and comes back with the next
//! sync that sees it.

use core::fmt;

use super::request::DumpKind;

/// Monotonic time in nanoseconds, from an origin of the caller's choosing.
pub type Nanos = u64;

/// Route tables one machine can mirror.
pub const MAX_ROUTE_TABLES: usize = 8;
const MAX_PLAN: usize = MAX_ROUTE_TABLES + 3;

/// More route tables than [`MAX_ROUTE_TABLES`] were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTables {
    pub asked: usize,
}

impl fmt::Display for TooManyTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} route tables asked for, at most {MAX_ROUTE_TABLES} supported",
            self.asked
        )
    }
}

impl std::error::Error for TooManyTables {}

/// Settings of a [`SyncMachine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    tables: [u32; MAX_ROUTE_TABLES],
    n_tables: usize,
    /// Interrupted dumps of one kind retried at once before backing off.
    pub max_interrupt_retries: u32,
    /// Delay ceiling after the first failure; it doubles per further failure.
    pub backoff_min: Nanos,
    /// The delay never exceeds this.
    pub backoff_max: Nanos,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl SyncConfig {
    /// No route tables, default retry and backoff settings.
    const fn empty() -> SyncConfig {
        SyncConfig {
            tables: [0; MAX_ROUTE_TABLES],
            n_tables: 0,
            max_interrupt_retries: 3,
            backoff_min: 100_000_000,
            // Short enough that a mirror is current again within a second of a netlink
            // storm ending (dumps interrupted again and again back off up to here).
            backoff_max: 1_000_000_000,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Mirrors these IPv4 route tables (each id once; duplicates are dropped).
    pub fn new(tables: &[u32]) -> Result<Self, TooManyTables> {
        let mut cfg = SyncConfig::empty();
        for &t in tables {
            if cfg.tables().contains(&t) {
                continue;
            }
            if cfg.n_tables == MAX_ROUTE_TABLES {
                return Err(TooManyTables {
                    asked: tables.len(),
                });
            }
            cfg.tables[cfg.n_tables] = t;
            cfg.n_tables += 1;
        }
        Ok(cfg)
    }

    pub fn tables(&self) -> &[u32] {
        &self.tables[..self.n_tables]
    }
}

impl Default for SyncConfig {
    /// `main` (254) and `local` (255).
    fn default() -> Self {
        let mut cfg = SyncConfig::empty();
        cfg.tables[0] = 254;
        cfg.tables[1] = 255;
        cfg.n_tables = 2;
        cfg
    }
}

/// Why a pass of dumps runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The first full sync.
    Initial,
    /// A full sync after notifications were lost.
    Resync,
    /// Route tables only, after a link went down or a nexthop was deleted.
    Routes,
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing dumped yet.
    Initial,
    /// A pass is under way; `kind` is the dump in flight (`issued`) or the next one.
    Dumping {
        pass: Pass,
        kind: DumpKind,
        issued: bool,
    },
    /// Waiting after a failure; `kind` is dumped again at `until`.
    Backoff {
        pass: Pass,
        kind: DumpKind,
        until: Nanos,
    },
    /// Every kind is mirrored; only notifications to apply.
    Live,
}

/// One dump handed out by [`SyncMachine::poll`]; report its end with the same ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub kind: DumpKind,
    /// The stamp for every row this dump writes.
    pub generation: u64,
    id: u64,
}

/// What the caller should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start this dump.
    Dump(Ticket),
    /// This dump was handed out and has not been reported yet.
    Awaiting(Ticket),
    /// Nothing until `until` (backoff after a failure).
    Sleep { until: Nanos },
    /// In sync: apply notifications.
    Live,
}

/// What a reported dump result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The dump completed: drain the monitor, then sweep rows of `kind` stamped below
    /// `generation` (see the module docs). `sync_complete`: that was the pass's last dump.
    Sweep {
        kind: DumpKind,
        generation: u64,
        sync_complete: bool,
    },
    /// The same kind is to be dumped again at once (interrupted dump).
    Retry,
    /// Backing off until `until`.
    Backoff { until: Nanos },
    /// The ticket belongs to a pass that was restarted since; nothing to do.
    Stale,
}

/// A result reported with a ticket this machine never issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownTicket;

impl fmt::Display for UnknownTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dump result reported for a ticket this sync machine never issued")
    }
}

impl std::error::Error for UnknownTicket {}

/// Totals over the machine's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Full passes begun (initial and resyncs).
    pub full_syncs_started: u64,
    /// Full passes finished.
    pub full_syncs: u64,
    pub route_passes_started: u64,
    pub route_passes: u64,
    pub dumps_issued: u64,
    pub dumps_completed: u64,
    /// Interrupted dumps repeated at once.
    pub dump_retries: u64,
    pub dump_failures: u64,
    pub backoffs: u64,
    /// Overruns reported (each restarts a full pass).
    pub enobufs: u64,
    /// Results reported for tickets of restarted passes.
    pub stale_results: u64,
    /// Link-down / nexthop events that asked for a routes pass.
    pub routes_stale_events: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    Running,
    Backoff { until: Nanos },
    Live,
}

/// The sync state machine (see the module docs).
#[derive(Debug, Clone)]
pub struct SyncMachine {
    cfg: SyncConfig,
    plan: [DumpKind; MAX_PLAN],
    plan_len: usize,
    phase: Phase,
    pass: Pass,
    /// Position in `plan` of the current (or next) dump of the pass.
    index: usize,
    generation: u64,
    issued: Option<Ticket>,
    last_id: u64,
    /// Consecutive failures, for the backoff delay; reset by a completed dump.
    failures: u32,
    /// Consecutive interruptions of the current kind.
    interrupts: u32,
    /// A route dump of the current pass has been handed out (a later link-down may not be
    /// reflected in it).
    route_dump_issued: bool,
    routes_pending: bool,
    rng: u64,
    counters: SyncCounters,
}

impl SyncMachine {
    pub fn new(cfg: SyncConfig) -> Self {
        // Links first: addresses, routes and neighbours refer to interfaces.
        let mut plan = [DumpKind::Links; MAX_PLAN];
        let mut n = 0;
        plan[n] = DumpKind::Links;
        n += 1;
        plan[n] = DumpKind::Addrs4;
        n += 1;
        for &table in cfg.tables() {
            plan[n] = DumpKind::Routes4 { table };
            n += 1;
        }
        plan[n] = DumpKind::Neigh4;
        n += 1;
        SyncMachine {
            cfg,
            plan,
            plan_len: n,
            phase: Phase::Initial,
            pass: Pass::Initial,
            index: 0,
            generation: 0,
            issued: None,
            last_id: 0,
            failures: 0,
            interrupts: 0,
            route_dump_issued: false,
            routes_pending: false,
            // xorshift must not start at zero.
            rng: cfg.seed | 1,
            counters: SyncCounters::default(),
        }
    }

    /// The stamp for rows written from notifications now.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn counters(&self) -> SyncCounters {
        self.counters
    }

    pub fn config(&self) -> &SyncConfig {
        &self.cfg
    }

    /// The dumps of a full pass, in order.
    pub fn plan(&self) -> &[DumpKind] {
        &self.plan[..self.plan_len]
    }

    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    pub fn state(&self) -> SyncState {
        let kind = self.plan[self.index.min(self.plan_len - 1)];
        match self.phase {
            Phase::Initial => SyncState::Initial,
            Phase::Live => SyncState::Live,
            Phase::Running => SyncState::Dumping {
                pass: self.pass,
                kind,
                issued: self.issued.is_some(),
            },
            Phase::Backoff { until } => SyncState::Backoff {
                pass: self.pass,
                kind,
                until,
            },
        }
    }

    fn in_pass(&self, kind: DumpKind) -> bool {
        self.pass != Pass::Routes || matches!(kind, DumpKind::Routes4 { .. })
    }

    /// Moves `index` to the first dump at or after it that belongs to the pass; returns
    /// whether there is one.
    fn seek(&mut self) -> bool {
        while self.index < self.plan_len && !self.in_pass(self.plan[self.index]) {
            self.index += 1;
        }
        self.index < self.plan_len
    }

    fn begin_pass(&mut self, pass: Pass) {
        self.generation += 1;
        self.pass = pass;
        self.index = 0;
        self.issued = None;
        self.interrupts = 0;
        self.route_dump_issued = false;
        self.phase = Phase::Running;
        match pass {
            Pass::Routes => self.counters.route_passes_started += 1,
            Pass::Initial | Pass::Resync => self.counters.full_syncs_started += 1,
        }
        if !self.seek() {
            // A routes pass with no tables configured: nothing to dump.
            self.finish_pass();
        }
    }

    fn finish_pass(&mut self) {
        self.phase = Phase::Live;
        self.index = 0;
        match self.pass {
            Pass::Routes => self.counters.route_passes += 1,
            Pass::Initial | Pass::Resync => self.counters.full_syncs += 1,
        }
    }

    /// What to do at `now`. Hands out at most one dump at a time.
    pub fn poll(&mut self, now: Nanos) -> Next {
        match self.phase {
            Phase::Initial => self.begin_pass(Pass::Initial),
            Phase::Backoff { until } if now < until => return Next::Sleep { until },
            Phase::Backoff { .. } => self.phase = Phase::Running,
            Phase::Live if self.routes_pending => {
                self.routes_pending = false;
                self.begin_pass(Pass::Routes);
            }
            Phase::Live | Phase::Running => {}
        }
        if self.phase == Phase::Live {
            return Next::Live;
        }
        if let Some(t) = self.issued {
            return Next::Awaiting(t);
        }
        let kind = self.plan[self.index];
        self.last_id += 1;
        let t = Ticket {
            kind,
            generation: self.generation,
            id: self.last_id,
        };
        self.issued = Some(t);
        self.counters.dumps_issued += 1;
        if matches!(kind, DumpKind::Routes4 { .. }) {
            self.route_dump_issued = true;
        }
        Next::Dump(t)
    }

    /// Ok(true): `t` is the dump in flight; Ok(false): it belongs to a restarted pass.
    fn check(&mut self, t: &Ticket) -> Result<bool, UnknownTicket> {
        if self.issued == Some(*t) {
            return Ok(true);
        }
        if t.id != 0 && t.id <= self.last_id {
            self.counters.stale_results += 1;
            return Ok(false);
        }
        Err(UnknownTicket)
    }

    /// The dump of `t` reached `NLMSG_DONE` (or, for a route table, the kernel said the
    /// table does not exist: an empty, complete dump).
    pub fn on_dump_done(&mut self, t: &Ticket, _now: Nanos) -> Result<Applied, UnknownTicket> {
        if !self.check(t)? {
            return Ok(Applied::Stale);
        }
        self.issued = None;
        self.failures = 0;
        self.interrupts = 0;
        self.counters.dumps_completed += 1;
        self.index += 1;
        let sync_complete = !self.seek();
        if sync_complete {
            self.finish_pass();
        }
        Ok(Applied::Sweep {
            kind: t.kind,
            generation: t.generation,
            sync_complete,
        })
    }

    /// The dump of `t` completed but was flagged `NLM_F_DUMP_INTR`: dump the same kind again
    /// at once, or back off after [`SyncConfig::max_interrupt_retries`] repeats.
    pub fn on_dump_interrupted(
        &mut self,
        t: &Ticket,
        now: Nanos,
    ) -> Result<Applied, UnknownTicket> {
        if !self.check(t)? {
            return Ok(Applied::Stale);
        }
        self.issued = None;
        self.interrupts += 1;
        if self.interrupts > self.cfg.max_interrupt_retries {
            return Ok(self.enter_backoff(now));
        }
        self.counters.dump_retries += 1;
        Ok(Applied::Retry)
    }

    /// The dump of `t` failed (kernel error, timeout, socket error): back off, then dump the
    /// same kind again. Kinds completed earlier in the pass stay done.
    pub fn on_dump_failed(&mut self, t: &Ticket, now: Nanos) -> Result<Applied, UnknownTicket> {
        if !self.check(t)? {
            return Ok(Applied::Stale);
        }
        self.issued = None;
        self.counters.dump_failures += 1;
        Ok(self.enter_backoff(now))
    }

    fn enter_backoff(&mut self, now: Nanos) -> Applied {
        self.failures = self.failures.saturating_add(1);
        self.interrupts = 0;
        let until = now.saturating_add(self.backoff_delay());
        self.phase = Phase::Backoff { until };
        self.counters.backoffs += 1;
        Applied::Backoff { until }
    }

    /// Exponential backoff with "equal jitter": a uniform delay in `[cap/2, cap]`, where
    /// `cap` doubles per consecutive failure up to `backoff_max`. The random half keeps many
    /// tiles that failed together from retrying together.
    fn backoff_delay(&mut self) -> Nanos {
        let doublings = self.failures.saturating_sub(1).min(63);
        let cap = self
            .cfg
            .backoff_min
            .saturating_mul(1u64 << doublings)
            .min(self.cfg.backoff_max);
        let half = cap / 2;
        let span = cap - half;
        half + self.next_random() % span.saturating_add(1)
    }

    /// xorshift64*: small, seedable, good enough to spread retries.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The monitor lost notifications (`ENOBUFS`, or a truncated or malformed datagram):
    /// start a full pass with a new generation. A dump in flight becomes stale (finish or
    /// discard it on the socket; its result is answered with [`Applied::Stale`]). A backoff
    /// in progress is kept: an overrun is no reason to hammer a failing kernel.
    pub fn on_overrun(&mut self, _now: Nanos) {
        self.counters.enobufs += 1;
        if self.phase == Phase::Initial {
            // The first pass has not begun; it is a full one anyway.
            return;
        }
        self.routes_pending = false;
        let backoff = match self.phase {
            Phase::Backoff { until } => Some(until),
            _ => None,
        };
        self.begin_pass(Pass::Resync);
        if let Some(until) = backoff {
            self.phase = Phase::Backoff { until };
        }
    }

    /// A link went down or a nexthop object was deleted: routes may have vanished without
    /// `RTM_DELROUTE`. Schedules a routes-only pass, unless the pass under way has not yet
    /// handed out a route dump (that dump will see the change).
    pub fn on_routes_stale(&mut self, _now: Nanos) {
        self.counters.routes_stale_events += 1;
        match self.phase {
            Phase::Initial => {}
            Phase::Live => self.routes_pending = true,
            Phase::Running | Phase::Backoff { .. } => {
                if self.route_dump_issued {
                    self.routes_pending = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MS: Nanos = 1_000_000;
    const MAIN: DumpKind = DumpKind::Routes4 { table: 254 };
    const LOCAL: DumpKind = DumpKind::Routes4 { table: 255 };

    fn expect_dump(m: &mut SyncMachine, now: Nanos, kind: DumpKind) -> Ticket {
        match m.poll(now) {
            Next::Dump(t) => {
                assert_eq!(t.kind, kind);
                assert_eq!(m.poll(now), Next::Awaiting(t), "one dump at a time");
                t
            }
            other => panic!("expected a dump of {kind}, got {other:?}"),
        }
    }

    fn done(m: &mut SyncMachine, t: &Ticket) -> Applied {
        m.on_dump_done(t, 0).expect("known ticket")
    }

    #[test]
    fn netlink_sync_initial_pass_in_order_then_live() {
        let mut m = SyncMachine::new(SyncConfig::default());
        assert_eq!(m.state(), SyncState::Initial);
        assert_eq!(
            m.plan(),
            &[
                DumpKind::Links,
                DumpKind::Addrs4,
                MAIN,
                LOCAL,
                DumpKind::Neigh4
            ]
        );
        let plan = m.plan().to_vec();
        for (i, kind) in plan.iter().enumerate() {
            let t = expect_dump(&mut m, 0, *kind);
            assert_eq!(t.generation, 1);
            assert_eq!(
                m.state(),
                SyncState::Dumping {
                    pass: Pass::Initial,
                    kind: *kind,
                    issued: true
                }
            );
            assert_eq!(
                done(&mut m, &t),
                Applied::Sweep {
                    kind: *kind,
                    generation: 1,
                    sync_complete: i == plan.len() - 1
                }
            );
        }
        assert_eq!(m.state(), SyncState::Live);
        assert_eq!(m.poll(0), Next::Live);
        let c = m.counters();
        assert_eq!(
            (c.full_syncs_started, c.full_syncs, c.dumps_completed),
            (1, 1, 5)
        );
    }

    #[test]
    fn netlink_sync_enobufs_mid_dump_restarts_everything() {
        let mut m = SyncMachine::new(SyncConfig::default());
        for kind in [DumpKind::Links, DumpKind::Addrs4] {
            let t = expect_dump(&mut m, 0, kind);
            done(&mut m, &t);
        }
        let in_flight = expect_dump(&mut m, 0, MAIN);
        m.on_overrun(5 * MS);
        assert_eq!(m.generation(), 2);
        // The dump in flight finishes on the socket, but its result no longer counts.
        assert_eq!(done(&mut m, &in_flight), Applied::Stale);
        assert_eq!(
            m.state(),
            SyncState::Dumping {
                pass: Pass::Resync,
                kind: DumpKind::Links,
                issued: false
            }
        );
        for kind in [
            DumpKind::Links,
            DumpKind::Addrs4,
            MAIN,
            LOCAL,
            DumpKind::Neigh4,
        ] {
            let t = expect_dump(&mut m, 6 * MS, kind);
            assert_eq!(t.generation, 2);
            assert!(matches!(
                done(&mut m, &t),
                Applied::Sweep { generation: 2, .. }
            ));
        }
        assert!(m.is_live());
        // An overrun while live: a resync pass.
        m.on_overrun(7 * MS);
        let t = expect_dump(&mut m, 7 * MS, DumpKind::Links);
        assert_eq!(t.generation, 3);
        let c = m.counters();
        // The initial pass never finished; the first resync did; the second has begun.
        assert_eq!(
            (
                c.enobufs,
                c.full_syncs_started,
                c.full_syncs,
                c.stale_results
            ),
            (2, 3, 1, 1)
        );
    }

    #[test]
    fn netlink_sync_interrupted_dump_is_retried_then_backs_off() {
        let mut m = SyncMachine::new(SyncConfig {
            max_interrupt_retries: 2,
            ..SyncConfig::default()
        });
        let t = expect_dump(&mut m, 0, DumpKind::Links);
        done(&mut m, &t);
        for _ in 0..2 {
            let t = expect_dump(&mut m, 0, DumpKind::Addrs4);
            assert_eq!(m.on_dump_interrupted(&t, 0), Ok(Applied::Retry));
        }
        let t = expect_dump(&mut m, 0, DumpKind::Addrs4);
        let Ok(Applied::Backoff { until }) = m.on_dump_interrupted(&t, 10 * MS) else {
            panic!()
        };
        assert!(
            (10 * MS + 50 * MS..=10 * MS + 100 * MS).contains(&until),
            "{until}"
        );
        assert_eq!(m.poll(until - 1), Next::Sleep { until });
        // After the backoff the same kind, same generation.
        let t = expect_dump(&mut m, until, DumpKind::Addrs4);
        assert_eq!(t.generation, 1);
        // One interruption then success: the counter of consecutive ones was reset.
        assert_eq!(m.on_dump_interrupted(&t, until), Ok(Applied::Retry));
        let t = expect_dump(&mut m, until, DumpKind::Addrs4);
        assert!(matches!(done(&mut m, &t), Applied::Sweep { .. }));
        assert_eq!(m.counters().dump_retries, 3);
        assert_eq!(m.counters().backoffs, 1);
    }

    #[test]
    fn netlink_sync_repeated_failures_back_off_exponentially_with_jitter() {
        let mut m = SyncMachine::new(SyncConfig {
            backoff_min: 100 * MS,
            backoff_max: 1_000 * MS,
            ..SyncConfig::default()
        });
        let t = expect_dump(&mut m, 0, DumpKind::Links);
        done(&mut m, &t);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            let t = expect_dump(&mut m, now, DumpKind::Addrs4);
            let Ok(Applied::Backoff { until }) = m.on_dump_failed(&t, now) else {
                panic!()
            };
            assert!(matches!(
                m.state(),
                SyncState::Backoff {
                    kind: DumpKind::Addrs4,
                    ..
                }
            ));
            delays.push(until - now);
            assert_eq!(m.poll(now), Next::Sleep { until });
            now = until;
        }
        let caps = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, cap) in delays.iter().zip(caps) {
            assert!(
                (cap * MS / 2..=cap * MS).contains(d),
                "{d} not in [{cap}/2, {cap}] ms"
            );
        }
        // Jitter: the capped delays are not all equal.
        assert!(delays[4..].windows(2).any(|w| w[0] != w[1]), "{delays:?}");
        // Success resets the ladder.
        let t = expect_dump(&mut m, now, DumpKind::Addrs4);
        done(&mut m, &t);
        let t = expect_dump(&mut m, now, MAIN);
        let Ok(Applied::Backoff { until }) = m.on_dump_failed(&t, now) else {
            panic!()
        };
        assert!(until - now <= 100 * MS);
        assert_eq!(m.counters().dump_failures, 9);
    }

    #[test]
    fn netlink_sync_overrun_during_backoff_keeps_waiting() {
        let mut m = SyncMachine::new(SyncConfig::default());
        let t = expect_dump(&mut m, 0, DumpKind::Links);
        let Ok(Applied::Backoff { until }) = m.on_dump_failed(&t, 0) else {
            panic!()
        };
        m.on_overrun(1);
        assert!(matches!(
            m.state(),
            SyncState::Backoff {
                pass: Pass::Resync,
                ..
            }
        ));
        assert_eq!(m.poll(until - 1), Next::Sleep { until });
        let t = expect_dump(&mut m, until, DumpKind::Links);
        assert_eq!(t.generation, 2);
    }

    #[test]
    fn netlink_sync_routes_stale_runs_a_routes_only_pass() {
        let mut m = SyncMachine::new(SyncConfig::default());
        // Before any route dump was handed out: the pass under way covers it.
        let t = expect_dump(&mut m, 0, DumpKind::Links);
        m.on_routes_stale(0);
        done(&mut m, &t);
        for kind in [DumpKind::Addrs4, MAIN] {
            let t = expect_dump(&mut m, 0, kind);
            done(&mut m, &t);
        }
        // After: another routes pass follows.
        let t = expect_dump(&mut m, 0, LOCAL);
        m.on_routes_stale(0);
        done(&mut m, &t);
        let t = expect_dump(&mut m, 0, DumpKind::Neigh4);
        assert!(matches!(
            done(&mut m, &t),
            Applied::Sweep {
                sync_complete: true,
                ..
            }
        ));
        assert!(m.is_live());
        for kind in [MAIN, LOCAL] {
            let t = expect_dump(&mut m, 0, kind);
            assert_eq!(t.generation, 2);
            done(&mut m, &t);
        }
        assert_eq!(m.poll(0), Next::Live);
        let c = m.counters();
        assert_eq!(
            (c.route_passes_started, c.route_passes, c.full_syncs),
            (1, 1, 1)
        );
        // No tables: the routes pass is empty and finishes at once.
        let mut m = SyncMachine::new(SyncConfig::new(&[]).unwrap());
        for kind in [DumpKind::Links, DumpKind::Addrs4, DumpKind::Neigh4] {
            let t = expect_dump(&mut m, 0, kind);
            done(&mut m, &t);
        }
        m.on_routes_stale(0);
        assert_eq!(m.poll(0), Next::Live);
    }

    #[test]
    fn netlink_sync_unknown_tickets_and_config_limits() {
        let mut m = SyncMachine::new(SyncConfig::default());
        let forged = Ticket {
            kind: DumpKind::Links,
            generation: 1,
            id: 99,
        };
        assert_eq!(m.on_dump_done(&forged, 0), Err(UnknownTicket));
        let t = expect_dump(&mut m, 0, DumpKind::Links);
        done(&mut m, &t);
        // Reporting twice: the second is stale, not a second sweep.
        assert_eq!(done(&mut m, &t), Applied::Stale);
        assert_eq!(
            SyncConfig::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(TooManyTables { asked: 9 })
        );
        let cfg = SyncConfig::new(&[254, 254, 1000]).unwrap();
        assert_eq!(cfg.tables(), &[254, 1000]);
    }

    // ---- Scripted message streams through a model mirror that follows the contract. ----

    /// A model row key: (kind tag, table, object id).
    type Key = (u8, u32, u32);

    /// The kernel's objects, and a mirror applying dumps and notifications with stamps.
    #[derive(Default)]
    struct World {
        kernel: HashMap<Key, u32>,
        /// key -> (value, stamp)
        mirror: HashMap<Key, (u32, u64)>,
        /// Queued notifications: (key, Some(value)) = new, None = delete.
        queue: Vec<(Key, Option<u32>)>,
        /// Notifications are dropped from here on (simulated overrun).
        lossy: bool,
    }

    fn tag(kind: DumpKind) -> (u8, u32) {
        match kind {
            DumpKind::Links => (0, 0),
            DumpKind::Addrs4 => (1, 0),
            DumpKind::Routes4 { table } => (2, table),
            DumpKind::Neigh4 => (3, 0),
        }
    }

    impl World {
        fn change(&mut self, key: Key, value: Option<u32>) {
            match value {
                Some(v) => self.kernel.insert(key, v),
                None => self.kernel.remove(&key),
            };
            if !self.lossy {
                self.queue.push((key, value));
            }
        }

        /// A dump as the kernel streams it; `during` changes the kernel halfway through.
        fn dump(&mut self, t: &Ticket, during: &mut dyn FnMut(&mut World)) {
            let (k, table) = tag(t.kind);
            let mut keys: Vec<Key> = self
                .kernel
                .keys()
                .filter(|key| key.0 == k && key.1 == table)
                .copied()
                .collect();
            keys.sort_unstable();
            let half = keys.len() / 2;
            for (i, key) in keys.iter().enumerate() {
                if i == half {
                    during(self);
                }
                // Non-atomic: an object deleted meanwhile is not sent.
                if let Some(&v) = self.kernel.get(key) {
                    self.mirror.insert(*key, (v, t.generation));
                }
            }
            if keys.is_empty() {
                during(self);
            }
        }

        fn drain(&mut self, generation: u64) {
            for (key, value) in std::mem::take(&mut self.queue) {
                match value {
                    Some(v) => {
                        self.mirror.insert(key, (v, generation));
                    }
                    None => {
                        self.mirror.remove(&key);
                    }
                }
            }
        }

        fn sweep(&mut self, kind: DumpKind, generation: u64) {
            let (k, table) = tag(kind);
            self.mirror
                .retain(|key, (_, stamp)| !(key.0 == k && key.1 == table && *stamp < generation));
        }

        fn in_sync(&self) -> bool {
            self.mirror.len() == self.kernel.len()
                && self
                    .kernel
                    .iter()
                    .all(|(k, v)| self.mirror.get(k).map(|m| m.0) == Some(*v))
        }

        /// Runs the machine until live, applying the contract: dump, drain, sweep.
        fn sync(&mut self, m: &mut SyncMachine, during: &mut dyn FnMut(&mut World, DumpKind)) {
            for _ in 0..100 {
                match m.poll(0) {
                    Next::Dump(t) => {
                        self.dump(&t, &mut |w| during(w, t.kind));
                        if let Applied::Sweep {
                            kind, generation, ..
                        } = m.on_dump_done(&t, 0).unwrap()
                        {
                            self.drain(m.generation());
                            self.sweep(kind, generation);
                        }
                    }
                    Next::Live => {
                        self.drain(m.generation());
                        return;
                    }
                    other => panic!("{other:?}"),
                }
            }
            panic!("no convergence");
        }
    }

    #[test]
    fn netlink_sync_model_mirror_converges_through_changes_and_overruns() {
        let mut w = World::default();
        for i in 0..20 {
            w.kernel.insert((0, 0, i), i);
            w.kernel.insert((2, 254, i), 100 + i);
            w.kernel.insert((3, 0, i), 200 + i);
        }
        w.kernel.insert((2, 255, 1), 7);
        let mut m = SyncMachine::new(SyncConfig::default());
        // Changes during every dump: deletes, updates, inserts in the kind being dumped.
        w.sync(&mut m, &mut |w, kind| {
            let (k, table) = tag(kind);
            w.change((k, table, 3), None);
            w.change((k, table, 15), Some(999));
            w.change((k, table, 50), Some(50));
        });
        assert!(w.in_sync());

        // Live: notifications lost, then an overrun is noticed: the resync must remove the
        // rows whose deletes were lost and restore what changed, without ever clearing a
        // table (the untouched rows keep their values throughout).
        w.lossy = true;
        w.change((2, 254, 4), None);
        w.change((0, 0, 5), Some(555));
        w.change((3, 0, 77), Some(77));
        w.lossy = false;
        assert!(!w.in_sync());
        m.on_overrun(0);
        let mut untouched_seen = true;
        w.sync(&mut m, &mut |w, _| {
            untouched_seen &= w.mirror.get(&(2, 254, 10)).map(|r| r.0) == Some(110);
        });
        assert!(
            untouched_seen,
            "a row present in the kernel vanished during the resync"
        );
        assert!(w.in_sync());
        assert_eq!(m.counters().full_syncs, 2);
    }
}
