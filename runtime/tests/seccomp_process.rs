//! Installed filters, observed from outside: the test binary re-executes itself as a child that
//! installs a small policy and then makes one call; the parent checks how the child ended.
//!
//! A filter cannot be removed once installed, so every case runs in its own process.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use netbase_runtime::seccomp::{self, ArgCond, FdBindings, FdRole, Policy, Rule};

/// Selects the child's case; the child runs only `child_entry`.
const CHILD_ENV: &str = "NETBASE_SECCOMP_CHILD";
/// Exit status of a child whose forbidden call came back instead of killing it.
const SURVIVED: i32 = 42;
/// Exit status of a child whose set-up failed.
const SETUP_FAILED: i32 = 43;

/// What every child needs to reach its test call and report: write to stderr, exit.
fn base() -> Vec<Rule> {
    vec![
        Rule::with(
            "write",
            &[ArgCond::Fd {
                arg: 0,
                role: FdRole::Stderr,
            }],
            "report",
        ),
        Rule::any("exit_group", "exit"),
        Rule::any("exit", "exit"),
        Rule::any("sigaltstack", "std at exit"),
        Rule::any("munmap", "std at exit"),
        Rule::any("close", "drop"),
        Rule::any("brk", "allocator"),
        Rule::with(
            "mmap",
            &[ArgCond::MaskedEq {
                arg: 2,
                mask: seccomp::consts::PROT_EXEC,
                value: 0,
            }],
            "allocator",
        ),
        Rule::any("futex", "std"),
        Rule::any("rt_sigprocmask", "std"),
        // So that a memory fault is reported as SIGSEGV (std's handler steps aside).
        Rule::any("rt_sigaction", "std"),
        Rule::any(
            "rt_sigreturn",
            "back from std's fault handler, which re-raises the fault",
        ),
    ]
}

fn install(extra: Vec<Rule>, fds: FdBindings) {
    let mut rules = base();
    rules.extend(extra);
    if let Err(e) = seccomp::install(&Policy { rules }, &fds.with(FdRole::Stderr, 2)) {
        eprintln!("install: {e}");
        std::process::exit(SETUP_FAILED);
    }
}

fn netlink_socket() -> i32 {
    // SAFETY: socket(2) with integer arguments; the descriptor (if any) is leaked on purpose,
    // the process exits right after.
    unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE) }
}

fn write_to(fd: i32, msg: &[u8]) -> isize {
    // SAFETY: write(2) reads `msg.len()` bytes from `msg`, live for the call.
    unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) }
}

/// The child's side: runs the case named in the environment and exits.
fn child_entry(case: &str) -> ! {
    match case {
        "allowed_then_forbidden" => {
            install(vec![Rule::any("getpid", "allowed call")], FdBindings::new());
            // SAFETY: getpid(2) cannot fail and touches no memory.
            let pid = unsafe { libc::getpid() };
            eprintln!("allowed getpid returned {pid}");
            netlink_socket();
            std::process::exit(SURVIVED);
        }
        "fd_allowed" | "fd_forbidden" => {
            let mut pipe = [0i32; 2];
            // SAFETY: pipe(2) writes two descriptors into the 2-element array.
            if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
                std::process::exit(SETUP_FAILED);
            }
            let [read_end, write_end] = pipe;
            // A second pipe whose write end plays no role.
            let mut other = [0i32; 2];
            // SAFETY: as above.
            if unsafe { libc::pipe(other.as_mut_ptr()) } != 0 {
                std::process::exit(SETUP_FAILED);
            }
            install(
                vec![Rule::with(
                    "write",
                    &[ArgCond::Fd {
                        arg: 0,
                        role: FdRole::Xsk,
                    }],
                    "the bound descriptor",
                )],
                FdBindings::new().with(FdRole::Xsk, write_end),
            );
            if write_to(write_end, b"x") != 1 {
                std::process::exit(SETUP_FAILED);
            }
            let _ = read_end;
            eprintln!("write to the bound descriptor worked");
            if case == "fd_forbidden" {
                write_to(other[1], b"y");
                std::process::exit(SURVIVED);
            }
            std::process::exit(0);
        }
        "unbound_role" => {
            let mut pipe = [0i32; 2];
            // SAFETY: pipe(2) writes two descriptors into the 2-element array.
            if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
                std::process::exit(SETUP_FAILED);
            }
            // A rule on a role nobody bound: it must not turn into "any descriptor".
            install(
                vec![Rule::with(
                    "sendto",
                    &[ArgCond::Fd {
                        arg: 0,
                        role: FdRole::RawIp,
                    }],
                    "never bound",
                )],
                FdBindings::new(),
            );
            // SAFETY: sendto(2) on a pipe with a 1-byte buffer; it would fail with ENOTSOCK if
            // the filter let it through.
            unsafe { libc::sendto(pipe[1], b"z".as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
            std::process::exit(SURVIVED);
        }
        "fault_is_sigsegv" => {
            let page = 4096;
            // SAFETY: a fresh anonymous read-only mapping; nothing else refers to it.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                std::process::exit(SETUP_FAILED);
            }
            install(Vec::new(), FdBindings::new());
            // SAFETY: `p` is an aligned address in a page this process mapped above and nothing
            // else refers to, so no Rust object can be corrupted; the page is read-only, so the
            // kernel stops the write with SIGSEGV, which ends the process (what this case
            // observes) before any later code runs.
            unsafe { std::ptr::write_volatile(p.cast::<u8>(), 1) };
            std::process::exit(SURVIVED);
        }
        other => {
            eprintln!("unknown child case {other}");
            std::process::exit(SETUP_FAILED);
        }
    }
}

fn run_child(case: &str, test_name: &str) -> (ExitStatus, String) {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, case)
        .stdin(Stdio::null())
        .output()
        .expect("spawn the child");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `case` in a child (through the test `test_name`, which dispatches when the variable is
/// set) and returns its exit status and stderr.
macro_rules! child_or_run {
    ($case:expr, $test:expr) => {{
        if let Ok(case) = std::env::var(CHILD_ENV) {
            child_entry(&case);
        }
        run_child($case, $test)
    }};
}

#[test]
fn an_allowed_call_works_and_a_forbidden_one_kills_by_sigsys() {
    let (status, stderr) = child_or_run!(
        "allowed_then_forbidden",
        "an_allowed_call_works_and_a_forbidden_one_kills_by_sigsys"
    );
    assert!(
        stderr.contains("allowed getpid returned"),
        "the allowed call and the report went through: {stderr}"
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGSYS),
        "socket(AF_NETLINK) must kill the process: {status:?}, {stderr}"
    );
}

#[test]
fn a_write_to_the_bound_descriptor_is_allowed() {
    let (status, stderr) =
        child_or_run!("fd_allowed", "a_write_to_the_bound_descriptor_is_allowed");
    assert_eq!(status.code(), Some(0), "{status:?}: {stderr}");
    assert!(stderr.contains("write to the bound descriptor worked"));
}

#[test]
fn a_write_to_another_descriptor_kills_by_sigsys() {
    let (status, stderr) = child_or_run!(
        "fd_forbidden",
        "a_write_to_another_descriptor_kills_by_sigsys"
    );
    assert!(
        stderr.contains("write to the bound descriptor worked"),
        "{stderr}"
    );
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}: {stderr}");
}

#[test]
fn a_rule_on_an_unbound_role_allows_nothing() {
    let (status, stderr) =
        child_or_run!("unbound_role", "a_rule_on_an_unbound_role_allows_nothing");
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}: {stderr}");
}

#[test]
fn a_memory_fault_under_the_filter_is_reported_as_sigsegv() {
    let (status, stderr) = child_or_run!(
        "fault_is_sigsegv",
        "a_memory_fault_under_the_filter_is_reported_as_sigsegv"
    );
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}: {stderr}");
}
