//! `netbase diff`: the kernel's tables now against an instance's netbase.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Args;
use netbase_runtime::netlink::dump::{RequestConfig, RequestSocket};
use netbase_tiles::netlink_tile::diff::{diff, Mismatch, RouteKey, Snapshot};

use super::show::{prefix_text, table_name};
use crate::supervisor;

/// Exit status when the comparison could not be made (like diff(1)).
const EXIT_TROUBLE: i32 = 2;

#[derive(Debug, Args)]
#[command(
    about = "Compare the kernel's tables with an instance's netbase",
    long_about = "Dumps the kernel's interfaces, IPv4 addresses, IPv4 routes (tables local and \
main) and IPv4 neighbours in the current network namespace, reads the instance's netbase \
read-only, and prints every difference: rows the netbase lacks, rows the kernel no longer has, \
and fields that differ. Run it in the namespace the instance's netlink tile mirrors.\n\n\
Exit status: 0 identical, 1 different, 2 the comparison could not be made.\n\n\
A mirror that is catching up with a burst of changes differs briefly; run again to tell a lag \
from a lasting difference.",
    after_help = "Examples:\n  \
netbase diff\n  \
ip netns exec blue netbase diff --name blue"
)]
pub struct DiffArgs {
    /// Instance name, as given to `netbase run --name`.
    #[arg(long, default_value = supervisor::DEFAULT_INSTANCE)]
    pub name: String,
}

pub fn run(args: &DiffArgs) -> i32 {
    let (kernel, mirror) = match snapshots(&args.name) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase diff: {e}");
            return EXIT_TROUBLE;
        }
    };
    let found = diff(&kernel, &mirror);
    let mut text = String::new();
    for m in &found {
        let _ = writeln!(text, "{}", describe(m, &kernel, &mirror));
    }
    if found.is_empty() {
        let _ = writeln!(
            text,
            "identical: {} rows (kernel and netbase {:?})",
            kernel.len(),
            args.name
        );
    } else {
        let _ = writeln!(text, "{} differences", found.len());
    }
    match super::show::emit("diff", &text) {
        0 if found.is_empty() => 0,
        0 => 1,
        _ => EXIT_TROUBLE,
    }
}

fn snapshots(name: &str) -> Result<(Snapshot, Snapshot), String> {
    let mut req = RequestSocket::open(&RequestConfig::default())
        .map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    // One join: the instance is found (a wrong --name fails) before the kernel dump, and the
    // guest slot it holds during the dump only delays the writer's reuse of memory.
    super::guest::with_netbase(name, |view| {
        let kernel = Snapshot::from_kernel(&mut req)?;
        let mirror = view.snapshot().map_err(|e| e.to_string())?;
        Ok((kernel, mirror))
    })
}

/// A mismatch, with routes named like `ip route` names them instead of by their raw key.
fn describe(m: &Mismatch, kernel: &Snapshot, mirror: &Snapshot) -> String {
    let (Mismatch::Missing { table, key }
    | Mismatch::Extra { table, key }
    | Mismatch::Fields { table, key, .. }) = m;
    if *table != "routes4" {
        return m.to_string();
    }
    let Some(rk) = route_key(kernel, key).or_else(|| route_key(mirror, key)) else {
        return m.to_string();
    };
    let row = kernel
        .routes4
        .get(&rk)
        .or_else(|| mirror.routes4.get(&rk))
        .copied();
    let mut name = row.map_or_else(|| key.clone(), |r| prefix_text(&r));
    let _ = write!(name, " table {} metric {}", table_name(rk.table), rk.metric);
    match m {
        Mismatch::Missing { .. } => format!("routes4 {name}: not mirrored"),
        Mismatch::Extra { .. } => format!("routes4 {name}: not in the kernel"),
        Mismatch::Fields { fields, .. } => {
            let mut s = format!("routes4 {name}:");
            for (f, k, v) in fields {
                let _ = write!(s, " {f} kernel={k} mirror={v};");
            }
            s
        }
    }
}

/// The route key whose debug form is `key` (how [`Mismatch`] spells keys).
fn route_key(snap: &Snapshot, key: &str) -> Option<RouteKey> {
    snap.routes4
        .keys()
        .find(|k| format!("{k:?}") == key)
        .copied()
}
