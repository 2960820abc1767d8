//! A link between two processes, the way tiles use it: the producer (a child process) is the
//! writer of the workspace holding the ring; the consumer (this process) maps that workspace
//! read-only and owns a second workspace holding its progress word (fseq), which the
//! producer maps read-only. Frames carry a checksum of their sequence-derived bytes, so the
//! consumer verifies every one it receives.
//!
//! The child is this test binary re-run with `--exact child_produce` and
//! `NETBASE_LINK_TEST_CHILD` saying what to produce; the child test does nothing when the
//! variable is unset. Workspace files are removed through `RemoveGuard`s and a child that
//! outlives a failed test is killed, so a failure leaves nothing behind.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netbase_runtime::link::{Consumer, ConsumerOptions, Geometry, LinkError, Mode, Poll, Producer};
use netbase_runtime::region::Region;
use netbase_runtime::tables::geometry::{ring_bytes, FSEQ_BYTES};
use netbase_runtime::workspace::{
    Access, Backing, CreateOptions, RemoveGuard, Workspace, HEADER_SIZE,
};

const FINGERPRINT: u64 = 0x11ee_0000_5eed_0001;
const CHILD_ENV: &str = "NETBASE_LINK_TEST_CHILD";
const FRAMES: u64 = 200_000;
const DEPTH: u32 = 128;
const FRAME_SIZE: u32 = 48;
const DEADLINE: Duration = Duration::from_secs(120);

fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t-{tag}-{}-{n}", std::process::id())
}

fn guard(name: &str) -> RemoveGuard {
    RemoveGuard::new(name, &Backing::Shm).expect("valid test name")
}

fn mode_of(name: &str) -> Mode {
    match name {
        "reliable" => Mode::Reliable,
        _ => Mode::Lossy,
    }
}

/// Frame `seq`: its sequence number, then bytes from a mixing function of it; 8..=48 bytes.
fn frame(seq: u64, out: &mut [u8; FRAME_SIZE as usize]) -> usize {
    let len = 8 + (seq % u64::from(FRAME_SIZE - 7)) as usize;
    out[..8].copy_from_slice(&seq.to_le_bytes());
    let mut x = seq ^ 0x2545_f491_4f6c_dd1d;
    for chunk in out[8..len].chunks_mut(8) {
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    len
}

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Waiting for the other process: spin briefly, then give the core away.
fn idle(rounds: &mut u32) {
    *rounds += 1;
    if *rounds < 64 {
        std::hint::spin_loop();
    } else {
        *rounds = 0;
        std::thread::yield_now();
    }
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "CHILD {line}").unwrap();
    stdout.flush().unwrap();
}

/// Kills the child if the test fails before collecting it.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn spawn(task: &str) -> ChildGuard {
        let exe = std::env::current_exe().expect("test binary path");
        let child = Command::new(exe)
            .args([
                "--exact",
                "child_produce",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, task)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child test process");
        ChildGuard(Some(child))
    }

    fn exited(&mut self) -> bool {
        let child = self.0.as_mut().expect("child not collected yet");
        matches!(child.try_wait(), Ok(Some(_)))
    }

    fn output(mut self) -> Output {
        let child = self.0.take().expect("child not collected yet");
        child.wait_with_output().expect("wait for child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The child's `key=value` report.
fn child_value(output: &Output, key: &str) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{key}=");
    stdout
        .lines()
        .filter_map(|line| Some(&line[line.find("CHILD ")? + "CHILD ".len()..]))
        .flat_map(str::split_whitespace)
        .find_map(|kv| kv.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("child reported no {key}: {}", describe(output)))
}

/// Child: `produce <mode> <ring workspace> [<fseq workspace>]`. Joins the ring's workspace
/// as its writer, the consumer's fseq workspace read-only, and publishes `FRAMES` frames.
#[test]
fn child_produce() {
    let Ok(task) = std::env::var(CHILD_ENV) else {
        return;
    };
    let task: Vec<&str> = task.split(' ').collect();
    let mode = mode_of(task[1]);
    let g = Geometry::new(DEPTH, FRAME_SIZE, mode).unwrap();
    let ring_ws = Workspace::join(task[2], FINGERPRINT, Access::ReadWrite).expect("join ring");
    let fseq_ws = task
        .get(3)
        .map(|name| Workspace::join(name, FINGERPRINT, Access::ReadOnly).expect("join fseq"));
    let ring = Region::from_workspace(&ring_ws, HEADER_SIZE, ring_bytes(DEPTH, FRAME_SIZE))
        .expect("ring region");
    let fseq = fseq_ws
        .as_ref()
        .map(|ws| Region::from_workspace(ws, HEADER_SIZE, FSEQ_BYTES).expect("fseq region"));
    assert!(fseq.is_none_or(|r| !r.is_writable()));
    let mut producer = Producer::create(ring, fseq, g).expect("producer");
    let start = Instant::now();
    let mut bytes = [0u8; FRAME_SIZE as usize];
    let (mut seq, mut spins) = (0, 0);
    while seq < FRAMES {
        let len = frame(seq, &mut bytes);
        match producer.publish(&bytes[..len], checksum(&bytes[..len])) {
            Ok(s) => {
                assert_eq!(s, seq);
                seq += 1;
            }
            Err(LinkError::Full) => {
                idle(&mut spins);
                assert!(start.elapsed() < DEADLINE, "producer stuck at {seq}");
            }
            Err(e) => panic!("{e}"),
        }
    }
    let n = producer.counters();
    say(&format!(
        "published={} backpressure={} pid={}",
        n.published,
        n.backpressure,
        std::process::id()
    ));
}

struct Received {
    frames: u64,
    lost: u64,
    output: Output,
}

/// Runs a producer child over a fresh ring and consumes everything it publishes.
fn consume_from_child(mode: Mode) -> Received {
    let ring_name = unique_name("lring");
    let fseq_name = unique_name("lfseq");
    let _ring_guard = guard(&ring_name);
    let _fseq_guard = guard(&fseq_name);
    // The ring's workspace belongs to the producer: create it, then leave it to the child.
    let size = ring_bytes(DEPTH, FRAME_SIZE);
    drop(Workspace::create(&CreateOptions::new(&ring_name, size, FINGERPRINT)).unwrap());
    // The consumer's own workspace, holding its progress word: we are its writer.
    let fseq_ws = (mode == Mode::Reliable).then(|| {
        Workspace::create(&CreateOptions::new(&fseq_name, FSEQ_BYTES, FINGERPRINT)).unwrap()
    });
    let (task, options) = match mode {
        Mode::Reliable => (
            format!("produce reliable {ring_name} {fseq_name}"),
            ConsumerOptions {
                publish_every: 8,
                start: None,
            },
        ),
        Mode::Lossy => (
            format!("produce lossy {ring_name}"),
            ConsumerOptions {
                publish_every: 1,
                start: Some(0),
            },
        ),
    };
    let mut child = ChildGuard::spawn(&task);

    let ring_ws = Workspace::join(&ring_name, FINGERPRINT, Access::ReadOnly).unwrap();
    let ring = Region::from_workspace(&ring_ws, HEADER_SIZE, size).unwrap();
    assert!(!ring.is_writable(), "the consumer maps the ring read-only");
    let fseq = fseq_ws
        .as_ref()
        .map(|ws| Region::from_workspace(ws, HEADER_SIZE, FSEQ_BYTES).unwrap());
    let g = Geometry::new(DEPTH, FRAME_SIZE, mode).unwrap();
    let start = Instant::now();
    let mut consumer = loop {
        match Consumer::attach(ring, fseq, g, options) {
            Ok(c) => break c,
            Err(LinkError::NotInitialized) => {
                assert!(!child.exited(), "child exited before initializing the ring");
                assert!(start.elapsed() < DEADLINE, "ring never initialized");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    };

    let mut buf = [0u8; FRAME_SIZE as usize];
    let mut expected = [0u8; FRAME_SIZE as usize];
    let (mut frames, mut last, mut empty) = (0u64, None::<u64>, 0u32);
    while consumer.next_seq() < FRAMES {
        match consumer.poll(&mut buf) {
            Poll::Frame { seq, len, ctl } => {
                let bytes = &buf[..len as usize];
                let n = frame(seq, &mut expected);
                assert_eq!(bytes, &expected[..n], "frame {seq}: wrong bytes");
                assert_eq!(ctl, checksum(bytes), "frame {seq}: wrong checksum");
                assert!(last.is_none_or(|l| seq > l), "frame {seq} after {last:?}");
                last = Some(seq);
                frames += 1;
            }
            Poll::Empty => {
                idle(&mut empty);
                if empty == 0 {
                    assert!(
                        start.elapsed() < DEADLINE,
                        "stuck at {}",
                        consumer.next_seq()
                    );
                }
            }
            Poll::Overrun { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let n = consumer.counters();
    assert_eq!((n.consumed, n.corrupt), (frames, 0));
    let output = child.output();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(child_value(&output, "published"), FRAMES);
    Received {
        frames,
        lost: n.lost,
        output,
    }
}

#[test]
fn reliable_link_between_processes_delivers_every_frame() {
    let r = consume_from_child(Mode::Reliable);
    assert_eq!((r.frames, r.lost), (FRAMES, 0));
    println!(
        "reliable: {} frames, {} back-pressure events in the producer",
        r.frames,
        child_value(&r.output, "backpressure")
    );
}

#[test]
fn lossy_link_between_processes_accounts_for_every_frame() {
    let r = consume_from_child(Mode::Lossy);
    assert_eq!(r.frames + r.lost, FRAMES);
    assert_eq!(child_value(&r.output, "backpressure"), 0);
    println!("lossy: {} frames received, {} lost", r.frames, r.lost);
}

/// The consumer cannot even try to write the ring: a producer over a read-only mapping is
/// refused before any store.
#[test]
fn a_read_only_mapping_cannot_produce() {
    let name = unique_name("lro");
    let _guard = guard(&name);
    let size = ring_bytes(DEPTH, FRAME_SIZE);
    let _writer = Workspace::create(&CreateOptions::new(&name, size, FINGERPRINT)).unwrap();
    let reader = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap();
    let ring = Region::from_workspace(&reader, HEADER_SIZE, size).unwrap();
    let g = Geometry::new(DEPTH, FRAME_SIZE, Mode::Lossy).unwrap();
    assert_eq!(
        Producer::create(ring, None, g).err(),
        Some(LinkError::ReadOnly { what: "ring" })
    );
}
