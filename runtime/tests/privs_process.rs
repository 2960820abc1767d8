//! `privs::drop_privileges` in real child processes.
//!
//! A drop cannot be undone and must happen in a single-threaded process, while the test harness
//! runs every test on a thread of its own. So each test re-executes this test binary with
//! [`CHILD_ENV`] naming a scenario; a hook in `.init_array` sees it before `main` (before the
//! harness starts any thread), runs the scenario, prints `key=value` lines and exits. The test
//! process itself keeps its privileges and checks the lines.
//!
//! Needs root; without it the tests skip (or fail with `NETBASE_REQUIRE_PRIVILEGED=1`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::process::Command;

use netbase_runtime::netns::{is_root, privileged_or_skip};
use netbase_runtime::privs::{describe_current, drop_privileges, Cap, CapSet, Drop, UserSpec};

const CHILD_ENV: &str = "NETBASE_PRIVS_TEST_CHILD";

// Runs before the harness's `main`, so the scenario runs while the process has one thread.
// Only the environment, files, stdout and process exit are used here, all of which the C
// runtime has set up before it runs `.init_array`; without `CHILD_ENV` it returns at once and
// the harness starts as usual.
#[used]
#[link_section = ".init_array"]
static CHILD_HOOK: extern "C" fn() = child_hook;

extern "C" fn child_hook() {
    let Some(scenario) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let result = match scenario.to_str() {
        Some("nobody_net_admin") => nobody_net_admin(),
        Some("drop_all") => packet_socket_after(Vec::new()),
        Some("keep_net_raw") => packet_socket_after(vec![Cap::NetRaw]),
        _ => Err(format!("unknown scenario {scenario:?}")),
    };
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            println!("error={e}");
            2
        }
    };
    std::process::exit(code);
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; an unopened number is EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// An open descriptor that nothing owns, so that closing it behind Rust's back is fine.
fn loose_fd() -> Result<RawFd, String> {
    File::open("/dev/null")
        .map(IntoRawFd::into_raw_fd)
        .map_err(|e| format!("open /dev/null: {e}"))
}

fn nobody_net_admin() -> Result<(), String> {
    let extra = loose_fd()?;
    let kept = loose_fd()?;
    let report = drop_privileges(&Drop {
        keep_caps: vec![Cap::NetAdmin],
        user: Some(UserSpec::Name("nobody".into())),
        keep_fds: vec![kept],
    })
    .map_err(|e| e.to_string())?;
    println!("report={report}");
    println!("uid={}", report.uid.effective);
    println!("uids_all={}", report.uid.all(report.uid.effective));
    println!("gid={}", report.gid.effective);
    println!("groups={:?}", report.groups);
    println!("cap_eff={:x}", report.cap_effective.0);
    println!("cap_prm={:x}", report.cap_permitted.0);
    println!("cap_bnd={:x}", report.cap_bounding.0);
    println!("cap_inh={:x}", report.cap_inheritable.0);
    println!("cap_amb={:x}", report.cap_ambient.0);
    println!("no_new_privs={}", u8::from(report.no_new_privs));
    println!("extra_open={}", is_open(extra));
    println!(
        "extra_reported_closed={}",
        report.closed_fds.contains(&extra)
    );
    println!("kept_open={}", is_open(kept));
    // SAFETY: `kept` came from `into_raw_fd` and nothing else owns it.
    let mut f = unsafe { File::from_raw_fd(kept) };
    println!("kept_readable={}", f.read(&mut [0u8; 8]).is_ok());
    // What a tile would log: the kernel's account, read again independently.
    let again = describe_current().map_err(|e| e.to_string())?;
    println!("describe_eff={:x}", again.cap_effective.0);
    Ok(())
}

fn packet_socket_after(keep_caps: Vec<Cap>) -> Result<(), String> {
    let report = drop_privileges(&Drop {
        keep_caps,
        user: None,
        keep_fds: Vec::new(),
    })
    .map_err(|e| e.to_string())?;
    println!("report={report}");
    println!("uid={}", report.uid.effective);
    println!("cap_eff={:x}", report.cap_effective.0);
    // SAFETY: plain socket(2); a returned descriptor is closed right away and owned by no one.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd >= 0 {
        println!("packet_socket=ok");
        // SAFETY: `fd` is the fresh descriptor from above.
        unsafe { libc::close(fd) };
    } else {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        println!("packet_socket=errno{errno}");
    }
    Ok(())
}

/// Runs `scenario` in a child; its `key=value` lines, or `None` when skipped (not root).
fn run_child(scenario: &str) -> Option<HashMap<String, String>> {
    if !is_root() {
        privileged_or_skip("dropping privileges to another user needs root");
        return None;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .env(CHILD_ENV, scenario)
        .output()
        .expect("spawn the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {scenario} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{scenario}: {stdout}");
    Some(
        stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn hex(set: CapSet) -> String {
    format!("{:x}", set.0)
}

#[test]
fn nobody_keeps_only_net_admin_and_the_kept_fd() {
    let Some(kv) = run_child("nobody_net_admin") else {
        return;
    };
    let net_admin = hex(CapSet::of(&[Cap::NetAdmin]));
    assert_eq!(kv["uid"], "65534");
    assert_eq!(kv["uids_all"], "true");
    assert_eq!(kv["gid"], "65534");
    assert_eq!(kv["groups"], "[65534]");
    assert_eq!(kv["cap_eff"], net_admin);
    assert_eq!(kv["cap_prm"], net_admin);
    assert_eq!(kv["cap_bnd"], net_admin);
    assert_eq!(kv["cap_inh"], "0");
    assert_eq!(kv["cap_amb"], "0");
    assert_eq!(kv["describe_eff"], net_admin);
    assert_eq!(kv["no_new_privs"], "1");
    assert_eq!(kv["extra_open"], "false");
    assert_eq!(kv["extra_reported_closed"], "true");
    assert_eq!(kv["kept_open"], "true");
    assert_eq!(kv["kept_readable"], "true");
}

#[test]
fn a_process_that_dropped_everything_cannot_open_a_packet_socket() {
    let Some(kv) = run_child("drop_all") else {
        return;
    };
    // Still uid 0: it is the capability, not the uid, that the kernel checks.
    assert_eq!(kv["uid"], "0");
    assert_eq!(kv["cap_eff"], "0");
    assert_eq!(kv["packet_socket"], format!("errno{}", libc::EPERM));
}

#[test]
fn keeping_net_raw_still_allows_a_packet_socket() {
    // The control for the test above: the refusal comes from the drop, not the environment.
    let Some(kv) = run_child("keep_net_raw") else {
        return;
    };
    assert_eq!(kv["cap_eff"], hex(CapSet::of(&[Cap::NetRaw])));
    assert_eq!(kv["packet_socket"], "ok");
}
