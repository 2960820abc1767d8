//! A UDP echo server on a kernel socket, batched with `recvmmsg`/`sendmmsg`: the baseline of
//! `netbase bench echo`, and the stand-in server for testing the sandbox and the load
//! generator without the net tile.
//!
//! Every datagram goes back to its sender unchanged, in the same batch it arrived in (the
//! receive buffers are sent as they are, without copying). [`serve`] is the loop, for a
//! thread of the caller's; [`KernelEcho`] runs it on a thread of its own and stops it when
//! told or dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use netbase_runtime::netns::Netns;
use netbase_runtime::udp_batch::{set_socket_buffers, MsgBatch};
use serde::Serialize;

/// Settings of the echo loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEchoConfig {
    /// Datagrams per `recvmmsg`/`sendmmsg` at most.
    pub batch: usize,
    /// Receive slot size: a datagram longer than this is not echoed (counted truncated). The
    /// default takes the largest UDP datagram; only the bytes received are ever touched.
    pub slot_size: usize,
    /// Receive and send buffer asked for on the socket, bytes.
    pub socket_buffer: usize,
    /// How long one blocking receive waits, which bounds how late the stop flag is seen.
    pub poll: Duration,
}

impl Default for KernelEchoConfig {
    fn default() -> Self {
        KernelEchoConfig {
            batch: 64,
            slot_size: 65536,
            socket_buffer: 4 << 20,
            poll: Duration::from_millis(50),
        }
    }
}

/// Live counters of an echo server, readable from any thread.
#[derive(Debug, Default)]
pub struct EchoCounters {
    received: AtomicU64,
    echoed: AtomicU64,
    truncated: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of [`EchoCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EchoCounts {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams sent back.
    pub echoed: u64,
    /// Datagrams longer than a slot, not echoed.
    pub truncated: u64,
    /// Socket errors (each failed send skips one datagram).
    pub errors: u64,
}

impl EchoCounters {
    /// The current values.
    pub fn snapshot(&self) -> EchoCounts {
        EchoCounts {
            received: self.received.load(Ordering::Relaxed),
            echoed: self.echoed.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// A UDP socket bound to `ip:port` inside `ns`.
pub fn bind_in(ns: &Netns, ip: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    ns.run(|| UdpSocket::bind(SocketAddrV4::new(ip, port)))
}

/// Echoes every datagram arriving on `sock` back to its sender until `stop` is set (seen
/// within [`KernelEchoConfig::poll`]). Errors only if the socket cannot be set up; errors
/// while serving are counted and skipped.
pub fn serve(
    sock: &UdpSocket,
    cfg: &KernelEchoConfig,
    stop: &AtomicBool,
    counters: &EchoCounters,
) -> io::Result<()> {
    // A refused size only means more loss under bursts.
    let _ = set_socket_buffers(sock, cfg.socket_buffer);
    sock.set_read_timeout(Some(cfg.poll.max(Duration::from_millis(1))))?;
    let mut batch = MsgBatch::new(cfg.batch, cfg.slot_size);
    while !stop.load(Ordering::Relaxed) {
        let n = match batch.recv(sock, true) {
            Ok(n) => n,
            Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                // Whatever failed may fail again at once: do not spin on it.
                thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        if n == 0 {
            continue;
        }
        counters.received.fetch_add(n as u64, Ordering::Relaxed);
        let (echoed, truncated, errors) = echo_batch(sock, &mut batch);
        counters.echoed.fetch_add(echoed, Ordering::Relaxed);
        counters.truncated.fetch_add(truncated, Ordering::Relaxed);
        counters.errors.fetch_add(errors, Ordering::Relaxed);
    }
    Ok(())
}

/// Sends the received batch back, in runs between truncated or unaddressed entries (which
/// cannot be echoed faithfully); a failed send skips just the datagram it failed on.
fn echo_batch(sock: &UdpSocket, batch: &mut MsgBatch) -> (u64, u64, u64) {
    let (mut echoed, mut truncated, mut errors) = (0u64, 0u64, 0u64);
    let n = batch.len();
    let mut i = 0;
    let mut idle = 0;
    while i < n {
        if batch.truncated(i) || batch.peer(i).is_none() {
            truncated += u64::from(batch.truncated(i));
            errors += u64::from(!batch.truncated(i));
            i += 1;
            continue;
        }
        let run_end = (i..n)
            .find(|&j| batch.truncated(j) || batch.peer(j).is_none())
            .unwrap_or(n);
        match batch.send_range(sock, i, run_end) {
            Ok(0) => {
                // Interrupted: try again a few times, then give the run up.
                idle += 1;
                if idle > 3 {
                    errors += (run_end - i) as u64;
                    i = run_end;
                }
            }
            Ok(k) => {
                echoed += k as u64;
                i += k;
            }
            Err(_) => {
                errors += 1;
                i += 1;
            }
        }
    }
    (echoed, truncated, errors)
}

/// A kernel echo server on its own thread; stopped by [`KernelEcho::stop`] or on drop.
#[derive(Debug)]
pub struct KernelEcho {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    counters: Arc<EchoCounters>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl KernelEcho {
    /// Binds `ip:port` inside `ns` (so the port is open when this returns) and starts
    /// echoing on a new thread.
    pub fn start(
        ns: &Netns,
        ip: Ipv4Addr,
        port: u16,
        cfg: KernelEchoConfig,
    ) -> Result<KernelEcho, String> {
        let sock = bind_in(ns, ip, port)
            .map_err(|e| format!("kernel echo: cannot bind {ip}:{port} in {}: {e}", ns.name()))?;
        let addr = match sock.local_addr() {
            Ok(std::net::SocketAddr::V4(a)) => a,
            _ => SocketAddrV4::new(ip, port),
        };
        KernelEcho::start_on(sock, addr, cfg)
    }

    /// Starts echoing on an already bound socket (in whatever namespace it was made).
    pub fn start_on(
        sock: UdpSocket,
        addr: SocketAddrV4,
        cfg: KernelEchoConfig,
    ) -> Result<KernelEcho, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(EchoCounters::default());
        let (s, c) = (stop.clone(), counters.clone());
        let thread = thread::Builder::new()
            .name("kernel-echo".into())
            .spawn(move || serve(&sock, &cfg, &s, &c))
            .map_err(|e| format!("kernel echo: cannot start its thread: {e}"))?;
        Ok(KernelEcho {
            addr,
            stop,
            counters,
            thread: Some(thread),
        })
    }

    /// The address it serves.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// The counters so far.
    pub fn counts(&self) -> EchoCounts {
        self.counters.snapshot()
    }

    /// Stops the loop, waits for it, and returns the final counts; an error if the loop
    /// could not set up its socket or panicked.
    pub fn stop(mut self) -> Result<EchoCounts, String> {
        self.halt()?;
        Ok(self.counts())
    }

    fn halt(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(format!("kernel echo failed: {e}")),
            Some(Err(_)) => Err("kernel echo thread panicked".into()),
        }
    }
}

impl Drop for KernelEcho {
    fn drop(&mut self) {
        if let Err(e) = self.halt() {
            eprintln!("warning: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_datagrams_back_to_each_sender() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = match sock.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let echo = KernelEcho::start_on(sock, addr, KernelEchoConfig::default()).unwrap();
        let clients: Vec<UdpSocket> = (0..3)
            .map(|_| {
                let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                c
            })
            .collect();
        for (i, c) in clients.iter().enumerate() {
            for k in 0..10u8 {
                c.send_to(&[i as u8, k, 0xee], addr).unwrap();
            }
        }
        for (i, c) in clients.iter().enumerate() {
            for k in 0..10u8 {
                let mut buf = [0u8; 16];
                let (n, from) = c.recv_from(&mut buf).unwrap();
                assert_eq!(from, std::net::SocketAddr::V4(addr));
                assert_eq!(&buf[..n], &[i as u8, k, 0xee]);
            }
        }
        let counts = echo.stop().unwrap();
        assert_eq!(counts.received, 30);
        assert_eq!(counts.echoed, 30);
        assert_eq!((counts.truncated, counts.errors), (0, 0));
    }

    #[test]
    fn oversized_datagrams_are_counted_not_echoed() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = match sock.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let cfg = KernelEchoConfig {
            slot_size: 32,
            ..KernelEchoConfig::default()
        };
        let echo = KernelEcho::start_on(sock, addr, cfg).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send_to(&[1u8; 100], addr).unwrap();
        c.send_to(&[2u8; 10], addr).unwrap();
        let mut buf = [0u8; 128];
        let (n, _) = c.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[2u8; 10]);
        let counts = echo.stop().unwrap();
        assert_eq!(
            (counts.received, counts.echoed, counts.truncated),
            (2, 1, 1)
        );
    }
}
