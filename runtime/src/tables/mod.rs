//! Concurrent tables in shared memory: one writer, lock-free readers in other processes.

pub mod geometry;
pub mod hash;
pub mod hashfn;
pub mod header;
pub mod lpm;
