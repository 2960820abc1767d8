//! A netbase instance of the embedded default topology, run inside a network namespace by a
//! supervisor child process that this process owns (and alone stops, by its pid).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netbase_codegen::plan::Plan;
use netbase_runtime::netns::Netns;
use netbase_runtime::process::{send_signal, spawn_with_parent_death};
use netbase_runtime::tile::TileState;

use crate::cli::metrics::read_tile;

/// The shipped schema and default topology, embedded so that `netbase demo` needs no files.
const SCHEMA: &str = include_str!("../../schema/netbase.toml");
const DEFAULT_TOPOLOGY: &str = include_str!("../../schema/topologies/default.toml");

/// How long the tiles get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the supervisor gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One metric sample of one tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub tile: String,
    pub metric: &'static str,
    pub value: u64,
}

/// A running instance; dropping it stops the supervisor (which stops its tiles, removes its
/// shared memory and detaches XDP) and removes the files written for it.
pub struct Instance {
    name: String,
    /// The topology and schema files (the run directory is the usual one: see `supervisor`).
    dir: PathBuf,
    child: Option<Child>,
    plan: Plan,
}

impl Instance {
    /// Starts instance `name` of the default topology in `ns` with the netbase executable
    /// `exe` and waits until every tile runs. `log` receives the supervisor's and tiles' stderr (a file), so that the caller's
    /// terminal stays free for its progress line.
    pub fn start(ns: &Netns, name: &str, log: &Path, exe: &Path) -> Result<Instance, String> {
        Instance::start_topology(ns, name, log, exe, DEFAULT_TOPOLOGY)
    }

    /// [`Instance::start`] with another topology text (its `schema` must be
    /// `"../netbase.toml"`, the shipped schema, as in the default topology).
    pub fn start_topology(
        ns: &Netns,
        name: &str,
        log: &Path,
        exe: &Path,
        topology_text: &str,
    ) -> Result<Instance, String> {
        Instance::start_with_env(ns, name, log, exe, topology_text, &[])
    }

    /// [`Instance::start_topology`] with extra environment variables for the supervisor (and
    /// through it the tiles): test settings such as fault injection.
    pub fn start_with_env(
        ns: &Netns,
        name: &str,
        log: &Path,
        exe: &Path,
        topology_text: &str,
        env: &[(&str, &str)],
    ) -> Result<Instance, String> {
        let dir = std::env::temp_dir().join(format!("netbase-{name}"));
        let _ = fs::remove_dir_all(&dir);
        let topo_dir = dir.join("topologies");
        fs::create_dir_all(&topo_dir)
            .map_err(|e| format!("cannot create {}: {e}", topo_dir.display()))?;
        let write = |p: PathBuf, text: &str| {
            fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
        };
        write(dir.join("netbase.toml"), SCHEMA)?;
        let topology = topo_dir.join("default.toml");
        write(topology.clone(), topology_text)?;
        let plan = match netbase_codegen::Topology::load(&topology) {
            Ok(t) => Plan::build(&t),
            Err(d) => return Err(format!("embedded default topology: {d}")),
        };
        let mut instance = Instance {
            name: name.to_owned(),
            dir,
            child: None,
            plan,
        };

        let log_file =
            fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name()])
            .arg(exe)
            .arg("run")
            .arg(&topology)
            .args(["--name", name])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        // `ip netns exec` execs the command in place: the pid is the supervisor's.
        let child = spawn_with_parent_death(&mut cmd)
            .map_err(|e| format!("cannot start the instance: {e}"))?;
        instance.child = Some(child);
        instance.wait_running(log)?;
        Ok(instance)
    }

    /// The instance name (its workspaces are `/dev/shm/netbase-NAME.*`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn wait_running(&mut self, log: &Path) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    let text = fs::read_to_string(log).unwrap_or_default();
                    return Err(format!("the instance exited ({status}):\n{}", text.trim()));
                }
            }
            // Files of a dead instance of the same name may still be there until our
            // supervisor has cleaned them up: only trust them once its pid file names it.
            let dir = crate::supervisor::instance_dir(&self.name);
            let ours =
                crate::supervisor::read_pid(&dir.join(crate::supervisor::SUPERVISOR_PID_FILE))
                    .is_some_and(|p| Some(p as u32) == self.child.as_ref().map(|c| c.id()));
            let states: Vec<Option<TileState>> = self
                .plan
                .tiles
                .iter()
                .map(|t| read_tile(&self.name, &self.plan, t).status.map(|s| s.state))
                .collect();
            if ours && states.iter().all(|s| *s == Some(TileState::Running)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let text = fs::read_to_string(log).unwrap_or_default();
                return Err(format!(
                    "the instance did not start within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    text.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of tile instance `tile` (`netlink.0`) from the instance's pid file.
    pub fn tile_pid(&self, tile: &str) -> Option<i32> {
        let dir = crate::supervisor::instance_dir(&self.name);
        crate::supervisor::read_pid(&crate::supervisor::tile_pid_file(&dir, tile))
    }

    /// The embedded default topology's text, for variants.
    pub fn default_topology() -> &'static str {
        DEFAULT_TOPOLOGY
    }

    /// The supervisor's pid while it runs (a child of this process).
    pub fn supervisor_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Waits up to `timeout` for the supervisor to exit; its status, or `None` if it still
    /// runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every metric of every tile, now.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for t in &self.plan.tiles {
            let r = read_tile(&self.name, &self.plan, t);
            for (def, value) in r.values {
                out.push(Sample {
                    tile: t.instance.clone(),
                    metric: def.name,
                    value,
                });
            }
        }
        out
    }

    /// The sum of `metric` over all tiles.
    pub fn metric(&self, metric: &str) -> u64 {
        self.samples()
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| s.value)
            .sum()
    }

    /// Stops the supervisor (SIGTERM, then SIGKILL after `STOP_TIMEOUT`) and waits for it.
    /// Returns whether it stopped cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = send_signal(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
