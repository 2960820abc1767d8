//! The consumer's end of a link: reads the ring (mapped read-only) and publishes its progress
//! in a word of its own.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::layout::{decode, fseq_word, Geometry, Read, Ring};
use super::{LinkError, Mode};
use crate::region::Region;
use crate::sync::Word;

/// The outcome of one [`Consumer::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Frame `seq` is in `buf[..len]`, exactly as published.
    Frame { seq: u64, len: u32, ctl: u32 },
    /// Nothing new was published.
    Empty,
    /// The producer lapped this consumer (lossy links): `lost` frames were overwritten before
    /// they could be read. The consumer skipped to the oldest frame still in the ring.
    Overrun { lost: u64 },
    /// Slot of frame `seq` held something no correct producer writes; the frame is skipped.
    Corrupt { seq: u64, why: Corruption },
    /// `buf` is shorter than the frame size; nothing was read.
    BufferTooSmall { need: usize },
}

/// What was wrong with a corrupt slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// A complete frame whose length exceeds the frame size.
    Length { len: u32 },
    /// A stamp that is neither the expected frame nor a later write of the same slot.
    Stamp { found: u64 },
}

/// A frame delivered by [`Consumer::poll_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    pub seq: u64,
    pub len: u32,
    pub ctl: u32,
}

/// Frame `k` of a batch read by [`Consumer::poll_into`]: its bytes in `arena`, which has slots
/// of `frame_size` bytes (the link's frame size), as `lens` records them. `None` past the
/// arena or when a length exceeds the slot (neither happens with `poll_into`'s own output).
pub fn arena_frame<'b>(
    arena: &'b [u8],
    frame_size: usize,
    lens: &[u32],
    k: usize,
) -> Option<&'b [u8]> {
    let len = *lens.get(k)? as usize;
    if len > frame_size {
        return None;
    }
    arena.get(k.checked_mul(frame_size)?..)?.get(..len)
}

/// What one [`Consumer::poll_batch`] or [`Consumer::poll_into`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    /// Frames handed to the callback.
    pub frames: usize,
    /// Frames lost to overruns.
    pub lost: u64,
    /// Corrupt slots skipped.
    pub corrupt: u64,
    /// The batch stopped because it reached what the producer had published.
    pub drained: bool,
}

/// What a consumer has seen, for its tile's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerCounters {
    /// Frames delivered.
    pub consumed: u64,
    /// Times the producer lapped the consumer.
    pub overruns: u64,
    /// Frames lost to those overruns.
    pub lost: u64,
    /// Copies discarded because the producer rewrote the slot meanwhile.
    pub torn: u64,
    /// Corrupt slots skipped.
    pub corrupt: u64,
}

/// How a consumer starts and publishes its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Publish progress after this many frames (at least 1). Progress is also published
    /// whenever a poll finds the ring drained, so a reliable producer is never left waiting
    /// for credit the consumer has but did not announce. Larger values store to the fseq line
    /// less often; the producer sees the progress later (its credit is up to this many frames
    /// smaller).
    pub publish_every: u64,
    /// First frame to read. `None`: a reliable consumer resumes from its progress word, a
    /// lossy one starts with the next frame published.
    pub start: Option<u64>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            publish_every: 1,
            start: None,
        }
    }
}

/// Reads frames from a ring, in order.
pub struct Consumer<'a, W: Word> {
    ring: Ring<'a, W>,
    /// The consumer's own progress word (its tile status region, mapped writable here and
    /// read-only by the producer). Required for reliable links, optional for lossy ones.
    fseq: Option<&'a W>,
    /// Sequence number of the next frame to read.
    next: u64,
    /// The producer sequence as last loaded: frames below it are published.
    avail: u64,
    /// The value last stored to `fseq`.
    announced: u64,
    publish_every: u64,
    counters: ConsumerCounters,
}

impl<'a, W: Word> Consumer<'a, W> {
    /// A consumer over a ring from [`Ring::attach`]. `fseq` is the consumer's progress word,
    /// which it must be able to store to.
    pub fn new(
        ring: Ring<'a, W>,
        fseq: Option<&'a W>,
        options: ConsumerOptions,
    ) -> Result<Self, LinkError> {
        let reliable = ring.geometry().mode() == Mode::Reliable;
        if reliable && fseq.is_none() {
            return Err(LinkError::MissingFseq);
        }
        let avail = ring.producer_seq();
        let announced = fseq.map_or(0, |f| f.load(Relaxed));
        let next = match options.start {
            Some(s) => s,
            // Never resume past what was published: a progress word ahead of the producer is
            // corrupt and would make the producer refuse every frame.
            None if reliable => announced.min(avail),
            None => avail,
        };
        let mut consumer = Consumer {
            ring,
            fseq,
            next,
            avail,
            announced,
            publish_every: options.publish_every.max(1),
            counters: ConsumerCounters::default(),
        };
        if consumer.announced != next {
            consumer.announce();
        }
        Ok(consumer)
    }

    /// One step: the next frame into `buf` (at least the frame size), or why there is none.
    /// Never blocks the producer and never returns a frame that was not written exactly as
    /// published; loads the producer sequence only when the frames it last saw are used up.
    #[inline]
    pub fn poll(&mut self, buf: &mut [u8]) -> Poll {
        let need = self.ring.geometry().frame_size() as usize;
        if buf.len() < need {
            return Poll::BufferTooSmall { need };
        }
        if self.next >= self.avail {
            self.avail = self.ring.producer_seq();
            if self.next >= self.avail {
                self.drained();
                return Poll::Empty;
            }
        }
        self.step(buf)
    }

    /// Up to `max` slots (frames, overruns and corrupt slots each count one) with a single
    /// load of the producer sequence, handing each frame to `on_frame` with its bytes.
    pub fn poll_batch<F>(
        &mut self,
        buf: &mut [u8],
        max: usize,
        mut on_frame: F,
    ) -> Result<Batch, LinkError>
    where
        F: FnMut(FrameMeta, &[u8]),
    {
        let need = self.ring.geometry().frame_size() as usize;
        if buf.len() < need {
            return Err(LinkError::BufferTooSmall { need });
        }
        Ok(self.batch(max, |c, _| {
            let p = c.step(buf);
            if let Poll::Frame { seq, len, ctl } = p {
                // `step` returns only lengths within the frame size, which `buf` holds.
                on_frame(FrameMeta { seq, len, ctl }, &buf[..len as usize]);
            }
            p
        }))
    }

    /// Up to `lens.len()` slots, like [`poll_batch`](Self::poll_batch), but keeping every
    /// frame: frame `k` of the batch is copied to the `k`-th frame-size slot of `arena`, its
    /// length stored in `lens[k]` ([`arena_frame`] reads it back). For consumers that work
    /// on a whole batch at once (the net tile routes a batch with one burst lookup); the
    /// arena is the only copy, as `buf` is for `poll_batch`. Fewer slots when `arena` holds
    /// fewer frames; none at all is [`LinkError::BufferTooSmall`].
    pub fn poll_into(&mut self, arena: &mut [u8], lens: &mut [u32]) -> Result<Batch, LinkError> {
        let need = self.ring.geometry().frame_size() as usize;
        let max = lens.len().min(arena.len() / need);
        if max == 0 && !lens.is_empty() {
            return Err(LinkError::BufferTooSmall { need });
        }
        Ok(self.batch(max, |c, k| {
            // `k` counts the frames delivered so far, fewer than the slots taken (< max).
            let p = c.step(&mut arena[k * need..(k + 1) * need]);
            if let Poll::Frame { len, .. } = p {
                lens[k] = len;
            }
            p
        }))
    }

    /// The batch loop: up to `max` slots read by `read` (given the number of frames delivered
    /// before it), after one load of the producer sequence.
    #[inline]
    fn batch(&mut self, max: usize, mut read: impl FnMut(&mut Self, usize) -> Poll) -> Batch {
        let mut batch = Batch::default();
        self.avail = self.ring.producer_seq();
        let mut steps = 0;
        while steps < max && self.next < self.avail {
            steps += 1;
            match read(self, batch.frames) {
                Poll::Frame { .. } => batch.frames += 1,
                Poll::Overrun { lost } => batch.lost += lost,
                Poll::Corrupt { .. } => batch.corrupt += 1,
                Poll::Empty | Poll::BufferTooSmall { .. } => break,
            }
        }
        if self.next >= self.avail {
            batch.drained = true;
            self.drained();
        }
        batch
    }

    /// Reads frame `self.next`, which the producer sequence says is published.
    #[inline]
    fn step(&mut self, buf: &mut [u8]) -> Poll {
        let seq = self.next;
        let found = match self.ring.read(seq, buf) {
            Read::Frame { len, ctl } => {
                self.next = seq + 1;
                let poll = if len > self.ring.geometry().frame_size() {
                    self.counters.corrupt += 1;
                    Poll::Corrupt {
                        seq,
                        why: Corruption::Length { len },
                    }
                } else {
                    self.counters.consumed += 1;
                    Poll::Frame { seq, len, ctl }
                };
                self.progressed();
                return poll;
            }
            Read::Torn { found } => {
                self.counters.torn += 1;
                found
            }
            Read::Other { found } => found,
        };
        self.resolve(seq, found)
    }

    /// The slot of frame `seq` holds stamp `found` instead of the complete frame.
    ///
    /// The producer sequence we loaded was past `seq`, and the producer stores it after the
    /// frame's complete stamp: the slot cannot show an earlier stamp. So a correct ring shows
    /// a later write of the same slot (frame `f = seq + k * depth`, complete or busy) — the
    /// producer lapped us — and anything else is corruption. Busy and complete stamps are
    /// release stores made after the producer published `f`'s predecessors, so after this
    /// fence the producer sequence is at least `f`: a stamp beyond it is corrupt too.
    #[cold]
    fn resolve(&mut self, seq: u64, found: u64) -> Poll {
        W::fence(Acquire);
        let p = self.ring.producer_seq();
        self.avail = self.avail.max(p);
        let depth = u64::from(self.ring.geometry().depth());
        let mask = depth - 1;
        match decode(found) {
            Some((f, _)) if f > seq && f & mask == seq & mask && f <= p => {
                // `f >= seq + depth`: no underflow, and `resume > seq`. Frames up to `f -
                // depth` share slots with frames the producer has started; frames below
                // `p - depth` too, as far as the producer sequence tells.
                let resume = (f + 1 - depth).max(p.saturating_sub(depth));
                let lost = resume - seq;
                self.counters.overruns += 1;
                self.counters.lost += lost;
                self.next = resume;
                self.progressed();
                Poll::Overrun { lost }
            }
            _ => {
                self.counters.corrupt += 1;
                self.next = seq.saturating_add(1);
                self.progressed();
                Poll::Corrupt {
                    seq,
                    why: Corruption::Stamp { found },
                }
            }
        }
    }

    /// After `next` moved: announce progress every `publish_every` frames.
    #[inline]
    fn progressed(&mut self) {
        if self.fseq.is_some() && self.next.wrapping_sub(self.announced) >= self.publish_every {
            self.announce();
        }
    }

    /// The ring is drained: announce whatever progress is pending, since the producer may be
    /// waiting for exactly that credit.
    #[inline]
    fn drained(&mut self) {
        self.flush();
    }

    /// Stores our progress. Release: the copies of every frame below `next` (loads, ordered
    /// before this store) happen before the producer, which acquires this value, rewrites
    /// their slots.
    #[inline]
    fn announce(&mut self) {
        if let Some(f) = self.fseq {
            f.store(self.next, Release);
            self.announced = self.next;
        }
    }

    /// Publishes progress now (e.g. before the tile goes idle or stops).
    pub fn flush(&mut self) {
        if self.announced != self.next {
            self.announce();
        }
    }

    /// Sequence number of the next frame this consumer will read.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    pub fn counters(&self) -> ConsumerCounters {
        self.counters
    }

    pub fn ring(&self) -> &Ring<'a, W> {
        &self.ring
    }
}

impl<'a> Consumer<'a, AtomicU64> {
    /// A consumer over shared memory: the ring (normally mapped read-only) and the
    /// consumer's own fseq object (mapped read-write: it lives in the consumer's workspace).
    pub fn attach(
        ring: Region<'a>,
        fseq: Option<Region<'a>>,
        geometry: Geometry,
        options: ConsumerOptions,
    ) -> Result<Self, LinkError> {
        let ring = Ring::attach_region(ring, geometry)?;
        let fseq = match fseq {
            Some(r) if !r.is_writable() => return Err(LinkError::ReadOnly { what: "fseq" }),
            Some(r) => Some(fseq_word(r)?),
            None => None,
        };
        Consumer::new(ring, fseq, options)
    }
}
