//! `netbase demo`: see [`crate::demo`].

use std::io::Write as _;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::demo::{self, DemoOptions, DemoReport};
use crate::traffic::Progress;

#[derive(Debug, Args)]
#[command(
    about = "Run the default topology on real traffic in a sandbox of network namespaces",
    long_about = "Builds network namespaces joined by veth pairs and a bridge: a server running \
the default topology (netlink tile, AF_XDP net tile on veth0, UDP echo tile on port 7000), a \
client on the server's subnet and a second client behind a router. Both clients send datagrams \
through their kernels; the echoes come back through the XDP path, routed and resolved through \
the netbase. Prints a live progress line, then a summary: sent, echoed, lost, solicits, drops \
by reason, packets/s and the netbase's routes and neighbours. Everything it creates is removed \
at the end, on Ctrl-C and on errors. Needs root.",
    after_help = "Examples:\n  \
sudo netbase demo                      10 seconds, 1000 datagrams/s per client\n  \
sudo netbase demo --duration 5 --json  one JSON object (sent, echoed, lost, solicits, pkts_per_sec, drops, ...)"
)]
pub struct DemoArgs {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub duration: f64,
    /// Datagrams per second per client.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rate: u64,
    /// Print one JSON object instead of the text summary (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.1..=86_400.0).contains(&v) {
        return Err(format!("{v} s is outside 0.1..=86400"));
    }
    Ok(v)
}

pub fn run(args: &DemoArgs) -> i32 {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("netbase demo: cannot install the signal handler: {e}");
            return 1;
        }
    }
    let opts = DemoOptions {
        duration: Duration::from_secs_f64(args.duration),
        rate: args.rate,
    };
    eprintln!(
        "netbase demo: building the sandbox and starting the default topology ({} s of traffic)",
        args.duration
    );
    let mut progress = |p: &Progress| {
        eprint!(
            "\r  {:5.1} s  sent {:>9}  echoed {:>9}  {:>9.0} echoes/s   ",
            p.elapsed.as_secs_f64(),
            p.sent,
            p.echoed,
            p.echo_pps
        );
        let _ = std::io::stderr().flush();
    };
    let report = demo::run(&opts, &stop, &mut progress);
    eprintln!();
    match report {
        Ok(r) => {
            if args.json {
                match serde_json::to_string(&r) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("netbase demo: {e}");
                        return 1;
                    }
                }
            } else {
                print!("{}", summary(&r));
            }
            if r.echoed == 0 {
                eprintln!("netbase demo: no datagram was echoed");
                return 1;
            }
            0
        }
        Err(e) => {
            eprintln!("netbase demo: {e}");
            1
        }
    }
}

fn summary(r: &DemoReport) -> String {
    let mut s = String::new();
    let ms = |ns: Option<u64>| ns.map_or("-".into(), |n| format!("{:.3} ms", n as f64 / 1e6));
    s += &format!(
        "sent {}  echoed {}  lost {}  ({:.0} echoes/s, rtt p50 {} p99 {})\n",
        r.sent,
        r.echoed,
        r.lost,
        r.pkts_per_sec,
        ms(r.rtt_ns_p50),
        ms(r.rtt_ns_p99)
    );
    for c in &r.clients {
        s += &format!(
            "  {:<4} sent {:>9}  echoed {:>9}  lost {}\n",
            c.name, c.sent, c.echoed, c.lost
        );
    }
    s += &format!(
        "solicits {} (neighbour probes sent by the netlink tile: {})\n",
        r.solicits, r.probes
    );
    if r.drops.is_empty() {
        s += "drops: none\n";
    } else {
        s += "drops:\n";
        for (reason, n) in &r.drops {
            s += &format!("  {reason:<24} {n}\n");
        }
    }
    s += "netbase routes (main):\n";
    for l in &r.tables.routes_main {
        s += &format!("  {l}\n");
    }
    s += "netbase neighbours:\n";
    for l in &r.tables.neighbours {
        s += &format!("  {l}\n");
    }
    if r.stopped_early {
        s += "(stopped early)\n";
    }
    s
}
