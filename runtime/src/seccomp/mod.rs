//! Seccomp sandboxes for tiles.
//!
//! A tile opens everything it needs (sockets, mappings, files) during its setup, then installs
//! a [`Policy`]: the system calls its loop makes, each with the argument conditions that
//! matter (which descriptors, which flags) and the reason it is needed. Anything else kills the
//! process with `SIGSYS`, so a tile compromised through its input cannot open a socket, load a
//! BPF program or reach the netlink interface it was not given.
//!
//! The per-kind tables live in the codegen (`netbase_codegen::seccomp`), which puts them into
//! the plan; this module holds the model and turns a policy into a filter:
//!
//! ```no_run
//! use netbase_runtime::seccomp::{self, ArgCond, FdBindings, FdRole, Policy, Rule};
//! let policy = Policy {
//!     rules: vec![Rule::with("write", &[ArgCond::Fd { arg: 0, role: FdRole::Stderr }], "diagnostics")],
//! };
//! seccomp::install(&policy, &FdBindings::new().with(FdRole::Stderr, 2)).unwrap();
//! ```
//!
//! Descriptor conditions are resolved at installation, from the roles the tile binds
//! ([`FdBindings`]); a role left unbound makes its rules match nothing (never "any
//! descriptor"), and [`FdBindings::unbound_roles`] tells which those are.
//! [`FdBindings::discover`] binds the roles from the sockets the process has open.

pub mod consts;
mod discover;
mod install;
mod policy;
pub mod syscalls;

pub use install::{compile, install, FdBindings, SeccompError};
pub use policy::{ArgCond, FdRole, Policy, Rule};
pub use seccompiler::BpfProgram;
pub use syscalls::Arch;
