//! The sending half of a client: paces, stamps and sends datagrams in batches.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use netbase_runtime::udp_batch::MsgBatch;

use super::payload::{encode, Stamp};
use super::{ClientShared, Rate, TrafficConfig};

/// Consecutive "nothing happened" sends (interrupted calls) before the rest of a batch is
/// given up, so that a stuck socket cannot keep the sender from seeing the stop flag.
const MAX_IDLE_SENDS: u32 = 3;

/// How long the sender rests after a socket error, so that a persistent error (no route,
/// refused) does not become a busy loop.
const ERROR_PAUSE: Duration = Duration::from_millis(1);

/// Sends until `end` or the stop flag; returns when it stopped. Publishes `issued` before
/// each send (so that an echo that overtakes the bookkeeping is still recognised) and `sent`
/// after it.
pub(super) fn send_loop(
    client: u32,
    sock: &UdpSocket,
    cfg: &TrafficConfig,
    shared: &ClientShared,
    stop: &AtomicBool,
    epoch: Instant,
    end: Instant,
) -> Instant {
    let _ = shared.sender_thread.set(thread::current());
    let mut batch = MsgBatch::new(cfg.batch, cfg.payload_size);
    let mut next_seq = 0u64;
    let mut sent = 0u64;
    let mut written_off = 0u64;
    let mut blocked_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || now >= end {
            break;
        }
        let allowance = match cfg.rate {
            Rate::Blast => cfg.batch as u64,
            Rate::PerSecond(rate) => {
                let elapsed = now.duration_since(epoch).as_nanos();
                let due = (elapsed * u128::from(rate) / 1_000_000_000) as u64 + 1;
                let free = due.saturating_sub(next_seq);
                if free == 0 {
                    let next_at = epoch
                        + Duration::from_nanos(
                            (u128::from(next_seq) * 1_000_000_000 / u128::from(rate)) as u64,
                        );
                    let nap = next_at
                        .saturating_duration_since(now)
                        .min(end.saturating_duration_since(now))
                        .min(Duration::from_millis(5));
                    thread::sleep(nap);
                    continue;
                }
                free
            }
            Rate::Window(window) => {
                let echoed = shared.echoed.load(Ordering::SeqCst);
                let outstanding = sent.saturating_sub(echoed).saturating_sub(written_off);
                let free = u64::from(window).saturating_sub(outstanding);
                if free == 0 {
                    let since = *blocked_since.get_or_insert(now);
                    if now.duration_since(since) >= cfg.loss_timeout {
                        // Whatever is still out after the loss timeout is taken as lost, or
                        // one lost datagram would stall the client for good.
                        written_off = sent.saturating_sub(echoed);
                        blocked_since = None;
                        continue;
                    }
                    wait_for_echo(shared, echoed, cfg.loss_timeout, end, now);
                    continue;
                }
                blocked_since = None;
                free
            }
        };
        let n = allowance.min(cfg.batch as u64) as usize;
        batch.clear();
        let sent_ns = epoch.elapsed().as_nanos() as u64;
        for k in 0..n as u64 {
            let stamp = Stamp {
                client,
                seq: next_seq + k,
                sent_ns,
            };
            batch.push_with(cfg.payload_size, None, |b| encode(b, stamp));
        }
        next_seq += n as u64;
        shared.issued.store(next_seq, Ordering::Release);
        let (went, failed) = send_all(sock, &mut batch, shared, stop);
        sent += went as u64;
        shared.sent.store(sent, Ordering::Release);
        if failed {
            thread::sleep(ERROR_PAUSE);
        }
    }
    let stopped = Instant::now();
    shared.sender_done.store(true, Ordering::Release);
    stopped
}

/// Sends the whole batch unless the socket fails; returns how many went out and whether it
/// failed. The entries after a failure are dropped unsent (their sequence numbers stay unused).
fn send_all(
    sock: &UdpSocket,
    batch: &mut MsgBatch,
    shared: &ClientShared,
    stop: &AtomicBool,
) -> (usize, bool) {
    let mut from = 0;
    let mut idle = 0;
    while from < batch.len() {
        match batch.send(sock, from) {
            Ok(0) => {
                idle += 1;
                if idle > MAX_IDLE_SENDS || stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(k) => from += k,
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return (from, true);
            }
        }
    }
    (from, false)
}

/// Sleeps until the receiver reports an echo (it unparks this thread when `sender_waiting`
/// is set), the loss timeout, or `end`.
fn wait_for_echo(
    shared: &ClientShared,
    echoed_seen: u64,
    loss_timeout: Duration,
    end: Instant,
    now: Instant,
) {
    shared.sender_waiting.store(true, Ordering::SeqCst);
    // An echo counted between the check above and the flag would not unpark us: look again
    // after announcing (both sides use SeqCst, so one of them sees the other).
    if shared.echoed.load(Ordering::SeqCst) == echoed_seen {
        thread::park_timeout(loss_timeout.min(end.saturating_duration_since(now)));
    }
    shared.sender_waiting.store(false, Ordering::SeqCst);
}
