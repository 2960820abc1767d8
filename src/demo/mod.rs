//! `netbase demo`: the default topology serving real traffic in a sandbox of namespaces.
//!
//! ```text
//!   c1 10.200.1.2 ─┐
//!                  ├─ br0 (sw) ─ veth0 10.200.1.1  srv: netlink + net (AF_XDP) + udp_echo :7000
//!   rt 10.200.1.254┘
//!   rt 10.200.2.254 ── c2 10.200.2.2   (one router hop: the server routes replies via rt)
//! ```
//!
//! The clients send datagrams through their kernels; the server's XDP program steers them to
//! the net tile, the echo tile answers, and the net tile routes each reply through the netbase
//! (neighbour misses become solicits the netlink tile turns into ARP requests). Everything the
//! demo creates (namespaces, the instance's shared memory and XDP program, its files) is
//! removed when it ends, on Ctrl-C and on errors too.

pub mod instance;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use netbase_runtime::netns;
use serde::Serialize;

use crate::sandbox::{Sandbox, SandboxConfig};
use crate::traffic::{self, Client, Progress, Rate, TrafficConfig};

pub use instance::Instance;

/// The UDP port of the default topology's echo tile.
pub const ECHO_PORT: u16 = 7000;

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub duration: Duration,
    /// Datagrams per second per client.
    pub rate: u64,
}

/// What the demo saw.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub sent: u64,
    pub echoed: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub corrupt: u64,
    /// Solicit requests the net tile sent to the netlink tile.
    pub solicits: u64,
    /// Neighbour probes the netlink tile sent to the kernel.
    pub probes: u64,
    pub pkts_per_sec: f64,
    pub rtt_ns_p50: Option<u64>,
    pub rtt_ns_p99: Option<u64>,
    /// Drops of the net tile by reason (reasons with a count only).
    pub drops: BTreeMap<String, u64>,
    /// Per client: sent, echoed, lost.
    pub clients: Vec<ClientReport>,
    /// The netbase at the end, as `netbase show` prints it.
    pub tables: Tables,
    pub stopped_early: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    pub name: String,
    pub sent: u64,
    pub echoed: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tables {
    pub routes_main: Vec<String>,
    pub neighbours: Vec<String>,
}

/// The privilege message for a user who is not root.
pub const NEED_ROOT: &str = "netbase demo needs root: it creates network namespaces and veth \
pairs (CAP_SYS_ADMIN, CAP_NET_ADMIN), loads and attaches an XDP program (CAP_BPF, \
CAP_NET_ADMIN) and opens AF_XDP sockets (CAP_NET_RAW). Run it with sudo.";

/// Runs the demo. `progress` gets running totals about every 200 ms; `stop` (a Ctrl-C flag)
/// ends the traffic early, and everything is cleaned up all the same.
pub fn run(
    opts: &DemoOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DemoReport, String> {
    if !netns::is_root() {
        return Err(NEED_ROOT.into());
    }
    let sandbox = Sandbox::create(SandboxConfig::default())?;
    let name = format!("demo-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let result = (|| {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the netbase executable: {e}"))?;
        let mut instance = Instance::start(sandbox.server(), &name, &log, &exe)?;
        let clients = Client::for_sandbox(&sandbox, ECHO_PORT)?;
        let cfg = TrafficConfig {
            duration: opts.duration,
            rate: Rate::PerSecond(opts.rate),
            ..TrafficConfig::default()
        };
        let stats = traffic::run(clients, &cfg, stop, progress)?;
        let samples = instance.samples();
        let tables = tables(&instance);
        let clean = instance.stop();
        if !clean {
            eprintln!(
                "netbase demo: the instance did not stop cleanly; its log: {}",
                log.display()
            );
        }
        let metric = |name: &str| -> u64 {
            samples
                .iter()
                .filter(|s| s.metric == name)
                .map(|s| s.value)
                .sum()
        };
        let drops = samples
            .iter()
            .filter_map(|s| {
                let reason = s.metric.strip_prefix("net_drop_")?.strip_suffix("_total")?;
                (s.value > 0).then(|| (reason.to_owned(), s.value))
            })
            .collect();
        Ok(DemoReport {
            sent: stats.sent,
            echoed: stats.echoed,
            lost: stats.lost,
            duplicates: stats.duplicates,
            corrupt: stats.corrupt,
            solicits: metric("net_solicits_total"),
            probes: metric("solicit_probes_sent_total"),
            pkts_per_sec: stats.echo_pps(),
            rtt_ns_p50: stats.rtt_ns_p50,
            rtt_ns_p99: stats.rtt_ns_p99,
            drops,
            clients: stats
                .clients
                .iter()
                .map(|c| ClientReport {
                    name: c.name.clone(),
                    sent: c.sent,
                    echoed: c.echoed,
                    lost: c.lost,
                })
                .collect(),
            tables,
            stopped_early: stats.stopped_early,
        })
    })();
    if result.is_ok() {
        let _ = std::fs::remove_file(&log);
    }
    drop(sandbox);
    result
}

/// The main routes and the neighbours of the instance's netbase, one `ip`-style line each.
fn tables(instance: &Instance) -> Tables {
    let text = |what: &str| -> Vec<String> {
        crate::cli::show::render_for(instance.name(), what)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_else(|e| vec![format!("(cannot read: {e})")])
    };
    Tables {
        routes_main: text("routes"),
        neighbours: text("neigh"),
    }
}
