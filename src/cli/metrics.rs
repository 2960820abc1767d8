//! `netbase metrics`: the tiles' status and metrics of a running instance, in the Prometheus
//! text format.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Args;
use netbase_codegen::plan::{ObjectKind, Plan, TilePlan};
use netbase_runtime::region::Region;
use netbase_runtime::tile::{
    monotonic_ns, MetricDef, MetricsReader, StatusSnapshot, TileState, TileStatus,
};
use netbase_runtime::workspace::{Access, JoinOptions, Workspace};

use crate::supervisor::{self, kinds};

/// A heartbeat older than this marks a tile down even if its state says running (100
/// housekeeping intervals: the tile is stuck, not slow).
const STALE_HEARTBEAT_NS: u64 = 1_000_000_000;

#[derive(Debug, Args)]
#[command(
    about = "Print the tiles' metrics of a running instance (Prometheus text format)",
    long_about = "Maps each tile's status and metrics read-only (no effect on the tiles) and \
prints every metric of its kind as `netbase_<metric>{tile=\"…\",instance=\"…\"}`, plus \
netbase_tile_up (running with a heartbeat younger than 1 s), \
netbase_tile_heartbeat_age_seconds and netbase_tile_loop_iterations_total. Exit status 1 if \
the instance is not running."
)]
pub struct MetricsArgs {
    /// Instance name, as given to `netbase run --name`.
    #[arg(long, default_value = supervisor::DEFAULT_INSTANCE)]
    pub name: String,
}

/// What was read from one tile: `None` when its workspace could not be mapped.
pub(crate) struct TileReading<'p> {
    pub tile: &'p TilePlan,
    pub status: Option<StatusSnapshot>,
    pub values: Vec<(&'static MetricDef, u64)>,
}

pub fn run(args: &MetricsArgs) -> i32 {
    let dir = supervisor::instance_dir(&args.name);
    let plan = match supervisor::load_plan(&dir) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "netbase metrics: no running instance {}: {e}",
                args.name
            );
            return 1;
        }
    };
    let readings: Vec<_> = plan
        .tiles
        .iter()
        .map(|t| read_tile(&args.name, &plan, t))
        .collect();
    let text = render(&readings, monotonic_ns());
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase metrics: {e}");
            1
        }
    }
}

/// Maps tile `tile` of instance `name` read-only and reads its status and metrics.
pub(crate) fn read_tile<'p>(name: &str, plan: &'p Plan, tile: &'p TilePlan) -> TileReading<'p> {
    let mut reading = TileReading {
        tile,
        status: None,
        values: Vec::new(),
    };
    let ws_plan_name = supervisor::tile_workspace(&tile.instance);
    let Some(wp) = plan.workspaces.iter().find(|w| w.name == ws_plan_name) else {
        return reading;
    };
    let ws_name = supervisor::workspace_name(name, &wp.name);
    let options = JoinOptions::new(&ws_name, wp.fingerprint, Access::ReadOnly)
        .with_backing(supervisor::backing_of(wp));
    let Ok(ws) = Workspace::join_with(&options) else {
        return reading;
    };
    let region = |kind| {
        let o = wp.objects.iter().find(|o| o.kind == kind)?;
        Region::from_workspace(&ws, o.offset, o.size).ok()
    };
    if let Some(status) = region(ObjectKind::Status).and_then(|r| TileStatus::new(r).ok()) {
        reading.status = Some(status.snapshot());
    }
    if let Some(metrics) = region(ObjectKind::Metrics).and_then(|r| MetricsReader::new(r).ok()) {
        // Without the schema (an app this binary lacks) the values cannot be labelled.
        if let Ok(defs) = kinds::metric_defs(tile) {
            reading.values = metrics.read(defs);
        }
    }
    reading
}

fn labels(t: &TilePlan) -> String {
    // Tile names are identifiers from the topology (validated there), so they need no
    // escaping inside the quoted label value.
    format!("tile=\"{}\",instance=\"{}\"", t.name, t.index)
}

/// Prometheus text: every sample of one metric family together, after its HELP and TYPE.
fn render(readings: &[TileReading<'_>], now_ns: u64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, kind: &str, samples: &[(String, String)]| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP netbase_{name} {help}");
        let _ = writeln!(out, "# TYPE netbase_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "netbase_{name}{{{labels}}} {value}");
        }
    };

    let up: Vec<_> = readings
        .iter()
        .map(|r| {
            let up = r.status.is_some_and(|s| {
                s.state == TileState::Running
                    && now_ns.saturating_sub(s.heartbeat_ns) < STALE_HEARTBEAT_NS
            });
            (labels(r.tile), u8::from(up).to_string())
        })
        .collect();
    family(
        "tile_up",
        "1 if the tile is running and heartbeating, else 0.",
        "gauge",
        &up,
    );
    let with_status = |f: &dyn Fn(&StatusSnapshot) -> String| -> Vec<(String, String)> {
        readings
            .iter()
            .filter_map(|r| Some((labels(r.tile), f(r.status.as_ref()?))))
            .collect()
    };
    family(
        "tile_heartbeat_age_seconds",
        "Seconds since the tile's last heartbeat.",
        "gauge",
        &with_status(&|s| format!("{:.6}", now_ns.saturating_sub(s.heartbeat_ns) as f64 / 1e9)),
    );
    family(
        "tile_loop_iterations_total",
        "Poll loop iterations of the tile.",
        "counter",
        &with_status(&|s| s.iterations.to_string()),
    );

    // Kind metrics, grouped by name across tiles in first-seen order.
    let mut names: Vec<&'static MetricDef> = Vec::new();
    for r in readings {
        for (d, _) in &r.values {
            if !names.iter().any(|n| n.name == d.name) {
                names.push(d);
            }
        }
    }
    for d in names {
        let samples: Vec<_> = readings
            .iter()
            .flat_map(|r| {
                r.values
                    .iter()
                    .filter(|(e, _)| e.name == d.name)
                    .map(|(_, v)| (labels(r.tile), v.to_string()))
            })
            .collect();
        family(d.name, d.help, d.kind.prometheus(), &samples);
    }
    out
}

/// One sample of `netbase metrics` output, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name, `netbase_` prefix included.
    pub name: String,
    /// The `tile` label.
    pub tile: String,
    pub value: f64,
}

/// The samples of `netbase metrics` output (HELP and TYPE lines skipped), for programs and
/// tests that read it; `Err` quotes the first line that is not a sample as the command writes
/// them.
pub fn parse_samples(text: &str) -> Result<Vec<Sample>, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let sample = || -> Option<Sample> {
                let (series, value) = line.rsplit_once(' ')?;
                let (name, labels) = series.split_once('{')?;
                let tile = labels.strip_prefix("tile=\"")?.split('"').next()?;
                Some(Sample {
                    name: name.to_owned(),
                    tile: tile.to_owned(),
                    value: value.parse().ok()?,
                })
            };
            sample().ok_or_else(|| format!("not a netbase metrics sample: {line:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_back_and_other_lines_refused() {
        let text = "# HELP netbase_tile_up 1 if the tile is running.\n\
                    # TYPE netbase_tile_up gauge\n\
                    netbase_tile_up{tile=\"net\",instance=\"0\"} 1\n\
                    netbase_tile_heartbeat_age_seconds{tile=\"netlink\",instance=\"0\"} 0.012500\n";
        assert_eq!(
            parse_samples(text).unwrap(),
            [
                Sample {
                    name: "netbase_tile_up".into(),
                    tile: "net".into(),
                    value: 1.0
                },
                Sample {
                    name: "netbase_tile_heartbeat_age_seconds".into(),
                    tile: "netlink".into(),
                    value: 0.0125
                },
            ]
        );
        for bad in [
            "netbase_x 1",
            "netbase_x{tile=\"a\"} one",
            "netbase_x{instance=\"0\"} 1",
        ] {
            let e = parse_samples(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
