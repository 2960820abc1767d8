//! `netbase run` / `netbase metrics` end to end: a real supervisor with real tile processes,
//! driven through signals, as an operator would.
//!
//! Every test uses its own `NETBASE_RUN_DIR` under /tmp and its own instance name
//! `t<pid><letter>`, so tests run in parallel with each other and with other checkouts; the
//! [`Instance`] guard kills the supervisor it started (whose tiles die with it) and removes
//! the shared-memory files and the run directory also when the test fails.

mod support;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use netbase_runtime::region::Region;
use netbase_runtime::tile::{StatusSnapshot, TileState, TileStatus};
use netbase_runtime::workspace::{Access, JoinOptions, Workspace, DEFAULT_SHM_DIR};

const BIN: &str = env!("CARGO_BIN_EXE_netbase");
const TIMEOUT: Duration = Duration::from_secs(20);

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema/topologies")
        .join(name)
}

/// A supervisor started by the test, and everything it may leave behind.
struct Instance {
    name: String,
    root: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Instance {
    fn new(letter: char) -> Instance {
        let name = format!("t{}{letter}", std::process::id());
        let root = std::env::temp_dir().join(format!("netbase-run-test-{name}"));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let log = root.join("supervisor.log");
        Instance {
            name,
            root,
            child: None,
            log,
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("NETBASE_RUN_DIR", &self.root);
        cmd
    }

    /// Starts `netbase run` (stderr to the log) and waits until every tile runs and
    /// heartbeats.
    fn start(&mut self) {
        let log = fs::File::create(&self.log).unwrap();
        let child = self
            .command(&[
                "run",
                topology("netlink.toml").to_str().unwrap(),
                "--name",
                &self.name,
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_running();
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self) -> Option<StatusSnapshot> {
        let plan = netbase::supervisor::load_plan(&self.dir()).ok()?;
        let wp = plan
            .workspaces
            .iter()
            .find(|w| w.name == "tile.netlink.0")?;
        let o = wp.objects.iter().find(|o| o.name == "status")?;
        let ws = Workspace::join_with(&JoinOptions::new(
            format!("{}.{}", self.name, wp.name),
            wp.fingerprint,
            Access::ReadOnly,
        ))
        .ok()?;
        let region = Region::from_workspace(&ws, o.offset, o.size).ok()?;
        Some(TileStatus::new(region).ok()?.snapshot())
    }

    fn wait_running(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        let first = loop {
            // Only this run's files count: after a killed supervisor, the previous run's
            // directory and status object (still saying running) linger until the new
            // supervisor has cleaned them up, which it has once its own pid is in the dir.
            let read = |f: &str| -> Option<u64> {
                fs::read_to_string(self.dir().join(f))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            let ours = read("supervisor.pid") == Some(u64::from(self.child.as_ref().unwrap().id()));
            let tile = read("netlink.0.pid");
            let current =
                |s: &StatusSnapshot| ours && s.state == TileState::Running && Some(s.pid) == tile;
            if let Some(s) = self.status().filter(current) {
                break s;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "supervisor exited with {st} before running:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tile never running:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        loop {
            let s = self.status().expect("status vanished");
            assert_eq!(s.pid, first.pid, "a different tile runs");
            if s.heartbeat_ns > first.heartbeat_ns && s.iterations > first.iterations {
                assert_eq!(s.state, TileState::Running);
                return;
            }
            assert!(Instant::now() < deadline, "heartbeat stuck at {first:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn tile_pid(&self) -> i32 {
        let text = fs::read_to_string(self.dir().join("netlink.0.pid")).unwrap();
        text.trim().parse().unwrap()
    }

    fn signal_supervisor(&self, sig: i32) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        netbase_runtime::process::send_signal(pid, sig).unwrap();
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < deadline, "supervisor did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn shm_files(&self) -> Vec<String> {
        netbase::supervisor::instance_shm_files(&self.name)
    }

    fn assert_cleaned_up(&self) {
        assert_eq!(self.shm_files(), Vec::<String>::new(), "{}", self.log());
        assert!(!self.dir().exists(), "run dir left behind:\n{}", self.log());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child; its tiles die with it (PR_SET_PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
        }
        for f in self.shm_files() {
            let _ = fs::remove_file(Path::new(DEFAULT_SHM_DIR).join(f));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + TIMEOUT;
    while !process_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn runs_serves_metrics_refuses_a_second_supervisor_and_stops_on_sigterm() {
    let mut inst = Instance::new('a');
    inst.start();

    let out = inst
        .command(&["metrics", "--name", &inst.name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let word = rest.split_whitespace().next();
            assert!(
                matches!(word, Some("HELP" | "TYPE")),
                "bad comment {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        assert!(series.starts_with("netbase_"), "{line:?}");
        assert!(
            series.ends_with("{tile=\"netlink\",instance=\"0\"}"),
            "labels of {line:?}"
        );
        samples.insert(series.split('{').next().unwrap().to_owned(), value);
    }
    assert_eq!(samples.get("netbase_tile_up"), Some(&1.0), "{text}");
    assert!(
        samples["netbase_tile_heartbeat_age_seconds"] < 1.0,
        "{text}"
    );
    assert!(
        samples["netbase_tile_loop_iterations_total"] > 0.0,
        "{text}"
    );
    assert!(
        samples["netbase_netlink_housekeeping_total"] > 0.0,
        "{text}"
    );
    assert!(text.contains("# TYPE netbase_netlink_housekeeping_total counter"));

    let second = inst
        .command(&[
            "run",
            topology("netlink.toml").to_str().unwrap(),
            "--name",
            &inst.name,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("already running"), "{err}");
    assert_eq!(inst.status().map(|s| s.state), Some(TileState::Running));

    let tile = inst.tile_pid();
    inst.signal_supervisor(libc::SIGTERM);
    let st = inst.wait_exit();
    assert_eq!(st.code(), Some(0), "{}", inst.log());
    wait_gone(tile);
    inst.assert_cleaned_up();
}

#[test]
fn a_dead_tile_stops_the_instance_with_its_signal() {
    let mut inst = Instance::new('b');
    inst.start();
    let tile = inst.tile_pid();
    netbase_runtime::process::send_signal(tile, libc::SIGKILL).unwrap();
    let st = inst.wait_exit();
    assert_eq!(st.code(), Some(1), "{}", inst.log());
    let expected = format!("tile netlink.0 (pid {tile}) died: signal 9 (SIGKILL)");
    assert!(inst.log().contains(&expected), "{}", inst.log());
    inst.assert_cleaned_up();
}

#[test]
fn a_killed_supervisor_takes_its_tiles_and_the_next_run_cleans_up() {
    let mut inst = Instance::new('c');
    inst.start();
    let tile = inst.tile_pid();
    inst.signal_supervisor(libc::SIGKILL);
    let st = inst.wait_exit();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    wait_gone(tile);
    assert!(
        !inst.shm_files().is_empty(),
        "a killed supervisor cannot clean up"
    );

    inst.start();
    assert!(
        inst.log().contains("cleaning up after a dead instance"),
        "{}",
        inst.log()
    );
    assert_ne!(inst.tile_pid(), tile);
    inst.signal_supervisor(libc::SIGINT);
    assert_eq!(inst.wait_exit().code(), Some(0), "{}", inst.log());
    inst.assert_cleaned_up();
}

#[test]
fn a_missing_net_interface_fails_the_start_and_leaves_nothing() {
    // The default topology's net tile serves `veth0`; where there is none (this test's
    // namespace-less host has no such device, or the test runs unprivileged) the start fails
    // before any tile runs, names the interface, and removes what it created.
    let inst = Instance::new('d');
    let out = inst
        .command(&[
            "run",
            topology("default.toml").to_str().unwrap(),
            "--name",
            &inst.name,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/sys/class/net/veth0").exists() {
        eprintln!("skipped: this host has a veth0, the start would not fail");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("veth0"), "{err}");
    assert!(!inst.dir().exists());
    assert!(inst.shm_files().is_empty());
}

#[test]
fn app_tiles_need_a_binary_that_has_their_apps() {
    // The example application crate's topology: `netbase` itself registers no applications,
    // so it refuses before creating anything and says which binary to use.
    let inst = Instance::new('a');
    let topology =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/apps/topologies/pipeline.toml");
    let out = inst
        .command(&["run", topology.to_str().unwrap(), "--name", &inst.name])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("runs app \"gen\", which this binary does not have (it has: none)")
            && err.contains("run the topology with the binary built from it"),
        "{err}"
    );
    assert!(!inst.dir().exists());
    assert!(inst.shm_files().is_empty());
}
