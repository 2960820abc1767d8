//! The generic tile loop: poll, periodic housekeeping, heartbeat, QSBR, idle backoff, stop.
//!
//! ```text
//! loop {
//!     stop flag set?                      -> Stopping, leave
//!     work = tile.poll(ctx)               (Err -> Failed + error code, leave)
//!     every housekeeping_interval:
//!         tile.housekeeping(ctx)          (Err -> Failed + error code, leave)
//!         heartbeat = now, iterations += n
//!         quiescent epoch = netbase epoch (QSBR: no table reference is held here)
//!     work == 0 -> back off: spin, then yield, then sleep briefly
//! }
//! ```
//!
//! Housekeeping is driven by the clock, not by iteration counts, so a busy tile and an idle one
//! both heartbeat at the same rate and the supervisor can use one staleness threshold. Idle
//! sleeps are much shorter than the interval, so the heartbeat never lags by more than one
//! sleep.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::fmt;
use std::time::Duration;

use super::metrics::{MetricDef, MetricsWriter};
use super::status::{monotonic_ns, TileState, TileStatus};
use crate::sync::qsbr::QsbrReader;

/// Why a tile gave up. The code goes into the status object's error word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileError {
    /// Non-zero, meaning defined by the tile kind (0 is "no error" in the status word).
    pub code: u64,
    pub message: String,
}

impl TileError {
    pub fn new(code: u64, message: impl Into<String>) -> Self {
        TileError {
            code: code.max(1),
            message: message.into(),
        }
    }
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error code {})", self.message, self.code)
    }
}

impl std::error::Error for TileError {}

/// What the loop hands the tile on every call.
#[derive(Debug, Clone, Copy)]
pub struct TileContext<'a> {
    /// The tile's own status object (writable).
    pub status: TileStatus<'a>,
    /// The tile's own metrics, laid out by [`Tile::metrics`].
    pub metrics: MetricsWriter<'a>,
    /// The epoch words of the reclaimed tables this tile reads (the netbase's route tables):
    /// at every housekeeping the loop copies epoch `i` into the status object's quiescent
    /// slot `i`. Empty for a tile that reads no reclaimed table (including the netbase writer
    /// itself). At most [`QSBR_SLOTS`](super::status::QSBR_SLOTS) entries; more is an error.
    pub netbase_epochs: &'a [&'a AtomicU64],
}

/// One tile kind's work.
pub trait Tile {
    /// Human-readable kind name, for messages.
    fn name(&self) -> &str;

    /// The kind's metric schema: metric `i` is word `i` of the metrics object.
    fn metrics(&self) -> &'static [MetricDef];

    /// Does a bounded amount of work and returns how much (0 = nothing to do, so the loop may
    /// back off). Must not block: the loop can only stop or heartbeat between polls. An error
    /// ends the loop with the tile marked failed.
    fn poll(&mut self, ctx: &TileContext<'_>) -> Result<usize, TileError>;

    /// The descriptors the tile uses from now on (its sockets); a sandbox that closes every
    /// other descriptor keeps these.
    fn descriptors(&self) -> Vec<std::os::fd::RawFd> {
        Vec::new()
    }

    /// Periodic slow-path work (resyncs, gauges, expiry). Runs every
    /// [`LoopConfig::housekeeping_interval`], also when idle.
    fn housekeeping(&mut self, _ctx: &TileContext<'_>) -> Result<(), TileError> {
        Ok(())
    }
}

/// Timing of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopConfig {
    pub housekeeping_interval: Duration,
    /// Consecutive idle polls answered with a spin hint (lowest wake-up latency).
    pub spin_polls: u32,
    /// Further idle polls answered with `yield_now` (lets a co-scheduled process run).
    pub yield_polls: u32,
    /// Sleep per idle poll after that; bounds both CPU use when idle and stop latency.
    pub idle_sleep: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            housekeeping_interval: Duration::from_millis(10),
            spin_polls: 1024,
            yield_polls: 128,
            idle_sleep: Duration::from_micros(200),
        }
    }
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopExit {
    /// The stop flag was seen; the status says [`TileState::Stopping`].
    Stopped,
    /// The tile returned an error; the status says [`TileState::Failed`] with its code.
    Failed(TileError),
}

/// Runs `tile` until `stop` is set or it fails. `ctx.status` must be writable.
///
/// On entry it publishes the pid, a first heartbeat and [`TileState::Running`]; on the way out
/// a last heartbeat, the iteration count, and `Stopping` or `Failed`. The quiescent word goes
/// offline on exit so that a tile that stopped never holds reclamation back.
pub fn run<T: Tile + ?Sized>(
    tile: &mut T,
    ctx: &TileContext<'_>,
    stop: &AtomicBool,
    config: &LoopConfig,
) -> LoopExit {
    let status = &ctx.status;
    let mut qsbr = Vec::with_capacity(ctx.netbase_epochs.len());
    for (slot, epoch) in ctx.netbase_epochs.iter().enumerate() {
        let Some(mine) = status.quiescent_word(slot) else {
            status.set_last_error(1);
            status.set_state(TileState::Failed);
            return LoopExit::Failed(TileError::new(
                1,
                format!(
                    "the tile reads {} reclaimed tables; a status object has {} quiescent slots",
                    ctx.netbase_epochs.len(),
                    super::status::QSBR_SLOTS
                ),
            ));
        };
        qsbr.push(QsbrReader::new(*epoch, mine));
    }
    let interval_ns = u64::try_from(config.housekeeping_interval.as_nanos()).unwrap_or(u64::MAX);

    status.set_pid(std::process::id());
    status.set_last_error(0);
    status.set_heartbeat(monotonic_ns());
    for q in &qsbr {
        q.online();
    }
    status.set_state(TileState::Running);

    let mut next_housekeeping = monotonic_ns().saturating_add(interval_ns);
    let mut idle: u32 = 0;
    let mut iterations: u64 = 0;
    let exit = loop {
        if stop.load(Relaxed) {
            break LoopExit::Stopped;
        }
        let work = match tile.poll(ctx) {
            Ok(work) => work,
            Err(e) => break LoopExit::Failed(e),
        };
        iterations += 1;

        let now = monotonic_ns();
        if now >= next_housekeeping {
            if let Err(e) = tile.housekeeping(ctx) {
                break LoopExit::Failed(e);
            }
            status.add_iterations(iterations);
            iterations = 0;
            status.set_heartbeat(now);
            for q in &qsbr {
                q.quiescent();
            }
            // From now, not from the missed deadline: after a stall, one housekeeping, not a
            // burst of catch-up calls.
            next_housekeeping = now.saturating_add(interval_ns);
        }

        if work > 0 {
            idle = 0;
        } else {
            idle = idle.saturating_add(1);
            if idle <= config.spin_polls {
                core::hint::spin_loop();
            } else if idle <= config.spin_polls.saturating_add(config.yield_polls) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(config.idle_sleep);
            }
        }
    };

    status.add_iterations(iterations);
    status.set_heartbeat(monotonic_ns());
    for q in &qsbr {
        q.offline();
    }
    match &exit {
        LoopExit::Stopped => status.set_state(TileState::Stopping),
        LoopExit::Failed(e) => {
            status.set_last_error(e.code);
            status.set_state(TileState::Failed);
        }
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::HeapRegion;
    use crate::sync::qsbr::OFFLINE;
    use crate::tables::geometry::{TILE_METRICS_BYTES, TILE_STATUS_BYTES};
    use crate::tile::metrics::{MetricKind, MetricsReader};
    use crate::tile::status::StatusSnapshot;

    const DEFS: &[MetricDef] = &[MetricDef {
        name: "polls_total",
        help: "polls",
        kind: MetricKind::Counter,
    }];

    /// Does work on every other poll, stops itself (through the flag) after `limit` polls or
    /// fails at poll `fail_at`.
    struct Counting<'s> {
        polls: u64,
        housekeepings: u64,
        limit: u64,
        fail_at: Option<u64>,
        stop: &'s AtomicBool,
        seen_running: bool,
    }

    impl Tile for Counting<'_> {
        fn name(&self) -> &str {
            "counting"
        }
        fn metrics(&self) -> &'static [MetricDef] {
            DEFS
        }
        fn poll(&mut self, ctx: &TileContext<'_>) -> Result<usize, TileError> {
            self.seen_running |= ctx.status.state() == TileState::Running;
            self.polls += 1;
            ctx.metrics.inc(0);
            if Some(self.polls) == self.fail_at {
                return Err(TileError::new(7, "boom"));
            }
            if self.polls >= self.limit && self.housekeepings >= 2 {
                self.stop.store(true, Relaxed);
            }
            Ok((self.polls % 2) as usize)
        }
        fn housekeeping(&mut self, _ctx: &TileContext<'_>) -> Result<(), TileError> {
            self.housekeepings += 1;
            Ok(())
        }
    }

    fn fast() -> LoopConfig {
        LoopConfig {
            housekeeping_interval: Duration::from_millis(1),
            spin_polls: 4,
            yield_polls: 4,
            idle_sleep: Duration::from_micros(50),
        }
    }

    fn objects() -> (HeapRegion, HeapRegion) {
        (
            HeapRegion::zeroed(TILE_STATUS_BYTES as usize),
            HeapRegion::zeroed(TILE_METRICS_BYTES as usize),
        )
    }

    #[test]
    fn runs_housekeeping_heartbeats_and_stops_on_the_flag() {
        let (st, me) = objects();
        let epoch = AtomicU64::new(41);
        let ctx = TileContext {
            status: TileStatus::new(st.region()).unwrap(),
            metrics: MetricsWriter::new(me.region(), DEFS).unwrap(),
            netbase_epochs: &[&epoch],
        };
        let stop = AtomicBool::new(false);
        let mut tile = Counting {
            polls: 0,
            housekeepings: 0,
            limit: 100,
            fail_at: None,
            stop: &stop,
            seen_running: false,
        };
        let before = monotonic_ns();
        assert_eq!(run(&mut tile, &ctx, &stop, &fast()), LoopExit::Stopped);
        assert!(tile.seen_running);
        assert!(tile.housekeepings >= 2);
        let s: StatusSnapshot = TileStatus::new(st.read_only()).unwrap().snapshot();
        assert_eq!(s.state, TileState::Stopping);
        assert_eq!(s.pid, u64::from(std::process::id()));
        assert!(s.heartbeat_ns >= before);
        assert_eq!(s.iterations, tile.polls);
        assert_eq!(
            s.quiescent_epochs[0], OFFLINE,
            "a stopped tile must not hold QSBR back"
        );
        let m = MetricsReader::new(me.read_only()).unwrap();
        assert_eq!(m.get(0), tile.polls);
    }

    #[test]
    fn publishes_the_epoch_while_running() {
        let (st, me) = objects();
        let epoch = AtomicU64::new(5);
        let ctx = TileContext {
            status: TileStatus::new(st.region()).unwrap(),
            metrics: MetricsWriter::new(me.region(), DEFS).unwrap(),
            netbase_epochs: &[&epoch],
        };
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                struct Idle;
                impl Tile for Idle {
                    fn name(&self) -> &str {
                        "idle"
                    }
                    fn metrics(&self) -> &'static [MetricDef] {
                        &[]
                    }
                    fn poll(&mut self, _: &TileContext<'_>) -> Result<usize, TileError> {
                        Ok(0)
                    }
                }
                run(&mut Idle, &ctx, &stop, &fast())
            });
            let reader = TileStatus::new(st.read_only()).unwrap();
            epoch.store(9, Relaxed);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while reader.snapshot().quiescent_epochs[0] != 9 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "epoch never published"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            let hb = reader.snapshot().heartbeat_ns;
            while reader.snapshot().heartbeat_ns == hb {
                assert!(std::time::Instant::now() < deadline, "heartbeat stuck");
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Relaxed);
        });
    }

    #[test]
    fn a_failing_poll_marks_the_tile_failed_with_its_code() {
        let (st, me) = objects();
        let ctx = TileContext {
            status: TileStatus::new(st.region()).unwrap(),
            metrics: MetricsWriter::new(me.region(), DEFS).unwrap(),
            netbase_epochs: &[],
        };
        let stop = AtomicBool::new(false);
        let mut tile = Counting {
            polls: 0,
            housekeepings: 0,
            limit: u64::MAX,
            fail_at: Some(3),
            stop: &stop,
            seen_running: false,
        };
        let exit = run(&mut tile, &ctx, &stop, &fast());
        assert_eq!(exit, LoopExit::Failed(TileError::new(7, "boom")));
        let s = TileStatus::new(st.read_only()).unwrap().snapshot();
        assert_eq!(
            (s.state, s.last_error, s.iterations),
            (TileState::Failed, 7, 2)
        );
    }
}
