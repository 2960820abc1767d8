//! System call names to numbers, per architecture.
//!
//! Only the calls a tile policy can plausibly name are listed: a short table that can be read
//! and checked by eye (and is, in the tests, against `libc` on the build machine) beats a
//! generated one of 450 entries per architecture. A name outside the table is an error, never a
//! silent skip, so a typo in a policy cannot turn into a missing rule unnoticed.
//!
//! Some calls exist on one architecture only (aarch64 has no `poll`, `open` or `fork`: the
//! generic table keeps only the `*at`/`p*` forms, which the C library uses there instead). Such a
//! name is known but absent: a rule naming it is left out on that architecture.

use std::fmt;

/// The architectures a filter can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this program runs on, if a filter can be built for it.
    pub fn current() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    pub(super) fn target(self) -> seccompiler::TargetArch {
        match self {
            Arch::X86_64 => seccompiler::TargetArch::x86_64,
            Arch::Aarch64 => seccompiler::TargetArch::aarch64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `(name, x86_64, aarch64)`; `None` where the architecture lacks the call. Numbers from the
/// kernel's `arch/x86/entry/syscalls/syscall_64.tbl` and `include/uapi/asm-generic/unistd.h`.
const TABLE: &[(&str, Option<i64>, Option<i64>)] = &[
    ("read", Some(0), Some(63)),
    ("write", Some(1), Some(64)),
    ("open", Some(2), None),
    ("close", Some(3), Some(57)),
    ("poll", Some(7), None),
    ("mmap", Some(9), Some(222)),
    ("mprotect", Some(10), Some(226)),
    ("munmap", Some(11), Some(215)),
    ("brk", Some(12), Some(214)),
    ("rt_sigaction", Some(13), Some(134)),
    ("rt_sigprocmask", Some(14), Some(135)),
    ("rt_sigreturn", Some(15), Some(139)),
    ("ioctl", Some(16), Some(29)),
    ("writev", Some(20), Some(66)),
    ("sched_yield", Some(24), Some(124)),
    ("mremap", Some(25), Some(216)),
    ("madvise", Some(28), Some(233)),
    ("dup", Some(32), Some(23)),
    ("nanosleep", Some(35), Some(101)),
    ("getpid", Some(39), Some(172)),
    ("socket", Some(41), Some(198)),
    ("connect", Some(42), Some(203)),
    ("sendto", Some(44), Some(206)),
    ("recvfrom", Some(45), Some(207)),
    ("sendmsg", Some(46), Some(211)),
    ("recvmsg", Some(47), Some(212)),
    ("bind", Some(49), Some(200)),
    ("getsockname", Some(51), Some(204)),
    ("setsockopt", Some(54), Some(208)),
    ("getsockopt", Some(55), Some(209)),
    ("clone", Some(56), Some(220)),
    ("fork", Some(57), None),
    ("execve", Some(59), Some(221)),
    ("exit", Some(60), Some(93)),
    ("kill", Some(62), Some(129)),
    ("fcntl", Some(72), Some(25)),
    ("ptrace", Some(101), Some(117)),
    ("sigaltstack", Some(131), Some(132)),
    ("prctl", Some(157), Some(167)),
    ("gettid", Some(186), Some(178)),
    ("futex", Some(202), Some(98)),
    ("restart_syscall", Some(219), Some(128)),
    ("clock_gettime", Some(228), Some(113)),
    ("clock_nanosleep", Some(230), Some(115)),
    ("exit_group", Some(231), Some(94)),
    ("tgkill", Some(234), Some(131)),
    ("openat", Some(257), Some(56)),
    ("ppoll", Some(271), Some(73)),
    ("unshare", Some(272), Some(97)),
    ("dup3", Some(292), Some(24)),
    ("recvmmsg", Some(299), Some(243)),
    ("sendmmsg", Some(307), Some(269)),
    ("setns", Some(308), Some(268)),
    ("process_vm_writev", Some(311), Some(271)),
    ("getrandom", Some(318), Some(278)),
    ("memfd_create", Some(319), Some(279)),
    ("bpf", Some(321), Some(280)),
    ("execveat", Some(322), Some(281)),
    ("clone3", Some(435), Some(435)),
];

/// A system call name this module does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSyscall(pub String);

impl fmt::Display for UnknownSyscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown system call name `{}`", self.0)
    }
}

impl std::error::Error for UnknownSyscall {}

/// The number of `name` on `arch`: `Ok(None)` when the call is known but `arch` lacks it.
pub fn number(name: &str, arch: Arch) -> Result<Option<i64>, UnknownSyscall> {
    let (_, x86_64, aarch64) = TABLE
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| UnknownSyscall(name.to_string()))?;
    Ok(match arch {
        Arch::X86_64 => *x86_64,
        Arch::Aarch64 => *aarch64,
    })
}

/// Every name in the table (for tests and tools).
pub fn known_names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_numbers_distinct_per_arch() {
        let mut names: Vec<_> = known_names().collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate name in the table");
        for arch in Arch::ALL {
            let mut nrs: Vec<i64> = known_names()
                .filter_map(|name| number(name, arch).unwrap())
                .collect();
            nrs.sort_unstable();
            let n = nrs.len();
            nrs.dedup();
            assert_eq!(nrs.len(), n, "two names share a number on {arch}");
        }
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            number("sendto_typo", Arch::X86_64),
            Err(UnknownSyscall("sendto_typo".into()))
        );
        assert_eq!(number("poll", Arch::Aarch64), Ok(None));
    }

    /// The host's numbers come from libc, which is generated from the kernel headers.
    #[test]
    fn host_numbers_match_libc() {
        let host: &[(&str, libc::c_long)] = &[
            ("read", libc::SYS_read),
            ("write", libc::SYS_write),
            ("close", libc::SYS_close),
            ("mmap", libc::SYS_mmap),
            ("mprotect", libc::SYS_mprotect),
            ("munmap", libc::SYS_munmap),
            ("brk", libc::SYS_brk),
            ("rt_sigaction", libc::SYS_rt_sigaction),
            ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
            ("rt_sigreturn", libc::SYS_rt_sigreturn),
            ("ioctl", libc::SYS_ioctl),
            ("writev", libc::SYS_writev),
            ("sched_yield", libc::SYS_sched_yield),
            ("mremap", libc::SYS_mremap),
            ("madvise", libc::SYS_madvise),
            ("dup", libc::SYS_dup),
            ("nanosleep", libc::SYS_nanosleep),
            ("getpid", libc::SYS_getpid),
            ("socket", libc::SYS_socket),
            ("connect", libc::SYS_connect),
            ("sendto", libc::SYS_sendto),
            ("recvfrom", libc::SYS_recvfrom),
            ("sendmsg", libc::SYS_sendmsg),
            ("recvmsg", libc::SYS_recvmsg),
            ("bind", libc::SYS_bind),
            ("getsockname", libc::SYS_getsockname),
            ("setsockopt", libc::SYS_setsockopt),
            ("getsockopt", libc::SYS_getsockopt),
            ("clone", libc::SYS_clone),
            ("execve", libc::SYS_execve),
            ("exit", libc::SYS_exit),
            ("kill", libc::SYS_kill),
            ("fcntl", libc::SYS_fcntl),
            ("ptrace", libc::SYS_ptrace),
            ("sigaltstack", libc::SYS_sigaltstack),
            ("prctl", libc::SYS_prctl),
            ("gettid", libc::SYS_gettid),
            ("futex", libc::SYS_futex),
            ("restart_syscall", libc::SYS_restart_syscall),
            ("clock_gettime", libc::SYS_clock_gettime),
            ("clock_nanosleep", libc::SYS_clock_nanosleep),
            ("exit_group", libc::SYS_exit_group),
            ("tgkill", libc::SYS_tgkill),
            ("openat", libc::SYS_openat),
            ("ppoll", libc::SYS_ppoll),
            ("unshare", libc::SYS_unshare),
            ("dup3", libc::SYS_dup3),
            ("recvmmsg", libc::SYS_recvmmsg),
            ("sendmmsg", libc::SYS_sendmmsg),
            ("setns", libc::SYS_setns),
            ("process_vm_writev", libc::SYS_process_vm_writev),
            ("getrandom", libc::SYS_getrandom),
            ("memfd_create", libc::SYS_memfd_create),
            ("bpf", libc::SYS_bpf),
            ("execveat", libc::SYS_execveat),
            ("clone3", libc::SYS_clone3),
        ];
        let arch = Arch::current().expect("tests run on x86_64 or aarch64");
        for (name, nr) in host {
            assert_eq!(number(name, arch), Ok(Some(*nr)), "{name} on {arch}");
        }
        #[cfg(target_arch = "x86_64")]
        for (name, nr) in [
            ("open", libc::SYS_open),
            ("poll", libc::SYS_poll),
            ("fork", libc::SYS_fork),
        ] {
            assert_eq!(number(name, arch), Ok(Some(nr)), "{name} on {arch}");
        }
        assert_eq!(
            known_names().count(),
            host.len() + 3,
            "every table entry is checked"
        );
    }
}
