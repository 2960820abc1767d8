//! The receiving half of a client: matches echoes to sends and times them.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use netbase_runtime::udp_batch::MsgBatch;

use super::histogram::Histogram;
use super::payload::verify;
use super::seqset::SeqSet;
use super::{ClientShared, TrafficConfig};

/// How long one blocking receive waits, which bounds how late the receiver notices the end.
pub(super) const RECV_POLL: Duration = Duration::from_millis(20);

/// Receives echoes until the sender is done and either every sent datagram is echoed or the
/// drain time has passed (also after the stop flag: the sender notices it within a batch or a
/// nap, and what it sent is still accounted for); returns the round-trip times. The socket
/// must have a read timeout.
pub(super) fn recv_loop(
    client: u32,
    sock: &UdpSocket,
    cfg: &TrafficConfig,
    shared: &ClientShared,
    epoch: Instant,
) -> Histogram {
    // One byte more than a valid echo: a longer echo then arrives with a wrong length (and
    // is counted corrupt) instead of looking valid after truncation.
    let mut batch = MsgBatch::new(cfg.batch.max(64), cfg.payload_size + 1);
    let mut seen = SeqSet::default();
    let mut rtt = Histogram::default();
    let mut drain_until: Option<Instant> = None;
    loop {
        match batch.recv(sock, true) {
            Ok(0) => {}
            Ok(n) => {
                let now_ns = epoch.elapsed().as_nanos() as u64;
                let issued = shared.issued.load(Ordering::Acquire);
                let (mut new, mut dup, mut bad) = (0u64, 0u64, 0u64);
                for i in 0..n {
                    let stamp = verify(batch.payload(i), cfg.payload_size, client)
                        .filter(|s| s.seq < issued);
                    match stamp {
                        Some(s) if seen.insert(s.seq) => {
                            new += 1;
                            if s.sent_ns <= now_ns {
                                rtt.record(now_ns - s.sent_ns);
                            }
                        }
                        Some(_) => dup += 1,
                        None => bad += 1,
                    }
                }
                shared.echoed.fetch_add(new, Ordering::SeqCst);
                shared.duplicates.fetch_add(dup, Ordering::Relaxed);
                shared.corrupt.fetch_add(bad, Ordering::Relaxed);
                if new > 0 && shared.sender_waiting.load(Ordering::SeqCst) {
                    if let Some(t) = shared.sender_thread.get() {
                        t.unpark();
                    }
                }
            }
            Err(e) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                // A refused port is reported once per ICMP error; anything else may repeat
                // at once, so rest a moment.
                if e.kind() != std::io::ErrorKind::ConnectionRefused {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
        if shared.sender_done.load(Ordering::Acquire) {
            let deadline = *drain_until.get_or_insert_with(|| Instant::now() + cfg.drain);
            let all_back =
                shared.echoed.load(Ordering::SeqCst) >= shared.sent.load(Ordering::Acquire);
            if all_back || Instant::now() >= deadline {
                break;
            }
        }
    }
    rtt
}
