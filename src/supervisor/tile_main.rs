//! A tile process (`netbase tile`, started by the supervisor): join the planned workspaces,
//! run the kind's loop until SIGTERM.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netbase_codegen::plan::ObjectKind;
use netbase_codegen::topology::Access as PlanAccess;
use netbase_runtime::region::Region;
use netbase_runtime::tile::{self, LoopConfig, LoopExit, TileContext, TileState, TileStatus};
use netbase_runtime::workspace::{Access, JoinOptions, Workspace};

use netbase_tiles::netbase_view::NetbaseView;
use netbase_tiles::netlink_tile::readers::epochs_by_slot;

use super::kinds::{self, Joined};

/// Exit status of a tile that left its loop on an error (the supervisor reports it).
pub const EXIT_TILE_FAILED: i32 = 3;

#[derive(Debug, Clone)]
pub struct TileOptions {
    /// Instance name (workspace prefix).
    pub name: String,
    /// Tile instance in the plan, `netlink.0`.
    pub instance: String,
    /// The instance's run directory (holds `plan.json`).
    pub run_dir: PathBuf,
}

/// Runs one tile process; returns its exit status.
pub fn run_tile(opts: &TileOptions) -> i32 {
    match run_inner(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netbase tile {}: {e}", opts.instance);
            1
        }
    }
}

fn run_inner(opts: &TileOptions) -> Result<i32, String> {
    // Registered before anything slow, so that a stop during boot is not lost: the loop sees
    // the flag on its first iteration. SIGINT too: a tile started by hand stops on Ctrl-C (the
    // supervisor puts its tiles in their own process group, so they do not get the
    // terminal's SIGINT).
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }

    let plan = super::load_plan(&opts.run_dir)?;
    let me = plan
        .tiles
        .iter()
        .find(|t| t.instance == opts.instance)
        .ok_or_else(|| format!("the plan has no tile instance {}", opts.instance))?;
    kinds::check_available(me)?;

    let mut joined = Vec::with_capacity(me.joins.len());
    for j in &me.joins {
        let wp = plan
            .workspaces
            .iter()
            .find(|w| w.name == j.workspace)
            .ok_or_else(|| format!("the plan has no workspace {}", j.workspace))?;
        let access = match j.access {
            PlanAccess::ReadWrite => Access::ReadWrite,
            PlanAccess::ReadOnly => Access::ReadOnly,
        };
        let name = super::workspace_name(&opts.name, &wp.name);
        let options =
            JoinOptions::new(&name, wp.fingerprint, access).with_backing(super::backing_of(wp));
        let workspace =
            Workspace::join_with(&options).map_err(|e| format!("cannot join {name}: {e}"))?;
        joined.push(Joined {
            plan: wp.clone(),
            workspace,
        });
    }

    let own = super::tile_workspace(&me.instance);
    let own = joined
        .iter()
        .find(|j| j.plan.name == own && j.workspace.access() == Access::ReadWrite)
        .ok_or_else(|| format!("the plan does not map {own} read-write"))?;
    let object = |kind: ObjectKind| -> Result<Region<'_>, String> {
        let o = own
            .plan
            .objects
            .iter()
            .find(|o| o.kind == kind)
            .ok_or_else(|| format!("{} has no {kind:?} object", own.plan.name))?;
        Region::from_workspace(&own.workspace, o.offset, o.size)
            .map_err(|e| format!("{} {kind:?} object: {e}", own.plan.name))
    };
    let status = TileStatus::new(object(ObjectKind::Status)?).map_err(|e| e.to_string())?;
    status.set_pid(std::process::id());
    status.set_state(TileState::Booting);

    // A tile that reads the netbase announces, per route table, the epoch it has passed, so
    // that the writer reuses memory only once no reader can still see it (QSBR).
    let epochs: Vec<&AtomicU64> = match joined
        .iter()
        .find(|j| j.plan.holds_tables && j.workspace.access() == Access::ReadOnly)
    {
        Some(j) => {
            let view = wait_for_tables(&j.workspace, &stop)?;
            epochs_by_slot(&view).to_vec()
        }
        None => Vec::new(),
    };
    let build_ctx = kinds::BuildContext {
        plan: &plan,
        me,
        joined: &joined,
    };
    let booted = (|| {
        let tile = kinds::build(&build_ctx)?;
        let metrics = tile::MetricsWriter::new(object(ObjectKind::Metrics)?, tile.metrics())
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((tile, metrics))
    })();
    let (mut tile, metrics) = match booted {
        Ok(b) => b,
        Err(e) => {
            status.set_last_error(1);
            status.set_state(TileState::Failed);
            return Err(e);
        }
    };
    match super::confine::confine(me, tile.as_ref(), &joined) {
        Ok(report) => {
            // One write: tiles share the supervisor's stderr, and a line written in pieces
            // interleaves with theirs.
            let line = format!("netbase tile {}: confined: {report}\n", opts.instance);
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
        Err(e) => {
            status.set_last_error(1);
            status.set_state(TileState::Failed);
            return Err(e);
        }
    }
    if let Some(fault) = super::confine::injected_fault(me) {
        inject(&fault, &joined)?;
    }
    let ctx = TileContext {
        status,
        metrics,
        netbase_epochs: &epochs,
    };
    match tile::run(tile.as_mut(), &ctx, &stop, &LoopConfig::default()) {
        LoopExit::Stopped => Ok(0),
        LoopExit::Failed(e) => {
            eprintln!(
                "netbase tile {}: {} failed: {e}",
                opts.instance,
                tile.name()
            );
            Ok(EXIT_TILE_FAILED)
        }
    }
}

/// How long a reader tile waits for the netbase writer to lay out the tables.
const TABLES_TIMEOUT: Duration = Duration::from_secs(10);

/// The tables of a netbase workspace, once its writer (started at the same time) has
/// initialized them. Errors after [`TABLES_TIMEOUT`], or at once on a stop request.
fn wait_for_tables<'a>(ws: &'a Workspace, stop: &AtomicBool) -> Result<NetbaseView<'a>, String> {
    let deadline = Instant::now() + TABLES_TIMEOUT;
    loop {
        match NetbaseView::attach(ws) {
            Ok(view) => return Ok(view),
            Err(e) if Instant::now() >= deadline || stop.load(Ordering::Relaxed) => {
                return Err(format!(
                    "netbase tables not ready after {} s: {e}",
                    TABLES_TIMEOUT.as_secs()
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Misbehaves as asked by the fault-injection tests (see `confine::FAULT_ENV`); a confined
/// tile must die of it, so returning is an error.
fn inject(fault: &str, joined: &[Joined]) -> Result<(), String> {
    eprintln!("netbase tile: injecting fault {fault}");
    match fault {
        // A compromised net tile reaching for the netlink interface: the filter kills it.
        "netlink-socket" => {
            let r = netbase_runtime::netlink::socket::NetlinkSocket::open(
                netbase_runtime::netlink::socket::Mode::NonBlocking,
            );
            Err(format!("opening a netlink socket was not stopped: {r:?}"))
        }
        // A compromised reader writing the netbase: the mapping is read-only, the store faults.
        "write-netbase" => {
            let ws = joined
                .iter()
                .find(|j| j.plan.holds_tables)
                .ok_or("no netbase mapped")?;
            let table = ws.plan.objects.first().ok_or("the netbase has no table")?;
            let region = Region::from_workspace(&ws.workspace, table.offset, 8)
                .map_err(|e| e.to_string())?;
            region.words()[0].store(0, std::sync::atomic::Ordering::Relaxed);
            Err("a store into the read-only netbase did not fault".into())
        }
        other => Err(format!("unknown fault {other:?}")),
    }
}
