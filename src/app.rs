//! Application tiles: a user's code, run by netbase as a tile of its topology.
//!
//! A topology declares an application tile with `kind = "app"` and `app = "NAME"`, and links to
//! and from it like any other tile. `netbase-codegen` (the `Builder` a user's `build.rs` calls)
//! emits, for every such tile, a **stem** from the topology: a module `stems::<tile>` with
//! - a `Hooks` trait with one handler per input link (`on_<link>`), `after_inputs` (the tile's
//!   own sources: generators, timers) and `housekeeping`;
//! - an `Outs` struct with one [`Output`] per output link, by name;
//! - `build`, which attaches the links the plan gives the tile (checking that the running plan
//!   is the one the stem was generated from) and returns the tile, and `app`, its [`App`] entry.
//!
//! The stem is the tile loop's inner part: it polls every input ring in the topology's order,
//! calls the matching handler for each frame, stops reading while an output has no credit
//! (back-pressure travels upstream instead of frames being dropped), and keeps per-link counters
//! that are published as metrics after the application's own. The outer loop is the generic
//! one every tile runs ([`netbase_runtime::tile::run`]: housekeeping interval, heartbeat,
//! status, QSBR, idle backoff).
//!
//! A binary that runs such topologies registers its applications and hands over to the
//! command line: `std::process::exit(netbase::app::main_with(vec![stems::sink::app::<Sink>(build_sink)]))`.
//! `run`, `metrics`, the hidden `tile` subcommand and the rest then work as in `netbase` itself.

use core::sync::atomic::AtomicU64;
use std::sync::OnceLock;

use netbase_codegen::plan::TilePlan;
use netbase_codegen::topology::TileParams;
use netbase_runtime::link::{Consumer, LinkError, Producer};
pub use netbase_runtime::tile::{MetricDef, MetricKind, Tile, TileContext, TileError};

pub use crate::supervisor::kinds::BuildContext;
use crate::supervisor::links;
/// The frames on the links between net tiles and application tiles with a `udp_port`: one UDP
/// datagram each, with the peer's and the local address and port. A reply names the peer it
/// goes to; the net tile routes it with the netbase.
pub use netbase_tiles::net_tile::app_frame as datagram;

/// Builds an application's tile over the workspaces its process joined.
pub type BuildFn = for<'a> fn(&BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String>;

/// An application a binary can run as `kind = "app"` tiles.
#[derive(Clone, Copy)]
pub struct App {
    /// The topology's `app = "…"`.
    pub name: &'static str,
    /// The whole metric schema: the application's metrics, then the stem's link counters.
    pub metrics: &'static [MetricDef],
    pub build: BuildFn,
}

static APPS: OnceLock<Vec<App>> = OnceLock::new();

/// Makes `apps` available to this process's tiles; once per process (later calls are refused).
pub fn register(apps: Vec<App>) -> Result<(), String> {
    let mut names: Vec<&str> = apps.iter().map(|a| a.name).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("application {:?} is registered twice", w[0]));
    }
    APPS.set(apps)
        .map_err(|_| "applications are registered once per process".to_string())
}

/// Registers `apps` and runs the netbase command line; the exit status for `process::exit`.
pub fn main_with(apps: Vec<App>) -> i32 {
    if let Err(e) = register(apps) {
        eprintln!("netbase: {e}");
        return 1;
    }
    crate::cli::main()
}

/// The registered application that `tile` (an app tile) names.
pub(crate) fn find(tile: &TilePlan) -> Result<&'static App, String> {
    let TileParams::App { app, .. } = &tile.params else {
        return Err(format!("tile {} is not an app tile", tile.instance));
    };
    let apps = APPS.get().map(Vec::as_slice).unwrap_or_default();
    apps.iter().find(|a| a.name == app).ok_or_else(|| {
        let known: Vec<&str> = apps.iter().map(|a| a.name).collect();
        format!(
            "tile {} runs app {app:?}, which this binary does not have (it has: {}); run the \
             topology with the binary built from it",
            tile.instance,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

/// The metric schema of a stem: `app`'s metrics, then per input link `<link>_frames_total` and
/// `<link>_lost_total`, then per output link `<link>_published_total` and
/// `<link>_backpressure_total`. Built once per application at registration (the names are
/// leaked, like a static's).
pub fn stem_metrics(
    app: &'static [MetricDef],
    inputs: &[&str],
    outputs: &[&str],
) -> &'static [MetricDef] {
    const INPUT: [(&str, &str); 2] = [
        ("frames_total", "Frames read from this input link."),
        (
            "lost_total",
            "Frames of this input link lost to overruns (lossy links only).",
        ),
    ];
    const OUTPUT: [(&str, &str); 2] = [
        ("published_total", "Frames published on this output link."),
        (
            "backpressure_total",
            "Publishes refused because this output link was full.",
        ),
    ];
    let mut defs = app.to_vec();
    for (links, counters) in [(inputs, INPUT), (outputs, OUTPUT)] {
        for l in links {
            for (suffix, help) in counters {
                let name = format!("app_{l}_{suffix}");
                defs.push(MetricDef {
                    name: Box::leak(name.into_boxed_str()),
                    help,
                    kind: MetricKind::Counter,
                });
            }
        }
    }
    Box::leak(defs.into_boxed_slice())
}

/// An output link of an application tile.
pub struct Output<'a> {
    producer: Producer<'a, AtomicU64>,
}

/// A publish the output link had no room for (reliable links); try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<'a> Output<'a> {
    /// Publishes `frame` with the application's control word `ctl`. `Err(Full)` when the
    /// consumer has not made room; an over-long frame or a corrupt ring is a tile error.
    pub fn publish(&mut self, frame: &[u8], ctl: u32) -> Result<Result<(), Full>, TileError> {
        match self.producer.publish(frame, ctl) {
            Ok(_) => Ok(Ok(())),
            Err(LinkError::Full) => Ok(Err(Full)),
            Err(e) => Err(TileError::new(2, format!("output link: {e}"))),
        }
    }

    /// Frames that can be published now (refreshed from the consumer's progress).
    pub fn credit(&mut self) -> u64 {
        match self.producer.credit() {
            0 => self.producer.refresh_credit(),
            c => c,
        }
    }

    fn counters(&self) -> [u64; 2] {
        let c = self.producer.counters();
        [c.published, c.backpressure]
    }
}

/// The output link `name` of the tile `ctx` builds.
pub fn output<'a>(ctx: &BuildContext<'a>, name: &str) -> Result<Output<'a>, String> {
    Ok(Output {
        producer: links::producer(ctx.plan, ctx.me, ctx.joined, name)?,
    })
}

/// One input ring: which of the stem's input links it belongs to and which producer
/// instance writes it.
struct Input<'a> {
    link: usize,
    from: u32,
    consumer: Consumer<'a, AtomicU64>,
}

/// Frames read per poll at most, over all inputs.
const BURST: u64 = 64;

/// What every stem shares: the input rings in poll order, the read buffer and the counters.
pub struct StemCore<'a> {
    inputs: Vec<Input<'a>>,
    buf: Vec<u8>,
    /// Per input link: frames, lost.
    link_counts: Vec<[u64; 2]>,
    /// The application's own metrics, which its housekeeping hook sets.
    app_counts: Vec<u64>,
    metrics: &'static [MetricDef],
}

impl<'a> StemCore<'a> {
    /// Attaches the input rings of `ctx.me` after checking that the running plan gives it
    /// exactly the links the stem was generated for (`inputs`, `outputs`, by name) and that it
    /// runs application `app`.
    pub fn attach(
        ctx: &BuildContext<'a>,
        app: &str,
        inputs: &[&str],
        outputs: &[&str],
        app_metrics: usize,
    ) -> Result<Self, String> {
        let registered = find(ctx.me)?;
        if registered.name != app {
            return Err(format!(
                "tile {} runs app {:?} but was built with the stem of app {app:?}",
                ctx.me.instance, registered.name
            ));
        }
        let consumed = links::consumed_links(ctx.plan, ctx.me);
        let have_in = sorted(consumed.iter().map(|l| l.name.as_str()).collect());
        let have_out = sorted(
            links::produced_links(ctx.plan, ctx.me)
                .iter()
                .map(|l| l.name.as_str())
                .collect(),
        );
        if have_in != sorted(inputs.to_vec()) || have_out != sorted(outputs.to_vec()) {
            return Err(format!(
                "tile {} (app {app}) was generated for inputs {inputs:?} and outputs {outputs:?}, \
                 but the running topology gives it inputs {have_in:?} and outputs {have_out:?}: \
                 rebuild the binary from this topology",
                ctx.me.instance
            ));
        }
        let options = netbase_runtime::link::ConsumerOptions {
            publish_every: 32,
            ..Default::default()
        };
        let mut rings = Vec::new();
        let mut frame = 0;
        for (link, name) in inputs.iter().enumerate() {
            let plan = consumed
                .iter()
                .find(|l| l.name == *name)
                .ok_or_else(|| format!("no input link {name}"))?;
            frame = frame.max(plan.frame_size as usize);
            // `links::consumers` returns the rings in this order: one per producer instance.
            let producers = plan
                .rings
                .iter()
                .filter(|r| r.consumer == ctx.me.instance)
                .map(|r| {
                    ctx.plan
                        .tiles
                        .iter()
                        .find(|t| t.instance == r.producer)
                        .map_or(0, |t| t.index)
                });
            let consumers = links::consumers(ctx.plan, ctx.me, ctx.joined, name, options)?;
            for (from, consumer) in producers.zip(consumers) {
                rings.push(Input {
                    link,
                    from,
                    consumer,
                });
            }
        }
        Ok(StemCore {
            inputs: rings,
            buf: vec![0; frame],
            link_counts: vec![[0; 2]; inputs.len()],
            app_counts: vec![0; app_metrics],
            metrics: registered.metrics,
        })
    }

    /// The tile's metric schema.
    pub fn metric_defs(&self) -> &'static [MetricDef] {
        self.metrics
    }

    /// Reads up to `credit` (and at most a burst of) frames from the inputs, in order, handing
    /// each to `dispatch(link, from, ctl, frame)`. A handler error stops the poll and the tile.
    pub fn poll(
        &mut self,
        credit: u64,
        mut dispatch: impl FnMut(usize, u32, u32, &[u8]) -> Result<(), TileError>,
    ) -> Result<usize, TileError> {
        let mut budget = credit.min(BURST);
        let mut work = 0;
        for input in &mut self.inputs {
            if budget == 0 {
                break;
            }
            let mut failed = None;
            let (link, from) = (input.link, input.from);
            let batch = input
                .consumer
                .poll_batch(&mut self.buf, budget as usize, |meta, frame| {
                    if failed.is_none() {
                        if let Err(e) = dispatch(link, from, meta.ctl, frame) {
                            failed = Some(e);
                        }
                    }
                })
                .map_err(|e| TileError::new(2, format!("input link: {e}")))?;
            let counts = &mut self.link_counts[link];
            counts[0] += batch.frames as u64;
            counts[1] += batch.lost;
            budget -= (batch.frames as u64).min(budget);
            work += batch.frames;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(work)
    }

    /// The application's metric words, for its housekeeping hook to set.
    pub fn app_counts(&mut self) -> &mut [u64] {
        &mut self.app_counts
    }

    /// Publishes every metric: the application's, then the input and the output counters.
    pub fn publish_metrics(&self, ctx: &TileContext<'_>, outputs: &[&Output<'_>]) {
        let words = self
            .app_counts
            .iter()
            .copied()
            .chain(self.link_counts.iter().flatten().copied())
            .chain(outputs.iter().flat_map(|o| o.counters()));
        for (i, v) in words.enumerate() {
            ctx.metrics.set(i, v);
        }
    }
}

/// `names`, sorted (the link sets are compared regardless of order).
fn sorted(mut names: Vec<&str>) -> Vec<&str> {
    names.sort_unstable();
    names
}
