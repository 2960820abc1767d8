//! `netbase run`: create an instance's shared memory, start its tiles, supervise them, and
//! tear everything down again.

use std::fs;
use std::io::{self, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netbase_codegen::plan::{ObjectKind, Plan, TilePlan};
use netbase_codegen::topology::TileParams;
use netbase_codegen::Topology;
use netbase_runtime::process::{send_signal, signal_name, spawn_with_parent_death_keeping};
use netbase_runtime::region::Region;
use netbase_runtime::tile::{GuestSlots, TileState, TileStatus};
use netbase_runtime::workspace::{Access, CreateOptions, JoinOptions, RemoveGuard, Workspace};

use super::{kinds, PLAN_FILE, SUPERVISOR_PID_FILE};

/// How often the supervisor looks at its children and its stop flag.
const POLL: Duration = Duration::from_millis(20);
/// How long tiles get to leave their loop after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// A tile that dies more than [`MAX_RESTARTS`] times within this window stops the instance
/// instead of being restarted forever.
const RESTART_WINDOW: Duration = Duration::from_secs(60);
const MAX_RESTARTS: usize = 5;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub topology: PathBuf,
    pub name: String,
}

/// Runs an instance until a signal (exit 0) or a tile's death (exit 1). Invalid input exits
/// 2 before anything is created.
pub fn supervise(opts: &RunOptions) -> i32 {
    let plan = match Topology::load(&opts.topology) {
        Ok(topo) => Plan::build(&topo),
        Err(diags) => {
            eprintln!(
                "{diags}\n\n{} error(s) in {}",
                diags.len(),
                opts.topology.display()
            );
            return crate::cli::EXIT_INVALID;
        }
    };
    for t in &plan.tiles {
        if let Err(e) = kinds::check_available(t) {
            eprintln!("netbase run: {e} ({})", opts.topology.display());
            return crate::cli::EXIT_INVALID;
        }
    }
    if let Err(e) = super::validate_instance_name(&opts.name, &plan) {
        eprintln!("netbase run: {e}");
        return crate::cli::EXIT_INVALID;
    }
    match Instance::start(&opts.name, &plan) {
        Ok(mut instance) => instance.supervise(&plan),
        Err(e) => {
            eprintln!("netbase run: {e}");
            1
        }
    }
}

struct TileChild {
    instance: String,
    /// Restarted when it dies (`restart = true` in the topology).
    restart: bool,
    /// When it was restarted lately (within [`RESTART_WINDOW`]).
    restarts: Vec<Instant>,
    child: Child,
    /// Set once reaped, so it is neither signalled nor reported again.
    exited: Option<ExitStatus>,
}

/// A running instance. Dropping it (also on a panic) removes the shared memory and the run
/// directory; the tiles are stopped by [`Instance::stop`] before that, and in any case die
/// with this process (`PR_SET_PDEATHSIG`).
struct Instance {
    name: String,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    tiles: Vec<TileChild>,
    /// Read-only mappings of the tiles' status objects: `(tile instance, workspace, offset)`.
    status: Vec<(String, Workspace, u64)>,
    /// The XDP programs the net tiles serve; detached when the instance is dropped (or the
    /// process dies: the kernel closes the link descriptors).
    xdp: Vec<super::xdp::Attached>,
    /// The guest reader slots (`guest.readers`, if the topology has tables) and the offset of
    /// the object: the supervisor frees the slots of guests that died holding one.
    guests: Option<(Workspace, u64)>,
    // Declared last: dropped after the mappings above.
    _files: InstanceFiles,
}

/// The instance's files, removed on drop.
struct InstanceFiles {
    dir: PathBuf,
    workspaces: Vec<RemoveGuard>,
}

impl Drop for InstanceFiles {
    fn drop(&mut self) {
        self.workspaces.clear();
        // Nothing to report to from a destructor; a missing directory is fine.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Instance {
    fn start(name: &str, plan: &Plan) -> Result<Instance, String> {
        let dir = super::instance_dir(name);
        clean_up_dead_instance(name, &dir, plan)?;

        // Signals first: from here on a SIGTERM means "stop and clean up", not "die and leave
        // files behind".
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, Arc::clone(&stop))
                .map_err(|e| format!("cannot install the signal handler: {e}"))?;
        }

        let root = super::run_root();
        fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        // create_dir, not create_dir_all: of two supervisors racing for one name, exactly one
        // gets the directory.
        fs::create_dir(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                format!(
                    "instance {name} is starting or running ({} exists)",
                    dir.display()
                )
            }
            _ => format!("cannot create {}: {e}", dir.display()),
        })?;
        let mut files = InstanceFiles {
            dir: dir.clone(),
            workspaces: Vec::new(),
        };
        write_file(
            &dir.join(SUPERVISOR_PID_FILE),
            &format!("{}\n", std::process::id()),
        )?;
        let json = serde_json::to_string_pretty(plan)
            .map_err(|e| format!("cannot serialize the plan: {e}"))?;
        write_file(&dir.join(PLAN_FILE), &json)?;

        let mut status = Vec::new();
        let mut guests = None;
        for w in &plan.workspaces {
            let ws_name = super::workspace_name(name, &w.name);
            let backing = super::backing_of(w);
            files
                .workspaces
                .push(RemoveGuard::new(&ws_name, &backing).map_err(|e| format!("{ws_name}: {e}"))?);
            let options =
                CreateOptions::new(&ws_name, w.size, w.fingerprint).with_backing(backing.clone());
            // Created and dropped at once: the tile that writes it takes the writer lock, and
            // a dropped creator counts as a clean detach.
            let created = Workspace::create(&options)
                .map_err(|e| format!("cannot create workspace {ws_name}: {e}"))?;
            super::links::init_rings(plan, &w.name, &created)?;
            if let Some(o) = w
                .objects
                .iter()
                .find(|o| o.kind == ObjectKind::GuestReaders)
            {
                // Kept: the supervisor is this workspace's writer for the instance's life.
                guest_slots(&created, o.offset)?.initialize();
                guests = Some((created, o.offset));
                continue;
            }
            drop(created);
            if let Some(o) = w.objects.iter().find(|o| o.kind == ObjectKind::Status) {
                let tile = w.writer.clone().unwrap_or_default();
                let options = JoinOptions::new(&ws_name, w.fingerprint, Access::ReadOnly)
                    .with_backing(backing);
                let ws = Workspace::join_with(&options)
                    .map_err(|e| format!("cannot map {ws_name}: {e}"))?;
                status.push((tile, ws, o.offset));
            }
        }

        let xdp = super::xdp::attach_all(plan)?;
        let mut instance = Instance {
            name: name.to_owned(),
            dir,
            stop,
            tiles: Vec::new(),
            status,
            xdp,
            guests,
            _files: files,
        };
        for t in &plan.tiles {
            match instance.spawn(t) {
                Ok(child) => instance.tiles.push(child),
                Err(e) => {
                    instance.stop();
                    return Err(e);
                }
            }
        }
        Ok(instance)
    }

    /// Starts the process of tile `t` (and writes its pid file).
    fn spawn(&self, t: &TilePlan) -> Result<TileChild, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the netbase executable: {e}"))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("tile")
            .args(["--name", &self.name, "--instance", &t.instance, "--run-dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            // Own process group: Ctrl-C reaches only the supervisor, which then stops the
            // tiles in order instead of racing with them.
            .process_group(0);
        let mut keep = Vec::new();
        if let TileParams::Net { interface, .. } = &t.params {
            if let Some(fd) = super::xdp::map_fd_for(&self.xdp, interface) {
                cmd.env(super::xdp::XSKMAP_FD_ENV, fd.to_string());
                keep.push(fd);
            }
        }
        let child = spawn_with_parent_death_keeping(&mut cmd, &keep)
            .map_err(|e| format!("cannot start tile {}: {e}", t.instance))?;
        let pid = child.id();
        let tile = TileChild {
            instance: t.instance.clone(),
            restart: t.restart,
            child,
            exited: None,
            restarts: Vec::new(),
        };
        if let Err(e) = write_file(
            &super::tile_pid_file(&self.dir, &t.instance),
            &format!("{pid}\n"),
        ) {
            // Untracked, it would outlive the instance's bookkeeping: stop it now.
            let mut tile = tile;
            let _ = tile.child.kill();
            let _ = tile.child.wait();
            return Err(e);
        }
        Ok(tile)
    }

    /// Restarts the tile at `index` of `self.tiles` after its death, unless it died too often
    /// lately. Returns false when it is not restarted.
    fn restart(&mut self, index: usize, plan: &Plan) -> bool {
        let now = Instant::now();
        let mut history = std::mem::take(&mut self.tiles[index].restarts);
        history.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        if history.len() >= MAX_RESTARTS {
            eprintln!(
                "netbase run: tile {} died {} times within {} s; not restarting it",
                self.tiles[index].instance,
                history.len() + 1,
                RESTART_WINDOW.as_secs()
            );
            return false;
        }
        let Some(t) = plan
            .tiles
            .iter()
            .find(|t| t.instance == self.tiles[index].instance)
        else {
            return false;
        };
        // The dead tile's pid file goes first: pid files are created exclusively.
        let _ = fs::remove_file(super::tile_pid_file(&self.dir, &t.instance));
        match self.spawn(t) {
            Ok(mut child) => {
                history.push(now);
                child.restarts = history;
                eprintln!(
                    "netbase run: restarted tile {} (pid {})",
                    child.instance,
                    child.child.id()
                );
                self.tiles[index] = child;
                true
            }
            Err(e) => {
                eprintln!("netbase run: {e}");
                false
            }
        }
    }

    /// Waits for a signal or a tile's death, then stops everything.
    fn supervise(&mut self, plan: &Plan) -> i32 {
        let mut announced = false;
        loop {
            if self.stop.load(Relaxed) {
                eprintln!("netbase run: stopping instance {}", self.name);
                let clean = self.stop();
                return if clean { 0 } else { 1 };
            }
            if let Some((instance, pid, status)) = self.reap_one() {
                let index = self.tiles.iter().position(|t| t.instance == instance);
                if let Some(i) = index.filter(|&i| self.tiles[i].restart) {
                    eprintln!(
                        "netbase run: tile {instance} (pid {pid}) {}; restarting it",
                        describe(status)
                    );
                    if self.restart(i, plan) {
                        continue;
                    }
                }
                eprintln!(
                    "netbase run: tile {instance} (pid {pid}) {}; stopping instance {}",
                    describe(status),
                    self.name
                );
                self.stop();
                return 1;
            }
            self.reap_guests();
            if !announced && self.all_running() {
                announced = true;
                eprintln!(
                    "netbase run: instance {} running ({} tiles, run dir {})",
                    self.name,
                    self.tiles.len(),
                    self.dir.display()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Frees the guest reader slots of `netbase show`/`route get`/`diff` processes that died
    /// holding one, so that they do not hold the tables writer's reclamation back.
    fn reap_guests(&self) {
        if let Some((ws, offset)) = &self.guests {
            if let Ok(slots) = guest_slots(ws, *offset) {
                let freed = slots.reap(netbase_runtime::process::process_gone);
                if freed > 0 {
                    eprintln!("netbase run: freed {freed} guest reader slot(s) of exited readers");
                }
            }
        }
    }

    fn all_running(&self) -> bool {
        self.status.iter().all(|(_, ws, offset)| {
            Region::from_workspace(
                ws,
                *offset,
                netbase_runtime::tables::geometry::TILE_STATUS_BYTES,
            )
            .ok()
            .and_then(|r| TileStatus::new(r).ok())
            .is_some_and(|s| s.state() == TileState::Running)
        })
    }

    /// Reaps one exited tile, if any: `(tile instance, pid, status)`.
    fn reap_one(&mut self) -> Option<(String, u32, ExitStatus)> {
        for t in &mut self.tiles {
            if t.exited.is_some() {
                continue;
            }
            if let Ok(Some(status)) = t.child.try_wait() {
                t.exited = Some(status);
                return Some((t.instance.clone(), t.child.id(), status));
            }
        }
        None
    }

    /// SIGTERM to every live tile, SIGKILL to those still there after [`STOP_TIMEOUT`].
    /// Returns whether every tile left on its own with status 0.
    fn stop(&mut self) -> bool {
        for t in &self.tiles {
            if t.exited.is_none() {
                // The child is not reaped yet, so its pid cannot have been reused.
                let _ = send_signal(t.child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut clean = true;
        loop {
            while let Some((instance, pid, status)) = self.reap_one() {
                if !status.success() {
                    clean = false;
                    eprintln!(
                        "netbase run: tile {instance} (pid {pid}) {} while stopping",
                        describe(status)
                    );
                }
            }
            if self.tiles.iter().all(|t| t.exited.is_some()) {
                return clean;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        for t in &mut self.tiles {
            if t.exited.is_none() {
                eprintln!(
                    "netbase run: tile {} (pid {}) did not stop within {:?}; killing it",
                    t.instance,
                    t.child.id(),
                    STOP_TIMEOUT
                );
                let _ = t.child.kill();
                t.exited = t.child.wait().ok();
            }
        }
        false
    }
}

/// "died: signal 11 (SIGSEGV)" or "exited with status 3".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match signal_name(sig) {
            Some(n) => format!("died: signal {sig} ({n})"),
            None => format!("died: signal {sig}"),
        },
        (None, None) => format!("ended: {status}"),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    fs::File::create_new(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Refuses to start over a live supervisor of `name`; otherwise removes what a dead one left:
/// orphaned tiles (killed), its workspaces and its run directory.
fn clean_up_dead_instance(name: &str, dir: &Path, plan: &Plan) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    if let Some(pid) = super::read_pid(&dir.join(SUPERVISOR_PID_FILE)) {
        if super::is_live_instance_process(pid, "run", name) {
            return Err(format!(
                "instance {name} is already running (supervisor pid {pid}, run dir {})",
                dir.display()
            ));
        }
    } else if dir.join(PLAN_FILE).exists() {
        // A plan but no readable pid: a supervisor between creating the directory and writing
        // its pid, or a damaged directory. Neither is ours to delete.
        return Err(format!(
            "{} has no readable {SUPERVISOR_PID_FILE}; remove it if no instance {name} runs",
            dir.display()
        ));
    }
    eprintln!(
        "netbase run: cleaning up after a dead instance {name} ({})",
        dir.display()
    );
    let old_plan = super::load_plan(dir).ok();
    for p in old_plan.iter().chain([plan]) {
        for t in &p.tiles {
            let pid_file = super::tile_pid_file(dir, &t.instance);
            if let Some(pid) = super::read_pid(&pid_file) {
                // PDEATHSIG normally got them already; a survivor would hold writer locks.
                if super::is_live_instance_process(pid, "tile", name) {
                    let _ = send_signal(pid, libc::SIGKILL);
                    wait_gone(pid);
                }
            }
        }
        for w in &p.workspaces {
            let ws_name = super::workspace_name(name, &w.name);
            if let Ok(path) = super::backing_of(w).path_of(&ws_name) {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
                }
            }
        }
    }
    fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// The guest reader slots object at `offset` of `ws`.
fn guest_slots(ws: &Workspace, offset: u64) -> Result<GuestSlots<'_, AtomicU64>, String> {
    let region = Region::from_workspace(ws, offset, netbase_runtime::tile::GUEST_READERS_BYTES)
        .map_err(|e| format!("guest reader slots: {e}"))?;
    GuestSlots::new(region).map_err(|e| format!("guest reader slots: {e}"))
}

/// Waits (briefly) until a killed process that is not our child is gone.
fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
