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
                    Ok(_) => self.ticket = Some(t),
                    Err(_) => self.failed(&t, now),
                },
                Next::Awaiting(t) => {
                    // The socket has no dump for the machine's ticket (it cannot happen
                    // with this driver); report a failure so the machine hands it out again.
                    self.failed(&t, now);
                }
                Next::Sleep { until } => res.sleep_until = Some(until),
                Next::Live => {}
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
        let r = self.monitor.drain_budget(max_reads, &mut |m: &[u8]| {
            stale |= mirror.apply(m, Origin::Notification).routes_stale;
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
        (messages, more)
    }

    fn overrun(&mut self, now: Nanos) {
        self.machine.on_overrun(now);
        self.mirror
            .set_notification_generation(self.machine.generation());
        if self.ticket.take().is_some() {
            // Its pass was restarted: read the rest of it without applying anything.
            self.req.abandon();
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
            let generation = self.ticket.map_or(0, |t| t.generation);
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
