//! `netbase bench`: measure netbase against its baselines in one run.

use std::io::Write;

use clap::{Args, Subcommand};

use crate::bench::Report;

#[derive(Debug, Args)]
#[command(
    about = "Measure netbase against its baselines (same run, medians and ratios)",
    long_about = "Runs a benchmark and its baselines in the same process, on the same data, and \
prints each implementation's medians and the ratio of netbase to each baseline. Machines are \
noisy: compare ratios rather than absolute numbers, and run more rounds (--rounds) for steadier \
medians.\n\n\
With --json the output is one JSON object: {\"bench\": NAME, \"rows\": [{\"case\": CASE, \
\"impl\": IMPL, <metric>: <number>, ...}, ...]}, metric names carrying their unit \
(lookups_per_sec, updates_per_sec, inserts_per_sec, deletes_per_sec, bytes, ...), `impl` being \
\"netbase\" for ours and the baseline's name otherwise.",
    after_help = "Examples:\n  \
netbase bench fib4                       all route-lookup cases (takes a minute)\n  \
netbase bench fib4 --routes 100000 --json\n  \
netbase bench neigh4\n  \
netbase bench neigh4 --json | jq '.rows[] | select(.impl == \"netbase\")'\n  \
sudo netbase bench netlink --routes 100000   (needs root: uses a network namespace)\n  \
sudo netbase bench echo --duration 3 --json  (needs root: namespaces, XDP)"
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Measurement rounds per case (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rounds: u16,
    /// Seed of the generated tables and addresses (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Small tables and short rounds: a smoke test of the benchmark, not a measurement.
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct Fib4Args {
    #[command(flatten)]
    pub common: Common,
    /// Only one synthetic BGP-like table of N routes (instead of 100k and 1M), besides the
    /// host and cloud tables.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16_777_216))]
    pub routes: Option<u64>,
}

#[derive(Debug, Args)]
pub struct NetlinkArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Routes to fill the namespace's main table with.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=crate::bench::netlink::MAX_ROUTES))]
    pub routes: u64,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// IPv4 route lookup: netbase vs a sorted-linear-scan + /32-hash reference and the
    /// prefix-trie crate, on host (3 routes), cloud (16 + 8,192 /32s) and synthetic full-BGP-like
    /// tables (100k, 1M), plus lookups while a writer updates (the largest BGP-like table) and
    /// while a writer churns 100,000 /32 host routes (cloud-100k-churn). Lookups are timed one
    /// call per address, as bursts of 64 (`burst_lookups_per_sec`), and as the net tile routes
    /// a batch: a host's `local` table, then the case's (`chain_lookups_per_sec`).
    Fib4(Fib4Args),
    /// Neighbour table: lookups/s and updates/s vs std HashMap behind an RwLock.
    Neigh4(Common),
    /// Netlink sync (needs root): full sync of N routes vs `ip route show`, route-change
    /// latency until a reader sees it, and a notification burst's updates/s, in a throw-away
    /// network namespace.
    Netlink(NetlinkArgs),
    /// UDP echo packets/s (needs root): netbase's XDP path vs a kernel recvmmsg/sendmmsg echo
    /// server, same namespace sandbox, same blasting clients, same run.
    Echo(EchoArgs),
}

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Seconds of sending per round and implementation.
    #[arg(long, default_value_t = 3.0, value_parser = parse_duration)]
    pub duration: f64,
    /// Rounds (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub rounds: u16,
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.2..=3600.0).contains(&v) {
        return Err(format!("{v} s is outside 0.2..=3600"));
    }
    Ok(v)
}

pub fn run(args: &BenchArgs) -> i32 {
    let result: Result<Report, String> = match &args.which {
        Which::Fib4(f) => crate::bench::fib4::run(&crate::bench::fib4::Options {
            routes: f.routes,
            quick: f.common.quick,
            rounds: usize::from(f.common.rounds),
            seed: f.common.seed,
        }),
        Which::Neigh4(c) => crate::bench::neigh4::run(&crate::bench::neigh4::Options {
            quick: c.quick,
            rounds: usize::from(c.rounds),
            seed: c.seed,
        }),
        Which::Netlink(n) => crate::bench::netlink::run(&crate::bench::netlink::Options {
            routes: n.routes,
            ..Default::default()
        }),
        Which::Echo(e) => crate::bench::echo::run(&crate::bench::echo::Options {
            duration: std::time::Duration::from_secs_f64(e.duration),
            rounds: usize::from(e.rounds),
        }),
    };
    let json = match &args.which {
        Which::Fib4(f) => f.common.json,
        Which::Neigh4(c) => c.json,
        Which::Netlink(n) => n.json,
        Which::Echo(e) => e.json,
    };
    match result {
        Ok(report) => {
            let text = if json {
                report.to_json().to_string() + "\n"
            } else {
                report.render()
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            0
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase bench: {e}");
            1
        }
    }
}
