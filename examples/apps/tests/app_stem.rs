//! Application tiles on emitted stems, end to end: `netbase-example-apps` (an application binary,
//! `src/main.rs` of this crate) runs `topologies/pipeline.toml`, whose three app tiles
//! are driven by the stems netbase-codegen emitted from that file. Checked from the outside
//! through `netbase-example-apps metrics`: every number arrives doubled and in order over two
//! reliable links, the per-link counters agree, and SIGTERM removes everything. Also: a stem
//! generated from another shape of the topology refuses to run instead of misrouting frames,
//! and a UDP app tile answers clients through a net tile. (That `netbase` itself, which has
//! no applications, refuses these topologies is tested in the root crate.)
//!
//! No namespaces and no root needed (shared memory and processes only). Every test has its own
//! instance name and run directory, stops only the supervisor it started, and removes its
//! files, also on failure.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PIPELINE: &str = env!("CARGO_BIN_EXE_netbase-example-apps");
const TIMEOUT: Duration = Duration::from_secs(30);

/// This crate's directory.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How the example topologies name the shipped schema (relative to `topologies/`).
const SCHEMA_LINE: &str = "schema = \"../../../schema/netbase.toml\"";

fn shipped_schema() -> PathBuf {
    repo().join("../../schema/netbase.toml")
}

/// One instance of a topology under its own run directory.
struct Instance {
    name: String,
    root: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Instance {
    fn new(tag: &str) -> Instance {
        let name = format!("app{tag}{}", std::process::id());
        let root = std::env::temp_dir().join(format!("netbase-app-stem-{name}"));
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

    fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("NETBASE_RUN_DIR", &self.root)
            .stdin(Stdio::null());
        cmd
    }

    fn start(&mut self, bin: &str, topology: &Path) {
        let log = fs::File::create(&self.log).unwrap();
        let child = self
            .command(
                bin,
                &["run", topology.to_str().unwrap(), "--name", &self.name],
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `netbase-example-apps metrics`: `name{tile="t",…}` → value, keyed `t/name`.
    fn metrics(&self) -> Option<HashMap<String, f64>> {
        let out: Output = self
            .command(PIPELINE, &["metrics", "--name", &self.name])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8(out.stdout).ok()?;
        let samples = netbase::cli::parse_samples(&text).ok()?;
        Some(
            samples
                .into_iter()
                .map(|s| (format!("{}/{}", s.tile, s.name), s.value))
                .collect(),
        )
    }

    /// Waits until `done(metrics)`; panics with the log after the timeout or if the
    /// supervisor exits.
    fn wait_for(&mut self, what: &str, done: impl Fn(&HashMap<String, f64>) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "supervisor exited with {st} while waiting for {what}:\n{}",
                    self.log()
                );
            }
            if self.metrics().is_some_and(|m| done(&m)) {
                return;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the supervisor to exit by itself; its exit status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("not started");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "supervisor did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to our own child, then: clean exit, no shm files, no run directory.
    fn stop(&mut self) {
        let pid = self.child.as_ref().expect("not started").id();
        netbase_runtime::process::send_signal(pid as i32, libc::SIGTERM).unwrap();
        let status = self.wait_exit();
        assert!(status.success(), "exit {status}:\n{}", self.log());
        self.assert_clean();
    }

    fn assert_clean(&self) {
        assert_eq!(
            netbase::supervisor::instance_shm_files(&self.name),
            Vec::<String>::new(),
            "{}",
            self.log()
        );
        assert!(!self.root.join(&self.name).exists(), "run dir left behind");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child; its tiles die with it (PR_SET_PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
        }
        for f in netbase::supervisor::instance_shm_files(&self.name) {
            let _ = fs::remove_file(Path::new(netbase_runtime::workspace::DEFAULT_SHM_DIR).join(f));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn metric(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(f64::NAN)
}

#[test]
fn pipeline_of_app_tiles_delivers_every_frame_in_order() {
    let mut inst = Instance::new("p");
    inst.start(PIPELINE, &repo().join("topologies/pipeline.toml"));
    inst.wait_for("200,000 doubles at the sink", |m| {
        metric(m, "sink/netbase_pipeline_received_total") >= 200_000.0
    });
    // Each tile publishes its counters at its own housekeeping, so the two ends of a link
    // are compared only within one tile (hook vs stem), never across tiles.
    let m = inst.metrics().unwrap();
    let get = |k: &str| metric(&m, k);
    assert_eq!(
        get("sink/netbase_pipeline_out_of_order_total"),
        0.0,
        "{m:?}"
    );
    assert_eq!(get("relay/netbase_app_numbers_lost_total"), 0.0, "{m:?}");
    assert_eq!(get("sink/netbase_app_doubled_lost_total"), 0.0, "{m:?}");
    assert_eq!(
        get("sink/netbase_pipeline_received_total"),
        get("sink/netbase_app_doubled_frames_total"),
        "the hook saw every frame the stem read: {m:?}"
    );
    assert_eq!(
        get("relay/netbase_pipeline_relayed_total"),
        get("relay/netbase_app_doubled_published_total"),
        "{m:?}"
    );
    for tile in ["gen", "relay", "sink"] {
        assert_eq!(
            get(&format!("{tile}/netbase_tile_up")),
            1.0,
            "{tile}: {m:?}"
        );
    }
    inst.stop();
}

#[test]
fn a_stem_from_another_shape_of_the_topology_refuses_to_run() {
    let mut inst = Instance::new("s");
    // The same tiles, but the sink's input link renamed: the binary's stems were generated
    // for `doubled`.
    let text = fs::read_to_string(repo().join("topologies/pipeline.toml"))
        .unwrap()
        .replace("name = \"doubled\"", "name = \"twice\"")
        .replace(
            SCHEMA_LINE,
            &format!("schema = \"{}\"", shipped_schema().display()),
        );
    let topology = inst.root.join("renamed.toml");
    fs::write(&topology, text).unwrap();
    inst.start(PIPELINE, &topology);
    let status = inst.wait_exit();
    assert!(!status.success(), "{}", inst.log());
    let log = inst.log();
    // Relay (output renamed) or sink (input renamed): whichever fails first stops the
    // instance.
    assert!(
        log.contains("was generated for inputs")
            && log.contains("rebuild the binary from this topology")
            && log.contains("stopping instance"),
        "{log}"
    );
    inst.assert_clean();
}

/// A UDP application tile behind a net tile: `shout.toml` in the demo's namespaces, run by the
/// example binary. Clients' datagrams reach the app through XDP and the net tile; its replies
/// are routed by the netbase and come back upper-cased. Privileged (namespaces, XDP): fails
/// under `NETBASE_REQUIRE_PRIVILEGED=1` when it cannot run.
#[test]
fn a_udp_app_tile_behind_a_net_tile_answers_clients() {
    use netbase::demo::Instance as Demo;
    use netbase::sandbox::{Role, Sandbox, SandboxConfig};
    use netbase_runtime::netns::{is_root, privileged_or_skip};
    use std::net::{SocketAddrV4, UdpSocket};

    if !is_root() {
        privileged_or_skip("needs root for namespaces, XDP and AF_XDP");
        return;
    }
    let sandbox = Sandbox::create(SandboxConfig {
        prefix: "nbapp".into(),
        ..SandboxConfig::default()
    })
    .unwrap();
    let name = format!("nbapp-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    // The demo's instance runs the topology next to the embedded copy of the shipped schema.
    let topology = fs::read_to_string(repo().join("topologies/shout.toml"))
        .unwrap()
        .replace(SCHEMA_LINE, "schema = \"../netbase.toml\"");
    let mut instance = Demo::start_topology(
        sandbox.server(),
        &name,
        &log,
        Path::new(PIPELINE),
        &topology,
    )
    .unwrap();
    let server = SocketAddrV4::new(sandbox.server_ip(), 7000);
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    for role in [Role::Client1, Role::Client2] {
        let ip = sandbox.ip(role).unwrap();
        let answered = sandbox.ns(role).run(|| {
            let s = UdpSocket::bind((ip, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 2048];
            let mut answered = 0;
            let deadline = Instant::now() + Duration::from_secs(10);
            // The first datagrams may wait for neighbour resolution: retry until 20 answers.
            let mut i = 0u32;
            while answered < 20 && Instant::now() < deadline {
                let msg = format!("hello shout {i}");
                i += 1;
                s.send_to(msg.as_bytes(), server).unwrap();
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    assert_eq!(from, server.into());
                    assert_eq!(&buf[..n], msg.to_ascii_uppercase().as_bytes());
                    answered += 1;
                }
            }
            answered
        });
        assert_eq!(answered, 20, "{role:?}: {}", log_text());
    }
    // Through the example binary's `metrics` (only it knows the app's metric schema), until
    // the tile's next housekeeping has published the last answers.
    let scrape = || {
        let out = Command::new(PIPELINE)
            .args(["metrics", "--name", &name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let value = |text: &str, metric: &str| -> f64 {
        netbase::cli::parse_samples(text)
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == format!("netbase_{metric}"))
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {metric} in:\n{text}"))
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut text = scrape();
    while value(&text, "shout_answered_total") < 40.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        text = scrape();
    }
    let value = |metric: &str| value(&text, metric);
    assert!(value("shout_answered_total") >= 40.0, "{text}");
    assert_eq!(value("shout_malformed_total"), 0.0, "{text}");
    assert_eq!(value("app_requests_lost_total"), 0.0, "{text}");
    assert!(instance.stop(), "{}", log_text());
    let _ = fs::remove_file(&log);
}
