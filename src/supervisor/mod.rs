//! The supervisor of an instance (`netbase run`) and the tile processes it starts
//! (`netbase tile`, hidden).
//!
//! An instance `NAME` is:
//! - its shared memory: every workspace `W` of the plan as workspace `NAME.W`
//!   (`/dev/shm/netbase-NAME.W`), so two instances of one topology never collide;
//! - its run directory `$NETBASE_RUN_DIR/NAME` (default `/run/netbase/NAME`): `supervisor.pid`,
//!   `plan.json` (what every tile and `netbase metrics` read, so they need no topology file)
//!   and `<tile instance>.pid` per tile;
//! - one process per tile instance, a child of the supervisor that dies with it
//!   (`PR_SET_PDEATHSIG`).

mod confine;
pub mod kinds;
pub(crate) mod links;
mod run;
mod tile_main;
pub mod xdp;

pub use run::{supervise, RunOptions};
pub use tile_main::{run_tile, TileOptions};

use std::fs;
use std::path::{Path, PathBuf};

use netbase_codegen::plan::{Plan, WorkspacePlan};
use netbase_runtime::workspace::{validate_name, Backing};

/// Environment variable that moves the run directories out of `/run/netbase` (tests, users
/// without write access to `/run`).
pub const RUN_DIR_ENV: &str = "NETBASE_RUN_DIR";
/// Parent of every instance's run directory when [`RUN_DIR_ENV`] is unset.
pub const DEFAULT_RUN_DIR: &str = "/run/netbase";
/// Instance name when `--name` is not given.
pub const DEFAULT_INSTANCE: &str = "netbase";
/// Environment variable naming the hugetlbfs mount for `backing = "hugetlb"` workspaces.
pub const HUGETLB_DIR_ENV: &str = "NETBASE_HUGETLB_DIR";
/// The usual hugetlbfs mount point.
pub const DEFAULT_HUGETLB_DIR: &str = "/dev/hugepages";

/// File names inside the run directory.
pub const SUPERVISOR_PID_FILE: &str = "supervisor.pid";
pub const PLAN_FILE: &str = "plan.json";

/// The directory holding every instance's run directory.
pub fn run_root() -> PathBuf {
    std::env::var_os(RUN_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_RUN_DIR), PathBuf::from)
}

/// The run directory of instance `name`.
pub fn instance_dir(name: &str) -> PathBuf {
    run_root().join(name)
}

/// The pid file of tile instance `tile` (`net.0`).
pub fn tile_pid_file(dir: &Path, tile: &str) -> PathBuf {
    dir.join(format!("{tile}.pid"))
}

/// The workspace name of plan workspace `ws` in instance `name`.
pub fn workspace_name(name: &str, ws: &str) -> String {
    format!("{name}.{ws}")
}

/// The shared-memory files that instance `name` has in the default shm directory now (its
/// workspaces, `netbase-<name>.<workspace>`): empty once it has stopped cleanly.
pub fn instance_shm_files(name: &str) -> Vec<String> {
    let prefix = format!("netbase-{name}.");
    std::fs::read_dir(netbase_runtime::workspace::DEFAULT_SHM_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The private workspace of tile instance `tile` (status, metrics), as the plan names it.
pub fn tile_workspace(tile: &str) -> String {
    format!("tile.{tile}")
}

/// Checks that `name` can name an instance: every workspace name it produces must be valid
/// (the alphabet, and short enough for the header's name field).
pub fn validate_instance_name(name: &str, plan: &Plan) -> Result<(), String> {
    validate_name(name).map_err(|e| format!("invalid instance name: {e}"))?;
    for w in &plan.workspaces {
        validate_name(&workspace_name(name, &w.name))
            .map_err(|e| format!("instance name {name:?} is unusable for this topology: {e}"))?;
    }
    Ok(())
}

/// The runtime backing of a planned workspace.
pub fn backing_of(w: &WorkspacePlan) -> Backing {
    match w.backing {
        netbase_codegen::topology::Backing::Shm => Backing::Shm,
        netbase_codegen::topology::Backing::Hugetlb => Backing::HugeTlb {
            dir: std::env::var_os(HUGETLB_DIR_ENV)
                .filter(|d| !d.is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_HUGETLB_DIR), PathBuf::from),
        },
    }
}

/// Reads the plan an instance was started with.
pub fn load_plan(dir: &Path) -> Result<Plan, String> {
    let path = dir.join(PLAN_FILE);
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The pid in a pid file, if the file holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

/// The command line of a live (non-zombie) process, or `None` if there is none with that pid.
fn live_cmdline(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 3, after the parenthesised command name (which may itself contain ") ").
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    if matches!(state, 'Z' | 'X') {
        return None;
    }
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whether `pid` is a live netbase process whose arguments start with `subcommand` and that
/// serves instance `name`. A pid file can outlive its process and the pid be reused by an
/// unrelated one; only a process that matches all of that is taken to be ours.
pub fn is_live_instance_process(pid: i32, subcommand: &str, name: &str) -> bool {
    let Some(args) = live_cmdline(pid) else {
        return false;
    };
    let is_netbase = args.first().is_some_and(|a| {
        Path::new(a)
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("netbase"))
    });
    let rest = &args[1.min(args.len())..];
    let mut names = DEFAULT_INSTANCE;
    for (i, a) in rest.iter().enumerate() {
        if let Some(n) = a.strip_prefix("--name=") {
            names = n;
        } else if a == "--name" {
            names = rest.get(i + 1).map_or("", String::as_str);
        }
    }
    is_netbase && rest.first().is_some_and(|s| s == subcommand) && names == name
}
