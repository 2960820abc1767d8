//! Loom models of the link protocol: the runtime's own `Ring`, `Producer` and `Consumer`
//! (generic over `Word`) run on loom's atomics, which explore the interleavings and the
//! reorderings the memory model allows.
//!
//! Rings have 2 slots of 16-byte frames (32 words), so each model runs in seconds. The search
//! is bounded to 3 preemptions per execution (one fewer in unoptimized builds) unless
//! `LOOM_MAX_PREEMPTIONS=n` says otherwise: both models take ~1 s at 3, ~6 s at 4, and
//! ~2 min unbounded (`LOOM_MAX_PREEMPTIONS=200`). Run with `--release`: loom is ~10x slower
//! unoptimized.
//!
//! The models fail if the producer's release fence after the busy stamp, the busy stamp's
//! release ordering, the consumer's acquire fence before its re-check, or the re-check itself
//! is removed. One ordering is argued rather than model-checked: loom does not model load
//! buffering (a load returning a value that the other thread stores only after it saw a store
//! this thread makes after the load), so the consumer's release store of its progress, which
//! keeps its copy's loads before the producer's rewrite, would pass here even if relaxed.

mod loom_support;

use loom_support::LoomWord;

use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use netbase_runtime::link::{
    Consumer, ConsumerOptions, Geometry, LinkError, Mode, Poll, Producer, Ring,
};

const FRAME: u32 = 16;

fn geometry(mode: Mode) -> Geometry {
    Geometry::new(2, FRAME, mode).unwrap()
}

/// The ring (header and both slots) followed by the consumer's fseq word.
fn words(g: Geometry) -> Arc<Vec<LoomWord>> {
    let n = g.used_bytes() as usize / 8 + 1;
    Arc::new((0..n).map(|_| LoomWord(AtomicU64::new(0))).collect())
}

fn split(words: &[LoomWord]) -> (&[LoomWord], &LoomWord) {
    let (fseq, ring) = words.split_last().unwrap();
    (ring, fseq)
}

/// Frame `seq`: two words that differ from every other frame's, so a copy mixing two writes
/// (or a write and the zeroed slot) never matches.
fn frame(seq: u64) -> [u8; FRAME as usize] {
    let a = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut f = [0u8; FRAME as usize];
    f[..8].copy_from_slice(&a.to_le_bytes());
    f[8..].copy_from_slice(&(!a).to_le_bytes());
    f
}

/// A frame the consumer returned must be exactly what the producer published.
fn check_frame(poll: Poll, buf: &[u8; FRAME as usize], last: &mut Option<u64>) {
    if let Poll::Frame { seq, len, ctl } = poll {
        assert_eq!(
            (len, ctl),
            (FRAME, seq as u32),
            "frame {seq}: torn metadata"
        );
        assert_eq!(buf, &frame(seq), "frame {seq}: torn payload");
        assert!(last.is_none_or(|l| seq > l), "frame {seq} after {last:?}");
        *last = Some(seq);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        let debug = usize::from(cfg!(debug_assertions));
        b.preemption_bound = Some(3 - debug);
    }
    b.check(f);
}

/// A lossy producer publishes frames 0, 1, 2 into a 2-slot ring (frame 2 overwrites frame 0)
/// while the consumer polls: whatever the interleaving, every frame the consumer returns is
/// intact and in order, and frames it received plus frames it counted lost add up.
#[test]
fn lossy_consumer_never_returns_a_torn_frame() {
    const FRAMES: u64 = 3;
    model(|| {
        let g = geometry(Mode::Lossy);
        let words = words(g);
        let (ring, _) = split(&words);
        let mut producer = Producer::new(Ring::init(ring, g).unwrap(), None).unwrap();
        let consumer_words = words.clone();
        let consumer = loom::thread::spawn(move || {
            let (ring, _) = split(&consumer_words);
            let options = ConsumerOptions {
                start: Some(0),
                ..Default::default()
            };
            let mut c = Consumer::new(Ring::attach(ring, g).unwrap(), None, options).unwrap();
            let (mut buf, mut last) = ([0u8; FRAME as usize], None);
            for _ in 0..3 {
                let poll = c.poll(&mut buf);
                check_frame(poll, &buf, &mut last);
            }
            let n = c.counters();
            assert_eq!(n.corrupt, 0);
            assert_eq!(n.consumed + n.lost, c.next_seq());
            (c.next_seq(), n.consumed)
        });
        for seq in 0..FRAMES {
            assert_eq!(producer.publish(&frame(seq), seq as u32), Ok(seq));
        }
        let (next, consumed) = consumer.join().unwrap();
        assert!(next <= FRAMES && consumed <= next);

        // The producer is done: a consumer continuing from there accounts for the rest.
        let options = ConsumerOptions {
            start: Some(next),
            ..Default::default()
        };
        let mut c = Consumer::new(Ring::attach(ring, g).unwrap(), None, options).unwrap();
        let (mut buf, mut last) = ([0u8; FRAME as usize], None);
        loop {
            let poll = c.poll(&mut buf);
            if poll == Poll::Empty {
                break;
            }
            check_frame(poll, &buf, &mut last);
        }
        let n = c.counters();
        assert_eq!(next + n.consumed + n.lost, FRAMES);
        assert_eq!((n.corrupt, c.next_seq()), (0, FRAMES));
    });
}

/// A reliable producer publishes frames 0, 1, 2 into a 2-slot ring, retrying while it is
/// pushed back; frame 2 may only overwrite frame 0 after the consumer announced it done. The
/// consumer must receive all three intact, never lapped and never torn.
#[test]
fn reliable_backpressure_never_overwrites_an_unconsumed_slot() {
    const FRAMES: u64 = 3;
    model(|| {
        let g = geometry(Mode::Reliable);
        let words = words(g);
        let (ring, fseq) = split(&words);
        let mut producer = Producer::new(Ring::init(ring, g).unwrap(), Some(fseq)).unwrap();
        let consumer_words = words.clone();
        let consumer = loom::thread::spawn(move || {
            let (ring, fseq) = split(&consumer_words);
            let ring = Ring::attach(ring, g).unwrap();
            let mut c = Consumer::new(ring, Some(fseq), ConsumerOptions::default()).unwrap();
            let (mut buf, mut last) = ([0u8; FRAME as usize], None);
            while c.counters().consumed < FRAMES {
                match c.poll(&mut buf) {
                    Poll::Empty => loom::thread::yield_now(),
                    poll @ Poll::Frame { .. } => check_frame(poll, &buf, &mut last),
                    other => panic!("reliable consumer got {other:?}"),
                }
            }
            let n = c.counters();
            assert_eq!((n.lost, n.torn, n.corrupt), (0, 0, 0));
            assert_eq!(last, Some(FRAMES - 1));
        });
        let mut seq = 0;
        while seq < FRAMES {
            match producer.publish(&frame(seq), seq as u32) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    seq += 1;
                }
                Err(LinkError::Full) => loom::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        consumer.join().unwrap();
        assert_eq!(producer.counters().published, FRAMES);
    });
}
