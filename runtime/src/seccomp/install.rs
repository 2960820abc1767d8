//! From a [`Policy`] and the tile's descriptors to a BPF filter in the kernel.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::os::fd::RawFd;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::policy::{ArgCond, FdRole, Policy};
use super::syscalls::{self, Arch};

/// Role → the descriptors that play it in this process (several may share a role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdBindings(BTreeMap<FdRole, Vec<RawFd>>);

impl FdBindings {
    pub fn new() -> Self {
        FdBindings::default()
    }

    /// Adds `fd` to `role` (builder form).
    pub fn with(mut self, role: FdRole, fd: RawFd) -> Self {
        self.add(role, fd);
        self
    }

    /// Adds `fd` to `role`.
    pub fn add(&mut self, role: FdRole, fd: RawFd) {
        let fds = self.0.entry(role).or_default();
        if !fds.contains(&fd) {
            fds.push(fd);
        }
    }

    /// The descriptors bound to `role` (empty if none).
    pub fn get(&self, role: FdRole) -> &[RawFd] {
        self.0.get(&role).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The roles `policy` refers to that have no descriptor here: the rules that need them
    /// allow nothing (see [`compile`]). A tile can check this before installing.
    pub fn unbound_roles(&self, policy: &Policy) -> Vec<FdRole> {
        policy
            .roles()
            .into_iter()
            .filter(|r| self.get(*r).is_empty())
            .collect()
    }
}

/// Why a policy could not be compiled or installed.
#[derive(Debug)]
pub enum SeccompError {
    /// A rule names a call [`syscalls`] does not know.
    UnknownSyscall(String),
    /// A condition on an argument index above 5.
    BadArgument { syscall: String, arg: u8 },
    /// A negative descriptor was bound to a role.
    BadFd { role: FdRole, fd: RawFd },
    /// This program runs on an architecture no filter is built for.
    UnsupportedArch,
    /// seccompiler refused the filter.
    Compile(seccompiler::Error),
    /// `PR_SET_NO_NEW_PRIVS` failed.
    NoNewPrivs(io::Error),
    /// The kernel refused the filter (or could not synchronize every thread).
    Install(seccompiler::Error),
}

impl fmt::Display for SeccompError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeccompError::UnknownSyscall(name) => {
                write!(f, "seccomp policy names an unknown system call `{name}`")
            }
            SeccompError::BadArgument { syscall, arg } => write!(
                f,
                "seccomp rule for {syscall} tests argument {arg}; system calls have 6 (0 to 5)"
            ),
            SeccompError::BadFd { role, fd } => {
                write!(f, "descriptor {fd} bound to role {role} is negative")
            }
            SeccompError::UnsupportedArch => f.write_str(
                "seccomp filters are built for x86_64 and aarch64 only; this is another architecture",
            ),
            SeccompError::Compile(e) => write!(f, "cannot compile the seccomp filter: {e}"),
            SeccompError::NoNewPrivs(e) => write!(f, "prctl(PR_SET_NO_NEW_PRIVS): {e}"),
            SeccompError::Install(e) => write!(f, "cannot install the seccomp filter: {e}"),
        }
    }
}

impl std::error::Error for SeccompError {}

/// Compiles `policy` for `arch`, with each [`ArgCond::Fd`] turned into a comparison with the
/// descriptors bound to its role.
///
/// * A rule whose role has no descriptor matches nothing: it is left out, and a call none of
///   whose rules remain is not allowed at all. It never degrades into "any descriptor".
/// * A call `arch` lacks (`poll` on aarch64) is left out; an unknown name is an error.
/// * Anything not allowed kills the process.
pub fn compile(policy: &Policy, fds: &FdBindings, arch: Arch) -> Result<BpfProgram, SeccompError> {
    for (role, list) in &fds.0 {
        if let Some(&fd) = list.iter().find(|fd| **fd < 0) {
            return Err(SeccompError::BadFd { role: *role, fd });
        }
    }
    // `None`: some rule allows the call with any arguments, which makes its other rules moot.
    let mut calls: HashMap<i64, Option<Vec<SeccompRule>>> = HashMap::new();
    for rule in &policy.rules {
        if let Some(c) = rule.args.iter().find(|c| c.arg() > 5) {
            return Err(SeccompError::BadArgument {
                syscall: rule.syscall.clone(),
                arg: c.arg(),
            });
        }
        let nr = match syscalls::number(&rule.syscall, arch) {
            Ok(Some(nr)) => nr,
            Ok(None) => continue,
            Err(e) => return Err(SeccompError::UnknownSyscall(e.0)),
        };
        if rule.args.is_empty() {
            calls.insert(nr, None);
            continue;
        }
        let expanded = expand(&rule.args, fds)?;
        if expanded.is_empty() {
            continue;
        }
        // Under `None` (any arguments) the conditional forms add nothing.
        if let Some(rules) = calls.entry(nr).or_insert_with(|| Some(Vec::new())) {
            rules.extend(expanded);
        }
    }
    let rules: BTreeMap<i64, Vec<SeccompRule>> = calls
        .into_iter()
        // An empty list is seccompiler's "match any arguments", which `None` means here.
        .map(|(nr, rules)| (nr, rules.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch.target(),
    )
    .map_err(|e| SeccompError::Compile(e.into()))?;
    BpfProgram::try_from(filter).map_err(|e| SeccompError::Compile(e.into()))
}

/// One seccompiler rule per combination of bound descriptors (a rule with two `Fd` conditions
/// on roles of 2 and 3 descriptors becomes 6 rules); no rule if some role is unbound.
fn expand(args: &[ArgCond], fds: &FdBindings) -> Result<Vec<SeccompRule>, SeccompError> {
    let mut combos: Vec<Vec<SeccompCondition>> = vec![Vec::new()];
    for cond in args {
        let options: Vec<SeccompCondition> = match *cond {
            ArgCond::Fd { arg, role } => fds
                .get(role)
                .iter()
                .map(|&fd| condition(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, fd as u64))
                .collect::<Result<_, _>>()?,
            ArgCond::Eq { arg, value } => vec![condition(
                arg,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::Eq,
                value,
            )?],
            ArgCond::MaskedEq { arg, mask, value } => vec![condition(
                arg,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(mask),
                value,
            )?],
        };
        combos = combos
            .iter()
            .flat_map(|prefix| {
                options.iter().map(move |c| {
                    let mut v = prefix.clone();
                    v.push(c.clone());
                    v
                })
            })
            .collect();
    }
    combos
        .into_iter()
        .map(|conds| SeccompRule::new(conds).map_err(|e| SeccompError::Compile(e.into())))
        .collect()
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, SeccompError> {
    SeccompCondition::new(arg, len, op, value).map_err(|e| SeccompError::Compile(e.into()))
}

/// Installs `policy` for the whole process: compiles it for the running architecture, sets
/// `PR_SET_NO_NEW_PRIVS` (required to install a filter without CAP_SYS_ADMIN, and what keeps an
/// `execve` from regaining privileges), and applies the filter to every thread at once
/// (`SECCOMP_FILTER_FLAG_TSYNC`), so that no thread escapes it. Irreversible: later filters can
/// only narrow it.
pub fn install(policy: &Policy, fds: &FdBindings) -> Result<(), SeccompError> {
    let arch = Arch::current().ok_or(SeccompError::UnsupportedArch)?;
    let program = compile(policy, fds, arch)?;
    // SAFETY: prctl(2) with PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no
    // memory of ours; its result is checked.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(SeccompError::NoNewPrivs(io::Error::last_os_error()));
    }
    seccompiler::apply_filter_all_threads(&program).map_err(SeccompError::Install)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::policy::Rule;

    fn policy(rules: Vec<Rule>) -> Policy {
        Policy { rules }
    }

    #[test]
    fn unbound_roles_allow_nothing_instead_of_everything() {
        let p = policy(vec![Rule::with(
            "sendto",
            &[ArgCond::Fd {
                arg: 0,
                role: FdRole::Xsk,
            }],
            "tx",
        )]);
        let unbound = compile(&p, &FdBindings::new(), Arch::X86_64).unwrap();
        let empty = compile(&policy(vec![]), &FdBindings::new(), Arch::X86_64).unwrap();
        assert_eq!(
            unbound, empty,
            "the rule must vanish, not become unconditional"
        );
        let any = compile(
            &policy(vec![Rule::any("sendto", "tx")]),
            &FdBindings::new(),
            Arch::X86_64,
        )
        .unwrap();
        assert_ne!(unbound, any);
        assert_eq!(
            FdBindings::new().unbound_roles(&p),
            vec![FdRole::Xsk],
            "reported"
        );
        let bound = FdBindings::new().with(FdRole::Xsk, 9);
        assert!(bound.unbound_roles(&p).is_empty());
        assert_ne!(compile(&p, &bound, Arch::X86_64).unwrap(), empty);
    }

    #[test]
    fn several_descriptors_of_a_role_are_alternatives() {
        let p = policy(vec![Rule::with(
            "write",
            &[ArgCond::Fd {
                arg: 0,
                role: FdRole::Stderr,
            }],
            "diagnostics",
        )]);
        let one = compile(&p, &FdBindings::new().with(FdRole::Stderr, 2), Arch::X86_64).unwrap();
        let two = compile(
            &p,
            &FdBindings::new()
                .with(FdRole::Stderr, 2)
                .with(FdRole::Stderr, 7),
            Arch::X86_64,
        )
        .unwrap();
        assert!(two.len() > one.len());
    }

    #[test]
    fn errors_name_the_problem() {
        let bad = policy(vec![Rule::any("sendtoo", "typo")]);
        let e = compile(&bad, &FdBindings::new(), Arch::X86_64).unwrap_err();
        assert!(
            matches!(&e, SeccompError::UnknownSyscall(n) if n == "sendtoo"),
            "{e}"
        );
        let arg = policy(vec![Rule::with(
            "write",
            &[ArgCond::Eq { arg: 6, value: 0 }],
            "no such argument",
        )]);
        assert!(matches!(
            compile(&arg, &FdBindings::new(), Arch::X86_64),
            Err(SeccompError::BadArgument { arg: 6, .. })
        ));
        let neg = FdBindings::new().with(FdRole::Xsk, -1);
        assert!(matches!(
            compile(&policy(vec![]), &neg, Arch::X86_64),
            Err(SeccompError::BadFd { fd: -1, .. })
        ));
    }

    #[test]
    fn calls_an_arch_lacks_are_left_out_there() {
        let p = policy(vec![Rule::any("poll", "waits")]);
        let empty = compile(&policy(vec![]), &FdBindings::new(), Arch::Aarch64).unwrap();
        assert_eq!(
            compile(&p, &FdBindings::new(), Arch::Aarch64).unwrap(),
            empty
        );
        assert_ne!(
            compile(&p, &FdBindings::new(), Arch::X86_64).unwrap(),
            compile(&policy(vec![]), &FdBindings::new(), Arch::X86_64).unwrap()
        );
    }
}
