//! Unit tests of the link: attach checks, both modes, corrupt rings, and a torn copy forced
//! deterministically by a word type that runs the producer in the middle of a consumer's copy.

use core::cell::{Cell, RefCell};
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU64, Ordering};

use super::layout::{stamp, word};
use super::*;
use crate::region::HeapRegion;
use crate::sync::Word;
use crate::tables::geometry::{ring_bytes, ring_slot_bytes, FSEQ_BYTES, RING_HEADER_BYTES};

fn geometry(depth: u32, frame: u32, mode: Mode) -> Geometry {
    Geometry::new(depth, frame, mode).unwrap()
}

fn ring_heap(g: Geometry) -> HeapRegion {
    HeapRegion::zeroed(ring_bytes(g.depth(), g.frame_size()) as usize)
}

fn fseq_heap() -> HeapRegion {
    HeapRegion::zeroed(FSEQ_BYTES as usize)
}

/// Word index of slot `i`'s stamp.
fn slot_word(g: Geometry, i: u64) -> usize {
    ((RING_HEADER_BYTES + i * ring_slot_bytes(g.frame_size())) / 8) as usize
}

fn frame(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

#[test]
fn geometry_is_validated() {
    assert!(matches!(
        Geometry::new(3, 64, Mode::Lossy),
        Err(LinkError::BadGeometry { value: 3, .. })
    ));
    assert!(Geometry::new(0, 64, Mode::Lossy).is_err());
    assert!(Geometry::new(4, 0, Mode::Lossy).is_err());
    let g = geometry(8, 100, Mode::Reliable);
    assert_eq!(g.slot_bytes(), 128);
    assert_eq!(g.used_bytes(), 128 + 8 * 128);
}

#[test]
fn attach_checks_initialization_size_and_constants() {
    let g = geometry(4, 64, Mode::Lossy);
    let heap = ring_heap(g);
    assert_eq!(
        Ring::attach_region(heap.read_only(), g).unwrap_err(),
        LinkError::NotInitialized
    );
    assert_eq!(
        Ring::init_region(heap.read_only(), g).unwrap_err(),
        LinkError::ReadOnly { what: "ring" }
    );
    let small = HeapRegion::zeroed(g.used_bytes() as usize - 8);
    assert_eq!(
        Ring::init_region(small.region(), g).unwrap_err(),
        LinkError::RegionTooSmall {
            need: g.used_bytes(),
            have: g.used_bytes() - 8
        }
    );

    Ring::init_region(heap.region(), g).unwrap();
    let ring = Ring::attach_region(heap.read_only(), g).unwrap();
    assert!(!ring.is_writable());
    // A restarted producer reopens a ring with the same constants.
    assert!(Ring::init_region(heap.region(), g).unwrap().is_writable());

    for (other, what, expected, found) in [
        (geometry(8, 64, Mode::Lossy), "depth", 8, 4),
        (geometry(4, 72, Mode::Lossy), "frame size", 72, 64),
        (geometry(4, 64, Mode::Reliable), "mode", 2, 1),
    ] {
        let want = LinkError::Mismatch {
            what,
            expected,
            found,
        };
        assert_eq!(
            Ring::attach_region(heap.read_only(), other).unwrap_err(),
            want
        );
        assert_eq!(Ring::init_region(heap.region(), other).unwrap_err(), want);
    }
    heap.region().words()[word::MAGIC].store(0x1234, Relaxed);
    assert!(matches!(
        Ring::attach_region(heap.read_only(), g),
        Err(LinkError::Mismatch { what: "magic", .. })
    ));
}

#[test]
fn ends_need_the_right_mappings_and_words() {
    let g = geometry(4, 64, Mode::Reliable);
    let heap = ring_heap(g);
    let fseq = fseq_heap();
    assert_eq!(
        Producer::create(heap.region(), None, g).err(),
        Some(LinkError::MissingFseq)
    );
    assert!(Producer::create(heap.region(), Some(fseq.read_only()), g).is_ok());
    let options = ConsumerOptions::default();
    assert_eq!(
        Consumer::attach(heap.read_only(), None, g, options).err(),
        Some(LinkError::MissingFseq)
    );
    assert_eq!(
        Consumer::attach(heap.read_only(), Some(fseq.read_only()), g, options).err(),
        Some(LinkError::ReadOnly { what: "fseq" })
    );
    // A producer cannot be built on a ring view obtained by attaching (read-only).
    let ring = Ring::attach_region(heap.region(), g).unwrap();
    assert_eq!(
        Producer::new(ring, fseq_word(fseq.region()).ok()).err(),
        Some(LinkError::ReadOnly { what: "ring" })
    );
}

#[test]
fn frames_round_trip_with_lengths_and_control_bits() {
    let g = geometry(4, 20, Mode::Lossy);
    let heap = ring_heap(g);
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    let mut c = Consumer::attach(heap.read_only(), None, g, Default::default()).unwrap();
    let mut buf = [0u8; 20];
    assert_eq!(c.poll(&mut buf), Poll::Empty);
    assert_eq!(c.poll(&mut [0u8; 19]), Poll::BufferTooSmall { need: 20 });
    for (i, len) in [0usize, 1, 7, 8, 9, 20].into_iter().enumerate() {
        let seq = i as u64;
        let f = frame(seq, len);
        assert_eq!(p.publish(&f, 0xc0de_0000 + i as u32), Ok(seq));
        assert_eq!(
            c.poll(&mut buf),
            Poll::Frame {
                seq,
                len: len as u32,
                ctl: 0xc0de_0000 + i as u32
            }
        );
        assert_eq!(buf[..len], f[..]);
    }
    assert_eq!(c.poll(&mut buf), Poll::Empty);
    assert_eq!(
        p.publish(&[0; 21], 0),
        Err(LinkError::TooLong { len: 21, max: 20 })
    );
    assert_eq!(p.next_seq(), 6, "a refused frame takes no sequence number");
    assert_eq!(
        p.counters(),
        ProducerCounters {
            published: 6,
            too_long: 1,
            ..Default::default()
        }
    );
    assert_eq!(c.counters().consumed, 6);
    assert_eq!(p.credit(), u64::MAX);
}

#[test]
fn a_lapped_lossy_consumer_skips_to_the_oldest_frame_and_counts_the_loss() {
    let g = geometry(4, 8, Mode::Lossy);
    let heap = ring_heap(g);
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    let mut c = Consumer::attach(heap.read_only(), None, g, Default::default()).unwrap();
    for seq in 0..10u64 {
        assert_eq!(p.publish(&seq.to_le_bytes(), 0), Ok(seq));
    }
    let mut buf = [0u8; 8];
    assert_eq!(c.poll(&mut buf), Poll::Overrun { lost: 6 });
    for seq in 6..10 {
        assert!(matches!(c.poll(&mut buf), Poll::Frame { seq: s, .. } if s == seq));
        assert_eq!(buf, seq.to_le_bytes());
    }
    assert_eq!(c.poll(&mut buf), Poll::Empty);
    let counters = c.counters();
    assert_eq!(
        (counters.consumed, counters.lost, counters.overruns),
        (4, 6, 1)
    );
    assert_eq!(counters.consumed + counters.lost, p.counters().published);
}

#[test]
fn a_lossy_consumer_starts_with_the_next_frame_unless_told_otherwise() {
    let g = geometry(4, 8, Mode::Lossy);
    let heap = ring_heap(g);
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    p.publish(b"old", 0).unwrap();
    let mut late = Consumer::attach(heap.read_only(), None, g, Default::default()).unwrap();
    let options = ConsumerOptions {
        start: Some(0),
        ..Default::default()
    };
    let mut early = Consumer::attach(heap.read_only(), None, g, options).unwrap();
    p.publish(b"new", 0).unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(late.poll(&mut buf), Poll::Frame { seq: 1, .. }));
    assert!(matches!(early.poll(&mut buf), Poll::Frame { seq: 0, .. }));
}

#[test]
fn reliable_links_push_back_instead_of_overwriting() {
    let g = geometry(4, 8, Mode::Reliable);
    let heap = ring_heap(g);
    let fseq = fseq_heap();
    let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
    let mut c =
        Consumer::attach(heap.read_only(), Some(fseq.region()), g, Default::default()).unwrap();
    for seq in 0..4u64 {
        assert_eq!(p.publish(&seq.to_le_bytes(), 0), Ok(seq));
    }
    assert_eq!(p.credit(), 0);
    assert_eq!(p.publish(b"x", 0), Err(LinkError::Full));
    assert_eq!(p.publish(b"x", 0), Err(LinkError::Full));
    assert_eq!(p.counters().backpressure, 2);
    let mut buf = [0u8; 8];
    assert!(matches!(c.poll(&mut buf), Poll::Frame { seq: 0, .. }));
    assert_eq!(fseq.region().words()[0].load(Relaxed), 1);
    assert_eq!(p.publish(&4u64.to_le_bytes(), 0), Ok(4));
    assert_eq!(p.publish(b"x", 0), Err(LinkError::Full));
    for seq in 1..5 {
        assert!(matches!(c.poll(&mut buf), Poll::Frame { seq: s, .. } if s == seq));
        assert_eq!(buf, seq.to_le_bytes());
    }
    assert_eq!(c.poll(&mut buf), Poll::Empty);
    let counters = c.counters();
    assert_eq!((counters.consumed, counters.lost, counters.torn), (5, 0, 0));
    assert_eq!(p.publish(b"y", 0), Ok(5));
}

#[test]
fn progress_is_published_every_n_frames_and_when_drained() {
    let g = geometry(8, 8, Mode::Reliable);
    let heap = ring_heap(g);
    let fseq = fseq_heap();
    let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
    let options = ConsumerOptions {
        publish_every: 3,
        start: None,
    };
    let mut c = Consumer::attach(heap.read_only(), Some(fseq.region()), g, options).unwrap();
    let announced = || fseq.region().words()[0].load(Relaxed);
    for _ in 0..5 {
        p.publish(b"f", 0).unwrap();
    }
    let mut buf = [0u8; 8];
    let mut seen = Vec::new();
    for _ in 0..5 {
        assert!(matches!(c.poll(&mut buf), Poll::Frame { .. }));
        seen.push(announced());
    }
    assert_eq!(seen, [0, 0, 3, 3, 3]);
    assert_eq!(c.poll(&mut buf), Poll::Empty);
    assert_eq!(announced(), 5, "a drained consumer announces everything");
}

#[test]
fn restarted_ends_continue_where_they_were() {
    let g = geometry(4, 8, Mode::Reliable);
    let heap = ring_heap(g);
    let fseq = fseq_heap();
    let mut buf = [0u8; 8];
    {
        let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
        let mut c =
            Consumer::attach(heap.read_only(), Some(fseq.region()), g, Default::default()).unwrap();
        for _ in 0..3 {
            p.publish(b"a", 0).unwrap();
        }
        assert!(matches!(c.poll(&mut buf), Poll::Frame { seq: 0, .. }));
    }
    let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
    assert_eq!(p.next_seq(), 3);
    assert_eq!(p.credit(), 2);
    let mut c =
        Consumer::attach(heap.read_only(), Some(fseq.region()), g, Default::default()).unwrap();
    assert_eq!(c.next_seq(), 1);
    assert_eq!(p.publish(b"b", 0), Ok(3));
    assert_eq!(p.publish(b"b", 0), Ok(4));
    assert_eq!(p.publish(b"b", 0), Err(LinkError::Full));
    for seq in 1..5 {
        assert!(matches!(c.poll(&mut buf), Poll::Frame { seq: s, .. } if s == seq));
    }
}

#[test]
fn corrupt_lengths_and_stamps_are_counted_and_skipped() {
    let g = geometry(4, 16, Mode::Lossy);
    let heap = ring_heap(g);
    let words = heap.region().words();
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    let mut c = Consumer::attach(heap.read_only(), None, g, Default::default()).unwrap();
    for seq in 0..4u64 {
        p.publish(&seq.to_le_bytes(), 7).unwrap();
    }
    // Frame 0: a length beyond the frame size (the stamp is intact).
    words[slot_word(g, 0) + 1].store(u64::from(u32::MAX), Relaxed);
    // Frame 1: the stamp of a frame in another slot.
    words[slot_word(g, 1)].store(stamp(2), Relaxed);
    // Frame 2: busy with itself although the producer sequence says it is complete.
    words[slot_word(g, 2)].store(stamp(2) | 1, Relaxed);
    let mut buf = [0u8; 16];
    assert_eq!(
        c.poll(&mut buf),
        Poll::Corrupt {
            seq: 0,
            why: Corruption::Length { len: u32::MAX }
        }
    );
    assert_eq!(
        c.poll(&mut buf),
        Poll::Corrupt {
            seq: 1,
            why: Corruption::Stamp { found: stamp(2) }
        }
    );
    assert!(matches!(c.poll(&mut buf), Poll::Corrupt { seq: 2, .. }));
    assert_eq!(
        c.poll(&mut buf),
        Poll::Frame {
            seq: 3,
            len: 8,
            ctl: 7
        }
    );
    // Frame 4's slot claims a frame far beyond the producer sequence: corrupt, not a lap
    // that would skip the consumer ahead by billions of frames.
    p.publish(b"4", 0).unwrap();
    words[slot_word(g, 0)].store(stamp(4 + 4_000_000_000), Relaxed);
    assert!(matches!(c.poll(&mut buf), Poll::Corrupt { seq: 4, .. }));
    assert_eq!(c.next_seq(), 5);
    let counters = c.counters();
    assert_eq!(
        (counters.corrupt, counters.consumed, counters.lost),
        (4, 1, 0)
    );
    // A producer sequence from nowhere makes the consumer read slots no frame was written
    // to: it reports them (and may believe a corrupt stamp is a lap) but stays in bounds,
    // never panics, and never delivers a frame whose stamp does not match.
    words[word::PSEQ].store(u64::MAX, Relaxed);
    for _ in 0..64 {
        match c.poll(&mut buf) {
            Poll::Corrupt { .. } | Poll::Overrun { .. } | Poll::Empty => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_corrupt_progress_word_is_refused() {
    let g = geometry(2, 8, Mode::Reliable);
    let heap = ring_heap(g);
    let fseq = fseq_heap();
    let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
    p.publish(b"a", 0).unwrap();
    p.publish(b"b", 0).unwrap();
    fseq.region().words()[0].store(99, Relaxed);
    assert_eq!(
        p.publish(b"c", 0),
        Err(LinkError::BadFseq { fseq: 99, seq: 2 })
    );
    assert_eq!(p.counters().bad_fseq, 1);
    // And a consumer never resumes beyond the producer from such a word.
    let c = Consumer::attach(heap.read_only(), Some(fseq.region()), g, Default::default()).unwrap();
    assert_eq!(c.next_seq(), 2);
    assert_eq!(fseq.region().words()[0].load(Relaxed), 2);
}

#[test]
fn poll_batch_loads_once_and_reports_losses() {
    let g = geometry(4, 8, Mode::Lossy);
    let heap = ring_heap(g);
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    let mut c = Consumer::attach(heap.read_only(), None, g, Default::default()).unwrap();
    for seq in 0..6u64 {
        p.publish(&seq.to_le_bytes(), seq as u32).unwrap();
    }
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    let batch = c
        .poll_batch(&mut buf, 3, |m, bytes| {
            got.push((m.seq, m.ctl, bytes.to_vec()))
        })
        .unwrap();
    assert_eq!(
        batch,
        Batch {
            frames: 2,
            lost: 2,
            corrupt: 0,
            drained: false
        }
    );
    let batch = c
        .poll_batch(&mut buf, 16, |m, bytes| {
            got.push((m.seq, m.ctl, bytes.to_vec()))
        })
        .unwrap();
    assert_eq!((batch.frames, batch.drained), (2, true));
    let expected: Vec<_> = (2..6u64)
        .map(|s| (s, s as u32, s.to_le_bytes().to_vec()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        c.poll_batch(&mut [0u8; 4], 1, |_, _| {}),
        Err(LinkError::BufferTooSmall { need: 8 })
    );
}

#[test]
fn poll_into_keeps_every_frame_of_the_batch() {
    let g = geometry(8, 16, Mode::Reliable);
    let (heap, fseq) = (ring_heap(g), fseq_heap());
    let mut p = Producer::create(heap.region(), Some(fseq.read_only()), g).unwrap();
    let mut c =
        Consumer::attach(heap.read_only(), Some(fseq.region()), g, Default::default()).unwrap();
    for seq in 0..5u64 {
        p.publish(&frame(seq, 3 + seq as usize), 0).unwrap();
    }
    // An arena of three slots caps the batch at three frames, whatever `lens` allows.
    let mut arena = [0u8; 3 * 16 + 5];
    let mut lens = [0u32; 8];
    let batch = c.poll_into(&mut arena, &mut lens).unwrap();
    assert_eq!((batch.frames, batch.drained), (3, false));
    for k in 0..3 {
        let bytes = arena_frame(&arena, 16, &lens, k).unwrap();
        assert_eq!(bytes, frame(k as u64, 3 + k).as_slice(), "frame {k}");
    }
    // The copies are ours: the producer may reuse their slots.
    assert_eq!(fseq.region().words()[0].load(Relaxed), 3);
    let batch = c.poll_into(&mut arena, &mut lens[..1]).unwrap();
    assert_eq!(batch.frames, 1);
    assert_eq!(
        arena_frame(&arena, 16, &lens, 0).unwrap(),
        frame(3, 6).as_slice()
    );
    let batch = c.poll_into(&mut arena, &mut lens).unwrap();
    assert_eq!((batch.frames, batch.drained), (1, true));
    assert_eq!(
        arena_frame(&arena, 16, &lens, 0).unwrap(),
        frame(4, 7).as_slice()
    );
    assert_eq!(c.poll_into(&mut arena, &mut lens).unwrap().frames, 0);
    assert_eq!(
        c.poll_into(&mut [0u8; 15], &mut lens),
        Err(LinkError::BufferTooSmall { need: 16 })
    );
    // Reading back what `poll_into` did not write is refused, never out of bounds.
    lens[1] = 17;
    assert_eq!(arena_frame(&arena, 16, &lens, 1), None);
    lens[3] = 16;
    assert_eq!(arena_frame(&arena, 16, &lens, 3), None);
    assert_eq!(arena_frame(&arena, 16, &lens, 8), None);
}

// ---- a torn copy, forced deterministically --------------------------------------------------

thread_local! {
    /// Loads left before `HOOK` runs.
    static LOADS_LEFT: Cell<u64> = const { Cell::new(u64::MAX) };
    static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

/// A word that runs a hook (the producer) after a chosen number of loads, i.e. in the middle
/// of a consumer's copy.
struct HookWord(AtomicU64);

impl Word for HookWord {
    fn load(&self, order: Ordering) -> u64 {
        let v = self.0.load(order);
        let left = LOADS_LEFT.get();
        LOADS_LEFT.set(left.saturating_sub(1));
        if left == 1 {
            if let Some(hook) = HOOK.take() {
                hook();
            }
        }
        v
    }
    fn store(&self, value: u64, order: Ordering) {
        self.0.store(value, order)
    }
    fn fence(order: Ordering) {
        core::sync::atomic::fence(order)
    }
}

#[test]
fn a_copy_overlapping_a_rewrite_is_discarded_as_torn() {
    let g = geometry(2, 16, Mode::Lossy);
    let n = (ring_bytes(2, 16) / 8) as usize;
    let words: &'static [HookWord] =
        Box::leak((0..n).map(|_| HookWord(AtomicU64::new(0))).collect());
    let mut p = Producer::new(Ring::init(words, g).unwrap(), None).unwrap();
    let mut c = Consumer::new(Ring::attach(words, g).unwrap(), None, Default::default()).unwrap();
    p.publish(&[1; 16], 1).unwrap();
    // The consumer's poll loads the producer sequence, the stamp, the meta word and the
    // first frame word; then the producer publishes two frames, the second of which rewrites
    // this slot before the consumer loads the second frame word and re-checks the stamp.
    LOADS_LEFT.set(4);
    HOOK.set(Some(Box::new(move || {
        p.publish(&[2; 16], 2).unwrap();
        p.publish(&[3; 16], 3).unwrap();
    })));
    let mut buf = [0u8; 16];
    assert_eq!(c.poll(&mut buf), Poll::Overrun { lost: 1 });
    assert_eq!(buf[..8], [1; 8], "the mixed copy was in the buffer …");
    assert_eq!(buf[8..], [3; 8], "… but never returned as a frame");
    assert_eq!(c.counters().torn, 1);
    assert_eq!(
        c.poll(&mut buf),
        Poll::Frame {
            seq: 1,
            len: 16,
            ctl: 2
        }
    );
    assert_eq!(buf, [2; 16]);
    assert!(matches!(
        c.poll(&mut buf),
        Poll::Frame { seq: 2, ctl: 3, .. }
    ));
    assert_eq!(c.poll(&mut buf), Poll::Empty);
}

#[test]
fn a_used_up_sequence_space_refuses_to_publish() {
    let g = geometry(2, 8, Mode::Lossy);
    let heap = ring_heap(g);
    Ring::init_region(heap.region(), g).unwrap();
    heap.region().words()[word::PSEQ].store(MAX_SEQ + 1, Relaxed);
    let mut p = Producer::create(heap.region(), None, g).unwrap();
    assert_eq!(p.publish(b"late", 0), Err(LinkError::Exhausted));
    let words = heap.region().words();
    assert!(words[slot_word(g, 0)..]
        .iter()
        .all(|w| w.load(Relaxed) == 0));
}
