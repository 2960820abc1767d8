//! A producer thread and a consumer thread over one ring, 10^6 frames per run. Every frame's
//! bytes, length and control bits are a function of its sequence number, so the consumer
//! verifies each frame it gets: a torn or misplaced frame fails the test.
//!
//! Prints frames per second (`cargo test --release --test link_stress -- --nocapture`); the
//! numbers are only meaningful in release builds on an otherwise idle machine.

use std::time::{Duration, Instant};

use netbase_runtime::link::{Consumer, ConsumerOptions, Geometry, LinkError, Mode, Poll, Producer};
use netbase_runtime::region::HeapRegion;
use netbase_runtime::tables::geometry::{ring_bytes, FSEQ_BYTES};

const FRAMES: u64 = 1_000_000;
const FRAME_SIZE: u32 = 64;
/// A run that has not finished after this long is stuck (a lost wake-up, a livelock).
const DEADLINE: Duration = Duration::from_secs(120);

/// Frame `seq`: its sequence number, then bytes from a mixing function of it; 8..=64 bytes.
fn frame(seq: u64, out: &mut [u8; FRAME_SIZE as usize]) -> usize {
    let len = 8 + (seq % u64::from(FRAME_SIZE - 7)) as usize;
    out[..8].copy_from_slice(&seq.to_le_bytes());
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03;
    for chunk in out[8..len].chunks_mut(8) {
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    len
}

/// The control bits carry a checksum of the frame's bytes.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Checks frame `seq` as the consumer received it, and that it comes after `last`.
fn verify(seq: u64, ctl: u32, bytes: &[u8], last: &mut Option<u64>) {
    let mut expected = [0u8; FRAME_SIZE as usize];
    let len = frame(seq, &mut expected);
    assert_eq!(bytes, &expected[..len], "frame {seq}: wrong bytes");
    assert_eq!(ctl, checksum(bytes), "frame {seq}: wrong checksum");
    assert!(last.is_none_or(|l| seq > l), "frame {seq} after {last:?}");
    *last = Some(seq);
}

/// Waiting for the other thread: spin briefly, then give the core away — the machine may
/// have fewer free cores than the test has threads, and a waiter that never yields can keep
/// the thread it waits for from running.
fn idle(rounds: &mut u32) {
    *rounds += 1;
    if *rounds < 64 {
        std::hint::spin_loop();
    } else {
        *rounds = 0;
        std::thread::yield_now();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Reader {
    Poll,
    Batch,
}

struct Outcome {
    received: u64,
    lost: u64,
    backpressure: u64,
    elapsed: Duration,
}

fn run(mode: Mode, depth: u32, reader: Reader) -> Outcome {
    let g = Geometry::new(depth, FRAME_SIZE, mode).unwrap();
    let ring = HeapRegion::zeroed(ring_bytes(depth, FRAME_SIZE) as usize);
    let fseq = HeapRegion::zeroed(FSEQ_BYTES as usize);
    let fseq_arg = (mode == Mode::Reliable).then(|| fseq.read_only());
    let mut producer = Producer::create(ring.region(), fseq_arg, g).unwrap();
    let options = ConsumerOptions {
        publish_every: 16,
        start: Some(0),
    };
    let fseq_arg = (mode == Mode::Reliable).then(|| fseq.region());
    let mut consumer = Consumer::attach(ring.read_only(), fseq_arg, g, options).unwrap();
    let start = Instant::now();

    let (received, lost, backpressure) = std::thread::scope(|s| {
        let consumer_thread = s.spawn(|| {
            let mut buf = [0u8; FRAME_SIZE as usize];
            let mut last = None;
            let mut received = 0u64;
            let mut rounds = 0u32;
            let mut empty = 0u32;
            while consumer.next_seq() < FRAMES {
                rounds = rounds.wrapping_add(1);
                if rounds % (1 << 16) == 0 {
                    let at = consumer.next_seq();
                    assert!(start.elapsed() < DEADLINE, "consumer stuck at {at}");
                }
                match reader {
                    Reader::Poll => match consumer.poll(&mut buf) {
                        Poll::Frame { seq, len, ctl } => {
                            verify(seq, ctl, &buf[..len as usize], &mut last);
                            received += 1;
                        }
                        Poll::Empty => idle(&mut empty),
                        Poll::Overrun { .. } => {}
                        other => panic!("{other:?}"),
                    },
                    Reader::Batch => {
                        let batch = consumer
                            .poll_batch(&mut buf, 64, |m, bytes| {
                                verify(m.seq, m.ctl, bytes, &mut last);
                                received += 1;
                            })
                            .unwrap();
                        assert_eq!(batch.corrupt, 0);
                        if batch.frames == 0 && batch.lost == 0 {
                            idle(&mut empty);
                        }
                    }
                }
            }
            let n = consumer.counters();
            assert_eq!(n.consumed, received);
            assert_eq!(n.corrupt, 0);
            (received, n.lost)
        });

        let mut bytes = [0u8; FRAME_SIZE as usize];
        let mut seq = 0;
        let mut spins = 0u32;
        while seq < FRAMES {
            let len = frame(seq, &mut bytes);
            match producer.publish(&bytes[..len], checksum(&bytes[..len])) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    seq += 1;
                    spins = 0;
                }
                Err(LinkError::Full) => {
                    idle(&mut spins);
                    assert!(start.elapsed() < DEADLINE, "producer stuck at {seq}");
                }
                Err(e) => panic!("{e}"),
            }
        }
        let (received, lost) = consumer_thread.join().unwrap();
        (received, lost, producer.counters().backpressure)
    });
    Outcome {
        received,
        lost,
        backpressure,
        elapsed: start.elapsed(),
    }
}

fn report(name: &str, o: &Outcome) {
    let secs = o.elapsed.as_secs_f64();
    println!(
        "{name}: {FRAMES} frames in {:.1} ms = {:.2} M frames/s published ({:.2} M/s received); \
         received {}, lost {}, back-pressure events {}",
        secs * 1e3,
        FRAMES as f64 / secs / 1e6,
        o.received as f64 / secs / 1e6,
        o.received,
        o.lost,
        o.backpressure,
    );
}

#[test]
fn reliable_threads_deliver_every_frame_intact() {
    let o = run(Mode::Reliable, 256, Reader::Poll);
    report("reliable, poll", &o);
    assert_eq!((o.received, o.lost), (FRAMES, 0));
}

#[test]
fn reliable_threads_deliver_every_frame_intact_in_batches() {
    let o = run(Mode::Reliable, 256, Reader::Batch);
    report("reliable, poll_batch", &o);
    assert_eq!((o.received, o.lost), (FRAMES, 0));
}

#[test]
fn lossy_threads_account_for_every_frame() {
    let o = run(Mode::Lossy, 64, Reader::Poll);
    report("lossy, poll", &o);
    assert_eq!(o.received + o.lost, FRAMES);
    assert_eq!(o.backpressure, 0);
}
