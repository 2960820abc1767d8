//! The per-kind seccomp policies: names resolve, the net tile cannot reach the kernel's
//! control interfaces, and the printed policies are reviewed through a snapshot.

use netbase_codegen::seccomp::policy_for;
use netbase_codegen::topology::TileKind;
use netbase_runtime::seccomp::syscalls::{self, Arch};
use netbase_runtime::seccomp::{compile, ArgCond, FdBindings, FdRole};

#[test]
fn every_syscall_resolves_on_x86_64_and_compiles_for_both_architectures() {
    for kind in TileKind::ALL {
        let policy = policy_for(kind);
        assert!(!policy.rules.is_empty());
        for rule in &policy.rules {
            assert!(
                matches!(syscalls::number(&rule.syscall, Arch::X86_64), Ok(Some(_))),
                "{} of the {} policy does not resolve on x86_64",
                rule.syscall,
                kind.name()
            );
            assert!(
                !rule.why.trim().is_empty(),
                "{} has no reason",
                rule.syscall
            );
        }
        let mut fds = FdBindings::new();
        for (i, role) in policy.roles().into_iter().enumerate() {
            fds.add(role, 2 + i as i32);
        }
        for arch in Arch::ALL {
            let program = compile(&policy, &fds, arch)
                .unwrap_or_else(|e| panic!("{} on {arch}: {e}", kind.name()));
            // A classic BPF program holds at most 4096 instructions.
            assert!(program.len() < 4096, "{} on {arch}", kind.name());
        }
    }
}

#[test]
fn the_net_tile_cannot_create_sockets_load_programs_or_open_files() {
    let net = policy_for(TileKind::Net);
    let names = net.syscalls();
    for forbidden in [
        "socket",
        "connect",
        "bind",
        "bpf",
        "execve",
        "execveat",
        "open",
        "openat",
        "ptrace",
        "setns",
        "unshare",
        "ioctl",
        "setsockopt",
        "clone",
        "clone3",
        "fork",
        "process_vm_writev",
        "memfd_create",
        "kill",
        "sendmsg",
        "recvmsg",
    ] {
        assert!(
            !names.contains(&forbidden),
            "the net policy allows {forbidden}"
        );
    }
    // Every socket call is pinned to the sockets the tile was given.
    for rule in &net.rules {
        if ["sendto", "recvfrom", "getsockopt"].contains(&rule.syscall.as_str()) {
            assert!(
                rule.args.iter().any(|c| matches!(
                    c,
                    ArgCond::Fd {
                        arg: 0,
                        role: FdRole::Xsk | FdRole::RawIp
                    }
                )),
                "{} is not pinned to a descriptor",
                rule.call()
            );
        }
    }
    assert_eq!(
        net.roles(),
        vec![FdRole::Stderr, FdRole::Xsk, FdRole::RawIp]
    );
}

#[test]
fn no_tile_may_map_executable_memory_or_exec() {
    for kind in TileKind::ALL {
        let p = policy_for(kind);
        let names = p.syscalls();
        for forbidden in ["execve", "execveat", "bpf", "ptrace", "open", "openat"] {
            assert!(
                !names.contains(&forbidden),
                "{} allows {forbidden}",
                kind.name()
            );
        }
        let maps: Vec<_> = p
            .rules
            .iter()
            .filter(|r| r.syscall == "mmap" || r.syscall == "mprotect")
            .collect();
        assert_eq!(maps.len(), 2);
        for rule in maps {
            assert!(
                rule.args.contains(&ArgCond::MaskedEq {
                    arg: 2,
                    mask: netbase_runtime::seccomp::consts::PROT_EXEC,
                    value: 0
                }),
                "{}: {}",
                kind.name(),
                rule.call()
            );
        }
    }
    // The netlink tile may create exactly one kind of socket.
    let netlink = policy_for(TileKind::Netlink);
    let sockets: Vec<_> = netlink
        .rules
        .iter()
        .filter(|r| r.syscall == "socket")
        .collect();
    assert_eq!(sockets.len(), 1);
    assert_eq!(
        sockets[0].args.len(),
        3,
        "domain, type and protocol all fixed"
    );
}

#[test]
fn printed_policies() {
    let mut out = String::new();
    for kind in TileKind::ALL {
        out.push_str(&format!("== {}\n{}\n", kind.name(), policy_for(kind)));
    }
    insta::assert_snapshot!("seccomp_policies", out);
}

#[test]
fn policies_round_trip_through_json() {
    for kind in TileKind::ALL {
        let p = policy_for(kind);
        let json = serde_json::to_string(&p).unwrap();
        let back: netbase_runtime::seccomp::Policy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}

/// Selects the child's case in [`the_real_tile_policies_run_std_and_kill_on_a_socket`].
const CHILD_ENV: &str = "NETBASE_SECCOMP_POLICY_CHILD";
/// `SIGSYS` on x86_64 and aarch64.
const SIGSYS: i32 = 31;

/// The child: installs `kind`'s real policy, does what a tile loop and std do (allocate small
/// and large, hash, sleep, yield, report on stderr), then tries to open a socket.
fn policy_child(kind: &str) -> ! {
    let kind = TileKind::parse(kind).expect("kind name");
    let fds = FdBindings::discover().expect("discover descriptors");
    netbase_runtime::seccomp::install(&policy_for(kind), &fds).expect("install");
    let mut big = vec![0u8; 8 << 20];
    big[12345] = 1;
    let mut map = std::collections::HashMap::new();
    for i in 0..1000u32 {
        map.insert(i, vec![i; 100]);
    }
    big.resize(32 << 20, 2);
    drop(big);
    drop(map);
    std::thread::yield_now();
    std::thread::sleep(std::time::Duration::from_micros(200));
    let _ = std::time::Instant::now();
    if kind == TileKind::Netlink {
        // What the tile does after a failed dump: a fresh non-blocking request socket, then a
        // dump on it.
        use netbase_runtime::netlink::dump::{RequestConfig, RequestSocket};
        use netbase_runtime::netlink::request::DumpKind;
        use netbase_runtime::netlink::socket::Mode;
        let cfg = RequestConfig {
            mode: Mode::NonBlocking,
            ..RequestConfig::default()
        };
        let mut req = RequestSocket::open(&cfg).expect("reopened request socket");
        let mut messages = 0;
        req.run(DumpKind::Links, &mut |_| {
            messages += 1;
            Ok::<(), ()>(())
        })
        .expect("link dump");
        assert!(messages > 0, "the dump returned no link");
        drop(req);
    }
    eprintln!("loop work done under the {} policy", kind.name());
    let sock = std::net::UdpSocket::bind("127.0.0.1:0");
    eprintln!("socket returned {sock:?}");
    std::process::exit(42);
}

#[test]
fn the_real_tile_policies_run_std_and_kill_on_a_socket() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(kind) = std::env::var(CHILD_ENV) {
        policy_child(&kind);
    }
    for kind in TileKind::ALL {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "the_real_tile_policies_run_std_and_kill_on_a_socket",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, kind.name())
            // A tile runs its loop on the main thread, whose allocations come from glibc's main
            // arena; the harness runs this test on another thread, whose arena would trim
            // itself differently (reading /proc/sys/vm/overcommit_memory). One arena makes the
            // child allocate the way a tile does.
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("loop work done"),
            "{}: {:?}: {stderr}",
            kind.name(),
            out.status
        );
        assert_eq!(
            out.status.signal(),
            Some(SIGSYS),
            "{}: a socket must kill the tile: {:?}: {stderr}",
            kind.name(),
            out.status
        );
    }
}
