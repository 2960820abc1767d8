//! The netlink tile's driver: the notification monitor, the dump socket and the sync state
//! machine, advanced in bounded steps so that a tile loop can call [`NetlinkSync::step`]
//! repeatedly between its other duties.
//!
//! Order (see `netbase_runtime::netlink::monitor`): the monitor subscribes before the first
//! dump; notifications are applied in received order as idempotent replaces and deletes; a
//! completed dump first drains the monitor, then sweeps the rows it did not refresh; an
//! overrun (`ENOBUFS`) starts a full resync with a new generation, during which readers keep
//! seeing the old rows (updated in place, stale ones removed at the end).

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use netbase_runtime::netlink::dump::{Progress, ReadError, RequestConfig, RequestSocket};
use netbase_runtime::netlink::monitor::{DrainError, Monitor, MonitorConfig};
use netbase_runtime::netlink::request::DumpKind;
use netbase_runtime::netlink::resync::{Applied, Nanos, Next, SyncConfig, SyncMachine, Ticket};
use netbase_runtime::netlink::socket::Mode;
use netbase_runtime::sync::qsbr::ReaderEpochs;

use super::apply::{Mirror, Origin};
use super::counters::Counters;
use super::mirror::NetbaseWriter;

/// Receive calls spent at most on discarding the notifications queued when an overrun is
/// seen (a flood can keep the queue from ever emptying).
const DISCARD_READS: u64 = 1 << 16;

/// When the neighbours are dumped again after a link came up, from the notification. The
/// kernel creates some neighbours without any notification when a device comes up (the
/// IGMPv3 report to 224.0.0.22 is sent on the next timer tick, and repeated after about a
/// second for robustness), so one dump soon and later ones catch them.
/// When the links are dumped again after a new link was announced (the kernel links a veth
/// pair's first device to its peer after announcing it, without a further notification).
const LINK_REFRESH_DELAY: Nanos = 5_000_000;

const NEIGH_REFRESH_DELAYS: [Nanos; 3] = [10_000_000, 200_000_000, 1_200_000_000];

/// Settings of a [`NetlinkSync`].
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// The notification socket (its `socket_rcvbuf` decides how large a burst it absorbs;
    /// tests set a small one to provoke `ENOBUFS`).
    pub monitor: MonitorConfig,
    /// The dump socket; its mode is forced to non-blocking so that a step never waits.
    pub request: RequestConfig,
    /// Route tables, retries, backoff.
    pub sync: SyncConfig,
    /// Notification datagrams read per step.
    pub drain_reads: u64,
    /// Dump datagrams read per step.
    pub dump_reads: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            monitor: MonitorConfig::default(),
            request: RequestConfig {
                mode: Mode::NonBlocking,
                ..RequestConfig::default()
            },
            sync: SyncConfig::default(),
            drain_reads: 64,
            dump_reads: 8,
        }
    }
}

/// What one [`NetlinkSync::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepResult {
    /// Notification messages applied.
    pub notifications: u64,
    /// Dump messages applied.
    pub dump_messages: u64,
    /// Work is left that needs no waiting (a dump in flight, notifications beyond the
    /// budget): call again soon.
    pub busy: bool,
    /// Backing off until then after a failed dump.
    pub sleep_until: Option<Nanos>,
    /// Every kind is mirrored and no pass is under way.
    pub live: bool,
}

impl StepResult {
    /// Nothing was done and nothing is pending: the tile may wait for the monitor's fd.
    pub fn idle(&self) -> bool {
        self.notifications == 0 && self.dump_messages == 0 && !self.busy
    }
}

/// Sockets, sync state and the mirror they keep current.
pub struct NetlinkSync<'a, R> {
    pub mirror: Mirror<'a, R>,
    monitor: Monitor,
    req: RequestSocket,
    machine: SyncMachine,
    opts: SyncOptions,
    /// The machine's ticket for the dump on `req`; `None` while `req` discards a dump whose
    /// pass was restarted.
    ticket: Option<Ticket>,
    /// The dump on `req` is a refresh outside the sync machine (no sweep).
    refresh: bool,
    /// Neighbour refreshes due at these times (see [`NEIGH_REFRESH_DELAYS`]).
    refresh_due: [Option<Nanos>; NEIGH_REFRESH_DELAYS.len()],
    /// A link refresh due then (a new link was announced).
    links_due: Option<Nanos>,
}

impl<'a, R: ReaderEpochs + Clone> NetlinkSync<'a, R> {
    /// Opens the sockets in the calling thread's network namespace: the monitor first, so
    /// that every change after this point is queued for replay after the dumps.
    pub fn open(opts: SyncOptions, tables: NetbaseWriter<'a, R>) -> io::Result<Self> {
        let monitor = Monitor::open(&opts.monitor)?;
        let req_cfg = RequestConfig {
            mode: Mode::NonBlocking,
            ..opts.request
        };
        let req = RequestSocket::open(&req_cfg)?;
        Ok(NetlinkSync {
            mirror: Mirror::new(tables),
            monitor,
            req,
            machine: SyncMachine::new(opts.sync),
            opts: SyncOptions {
                request: req_cfg,
                ..opts
            },
            ticket: None,
            refresh: false,
            refresh_due: [None; NEIGH_REFRESH_DELAYS.len()],
            links_due: None,
        })
    }

    pub fn is_live(&self) -> bool {
        self.machine.is_live()
    }

    pub fn machine(&self) -> &SyncMachine {
        &self.machine
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Waits up to `timeout` for a notification (a tile with nothing else to do).
    /// The sockets' descriptors (notification and request socket). The request socket is
    /// replaced after an abandoned dump, so this is a snapshot.
    pub fn descriptors(&self) -> [std::os::fd::RawFd; 2] {
        [self.monitor.fd(), self.req.fd()]
    }

    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.monitor.wait(timeout)
    }

    /// The mirror's counters with the sync machine's totals folded in.
    pub fn counters(&self) -> Counters {
        let m = self.machine.counters();
        Counters {
            full_syncs: m.full_syncs,
            enobufs: m.enobufs,
            dump_retries: m.dump_retries,
            dump_failures: m.dump_failures,
            ..self.mirror.counters
        }
    }

    /// Bounded work: applies up to `drain_reads` notification datagrams, then reads up to
    /// `dump_reads` datagrams of the dump in flight or starts the next dump.
    pub fn step(&mut self, now: Nanos) -> StepResult {
        let mut res = StepResult::default();
        let (n, more) = self.drain(now, self.opts.drain_reads);
        res.notifications = n;
        res.busy |= more;
        if self.req.in_flight().is_some() {
            res.dump_messages = self.read_dump(now);
        } else {
            match self.machine.poll(now) {
                Next::Dump(t) => match self.req.start(t.kind) {
                    Ok(_) => {
                        self.ticket = Some(t);
                        self.mirror.begin_dump();
                    }
                    Err(_) => self.failed(&t, now),
                },
                Next::Awaiting(t) => {
                    // The socket has no dump for the machine's ticket (it cannot happen
                    // with this driver); report a failure so the machine hands it out again.
                    self.failed(&t, now);
                }
                Next::Sleep { until } => res.sleep_until = Some(until),
                Next::Live => self.start_refresh(now),
            }
        }
        res.busy |= self.req.in_flight().is_some()
            || (!self.machine.is_live() && res.sleep_until.is_none());
        res.live = self.machine.is_live();
        res
    }

    /// Applies pending notifications (at most `max_reads` datagrams); returns the messages
    /// applied and whether more are queued.
    fn drain(&mut self, now: Nanos, max_reads: u64) -> (u64, bool) {
        self.mirror
            .set_notification_generation(self.machine.generation());
        let mirror = &mut self.mirror;
        let mut stale = false;
        let mut link_up = false;
        let mut link_new = false;
        let r = self.monitor.drain_budget(max_reads, &mut |m: &[u8]| {
            let e = mirror.apply(m, Origin::Notification);
            stale |= e.routes_stale;
            link_up |= e.link_up;
            link_new |= e.link_new;
            Ok::<(), Infallible>(())
        });
        let (messages, more, overrun) = match r {
            Ok(d) => (d.messages, d.more, d.overrun),
            // A failing notification socket means lost notifications: resync.
            Err(DrainError::Io(_)) => (0, false, true),
            Err(DrainError::Callback(never)) => match never {},
        };
        if messages > 0 {
            self.mirror.tables.maintain();
        }
        if overrun {
            self.overrun(now);
        }
        if stale {
            self.machine.on_routes_stale(now);
        }
        if link_new {
            self.links_due = Some(now.saturating_add(LINK_REFRESH_DELAY));
        }
        if link_up {
            for (due, delay) in self.refresh_due.iter_mut().zip(NEIGH_REFRESH_DELAYS) {
                *due = Some(now.saturating_add(delay));
            }
        }
        (messages, if overrun { false } else { more })
    }

    fn overrun(&mut self, now: Nanos) {
        // What is queued now was queued before the loss was seen, so it may be older than a
        // lost notification (the kernel reports ENOBUFS before the datagrams it queued before
        // dropping one). Applied with the new generation, an old RTM_NEWROUTE would protect a
        // row that the kernel deleted (its RTM_DELROUTE lost) from the resync's sweep. The
        // resync dumps every kind after this point, so dropping these loses nothing.
        let mut dropped = 0u64;
        let _ = self.monitor.drain_budget(DISCARD_READS, &mut |_: &[u8]| {
            dropped += 1;
            Ok::<(), Infallible>(())
        });
        self.mirror.counters.discarded_after_overrun += dropped;
        self.machine.on_overrun(now);
        self.mirror
            .set_notification_generation(self.machine.generation());
        if self.ticket.take().is_some() || core::mem::take(&mut self.refresh) {
            // Its pass was restarted: read the rest of it without applying anything.
            self.req.abandon();
            self.mirror.end_dump();
        }
    }

    /// Starts a due link or neighbour refresh (the machine is live and the socket idle).
    fn start_refresh(&mut self, now: Nanos) {
        if self.links_due.is_some_and(|at| at <= now) {
            self.links_due = None;
            if self.req.start(DumpKind::Links).is_ok() {
                self.refresh = true;
                self.mirror.begin_dump();
                self.mirror.counters.link_refreshes += 1;
            }
            return;
        }
        let mut due = false;
        for d in self.refresh_due.iter_mut() {
            if d.is_some_and(|at| at <= now) {
                *d = None;
                due = true;
            }
        }
        if due && self.req.start(DumpKind::Neigh4).is_ok() {
            self.refresh = true;
            self.mirror.begin_dump();
            self.mirror.counters.neigh_refreshes += 1;
        }
    }

    fn failed(&mut self, t: &Ticket, now: Nanos) {
        let _ = self.machine.on_dump_failed(t, now);
    }

    /// Reads the dump in flight; returns the messages applied.
    fn read_dump(&mut self, now: Nanos) -> u64 {
        let mut applied = 0u64;
        for _ in 0..self.opts.dump_reads.max(1) {
            let before = self.req.counters().datagrams;
            let generation = match self.ticket {
                Some(t) => t.generation,
                // A refresh writes what is current, like a notification.
                None => self.machine.generation(),
            };
            let mirror = &mut self.mirror;
            let r = self.req.read(&mut |m: &[u8]| {
                mirror.apply(m, Origin::Dump { generation });
                applied += 1;
                Ok::<(), Infallible>(())
            });
            match r {
                Ok(Progress::Pending) => {
                    if self.req.counters().datagrams == before {
                        break; // nothing queued yet
                    }
                }
                Ok(Progress::Done(summary)) => {
                    self.mirror.end_dump();
                    if core::mem::take(&mut self.refresh) {
                        // Rows only: a refresh is no complete pass, it sweeps nothing.
                        self.mirror.tables.maintain();
                    }
                    if let Some(t) = self.ticket.take() {
                        self.mirror.tables.maintain();
                        let r = if summary.interrupted {
                            self.machine.on_dump_interrupted(&t, now)
                        } else {
                            self.machine.on_dump_done(&t, now)
                        };
                        if let Ok(a) = r {
                            self.applied(a, now);
                        }
                    }
                    break;
                }
                Ok(Progress::Discarded) => break,
                Err(ReadError::Dump(e)) => {
                    self.mirror.end_dump();
                    self.refresh = false;
                    let t = self.ticket.take();
                    if let Some(t) = t {
                        if e.is_missing_table() {
                            // The table does not exist: an empty, complete dump.
                            if let Ok(a) = self.machine.on_dump_done(&t, now) {
                                self.applied(a, now);
                            }
                        } else {
                            self.failed(&t, now);
                        }
                    }
                    if self.req.in_flight().is_some() {
                        self.reset_request_socket();
                    }
                    break;
                }
                Err(ReadError::Callback(never)) => match never {},
            }
        }
        applied
    }

    /// A dump that failed mid-way may leave the socket unusable (a broken datagram, an
    /// overrun): a fresh socket is simpler than reading the rest of it out.
    fn reset_request_socket(&mut self) {
        match RequestSocket::open(&self.opts.request) {
            Ok(s) => self.req = s,
            Err(_) => self.req.abandon(),
        }
    }

    fn applied(&mut self, a: Applied, now: Nanos) {
        if let Applied::Sweep {
            kind, generation, ..
        } = a
        {
            // The contract: notifications queued during the dump re-stamp rows that changed
            // meanwhile, so they go in before the sweep.
            loop {
                let (_, more) = self.drain(now, 1024);
                if !more {
                    break;
                }
            }
            self.mirror.sweep(kind, generation);
        }
    }

    /// Runs steps until the mirror is live and a step finds nothing to do, or until
    /// `max_steps`; for tests and tools. `clock` gives the time for each step.
    pub fn settle(&mut self, max_steps: usize, clock: &mut dyn FnMut() -> Nanos) -> bool {
        for _ in 0..max_steps {
            let r = self.step(clock());
            if r.live && r.idle() {
                return true;
            }
            if r.idle() {
                // A backoff or an empty socket: give the kernel a moment.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        false
    }

    /// Which dump the socket is reading, if any.
    pub fn dump_in_flight(&self) -> Option<DumpKind> {
        self.req.in_flight().map(|(k, _)| k)
    }
}
