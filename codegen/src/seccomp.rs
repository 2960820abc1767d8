//! The seccomp policy of each tile kind: the system calls its loop makes after setup, with
//! argument conditions where they narrow what a compromised tile could do, and a reason each.
//!
//! Every tile opens its sockets, maps its workspaces and reads its files before it installs the
//! filter (`netbase_runtime::seccomp::install`), so no policy allows `socket`, `open`, `mmap`
//! of a file, `bpf` or `execve`, except the netlink tile's one form of `socket` (below). The
//! tables were drawn from `strace -f` of a running instance (the demo: netlink, net and echo
//! tiles under traffic, and their shutdown on SIGTERM) and from the code paths that a short run
//! does not take (error paths, a failed dump, a panic).
//!
//! Descriptor roles each kind must bind when it installs the filter:
//!
//! | kind     | roles |
//! |----------|-------|
//! | all      | `stderr` = 2 |
//! | net      | `xsk` (the AF_XDP socket), `raw_ip` (the raw IPv4 socket for local delivery) |
//! | netlink  | none beyond `stderr` (not pinned: a failed dump reopens its request socket) |
//! | udp_echo | none beyond `stderr` |

use netbase_runtime::seccomp::consts::*;
use netbase_runtime::seccomp::{ArgCond, FdRole, Policy, Rule};

use crate::topology::TileKind;

/// The policy tiles of `kind` install after their setup.
pub fn policy_for(kind: TileKind) -> Policy {
    let mut rules = common();
    rules.extend(match kind {
        TileKind::Net => net(),
        TileKind::Netlink => netlink(),
        // Application tiles talk through shared memory only, like the echo tile.
        TileKind::UdpEcho | TileKind::App => Vec::new(),
    });
    Policy { rules }
}

fn fd(arg: u8, role: FdRole) -> ArgCond {
    ArgCond::Fd { arg, role }
}

fn eq(arg: u8, value: u64) -> ArgCond {
    ArgCond::Eq { arg, value }
}

fn masked(arg: u8, mask: u64, value: u64) -> ArgCond {
    ArgCond::MaskedEq { arg, mask, value }
}

/// What every tile's loop and the Rust runtime under it need.
fn common() -> Vec<Rule> {
    vec![
        // The loop: the clock, idle backoff, heartbeat.
        Rule::any(
            "clock_gettime",
            "the loop's clock (normally the vDSO; the system call where the clock source has no vDSO path)",
        ),
        Rule::any("sched_yield", "idle backoff: yield_now"),
        Rule::any("nanosleep", "idle backoff: sleep"),
        Rule::any("clock_nanosleep", "idle backoff: sleep (how the C library implements nanosleep)"),
        Rule::any(
            "restart_syscall",
            "a sleep interrupted by a stop/continue signal is resumed by the kernel",
        ),
        Rule::any("getpid", "the loop publishes its pid in the status object"),
        Rule::with("write", &[fd(0, FdRole::Stderr)], "diagnostics on standard error"),
        Rule::with("writev", &[fd(0, FdRole::Stderr)], "diagnostics on standard error"),
        // Memory: the allocator, anonymous memory only, never executable.
        Rule::any("brk", "allocator: heap growth and trimming"),
        Rule::with(
            "mmap",
            &[masked(2, PROT_EXEC, 0), masked(3, MAP_ANONYMOUS, MAP_ANONYMOUS)],
            "allocator: large blocks (anonymous, never executable)",
        ),
        Rule::with(
            "mprotect",
            &[masked(2, PROT_EXEC, 0)],
            "allocator: a thread's arena makes reserved pages writable (never executable; a \
             read-only workspace cannot become writable: its file is open read-only)",
        ),
        Rule::any("munmap", "allocator frees; workspaces and rings are unmapped at exit"),
        Rule::any("mremap", "allocator: growing a large block in place (realloc)"),
        Rule::with("madvise", &[eq(2, MADV_DONTNEED)], "allocator returns freed pages"),
        Rule::with("madvise", &[eq(2, MADV_FREE)], "allocator returns freed pages"),
        Rule::any("getrandom", "HashMap seeds on first use"),
        // Locks (single-threaded tiles only wait on contention, which cannot happen, but the
        // std primitives are compiled with them).
        Rule::with(
            "futex",
            &[masked(1, FUTEX_CMD_MASK, FUTEX_WAIT)],
            "std locks and once-cells: wait",
        ),
        Rule::with(
            "futex",
            &[masked(1, FUTEX_CMD_MASK, FUTEX_WAKE)],
            "std locks and once-cells: wake",
        ),
        Rule::with(
            "futex",
            &[masked(1, FUTEX_CMD_MASK, FUTEX_WAIT_BITSET)],
            "std locks: timed wait",
        ),
        Rule::with(
            "futex",
            &[masked(1, FUTEX_CMD_MASK, FUTEX_WAKE_BITSET)],
            "std locks: wake",
        ),
        // Signals and the ways out.
        Rule::any("rt_sigreturn", "return from the SIGTERM/SIGINT handler (the stop flag)"),
        Rule::any("rt_sigprocmask", "abort() unblocks SIGABRT after a fatal error"),
        Rule::with(
            "rt_sigaction",
            &[eq(0, SIGSEGV)],
            "a fault resets std's SIGSEGV handler so the tile dies by SIGSEGV, not SIGSYS",
        ),
        Rule::with(
            "rt_sigaction",
            &[eq(0, SIGBUS)],
            "a fault resets std's SIGBUS handler so the tile dies by SIGBUS, not SIGSYS",
        ),
        Rule::with("rt_sigaction", &[eq(0, SIGABRT)], "abort() falls back to the default action"),
        Rule::any("gettid", "abort() signals its own thread"),
        Rule::with("tgkill", &[eq(2, SIGABRT)], "abort() raises SIGABRT (panics that cannot unwind)"),
        Rule::with(
            "prctl",
            &[eq(0, PR_GET_AUXV)],
            "std's CPU feature detection reads the auxiliary vector on first use",
        ),
        Rule::any("sigaltstack", "std removes the main thread's signal stack at exit"),
        Rule::any("close", "descriptors released at exit"),
        Rule::with(
            "fcntl",
            &[eq(1, F_GETFD)],
            "std checks that a descriptor is open before it closes it (IO-safety check)",
        ),
        Rule::any("exit", "thread exit"),
        Rule::any("exit_group", "process exit"),
    ]
}

/// The net tile: the AF_XDP socket and the raw IPv4 socket it was given, nothing else.
/// No `socket`, `bind`, `connect`, `setsockopt`, `bpf`, `ioctl`: the XSKMAP entry and the
/// socket options are set during setup.
fn net() -> Vec<Rule> {
    vec![
        Rule::with(
            "sendto",
            &[fd(0, FdRole::Xsk)],
            "AF_XDP TX wakeup (need_wakeup: an empty send)",
        ),
        Rule::with(
            "recvfrom",
            &[fd(0, FdRole::Xsk)],
            "AF_XDP fill-ring wakeup (need_wakeup: an empty receive)",
        ),
        Rule::with(
            "getsockopt",
            &[fd(0, FdRole::Xsk), eq(1, SOL_XDP), eq(2, XDP_STATISTICS)],
            "the kernel's AF_XDP drop counters (XDP_STATISTICS) for the metrics",
        ),
        Rule::with(
            "sendto",
            &[fd(0, FdRole::RawIp)],
            "datagrams to this host's own addresses, through the raw IPv4 socket",
        ),
    ]
}

/// The netlink tile: its netlink sockets and the UDP probe socket (opened at setup).
///
/// After a dump fails mid-way the tile replaces its dump socket (`NetlinkSync`'s
/// `reset_request_socket`), so the request socket's descriptor number is not known when the
/// filter is installed: the socket calls are allowed on any descriptor, and `socket` is allowed
/// in exactly the form that reopening uses (non-blocking `NETLINK_ROUTE`). The tile holds no
/// other kind of socket than those and the UDP probe socket, and cannot create one. (Pinning
/// the calls to descriptor roles needs the reopened socket to take the old one's number.)
fn netlink() -> Vec<Rule> {
    let any_request = "on any descriptor: request sockets are reopened after a failed dump";
    let socket_type = SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK;
    vec![
        Rule::any(
            "recvfrom",
            &format!("notifications, dump replies and probe acknowledgements, {any_request}"),
        ),
        Rule::any(
            "sendto",
            &format!("dump requests, NTF_USE and UDP neighbour probes, {any_request}"),
        ),
        Rule::any("poll", &format!("waits for a dump reply, {any_request}")),
        Rule::any("ppoll", &format!("waits for a dump reply, {any_request}")),
        Rule::with(
            "socket",
            &[eq(0, AF_NETLINK), eq(1, socket_type), eq(2, NETLINK_ROUTE)],
            "reopens the dump socket after a failed dump (NETLINK_ROUTE only)",
        ),
        Rule::with(
            "bind",
            &[eq(2, SOCKADDR_NL_LEN)],
            "binds a reopened dump socket (netlink addresses only)",
        ),
        Rule::any("getsockname", "learns a reopened dump socket's port id"),
        Rule::with(
            "setsockopt",
            &[eq(1, SOL_NETLINK), eq(2, NETLINK_GET_STRICT_CHK)],
            "strict checking on a reopened dump socket",
        ),
        Rule::with(
            "setsockopt",
            &[eq(1, SOL_NETLINK), eq(2, NETLINK_EXT_ACK)],
            "extended acknowledgements on a reopened dump socket",
        ),
        Rule::with(
            "setsockopt",
            &[eq(1, SOL_SOCKET), eq(2, SO_RCVBUFFORCE)],
            "receive buffer of a reopened dump socket",
        ),
        Rule::with(
            "setsockopt",
            &[eq(1, SOL_SOCKET), eq(2, SO_RCVBUF)],
            "receive buffer of a reopened dump socket (without CAP_NET_ADMIN)",
        ),
        Rule::with(
            "getsockopt",
            &[eq(1, SOL_SOCKET), eq(2, SO_RCVBUF)],
            "reads back the receive buffer granted",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbase_runtime::seccomp::syscalls::{self, Arch};

    #[test]
    fn every_name_resolves_on_both_architectures() {
        for kind in TileKind::ALL {
            for name in policy_for(kind).syscalls() {
                for arch in Arch::ALL {
                    assert!(
                        syscalls::number(name, arch).is_ok(),
                        "{name} of {} on {arch}",
                        kind.name()
                    );
                }
                assert!(
                    matches!(syscalls::number(name, Arch::X86_64), Ok(Some(_))),
                    "{name} exists on x86_64"
                );
            }
        }
    }
}
