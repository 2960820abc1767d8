//! The UDP echo app tile: every datagram the net tile delivers on its link goes back out, same
//! payload, to the address and port it came from.
//!
//! The app frame format (see `netbase_tiles::net_tile::app_frame`) names the peer and the local
//! address and port, so a reply is the received frame itself: the tile validates it and
//! forwards it unchanged. Nothing is lost on the way back: the reply link is reliable, and a
//! frame that meets a full link waits in `pending` while the tile stops reading (the net tile
//! then sees the back-pressure on its own link and counts `app_link_full`).

use core::sync::atomic::AtomicU64;
use std::collections::VecDeque;

use netbase_runtime::link::{Consumer, LinkError, Producer};
use netbase_runtime::tile::{MetricDef, Tile, TileContext, TileError};
use netbase_tiles::net_tile::app_frame;

use super::{metric, BuildContext};

pub const METRICS: &[MetricDef] = &[
    metric!(
        "echo_datagrams_total",
        "Datagrams received from the net tile.",
        Counter
    ),
    metric!(
        "echo_replies_total",
        "Replies handed to the net tile.",
        Counter
    ),
    metric!("echo_bytes_total", "Payload bytes echoed.", Counter),
    metric!(
        "echo_bad_frames_total",
        "Frames from the net tile that failed validation (dropped).",
        Counter
    ),
    metric!(
        "echo_backpressure_total",
        "Times the reply link was full (the tile waited).",
        Counter
    ),
    metric!(
        "echo_link_lost_total",
        "Frames lost on the input link (overruns; only lossy links lose).",
        Counter
    ),
];

mod m {
    pub const DATAGRAMS: usize = 0;
    pub const REPLIES: usize = 1;
    pub const BYTES: usize = 2;
    pub const BAD: usize = 3;
    pub const BACKPRESSURE: usize = 4;
    pub const LOST: usize = 5;
}

/// Frames read per input link per poll, at most.
const BATCH: u64 = 64;

pub fn build<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    let links = super::super::links::consumed_links(ctx.plan, ctx.me);
    let inputs = super::super::links::all_consumers(ctx.plan, ctx.me, ctx.joined, 32)?;
    let out = match super::super::links::produced_links(ctx.plan, ctx.me).as_slice() {
        [one] => super::super::links::producer(ctx.plan, ctx.me, ctx.joined, &one.name)?,
        other => {
            return Err(format!(
                "a udp_echo tile produces exactly one link (replies to its net tile), {} has {}",
                ctx.me.instance,
                other.len()
            ))
        }
    };
    if inputs.is_empty() {
        return Err(format!(
            "udp_echo tile {} consumes no link",
            ctx.me.instance
        ));
    }
    let frame = links.iter().map(|l| l.frame_size).max().unwrap_or(0) as usize;
    Ok(Box::new(EchoTile {
        inputs,
        out,
        buf: vec![0; frame],
        pending: VecDeque::new(),
        counts: [0; METRICS.len()],
    }))
}

struct EchoTile<'a> {
    inputs: Vec<Consumer<'a, AtomicU64>>,
    out: Producer<'a, AtomicU64>,
    buf: Vec<u8>,
    /// Validated replies the reply link had no room for, oldest first: sent before anything
    /// else is read. At most one batch long (reading stops once it is non-empty).
    pending: VecDeque<(Vec<u8>, u32)>,
    counts: [u64; METRICS.len()],
}

impl EchoTile<'_> {
    /// Sends the pending replies in order; false while the link is still full.
    fn flush_pending(&mut self) -> Result<bool, TileError> {
        while let Some((frame, ctl)) = self.pending.front() {
            match self.out.publish(frame, *ctl) {
                Ok(_) => {
                    self.counts[m::REPLIES] += 1;
                    self.pending.pop_front();
                }
                Err(LinkError::Full) => return Ok(false),
                Err(e) => return Err(TileError::new(2, format!("reply link: {e}"))),
            }
        }
        Ok(true)
    }
}

impl Tile for EchoTile<'_> {
    fn name(&self) -> &str {
        "udp_echo"
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
        if !self.flush_pending()? {
            return Ok(0);
        }
        let mut work = 0;
        let mut fatal = None;
        for input in &mut self.inputs {
            // Read about as much as the reply link can take now (at least one, so that a
            // stale credit figure is refreshed by the publish attempt); frames that meet a
            // full link queue in `pending` and reading stops.
            let max = self.out.credit().clamp(1, BATCH) as usize;
            let counts = &mut self.counts;
            let out = &mut self.out;
            let pending = &mut self.pending;
            let batch = input.poll_batch(&mut self.buf, max, |meta, frame| {
                counts[m::DATAGRAMS] += 1;
                let Ok(d) = app_frame::decode(frame) else {
                    counts[m::BAD] += 1;
                    return;
                };
                counts[m::BYTES] += d.payload.len() as u64;
                // Once one reply waits, the rest of the batch waits behind it (order kept).
                if !pending.is_empty() {
                    pending.push_back((frame.to_vec(), meta.ctl));
                    return;
                }
                match out.publish(frame, meta.ctl) {
                    Ok(_) => counts[m::REPLIES] += 1,
                    Err(LinkError::Full) => {
                        counts[m::BACKPRESSURE] += 1;
                        pending.push_back((frame.to_vec(), meta.ctl));
                    }
                    Err(e) => fatal = Some(e),
                }
            });
            match batch {
                Ok(b) => {
                    work += b.frames;
                    self.counts[m::LOST] += b.lost;
                }
                Err(e) => return Err(TileError::new(2, format!("input link: {e}"))),
            }
            if let Some(e) = fatal {
                return Err(TileError::new(2, format!("reply link: {e}")));
            }
            if !self.pending.is_empty() {
                break;
            }
        }
        Ok(work)
    }

    fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
        for (i, v) in self.counts.iter().enumerate() {
            ctx.metrics.set(i, *v);
        }
        Ok(())
    }
}
