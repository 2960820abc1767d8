//! The ring object: where its words are, what the producer writes into the constants line,
//! and the one copy routine in each direction (the only code that touches slot words).
//!
//! Byte layout (from `tables::geometry`, which the code generator places rings with):
//!
//! ```text
//! 0     producer line: word 0 = producer sequence (frames published), rest unused
//! 64    constants line: magic, depth, frame size, mode, slot bytes
//! 128   slot 0: stamp (u64) | frame length (u32) | control (u32) | frame bytes … | padding
//! 128 + slot_bytes: slot 1 …
//! ```
//!
//! A slot's stamp encodes the sequence number of the frame it holds and whether that frame is
//! being written: `stamp = (seq + 1) << 1 | busy`. Zero (a zeroed region) means "never
//! written", so frame sequences can start at 0, and a slot's stamps only grow, so a reader
//! can never mistake a rewritten slot for the frame it copied (no ABA).

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::{LinkError, Mode};
use crate::region::Region;
use crate::sync::Word;
use crate::tables::geometry::{RING_HEADER_BYTES, RING_SLOT_META_BYTES};

/// Version of this ring format; part of the magic so that an old consumer refuses a new ring.
pub const LINK_FORMAT: u64 = 1;
/// `NBRING` and the format in the last byte.
pub const RING_MAGIC: u64 = u64::from_le_bytes(*b"NBRING\0\0") | (LINK_FORMAT << 56);

/// Largest sequence number a producer hands out: the stamp of `seq` needs `seq + 1 < 2^63`.
/// At 10^9 frames per second this is reached after ~290 years.
pub const MAX_SEQ: u64 = (1 << 63) - 2;

/// Deepest ring accepted (slot indexes must fit the `u32` depth and the power-of-two mask).
pub const MAX_DEPTH: u32 = 1 << 31;

/// Word indexes in the ring header.
pub mod word {
    /// Frames published so far (= sequence number of the next frame). Alone on the first
    /// cache line: it is the only header word that changes, and it changes on every publish.
    pub const PSEQ: usize = 0;
    /// The constants line, written once by the producer (magic last).
    pub const MAGIC: usize = 8;
    pub const DEPTH: usize = 9;
    pub const FRAME_SIZE: usize = 10;
    pub const MODE: usize = 11;
    pub const SLOT_BYTES: usize = 12;
}

/// Slot word 0 is the stamp, word 1 the length and control bits, the frame follows.
const META: usize = 1;
const FRAME: usize = 2;
const HEADER_WORDS: usize = (RING_HEADER_BYTES / 8) as usize;
const BUSY: u64 = 1;

// The slot layout above hard-codes the geometry's 16 bytes of metadata.
const _: () = assert!(RING_SLOT_META_BYTES == 8 * FRAME as u64);

/// The stamp of a completely written frame `seq` (add [`BUSY`] for one being written).
/// Wrapping: the consumer may compute it for any sequence its (possibly corrupt) view of the
/// producer yields, and a wrong stamp only fails to match.
#[inline(always)]
pub(crate) const fn stamp(seq: u64) -> u64 {
    seq.wrapping_add(1) << 1
}

/// What a stamp says: `None` for a never-written slot, else the frame's sequence and whether
/// it is being written.
#[inline]
pub(crate) const fn decode(stamp: u64) -> Option<(u64, bool)> {
    match stamp >> 1 {
        0 => None,
        s => Some((s - 1, stamp & BUSY != 0)),
    }
}

/// The constants both sides must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    depth: u32,
    frame_size: u32,
    mode: Mode,
}

impl Geometry {
    /// `depth` slots (a power of two, so that a slot index is a mask) of frames up to
    /// `frame_size` bytes (at least 1).
    pub fn new(depth: u32, frame_size: u32, mode: Mode) -> Result<Self, LinkError> {
        if !depth.is_power_of_two() || depth > MAX_DEPTH {
            return Err(LinkError::BadGeometry {
                what: "depth (a power of two)",
                value: depth.into(),
            });
        }
        if frame_size == 0 {
            return Err(LinkError::BadGeometry {
                what: "frame size",
                value: 0,
            });
        }
        Ok(Geometry {
            depth,
            frame_size,
            mode,
        })
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes of one slot (`geometry::ring_slot_bytes`).
    pub fn slot_bytes(&self) -> u64 {
        crate::tables::geometry::ring_slot_bytes(self.frame_size)
    }

    /// Bytes the ring uses: header and slots (`geometry::ring_bytes` rounds this to a page).
    pub fn used_bytes(&self) -> u64 {
        RING_HEADER_BYTES + u64::from(self.depth) * self.slot_bytes()
    }

    fn mode_code(&self) -> u64 {
        match self.mode {
            Mode::Lossy => 1,
            Mode::Reliable => 2,
        }
    }
}

/// One consistent copy of a slot, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// The slot held frame `seq` before and after the copy: `len` and `ctl` as written (`len`
    /// not yet checked against the frame size).
    Frame { len: u32, ctl: u32 },
    /// The slot does not hold a complete frame `seq`: its stamp is `found`.
    Other { found: u64 },
    /// The slot held frame `seq` when the copy started and something else (`found`) after it:
    /// the copy may mix two frames and is discarded.
    Torn { found: u64 },
}

/// A view of a ring's words, generic over the word type so that loom can run this code.
#[derive(Debug)]
pub struct Ring<'a, W: Word> {
    header: &'a [W],
    slots: &'a [W],
    geometry: Geometry,
    slot_words: usize,
    /// Words of the largest frame (whole words: the slot has room for the last partial one).
    frame_words: usize,
    mask: u64,
    /// Set only by `init`: the producer's claim that this process may store into the words.
    writable: bool,
}

// Manual impls: a derive would require `W: Clone`, but only references are copied.
impl<W: Word> Clone for Ring<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Word> Copy for Ring<'_, W> {}

impl<'a, W: Word> Ring<'a, W> {
    /// Producer: takes a zeroed ring (writing its constants, magic last) or reopens one that
    /// already has exactly these constants (a restarted producer). The caller guarantees that
    /// `words` may be stored to (see [`Ring::init_region`] for the checked version).
    pub fn init(words: &'a [W], geometry: Geometry) -> Result<Self, LinkError> {
        let mut ring = Self::view(words, geometry)?;
        let h = ring.header;
        if h[word::MAGIC].load(Relaxed) == 0 {
            h[word::DEPTH].store(geometry.depth.into(), Relaxed);
            h[word::FRAME_SIZE].store(geometry.frame_size.into(), Relaxed);
            h[word::MODE].store(geometry.mode_code(), Relaxed);
            h[word::SLOT_BYTES].store(geometry.slot_bytes(), Relaxed);
            // Release: a consumer that sees the magic (and fences) sees the constants, so it
            // never validates against half-written geometry.
            h[word::MAGIC].store(RING_MAGIC, Release);
        } else {
            ring.check()?;
        }
        ring.writable = true;
        Ok(ring)
    }

    /// Producer or consumer: a ring the producer has initialized with these constants. The
    /// result is read-only (consumers map the ring read-only).
    pub fn attach(words: &'a [W], geometry: Geometry) -> Result<Self, LinkError> {
        let ring = Self::view(words, geometry)?;
        ring.check()?;
        Ok(ring)
    }

    fn view(words: &'a [W], geometry: Geometry) -> Result<Self, LinkError> {
        let slot_words = usize::try_from(geometry.slot_bytes() / 8).unwrap_or(usize::MAX);
        let need = geometry.used_bytes();
        let have = (words.len() as u64).saturating_mul(8);
        let too_small = LinkError::RegionTooSmall { need, have };
        let (header, rest) = words
            .split_at_checked(HEADER_WORDS)
            .ok_or(too_small.clone())?;
        let slot_total = slot_words
            .checked_mul(geometry.depth as usize)
            .ok_or(too_small.clone())?;
        let slots = rest.get(..slot_total).ok_or(too_small)?;
        Ok(Ring {
            header,
            slots,
            geometry,
            slot_words,
            frame_words: (geometry.frame_size as usize).div_ceil(8),
            mask: u64::from(geometry.depth) - 1,
            writable: false,
        })
    }

    fn check(&self) -> Result<(), LinkError> {
        let h = self.header;
        let magic = h[word::MAGIC].load(Relaxed);
        // Pairs with the producer's release store of the magic: the constants read below are
        // the ones written before it.
        W::fence(Acquire);
        if magic == 0 {
            return Err(LinkError::NotInitialized);
        }
        let g = &self.geometry;
        for (what, idx, expected) in [
            ("magic", word::MAGIC, RING_MAGIC),
            ("depth", word::DEPTH, g.depth.into()),
            ("frame size", word::FRAME_SIZE, g.frame_size.into()),
            ("mode", word::MODE, g.mode_code()),
            ("slot bytes", word::SLOT_BYTES, g.slot_bytes()),
        ] {
            let found = h[idx].load(Relaxed);
            if found != expected {
                return Err(LinkError::Mismatch {
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The producer sequence (frames published), with acquire ordering: every slot write of a
    /// frame below it is visible afterwards. A relaxed load plus fence rather than an acquire
    /// load, because only plain loads are guaranteed to work on a read-only mapping (on
    /// x86-64 both are the same `mov`).
    #[inline]
    pub fn producer_seq(&self) -> u64 {
        let p = self.header[word::PSEQ].load(Relaxed);
        W::fence(Acquire);
        p
    }

    /// The words of the slot that frame `seq` goes to. In bounds for every `seq`: the mask
    /// keeps the index below `depth` and `view` checked that `depth` slots exist.
    #[inline(always)]
    fn slot(&self, seq: u64) -> &'a [W] {
        let start = (seq & self.mask) as usize * self.slot_words;
        &self.slots[start..start + self.slot_words]
    }

    /// Producer only (the single writer of the ring): writes frame `seq` into its slot and
    /// publishes it. `frame` fits the frame size (checked by the caller).
    #[inline]
    pub(crate) fn write(&self, seq: u64, frame: &[u8], ctl: u32) {
        debug_assert!(self.writable && frame.len() <= self.geometry.frame_size as usize);
        let slot = self.slot(seq);
        // Release, not Relaxed: a consumer that reads this busy stamp (and fences) also sees
        // the producer sequence stored by the previous publish, which lets it bound a stamp
        // it reads by the producer sequence it loads next (see `Consumer::resolve`).
        slot[0].store(stamp(seq) | BUSY, Release);
        // Orders the busy stamp before the frame stores below: a consumer whose copy picks
        // up any of them synchronizes with this fence through its own acquire fence, and
        // then sees (at least) the busy stamp on its re-check.
        W::fence(Release);
        slot[META].store(meta(frame.len() as u32, ctl), Relaxed);
        for (chunk, w) in frame.chunks(8).zip(&slot[FRAME..]) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            w.store(u64::from_ne_bytes(bytes), Relaxed);
        }
        // Release: a consumer that reads this stamp (and fences) sees every store above.
        slot[0].store(stamp(seq), Release);
        // Release, after the stamp: a consumer that sees the producer sequence past `seq`
        // sees the complete stamp (or a later one) in the slot.
        self.header[word::PSEQ].store(seq + 1, Release);
    }

    /// Copies frame `seq` into `buf` (at least the frame size) through relaxed word loads
    /// bracketed by the stamp checks. Bounded by the frame size whatever the slot says.
    #[inline]
    pub(crate) fn read(&self, seq: u64, buf: &mut [u8]) -> Read {
        let slot = self.slot(seq);
        let expected = stamp(seq);
        let s1 = slot[0].load(Relaxed);
        // Pairs with the producer's release store of the complete stamp: the copy below sees
        // that write's words or later ones.
        W::fence(Acquire);
        if s1 != expected {
            return Read::Other { found: s1 };
        }
        let [l0, l1, l2, l3, c0, c1, c2, c3] = slot[META].load(Relaxed).to_ne_bytes();
        let len = u32::from_ne_bytes([l0, l1, l2, l3]);
        let ctl = u32::from_ne_bytes([c0, c1, c2, c3]);
        // The length is not trusted yet (it may be torn or corrupt): copy at most a frame.
        let copy = (len as usize).min(self.frame_words * 8).min(buf.len());
        for (chunk, w) in buf[..copy]
            .chunks_mut(8)
            .zip(&slot[FRAME..FRAME + self.frame_words])
        {
            let bytes = w.load(Relaxed).to_ne_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        // Keeps the copy's loads before the re-check. If any of them read a store of a later
        // write of this slot, this fence synchronizes with that write's release fence, which
        // follows its busy stamp: the re-check then sees that stamp (or a later one).
        W::fence(Acquire);
        let s2 = slot[0].load(Relaxed);
        if s2 != s1 {
            return Read::Torn { found: s2 };
        }
        Read::Frame { len, ctl }
    }
}

/// Slot word 1: the length then the control bits, in memory order (`u32` at byte 8, `u32` at
/// byte 12 of the slot, native-endian, as `geometry` documents), on any host.
#[inline(always)]
fn meta(len: u32, ctl: u32) -> u64 {
    let [l0, l1, l2, l3] = len.to_ne_bytes();
    let [c0, c1, c2, c3] = ctl.to_ne_bytes();
    u64::from_ne_bytes([l0, l1, l2, l3, c0, c1, c2, c3])
}

impl<'a> Ring<'a, AtomicU64> {
    /// Producer: [`Ring::init`] over a region this process mapped read-write.
    pub fn init_region(region: Region<'a>, geometry: Geometry) -> Result<Self, LinkError> {
        if !region.is_writable() {
            return Err(LinkError::ReadOnly { what: "ring" });
        }
        Self::init(region.words(), geometry)
    }

    /// Producer or consumer: [`Ring::attach`] over a region (read-only is fine).
    pub fn attach_region(region: Region<'a>, geometry: Geometry) -> Result<Self, LinkError> {
        Self::attach(region.words(), geometry)
    }
}

/// The progress word in a consumer's fseq object (`geometry::FSEQ_BYTES`): its first word.
pub fn fseq_word(region: Region<'_>) -> Result<&AtomicU64, LinkError> {
    region.words().first().ok_or(LinkError::RegionTooSmall {
        need: 8,
        have: region.len_bytes() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_zero_is_never_written() {
        assert_eq!(decode(0), None);
        assert_eq!(decode(1), None);
        for seq in [0, 1, 7, MAX_SEQ] {
            assert_eq!(decode(stamp(seq)), Some((seq, false)));
            assert_eq!(decode(stamp(seq) | BUSY), Some((seq, true)));
            assert!(seq == MAX_SEQ || stamp(seq) < stamp(seq + 1));
        }
    }

    #[test]
    fn meta_puts_len_then_ctl_in_memory_order() {
        let m = meta(0x0102_0304, 0xa0b0_c0d0).to_ne_bytes();
        assert_eq!(m[..4], 0x0102_0304u32.to_ne_bytes());
        assert_eq!(m[4..], 0xa0b0_c0d0u32.to_ne_bytes());
    }
}
