//! The producer's end of a link: the only process that writes the ring.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed};

use super::layout::{fseq_word, Geometry, Ring, MAX_SEQ};
use super::{LinkError, Mode};
use crate::region::Region;
use crate::sync::Word;

/// What a producer has done, for its tile's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerCounters {
    /// Frames written to the ring.
    pub published: u64,
    /// Reliable links: publishes refused because the consumer was a whole ring behind.
    pub backpressure: u64,
    /// Frames refused because they were longer than the frame size.
    pub too_long: u64,
    /// Reliable links: times the consumer's progress word held an impossible value (ahead of
    /// the producer).
    pub bad_fseq: u64,
}

/// Writes frames into a ring. One per ring: the ring has exactly one writer.
pub struct Producer<'a, W: Word> {
    ring: Ring<'a, W>,
    /// Reliable links: the consumer's progress word (frames it is done with), read-only here.
    fseq: Option<&'a W>,
    /// Sequence number of the next frame.
    seq: u64,
    /// The consumer's progress as last loaded. Publishing below `credit + depth` needs no
    /// load of the consumer's cache line: progress only grows, so an old value is a safe
    /// underestimate, and the acquire that loaded it already ordered the consumer's copies of
    /// those slots before our rewrites.
    credit: u64,
    counters: ProducerCounters,
}

impl<'a, W: Word> Producer<'a, W> {
    /// A producer over a ring from [`Ring::init`]. Reliable links need the consumer's progress
    /// word `fseq`; lossy links ignore it. A restarted producer continues after the last frame
    /// the ring says was published.
    pub fn new(ring: Ring<'a, W>, fseq: Option<&'a W>) -> Result<Self, LinkError> {
        if !ring.is_writable() {
            return Err(LinkError::ReadOnly { what: "ring" });
        }
        let fseq = match ring.geometry().mode() {
            Mode::Lossy => None,
            Mode::Reliable => Some(fseq.ok_or(LinkError::MissingFseq)?),
        };
        // A sequence past `MAX_SEQ` (used up, or corrupt) makes every publish fail with
        // `Exhausted` rather than rewrite a slot under an old stamp.
        let seq = ring.producer_seq();
        let credit = fseq.map_or(0, |f| {
            let v = f.load(Relaxed);
            W::fence(Acquire);
            v.min(seq)
        });
        Ok(Producer {
            ring,
            fseq,
            seq,
            credit,
            counters: ProducerCounters::default(),
        })
    }

    /// Publishes `frame` with control bits `ctl` and returns its sequence number.
    ///
    /// Never blocks. `Err(Full)` on a reliable link whose consumer has not finished with the
    /// frame a whole ring back: nothing was written, try again later (the tile loop decides
    /// when). Lossy links overwrite the oldest frame instead. `Err(TooLong)` for a frame
    /// longer than the frame size (never truncated).
    #[inline]
    pub fn publish(&mut self, frame: &[u8], ctl: u32) -> Result<u64, LinkError> {
        let max = self.ring.geometry().frame_size();
        if frame.len() > max as usize {
            self.counters.too_long += 1;
            return Err(LinkError::TooLong {
                len: frame.len(),
                max,
            });
        }
        let seq = self.seq;
        if seq > MAX_SEQ {
            return Err(LinkError::Exhausted);
        }
        if let Some(fseq) = self.fseq {
            let depth = u64::from(self.ring.geometry().depth());
            if seq - self.credit >= depth {
                let f = fseq.load(Relaxed);
                // Pairs with the consumer's release store of its progress: its copies of
                // every frame below `f` happen before the slot rewrites that follow, so they
                // cannot read them (and cannot be torn).
                W::fence(Acquire);
                if f > seq {
                    // The consumer claims frames that were never published: its word is
                    // corrupt. Refuse rather than trust it to free slots.
                    self.counters.bad_fseq += 1;
                    return Err(LinkError::BadFseq { fseq: f, seq });
                }
                // Progress never shrinks; a smaller value (a restarted consumer that lost its
                // word) is used as is, which only withholds credit.
                self.credit = f;
                if seq - f >= depth {
                    self.counters.backpressure += 1;
                    return Err(LinkError::Full);
                }
            }
        }
        self.ring.write(seq, frame, ctl);
        self.seq = seq + 1;
        self.counters.published += 1;
        Ok(seq)
    }

    /// Frames that can be published now without back-pressure, as far as the last load of
    /// the consumer's progress knows (`u64::MAX` for lossy links).
    pub fn credit(&self) -> u64 {
        match self.fseq {
            None => u64::MAX,
            Some(_) => {
                let depth = u64::from(self.ring.geometry().depth());
                depth.saturating_sub(self.seq - self.credit)
            }
        }
    }

    /// Reloads the consumer's progress and returns the credit it leaves (what
    /// [`credit`](Self::credit) says after it). For loops that gate their reading on credit:
    /// the cached figure only moves on a publish that meets a full ring, so without this a
    /// loop that stopped reading at zero credit would never look again.
    pub fn refresh_credit(&mut self) -> u64 {
        if let Some(fseq) = self.fseq {
            let f = fseq.load(Relaxed);
            // Same pairing as in `publish`: slots below `f` were copied out by the consumer.
            W::fence(Acquire);
            // A word beyond what was published is corrupt; `publish` reports it. Progress is
            // only taken forward here, so a restarted consumer cannot take credit back.
            if f <= self.seq && f > self.credit {
                self.credit = f;
            }
        }
        self.credit()
    }

    /// Sequence number the next frame will get (= frames published on this ring).
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    pub fn counters(&self) -> ProducerCounters {
        self.counters
    }

    pub fn ring(&self) -> &Ring<'a, W> {
        &self.ring
    }
}

impl<'a> Producer<'a, AtomicU64> {
    /// A producer over shared memory: initializes (or reopens) the ring in `ring`, which must
    /// be mapped read-write, and for reliable links reads the consumer's fseq object `fseq`
    /// (mapped read-only: the consumer owns it).
    pub fn create(
        ring: Region<'a>,
        fseq: Option<Region<'a>>,
        geometry: Geometry,
    ) -> Result<Self, LinkError> {
        let ring = Ring::init_region(ring, geometry)?;
        let fseq = fseq.map(fseq_word).transpose()?;
        Producer::new(ring, fseq)
    }
}
