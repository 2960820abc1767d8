//! The policy model: which system calls a tile may make after its setup, with which arguments,
//! and why. Plain data (serde), so that the codegen can build it and the plan can carry it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a tile may do once its setup is over. Anything no rule allows kills the whole process
/// (`SECCOMP_RET_KILL_PROCESS`: the supervisor sees the tile die by `SIGSYS`).
///
/// Several rules may name the same system call: they are alternatives (any one that holds
/// allows the call).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

/// One allowed form of one system call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The call's name as in the kernel's tables, e.g. `sendto`.
    pub syscall: String,
    /// Why the tile needs it (shown by `netbase compile`).
    pub why: String,
    /// Conditions that must all hold; empty: any arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCond>,
}

/// A condition on argument `arg` (0 to 5) of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cond", rename_all = "snake_case")]
pub enum ArgCond {
    /// The argument is one of the descriptors bound to `role` at installation (compared as the
    /// C `int` the kernel reads: its low 32 bits). With no descriptor bound to the role the
    /// condition never holds.
    Fd { arg: u8, role: FdRole },
    /// The whole 64-bit argument equals `value`. A negative C `int` is given sign-extended, as
    /// the C library passes it.
    Eq { arg: u8, value: u64 },
    /// `argument & mask == value` over the whole 64 bits.
    MaskedEq { arg: u8, mask: u64, value: u64 },
}

impl ArgCond {
    pub fn arg(&self) -> u8 {
        match *self {
            ArgCond::Fd { arg, .. } | ArgCond::Eq { arg, .. } | ArgCond::MaskedEq { arg, .. } => {
                arg
            }
        }
    }
}

/// What a descriptor is to the tile. The tile binds each role it uses to its actual
/// descriptor numbers when it installs the filter (see [`super::FdBindings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdRole {
    /// Standard error (descriptor 2): diagnostics.
    Stderr,
    /// The net tile's AF_XDP socket.
    Xsk,
    /// The net tile's raw IPv4 socket for destinations on this host.
    RawIp,
}

impl FdRole {
    pub const ALL: [FdRole; 3] = [FdRole::Stderr, FdRole::Xsk, FdRole::RawIp];

    pub fn name(self) -> &'static str {
        match self {
            FdRole::Stderr => "stderr",
            FdRole::Xsk => "xsk",
            FdRole::RawIp => "raw_ip",
        }
    }
}

impl fmt::Display for FdRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Rule {
    /// A rule without argument conditions.
    pub fn any(syscall: &str, why: &str) -> Rule {
        Rule {
            syscall: syscall.to_string(),
            why: why.to_string(),
            args: Vec::new(),
        }
    }

    /// A rule whose conditions must all hold.
    pub fn with(syscall: &str, args: &[ArgCond], why: &str) -> Rule {
        Rule {
            syscall: syscall.to_string(),
            why: why.to_string(),
            args: args.to_vec(),
        }
    }

    /// The call with its conditions, e.g. `sendto(a0 ∈ {xsk}, a2 == 0)`.
    pub fn call(&self) -> String {
        if self.args.is_empty() {
            return format!("{}(*)", self.syscall);
        }
        let conds: Vec<String> = self.args.iter().map(ArgCond::to_string).collect();
        format!("{}({})", self.syscall, conds.join(", "))
    }
}

impl fmt::Display for ArgCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArgCond::Fd { arg, role } => write!(f, "a{arg} ∈ {{{role}}}"),
            ArgCond::Eq { arg, value } => write!(f, "a{arg} == {}", Value(value)),
            ArgCond::MaskedEq { arg, mask, value } => {
                write!(f, "a{arg} & {mask:#x} == {value:#x}")
            }
        }
    }
}

/// Small values in decimal (levels, options, signals), bit patterns in hex.
struct Value(u64);

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 1024 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

impl fmt::Display for Policy {
    /// One line per rule: the call with its conditions, then why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls: Vec<String> = self.rules.iter().map(Rule::call).collect();
        let width = calls.iter().map(|c| c.chars().count()).max().unwrap_or(0);
        for (call, rule) in calls.iter().zip(&self.rules) {
            let pad = width - call.chars().count();
            writeln!(f, "{call}{:pad$}  — {}", "", rule.why)?;
        }
        Ok(())
    }
}

impl Policy {
    /// The system call names the policy allows in some form, sorted, without repeats.
    pub fn syscalls(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.rules.iter().map(|r| r.syscall.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The descriptor roles the rules refer to, sorted, without repeats.
    pub fn roles(&self) -> Vec<FdRole> {
        let mut roles: Vec<FdRole> = self
            .rules
            .iter()
            .flat_map(|r| &r.args)
            .filter_map(|c| match c {
                ArgCond::Fd { role, .. } => Some(*role),
                _ => None,
            })
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }
}
