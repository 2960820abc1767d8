//! `netbase bench echo`: UDP echo packets/s through netbase (XDP + AF_XDP net tile + echo
//! tile) against the kernel's own UDP stack (a recvmmsg/sendmmsg echo server), on the same
//! namespace sandbox, with the same blasting clients, in the same run.
//!
//! Each round runs the kernel echo server, then the netbase instance, in the server namespace
//! of one sandbox; both clients send as fast as their sockets take datagrams for the round's
//! duration, and the echoes counted after a warm-up give the rate. The report has the median
//! rate of each implementation and the ratio.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::bench::{median, Report, NETBASE};
use crate::demo::{Instance, ECHO_PORT};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::traffic::kernel_echo::{KernelEcho, KernelEchoConfig};
use crate::traffic::{self, Client, TrafficConfig};

/// Name of the baseline in the report.
pub const KERNEL: &str = "kernel-udp-mmsg";

#[derive(Debug, Clone)]
pub struct Options {
    /// Sending time per round and implementation.
    pub duration: Duration,
    pub rounds: usize,
}

pub fn run(opts: &Options) -> Result<Report, String> {
    if !netbase_runtime::netns::is_root() {
        return Err(crate::demo::NEED_ROOT.replace("netbase demo", "netbase bench echo"));
    }
    let sandbox = Sandbox::create(SandboxConfig {
        prefix: "nbbench".into(),
        ..SandboxConfig::default()
    })?;
    let warmup = Duration::from_millis(300).min(opts.duration / 4);
    let cfg = TrafficConfig::blast(opts.duration + warmup, warmup);
    let stop = AtomicBool::new(false);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find netbase: {e}"))?;
    let name = format!("bench-echo-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let mut kernel = Vec::new();
    let mut ours = Vec::new();
    let mut loss = (0.0, 0.0);
    let mut drops: Vec<String> = Vec::new();
    for _ in 0..opts.rounds.max(1) {
        let echo = KernelEcho::start(
            sandbox.server(),
            sandbox.server_ip(),
            ECHO_PORT,
            KernelEchoConfig::default(),
        )?;
        let clients = Client::for_sandbox(&sandbox, ECHO_PORT)?;
        let s = traffic::run(clients, &cfg, &stop, &mut |_| {})?;
        echo.stop()?;
        kernel.push(s.echo_pps());
        loss.0 = s.lost as f64 / s.sent.max(1) as f64;

        let instance = Instance::start(sandbox.server(), &name, &log, &exe)?;
        let clients = Client::for_sandbox(&sandbox, ECHO_PORT)?;
        let s = traffic::run(clients, &cfg, &stop, &mut |_| {})?;
        // Where the datagrams that were not echoed went (last round): the net tile's drops by
        // reason and the kernel's AF_XDP drops.
        drops = instance
            .samples()
            .into_iter()
            .filter(|x| {
                x.value > 0
                    && (x.metric.starts_with("net_drop_") || x.metric.starts_with("net_xsk_"))
            })
            .map(|x| format!("{}={}", x.metric, x.value))
            .collect();
        drop(instance);
        ours.push(s.echo_pps());
        loss.1 = s.lost as f64 / s.sent.max(1) as f64;
    }
    let _ = std::fs::remove_file(&log);
    let (k, n) = (median(&kernel), median(&ours));
    let mut report = Report::new("echo");
    report.push(
        "udp64",
        KERNEL,
        &[("pkts_per_sec", k), ("loss_ratio_last_round", loss.0)],
    );
    report.push(
        "udp64",
        NETBASE,
        &[
            ("pkts_per_sec", n),
            ("loss_ratio_last_round", loss.1),
            ("ratio_vs_kernel", if k > 0.0 { n / k } else { 0.0 }),
        ],
    );
    report.note(format!(
        "{} round(s) of {:.1} s per implementation after a {:.1} s warm-up; two clients \
         (one via a router) blasting 64-byte datagrams; medians of echoed packets/s",
        opts.rounds.max(1),
        opts.duration.as_secs_f64(),
        warmup.as_secs_f64()
    ));
    if !drops.is_empty() {
        report.note(format!(
            "netbase, last round, not echoed because: {}",
            drops.join(", ")
        ));
    }
    Ok(report)
}
