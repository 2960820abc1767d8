//! A user's application binary built on netbase. It implements the `kind = "app"` tiles of two
//! topologies against the stems its `build.rs` had netbase-codegen emit from them:
//! - `topologies/pipeline.toml`: `gen` → `relay` → `sink`, numbers over shared memory;
//! - `topologies/shout.toml`: `shout`, a UDP service behind a net tile.
//!
//! Everything else — `run`, `metrics`, the tile processes, confinement — is netbase's command
//! line:
//!
//! ```text
//! netbase-example-apps run examples/apps/topologies/pipeline.toml --name pipe
//! netbase-example-apps metrics --name pipe
//! ```

use netbase::app::{datagram, App, BuildContext, MetricDef, MetricKind, Tile, TileError};
use plans::pipeline::stems::{gen, relay, sink};
use plans::shout::stems::shout;

/// The plans and stems build.rs generated from `topologies/`.
mod plans {
    #[allow(dead_code)] // the plan constants are there for whoever needs them
    pub mod pipeline {
        include!(concat!(env!("OUT_DIR"), "/pipeline_plan.rs"));
    }
    #[allow(dead_code)]
    pub mod shout {
        include!(concat!(env!("OUT_DIR"), "/shout_plan.rs"));
    }
}

fn main() {
    std::process::exit(netbase::app::main_with(apps()));
}

fn apps() -> Vec<App> {
    vec![
        gen::app::<Gen>(build_gen),
        relay::app::<Relay>(build_relay),
        sink::app::<Sink>(build_sink),
        shout::app::<Shout>(build_shout),
    ]
}

const fn counter(name: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: MetricKind::Counter,
    }
}

fn number(frame: &[u8]) -> Result<u64, TileError> {
    let bytes: [u8; 8] = frame
        .try_into()
        .map_err(|_| TileError::new(4, format!("a {}-byte frame, expected 8", frame.len())))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Publishes 0, 1, 2, … as fast as the relay takes them.
#[derive(Default)]
struct Gen {
    next: u64,
}

fn build_gen<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    gen::build(ctx, Gen::default())
}

impl gen::Hooks for Gen {
    const METRICS: &'static [MetricDef] = &[counter(
        "pipeline_generated_total",
        "Numbers published by the generator.",
    )];

    fn after_inputs(&mut self, outs: &mut gen::Outs<'_>) -> Result<usize, TileError> {
        let room = outs.credit().min(64);
        let mut sent = 0;
        while sent < room {
            if outs.numbers.publish(&self.next.to_le_bytes(), 0)?.is_err() {
                break;
            }
            self.next += 1;
            sent += 1;
        }
        Ok(sent as usize)
    }

    fn housekeeping(&mut self, metrics: &mut [u64]) -> Result<(), TileError> {
        metrics[0] = self.next;
        Ok(())
    }
}

/// Doubles every number.
#[derive(Default)]
struct Relay {
    relayed: u64,
}

fn build_relay<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    relay::build(ctx, Relay::default())
}

impl relay::Hooks for Relay {
    const METRICS: &'static [MetricDef] = &[counter(
        "pipeline_relayed_total",
        "Numbers doubled and passed on.",
    )];

    fn on_numbers(
        &mut self,
        outs: &mut relay::Outs<'_>,
        _from: u32,
        ctl: u32,
        frame: &[u8],
    ) -> Result<(), TileError> {
        let doubled = number(frame)?.wrapping_mul(2);
        // The stem read this frame only because the output had room for it.
        outs.doubled
            .publish(&doubled.to_le_bytes(), ctl)?
            .map_err(|_| TileError::new(5, "output full despite the stem's credit"))?;
        self.relayed += 1;
        Ok(())
    }

    fn housekeeping(&mut self, metrics: &mut [u64]) -> Result<(), TileError> {
        metrics[0] = self.relayed;
        Ok(())
    }
}

/// Checks that the doubles arrive complete and in order.
#[derive(Default)]
struct Sink {
    expected: u64,
    seen: u64,
    out_of_order: u64,
}

fn build_sink<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    sink::build(ctx, Sink::default())
}

impl sink::Hooks for Sink {
    const METRICS: &'static [MetricDef] = &[
        counter("pipeline_received_total", "Doubles received by the sink."),
        counter(
            "pipeline_out_of_order_total",
            "Doubles that were not the next expected one (a lost or reordered frame).",
        ),
    ];

    fn on_doubled(
        &mut self,
        _outs: &mut sink::Outs<'_>,
        _from: u32,
        _ctl: u32,
        frame: &[u8],
    ) -> Result<(), TileError> {
        let n = number(frame)?;
        if n != self.expected.wrapping_mul(2) {
            self.out_of_order += 1;
        }
        self.expected = n / 2 + 1;
        self.seen += 1;
        Ok(())
    }

    fn housekeeping(&mut self, metrics: &mut [u64]) -> Result<(), TileError> {
        metrics[0] = self.seen;
        metrics[1] = self.out_of_order;
        Ok(())
    }
}

/// Answers every datagram with its payload in upper case.
#[derive(Default)]
struct Shout {
    answered: u64,
    malformed: u64,
    buf: Vec<u8>,
}

fn build_shout<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    shout::build(ctx, Shout::default())
}

impl shout::Hooks for Shout {
    const METRICS: &'static [MetricDef] = &[
        counter("shout_answered_total", "Datagrams answered."),
        counter(
            "shout_malformed_total",
            "Frames from the net tile that were not datagrams (dropped).",
        ),
    ];

    fn on_requests(
        &mut self,
        outs: &mut shout::Outs<'_>,
        _from: u32,
        ctl: u32,
        frame: &[u8],
    ) -> Result<(), TileError> {
        let Ok(request) = datagram::decode(frame) else {
            self.malformed += 1;
            return Ok(());
        };
        let loud = request.payload.to_ascii_uppercase();
        // Back to where it came from, from the address and port it was sent to.
        let reply = datagram::AppFrame {
            payload: &loud,
            ..request
        };
        self.buf.resize(frame.len(), 0);
        let len = datagram::encode(&mut self.buf, &reply)
            .map_err(|e| TileError::new(4, format!("encoding a reply: {e:?}")))?;
        outs.replies
            .publish(&self.buf[..len], ctl)?
            .map_err(|_| TileError::new(5, "output full despite the stem's credit"))?;
        self.answered += 1;
        Ok(())
    }

    fn housekeeping(&mut self, metrics: &mut [u64]) -> Result<(), TileError> {
        metrics[0] = self.answered;
        metrics[1] = self.malformed;
        Ok(())
    }
}
