//! Randomized single-thread interleavings of a producer and a consumer, checked step by step
//! against a model of the link: a list of published frames and the consumer's position.
//!
//! Each case picks a geometry (depth 1..=16, frame size 1..=47), a mode and how often the
//! consumer announces its progress, then a sequence of operations: publish k frames, poll m
//! times, or one batch of up to m slots. Every call must return exactly what the model
//! predicts — which frames, which losses, when back-pressure starts — and at the end a lossy
//! consumer's received + lost equals published, while a reliable one received everything.

use netbase_runtime::link::{Consumer, ConsumerOptions, Geometry, LinkError, Mode, Poll, Producer};
use netbase_runtime::region::HeapRegion;
use netbase_runtime::tables::geometry::{ring_bytes, FSEQ_BYTES};
use proptest::prelude::*;
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Copy)]
enum Op {
    Publish(usize),
    Poll(usize),
    Batch(usize),
}

fn op() -> impl Strategy<Value = (Op, u64)> {
    (0u8..3, 1usize..12, any::<u64>()).prop_map(|(kind, n, seed)| {
        let op = match kind {
            0 => Op::Publish(n),
            1 => Op::Poll(n),
            _ => Op::Batch(n),
        };
        (op, seed)
    })
}

/// A frame of 0..=`max` bytes derived from `seed`.
fn frame_of(seed: u64, max: u32) -> (Vec<u8>, u32) {
    let len = (seed % (u64::from(max) + 1)) as usize;
    let bytes = (0..len)
        .map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8)
        .collect();
    (bytes, (seed >> 32) as u32)
}

/// What the link must do, in the simplest possible terms.
struct Model {
    depth: u64,
    reliable: bool,
    every: u64,
    published: Vec<(Vec<u8>, u32)>,
    /// The consumer's next frame and its last announced progress.
    next: u64,
    announced: u64,
    backpressure: u64,
    lost: u64,
}

impl Model {
    fn publish(&mut self, frame: Vec<u8>, ctl: u32) -> Result<u64, LinkError> {
        let p = self.published.len() as u64;
        if self.reliable && p - self.announced >= self.depth {
            self.backpressure += 1;
            return Err(LinkError::Full);
        }
        self.published.push((frame, ctl));
        Ok(p)
    }

    /// One step of a consumer that knows frames are published (`next < p`).
    fn step(&mut self) -> Poll {
        let p = self.published.len() as u64;
        let poll = if p - self.next > self.depth {
            let lost = p - self.depth - self.next;
            self.next = p - self.depth;
            self.lost += lost;
            Poll::Overrun { lost }
        } else {
            let (f, ctl) = &self.published[self.next as usize];
            self.next += 1;
            Poll::Frame {
                seq: self.next - 1,
                len: f.len() as u32,
                ctl: *ctl,
            }
        };
        if self.next - self.announced >= self.every {
            self.announced = self.next;
        }
        poll
    }

    fn poll(&mut self) -> Poll {
        if self.next >= self.published.len() as u64 {
            self.announced = self.next;
            return Poll::Empty;
        }
        self.step()
    }
}

fn run(depth: u32, frame_size: u32, mode: Mode, every: u64, ops: &[(Op, u64)]) {
    let g = Geometry::new(depth, frame_size, mode).unwrap();
    let ring = HeapRegion::zeroed(ring_bytes(depth, frame_size) as usize);
    let fseq = HeapRegion::zeroed(FSEQ_BYTES as usize);
    let mut producer = Producer::create(ring.region(), Some(fseq.read_only()), g).unwrap();
    let options = ConsumerOptions {
        publish_every: every,
        start: Some(0),
    };
    let mut consumer = Consumer::attach(ring.read_only(), Some(fseq.region()), g, options).unwrap();
    let mut model = Model {
        depth: depth.into(),
        reliable: mode == Mode::Reliable,
        every,
        published: Vec::new(),
        next: 0,
        announced: 0,
        backpressure: 0,
        lost: 0,
    };
    let mut buf = vec![0u8; frame_size as usize];
    let check = |poll: Poll, buf: &[u8], model: &Model| {
        if let Poll::Frame { seq, len, .. } = poll {
            let (f, _) = &model.published[seq as usize];
            assert_eq!(&buf[..len as usize], &f[..], "frame {seq}");
        }
    };
    for &(op, seed) in ops {
        match op {
            Op::Publish(n) => {
                for i in 0..n as u64 {
                    let (f, ctl) = frame_of(seed.wrapping_add(i), frame_size);
                    let got = producer.publish(&f, ctl);
                    assert_eq!(got, model.publish(f, ctl));
                }
            }
            Op::Poll(n) => {
                for _ in 0..n {
                    let got = consumer.poll(&mut buf);
                    assert_eq!(got, model.poll());
                    check(got, &buf, &model);
                }
            }
            Op::Batch(n) => {
                let mut expected = Vec::new();
                let mut steps = 0;
                let (mut lost, p) = (0, model.published.len() as u64);
                while steps < n && model.next < p {
                    steps += 1;
                    match model.step() {
                        Poll::Overrun { lost: l } => lost += l,
                        frame => expected.push(frame),
                    }
                }
                if model.next >= p {
                    model.announced = model.next;
                }
                let mut got = Vec::new();
                let batch = consumer
                    .poll_batch(&mut buf, n, |m, bytes| {
                        let (f, ctl) = &model.published[m.seq as usize];
                        assert_eq!((bytes, m.ctl), (&f[..], *ctl), "frame {}", m.seq);
                        got.push(Poll::Frame {
                            seq: m.seq,
                            len: m.len,
                            ctl: m.ctl,
                        });
                    })
                    .unwrap();
                assert_eq!(got, expected);
                assert_eq!(
                    (batch.frames, batch.lost, batch.corrupt),
                    (got.len(), lost, 0)
                );
            }
        }
        assert_eq!(consumer.next_seq(), model.next);
        let announced = fseq.region().words()[0].load(Ordering::Relaxed);
        assert_eq!(announced, model.announced);
    }
    // Drain.
    loop {
        let got = consumer.poll(&mut buf);
        assert_eq!(got, model.poll());
        check(got, &buf, &model);
        if got == Poll::Empty {
            break;
        }
    }
    let (p, c) = (producer.counters(), consumer.counters());
    assert_eq!(p.published, model.published.len() as u64);
    assert_eq!(p.backpressure, model.backpressure);
    assert_eq!((c.torn, c.corrupt, c.lost), (0, 0, model.lost));
    assert_eq!(c.consumed + c.lost, p.published);
    if mode == Mode::Reliable {
        assert_eq!(c.lost, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn single_thread_interleavings_match_the_model(
        depth_log2 in 0u32..5,
        frame_size in 1u32..48,
        reliable in any::<bool>(),
        every in 1u64..6,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mode = if reliable { Mode::Reliable } else { Mode::Lossy };
        run(1 << depth_log2, frame_size, mode, every, &ops);
    }
}

/// A fixed case that exercises every path at once (laps of several rings, back-pressure).
#[test]
fn long_mixed_sequence() {
    let ops: Vec<(Op, u64)> = (0..200u64)
        .map(|i| {
            let op = match i % 5 {
                0 | 1 => Op::Publish((i % 13) as usize + 1),
                2 | 3 => Op::Poll((i % 7) as usize + 1),
                _ => Op::Batch((i % 11) as usize + 1),
            };
            (op, i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        })
        .collect();
    for mode in [Mode::Lossy, Mode::Reliable] {
        for every in [1, 3] {
            run(4, 24, mode, every, &ops);
        }
    }
}
