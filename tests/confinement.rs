//! Tiles confined after setup: what each holds (capabilities, no-new-privs, seccomp mode), and
//! fault injection — a net tile that reaches for netlink is killed by its filter, one that
//! writes into the netbase faults, and the supervisor names the tile and the signal.
//!
//! Privileged (root, namespaces, XDP): skips otherwise, or fails with
//! `NETBASE_REQUIRE_PRIVILEGED=1`. Each test has its own namespaces and instance.

use std::path::Path;
use std::time::Duration;

use netbase::demo::Instance;
use netbase::sandbox::{Sandbox, SandboxConfig};
use netbase_runtime::netns::{is_root, privileged_or_skip};

fn privileged() -> bool {
    if !is_root() {
        privileged_or_skip("needs root for namespaces, XDP and AF_XDP");
        return false;
    }
    true
}

fn sandbox(prefix: &str) -> Sandbox {
    Sandbox::create(SandboxConfig {
        prefix: prefix.into(),
        ..SandboxConfig::default()
    })
    .unwrap()
}

fn start(sb: &Sandbox, prefix: &str, env: &[(&str, &str)]) -> (Instance, std::path::PathBuf) {
    let name = format!("{prefix}-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let exe = Path::new(env!("CARGO_BIN_EXE_netbase"));
    let inst = Instance::start_with_env(
        sb.server(),
        &name,
        &log,
        exe,
        Instance::default_topology(),
        env,
    )
    .unwrap();
    (inst, log)
}

/// A field of `/proc/PID/status`.
fn status_field(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

#[test]
fn every_tile_runs_filtered_without_new_privileges_and_with_only_its_capabilities() {
    if !privileged() {
        return;
    }
    let sb = sandbox("nbcf1");
    let (inst, _log) = start(&sb, "nbcf1", &[]);
    const NET_ADMIN: u64 = 1 << 12;
    for (tile, caps) in [("netlink.0", NET_ADMIN), ("net.0", 0), ("echo.0", 0)] {
        let pid = inst.tile_pid(tile).unwrap();
        assert_eq!(status_field(pid, "NoNewPrivs"), "1", "{tile}");
        assert_eq!(status_field(pid, "Seccomp"), "2", "{tile}: filter mode");
        let eff = u64::from_str_radix(&status_field(pid, "CapEff"), 16).unwrap();
        let bnd = u64::from_str_radix(&status_field(pid, "CapBnd"), 16).unwrap();
        assert_eq!(eff, caps, "{tile}: effective capabilities");
        assert_eq!(bnd, caps, "{tile}: bounding set");
    }
}

/// Starts the default topology with `fault` injected into the net tile and returns the
/// supervisor's exit status and log.
fn injected(prefix: &str, fault: &str) -> (Option<i32>, String) {
    let sb = sandbox(prefix);
    let spec = format!("net.0:{fault}");
    let name = format!("{prefix}-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let exe = Path::new(env!("CARGO_BIN_EXE_netbase"));
    // The tile dies right after setup, so the instance may never be seen running: start()
    // then reports the exit with the log, which is what this test wants to read.
    match Instance::start_with_env(
        sb.server(),
        &name,
        &log,
        exe,
        Instance::default_topology(),
        &[("NETBASE_FAULT_INJECT", &spec)],
    ) {
        Ok(mut inst) => {
            let status = inst.wait_exit(Duration::from_secs(10));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (status.and_then(|s| s.code()), text)
        }
        Err(e) => (Some(1), e),
    }
}

#[test]
fn a_net_tile_opening_a_netlink_socket_is_killed_by_its_filter() {
    if !privileged() {
        return;
    }
    let (code, log) = injected("nbcf2", "netlink-socket");
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("tile net.0") && log.contains("SIGSYS"),
        "the supervisor names the tile and the signal:\n{log}"
    );
    assert!(!log.contains("was not stopped"), "{log}");
}

#[test]
fn a_net_tile_writing_into_the_netbase_faults() {
    if !privileged() {
        return;
    }
    let (code, log) = injected("nbcf3", "write-netbase");
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("tile net.0") && log.contains("SIGSEGV"),
        "the supervisor names the tile and the signal:\n{log}"
    );
    assert!(!log.contains("did not fault"), "{log}");
}

#[test]
fn tiles_run_as_the_user_the_topology_names() {
    if !privileged() {
        return;
    }
    let topology = Instance::default_topology().replace(
        "kind = \"udp_echo\"\n",
        "kind = \"udp_echo\"\nuser = \"nobody\"\n",
    );
    assert!(topology.contains("user = \"nobody\""));
    let sb = sandbox("nbcf4");
    let name = format!("nbcf4-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let exe = Path::new(env!("CARGO_BIN_EXE_netbase"));
    let inst = Instance::start_topology(sb.server(), &name, &log, exe, &topology).unwrap();
    let echo = inst.tile_pid("echo.0").unwrap();
    let uid = status_field(echo, "Uid");
    assert!(
        uid.split_whitespace().all(|u| u == "65534"),
        "echo runs as nobody: {uid}"
    );
    let net = inst.tile_pid("net.0").unwrap();
    assert!(status_field(net, "Uid").starts_with('0'));
}

/// Whether `pid` names a live process (not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn a_killed_supervisor_takes_its_tiles_and_xdp_program_along_and_the_name_can_be_reused() {
    if !privileged() {
        return;
    }
    let sb = sandbox("nbcf5");
    let name = format!("nbcf5-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("netbase-{name}.log"));
    let exe = Path::new(env!("CARGO_BIN_EXE_netbase"));
    let mut inst = Instance::start(sb.server(), &name, &log, exe).unwrap();
    let xdp_attached = || {
        let out = sb.server().ip(&["-d", "link", "show", "veth0"]).unwrap();
        out.contains(" xdp") || out.contains("prog/xdp")
    };
    assert!(xdp_attached(), "the instance attached its program");
    let tiles: Vec<i32> = ["netlink.0", "net.0", "echo.0"]
        .iter()
        .map(|t| inst.tile_pid(t).unwrap())
        .collect();
    // Our own child: the supervisor this test started.
    let sup = inst.supervisor_pid().unwrap() as i32;
    netbase_runtime::process::send_signal(sup, libc::SIGKILL).unwrap();
    assert!(inst.wait_exit(Duration::from_secs(5)).is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tiles.iter().any(|&p| alive(p)) || xdp_attached() {
        assert!(
            std::time::Instant::now() < deadline,
            "tiles alive: {:?}, xdp attached: {}",
            tiles.iter().map(|&p| alive(p)).collect::<Vec<_>>(),
            xdp_attached()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The dead instance's files are still there; a new run of the same name cleans them up
    // and starts (and this one is stopped properly, removing everything).
    drop(inst);
    let again = Instance::start(sb.server(), &name, &log, exe).unwrap();
    assert!(xdp_attached());
    drop(again);
    let shm: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(&name))
        .collect();
    assert!(shm.is_empty(), "{shm:?}");
}
