//! UDP traffic for `netbase demo` and `netbase bench echo`: a load generator that checks every
//! echo, and a kernel echo server as the baseline ([`kernel_echo`]).
//!
//! # Clients
//!
//! A [`Client`] is a UDP socket opened inside a client's namespace, bound to the client's
//! address and connected to the server ([`Client::open`], or [`Client::for_sandbox`] for both
//! clients of a [`Sandbox`]). [`run`] drives any number of them for
//! [`TrafficConfig::duration`]; per client a sender thread and a receiver thread share the
//! socket:
//!
//! - the sender stamps each datagram with the client index, a sequence number, the send time
//!   and a fill pattern ([`payload`]) and sends them in `sendmmsg` batches, paced by
//!   [`Rate`]: a fixed rate, a window of outstanding datagrams, or [`Rate::Blast`] (as fast as
//!   the socket takes them; for the bench);
//! - the receiver takes echoes in `recvmmsg` batches, matches them by sequence number
//!   (a second echo of a number counts as a duplicate; a wrong length, magic, client, fill or
//!   a number never sent as corrupt) and records round-trip times.
//!
//! After sending, receivers wait up to [`TrafficConfig::drain`] for the last echoes; what is
//! still missing then is lost. The caller's progress callback gets running totals about
//! every [`TrafficConfig::progress_interval`] on the calling thread, and the stop flag (set
//! from a Ctrl-C handler) ends sending early; the drain and the result still follow.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use netbase::sandbox::{Sandbox, SandboxConfig};
//! use netbase::traffic::{self, kernel_echo::KernelEcho, Client, TrafficConfig};
//! let sb = Sandbox::create(SandboxConfig::default())?;
//! let echo = KernelEcho::start(sb.server(), sb.server_ip(), 7000, Default::default())?;
//! let clients = Client::for_sandbox(&sb, 7000)?;
//! let stop = AtomicBool::new(false);
//! let stats = traffic::run(clients, &TrafficConfig::default(), &stop, &mut |p| {
//!     eprint!("\rsent {} echoed {} ({:.0}/s)", p.sent, p.echoed, p.echo_pps)
//! })?;
//! println!("lost {} p50 {:?} ns", stats.lost, stats.rtt_ns_p50);
//! echo.stop()?;
//! # Ok::<(), String>(())
//! ```
//!
//! Measurement: [`TrafficStats::echo_pps`] counts echoes between the end of
//! [`TrafficConfig::warmup`] and the end of sending, so a bench can skip the start-up
//! (ARP, caches) by giving a warm-up.

pub mod histogram;
pub mod kernel_echo;
pub mod payload;
mod receiver;
mod sender;
pub mod seqset;
pub mod stats;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use netbase_runtime::netns::Netns;
use netbase_runtime::udp_batch::{set_socket_buffers, MAX_BATCH};

use crate::sandbox::Sandbox;

pub use stats::{ClientStats, ClientTally, Progress, TrafficStats};

/// How fast each client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// This many datagrams per second per client, spread evenly (bursts of at most
    /// [`TrafficConfig::batch`] to catch up after a late wake-up).
    PerSecond(u64),
    /// As fast as echoes come back, with at most this many datagrams outstanding per client.
    /// Datagrams outstanding for [`TrafficConfig::loss_timeout`] are given up on, so a loss
    /// slows the client down but never stalls it.
    Window(u32),
    /// As fast as the socket takes them, in batches, without waiting for echoes; loss is
    /// expected once the path saturates. For measuring the echo rate.
    Blast,
}

/// Parameters of a traffic run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficConfig {
    /// How long the clients send.
    pub duration: Duration,
    /// The start of the run left out of [`TrafficStats::echo_pps`].
    pub warmup: Duration,
    /// How long receivers wait for echoes after sending ends.
    pub drain: Duration,
    /// UDP payload bytes per datagram ([`payload::HEADER_LEN`] to [`payload::MAX_PAYLOAD`]).
    pub payload_size: usize,
    /// The pace of each client.
    pub rate: Rate,
    /// Datagrams per `sendmmsg` at most (1 to [`MAX_BATCH`]).
    pub batch: usize,
    /// In [`Rate::Window`], how long outstanding datagrams may hold the window shut.
    pub loss_timeout: Duration,
    /// How often the progress callback runs.
    pub progress_interval: Duration,
    /// Receive and send buffer asked for on each client socket, bytes.
    pub socket_buffer: usize,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            duration: Duration::from_secs(5),
            warmup: Duration::ZERO,
            drain: Duration::from_millis(500),
            payload_size: 64,
            rate: Rate::Window(64),
            batch: 32,
            loss_timeout: Duration::from_millis(200),
            progress_interval: Duration::from_millis(200),
            socket_buffer: 4 << 20,
        }
    }
}

impl TrafficConfig {
    /// The bench's settings: [`Rate::Blast`] for `duration`, measuring after `warmup`.
    pub fn blast(duration: Duration, warmup: Duration) -> TrafficConfig {
        TrafficConfig {
            duration,
            warmup,
            rate: Rate::Blast,
            batch: 64,
            ..TrafficConfig::default()
        }
    }

    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if !(payload::HEADER_LEN..=payload::MAX_PAYLOAD).contains(&self.payload_size) {
            errors.push(format!(
                "payload_size {} is outside {}..={}",
                self.payload_size,
                payload::HEADER_LEN,
                payload::MAX_PAYLOAD
            ));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            errors.push(format!("batch {} is outside 1..={MAX_BATCH}", self.batch));
        }
        match self.rate {
            Rate::PerSecond(0) => errors.push("rate of 0 datagrams per second".into()),
            Rate::Window(0) => errors.push("window of 0 datagrams".into()),
            _ => {}
        }
        if self.progress_interval.is_zero() {
            errors.push("progress_interval is zero".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("invalid traffic config: {}", errors.join("; ")))
        }
    }
}

/// A client socket: bound to the client's address, connected to the server.
#[derive(Debug)]
pub struct Client {
    name: String,
    socket: UdpSocket,
}

impl Client {
    /// Opens the socket inside `ns`, bound to `local_ip` (any port) and connected to
    /// `server`.
    pub fn open(
        ns: &Netns,
        name: impl Into<String>,
        local_ip: Ipv4Addr,
        server: SocketAddrV4,
    ) -> Result<Client, String> {
        let name = name.into();
        let socket = ns
            .run(|| -> std::io::Result<UdpSocket> {
                let s = UdpSocket::bind(SocketAddrV4::new(local_ip, 0))?;
                s.connect(server)?;
                Ok(s)
            })
            .map_err(|e| {
                format!(
                    "client {name}: cannot open {local_ip} → {server} in {}: {e}",
                    ns.name()
                )
            })?;
        Ok(Client { name, socket })
    }

    /// Both clients of `sb` (c1, c2), sending to the server's address at `port`.
    pub fn for_sandbox(sb: &Sandbox, port: u16) -> Result<Vec<Client>, String> {
        let server = SocketAddrV4::new(sb.server_ip(), port);
        sb.clients()
            .iter()
            .map(|c| Client::open(c.ns, c.name, c.ip, server))
            .collect()
    }

    /// A client on an already connected socket (in whatever namespace it was made).
    pub fn from_socket(name: impl Into<String>, socket: UdpSocket) -> Client {
        Client {
            name: name.into(),
            socket,
        }
    }

    /// The client's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }
}

/// What the sender, the receiver and the progress loop of one client share.
#[derive(Default)]
struct ClientShared {
    /// Sequence numbers handed out (stored before they are sent).
    issued: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    duplicates: AtomicU64,
    corrupt: AtomicU64,
    errors: AtomicU64,
    sender_done: AtomicBool,
    /// Set while a window-limited sender sleeps until an echo arrives.
    sender_waiting: AtomicBool,
    sender_thread: OnceLock<Thread>,
}

#[derive(Clone, Copy, Default)]
struct Totals {
    sent: u64,
    echoed: u64,
    duplicates: u64,
    corrupt: u64,
    errors: u64,
}

fn totals(shared: &[ClientShared]) -> Totals {
    shared.iter().fold(Totals::default(), |t, s| Totals {
        sent: t.sent + s.sent.load(Ordering::Relaxed),
        echoed: t.echoed + s.echoed.load(Ordering::Relaxed),
        duplicates: t.duplicates + s.duplicates.load(Ordering::Relaxed),
        corrupt: t.corrupt + s.corrupt.load(Ordering::Relaxed),
        errors: t.errors + s.errors.load(Ordering::Relaxed),
    })
}

/// Runs `clients` as `cfg` says and returns what came back. `progress` runs on the calling
/// thread about every [`TrafficConfig::progress_interval`] and once at the end; setting
/// `stop` ends sending early (within a batch or a 5 ms nap), after which the drain still
/// runs. Errors only for a bad configuration, no clients, or a socket that cannot be set up;
/// errors during the run are counted in the result.
pub fn run(
    clients: Vec<Client>,
    cfg: &TrafficConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<TrafficStats, String> {
    cfg.validate()?;
    if clients.is_empty() {
        return Err("traffic: no clients".into());
    }
    let mut sockets = Vec::with_capacity(clients.len());
    for c in &clients {
        let fail = |what: &str, e: std::io::Error| format!("client {}: {what}: {e}", c.name);
        // A refused buffer size only costs loss under bursts; the run is still meaningful.
        let _ = set_socket_buffers(&c.socket, cfg.socket_buffer);
        c.socket
            .set_read_timeout(Some(receiver::RECV_POLL))
            .map_err(|e| fail("read timeout", e))?;
        let tx = c.socket.try_clone().map_err(|e| fail("clone socket", e))?;
        sockets.push(tx);
    }
    let shared: Vec<ClientShared> = clients.iter().map(|_| ClientShared::default()).collect();
    let epoch = Instant::now();
    let end = epoch + cfg.duration;
    let warm_end = epoch + cfg.warmup.min(cfg.duration);

    let (sender_ends, histograms, window) = thread::scope(|s| {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            let (tx, sh) = (&sockets[i], &shared[i]);
            let rx = &c.socket;
            let idx = i as u32;
            let spawn = |role: &str| thread::Builder::new().name(format!("{role}-{}", c.name));
            senders.push(
                spawn("tx")
                    .spawn_scoped(s, move || {
                        sender::send_loop(idx, tx, cfg, sh, stop, epoch, end)
                    })
                    .map_err(|e| format!("cannot start a sender thread: {e}"))?,
            );
            receivers.push(
                spawn("rx")
                    .spawn_scoped(s, move || receiver::recv_loop(idx, rx, cfg, sh, epoch))
                    .map_err(|e| format!("cannot start a receiver thread: {e}"))?,
            );
        }
        let window = watch(
            &shared, cfg, &senders, &receivers, epoch, warm_end, progress,
        );
        let ends: Vec<Instant> = senders.into_iter().map(|h| rejoin(h.join())).collect();
        let hists: Vec<_> = receivers.into_iter().map(|h| rejoin(h.join())).collect();
        Ok::<_, String>((ends, hists, window))
    })?;

    let tallies: Vec<ClientTally> = clients
        .iter()
        .zip(&shared)
        .zip(histograms)
        .map(|((c, sh), rtt)| ClientTally {
            name: c.name.clone(),
            sent: sh.sent.load(Ordering::Relaxed),
            echoed: sh.echoed.load(Ordering::Relaxed),
            duplicates: sh.duplicates.load(Ordering::Relaxed),
            corrupt: sh.corrupt.load(Ordering::Relaxed),
            errors: sh.errors.load(Ordering::Relaxed),
            rtt,
        })
        .collect();
    let mut stats = TrafficStats::from_tallies(&tallies);
    let last_end = sender_ends.iter().copied().max().unwrap_or(epoch);
    stats.send_secs = last_end.duration_since(epoch).as_secs_f64();
    stats.stopped_early = last_end < end && stop.load(Ordering::Relaxed);
    stats.window_secs = window.secs;
    stats.window_sent = window.sent;
    stats.window_echoed = window.echoed;
    Ok(stats)
}

/// A worker's result, or its panic raised again on this thread.
fn rejoin<T>(r: thread::Result<T>) -> T {
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// The measurement window's length and counts.
#[derive(Clone, Copy, Default)]
struct Window {
    secs: f64,
    sent: u64,
    echoed: u64,
}

/// Until every receiver is done: calls `progress` on schedule and takes the measurement
/// window's snapshots (after the warm-up, and when the last sender stops).
fn watch<A, B>(
    shared: &[ClientShared],
    cfg: &TrafficConfig,
    senders: &[thread::ScopedJoinHandle<'_, A>],
    receivers: &[thread::ScopedJoinHandle<'_, B>],
    epoch: Instant,
    warm_end: Instant,
    progress: &mut dyn FnMut(&Progress),
) -> Window {
    let mut start: Option<(Instant, Totals)> =
        cfg.warmup.is_zero().then_some((epoch, Totals::default()));
    let mut stop_snap: Option<(Instant, Totals)> = None;
    let mut last = (epoch, 0u64);
    let mut next_tick = epoch + cfg.progress_interval;
    loop {
        let now = Instant::now();
        let sending = !senders.iter().all(|h| h.is_finished());
        if start.is_none() && (now >= warm_end || !sending) {
            start = Some((now, totals(shared)));
        }
        if !sending && stop_snap.is_none() {
            stop_snap = Some((now, totals(shared)));
        }
        let done = receivers.iter().all(|h| h.is_finished());
        if now >= next_tick || done {
            let t = totals(shared);
            let dt = now.duration_since(last.0).as_secs_f64();
            let pps = if dt > 0.0 {
                t.echoed.saturating_sub(last.1) as f64 / dt
            } else {
                0.0
            };
            progress(&Progress {
                elapsed: now.duration_since(epoch),
                sending,
                sent: t.sent,
                echoed: t.echoed,
                duplicates: t.duplicates,
                corrupt: t.corrupt,
                errors: t.errors,
                echo_pps: pps,
            });
            last = (now, t.echoed);
            next_tick = (next_tick + cfg.progress_interval).max(now + cfg.progress_interval / 2);
        }
        if done {
            break;
        }
        thread::sleep(
            next_tick
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(5)),
        );
    }
    match (start, stop_snap) {
        (Some((t0, a)), Some((t1, b))) => Window {
            secs: t1.saturating_duration_since(t0).as_secs_f64(),
            sent: b.sent.saturating_sub(a.sent),
            echoed: b.echoed.saturating_sub(a.echoed),
        },
        _ => Window::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback echo server on its own thread, answering until `stop`; returns its address.
    fn loopback_echo(stop: &'static AtomicBool, mangle: bool) -> SocketAddrV4 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut n_seen = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    n_seen += 1;
                    if mangle && n_seen % 10 == 0 {
                        buf[n - 1] ^= 1;
                    }
                    let _ = s.send_to(&buf[..n], from);
                    if mangle && n_seen % 7 == 0 {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }
            }
        });
        addr
    }

    fn client_to(server: SocketAddrV4, name: &str) -> Client {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(server).unwrap();
        Client::from_socket(name, s)
    }

    #[test]
    fn loopback_run_echoes_everything_in_window_mode() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let server = loopback_echo(&STOP, false);
        let cfg = TrafficConfig {
            duration: Duration::from_millis(300),
            progress_interval: Duration::from_millis(50),
            rate: Rate::Window(8),
            ..TrafficConfig::default()
        };
        let mut ticks = 0;
        let stats = run(
            vec![client_to(server, "a"), client_to(server, "b")],
            &cfg,
            &AtomicBool::new(false),
            &mut |_| ticks += 1,
        )
        .unwrap();
        STOP.store(true, Ordering::Relaxed);
        assert!(stats.sent > 0);
        assert_eq!(stats.echoed, stats.sent, "{stats:?}");
        assert_eq!((stats.lost, stats.duplicates, stats.corrupt), (0, 0, 0));
        assert!(stats.rtt_ns_p50.is_some() && stats.rtt_ns_p99 >= stats.rtt_ns_p50);
        assert_eq!(stats.clients.len(), 2);
        assert!(ticks >= 3, "progress called {ticks} times");
        assert!(stats.window_echoed > 0 && stats.echo_pps() > 0.0);
        assert!(!stats.stopped_early);
    }

    #[test]
    fn paced_rate_is_roughly_kept() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let server = loopback_echo(&STOP, false);
        let cfg = TrafficConfig {
            duration: Duration::from_millis(500),
            rate: Rate::PerSecond(1000),
            ..TrafficConfig::default()
        };
        let stats = run(
            vec![client_to(server, "a")],
            &cfg,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        STOP.store(true, Ordering::Relaxed);
        assert!(
            (400..=600).contains(&stats.sent),
            "sent {} at 1000/s for 0.5 s",
            stats.sent
        );
    }

    #[test]
    fn duplicates_and_corruption_are_counted_apart() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let server = loopback_echo(&STOP, true);
        let cfg = TrafficConfig {
            duration: Duration::from_millis(300),
            rate: Rate::PerSecond(500),
            drain: Duration::from_millis(200),
            ..TrafficConfig::default()
        };
        let stats = run(
            vec![client_to(server, "a")],
            &cfg,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        STOP.store(true, Ordering::Relaxed);
        assert!(stats.corrupt > 0, "{stats:?}");
        assert!(stats.duplicates > 0, "{stats:?}");
        // Every 10th datagram came back mangled: it is lost (not echoed intact) unless its
        // duplicate copy (every 7th) was intact.
        assert_eq!(stats.echoed + stats.lost, stats.sent);
        assert!(stats.lost > 0);
    }

    #[test]
    fn stop_flag_ends_the_run_early() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let server = loopback_echo(&STOP, false);
        let cfg = TrafficConfig {
            duration: Duration::from_secs(30),
            progress_interval: Duration::from_millis(20),
            ..TrafficConfig::default()
        };
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let stats = run(vec![client_to(server, "a")], &cfg, &stop, &mut |p| {
            if p.elapsed >= Duration::from_millis(200) {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        STOP.store(true, Ordering::Relaxed);
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert!(stats.stopped_early);
        assert!(stats.send_secs < 1.0);
        assert_eq!(stats.echoed, stats.sent);
    }

    #[test]
    fn unanswered_datagrams_are_lost_and_window_does_not_stall() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = match silent.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let cfg = TrafficConfig {
            duration: Duration::from_millis(300),
            drain: Duration::from_millis(50),
            rate: Rate::Window(4),
            loss_timeout: Duration::from_millis(50),
            ..TrafficConfig::default()
        };
        let stats = run(
            vec![client_to(addr, "a")],
            &cfg,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        // The window reopens every loss timeout: several rounds of 4 were sent.
        assert!(stats.sent >= 8, "{stats:?}");
        assert_eq!(stats.lost, stats.sent);
        assert_eq!(stats.rtt_ns_p50, None);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = TrafficConfig {
            payload_size: 8,
            batch: 0,
            rate: Rate::PerSecond(0),
            ..TrafficConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("payload_size 8") && e.contains("batch 0") && e.contains("rate"));
        assert!(run(
            vec![],
            &TrafficConfig::default(),
            &AtomicBool::new(false),
            &mut |_| {}
        )
        .is_err());
    }
}
