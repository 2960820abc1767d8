//! The derive works in crates that forbid `unsafe` code: tiles stay safe Rust.

#![forbid(unsafe_code)]
use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Route {
    dst: u32,
}

fn main() {}
