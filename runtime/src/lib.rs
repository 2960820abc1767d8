//! netbase runtime: the machinery that generated code and tiles run on.
//!
//! Everything that touches shared memory, atomics or `unsafe` lives in this crate, so that the
//! generated code and the tiles stay safe Rust.

// Lets `#[derive(SharedRow)]` emit `::netbase_runtime::…` paths that also resolve inside this
// crate.
extern crate self as netbase_runtime;

pub mod bpf;
pub mod ethtool;
pub mod hint;
pub mod link;
pub mod netlink;
pub mod netns;
pub mod plain;
pub mod privs;
pub mod process;
pub mod rand;
pub mod rawframe;
pub mod region;
pub mod schema_info;
pub mod seccomp;
pub mod sync;
pub mod tables;
pub mod tile;
pub mod types;
pub mod udp_batch;
pub mod workspace;
pub mod xsk;

pub use netbase_macros::SharedRow;
pub use plain::SharedRow;
