//! Derive macros for netbase shared-memory rows.
//!
//! netbase keeps its tables in shared memory: the netlink tile writes Linux routing state into
//! a workspace, and other processes map the same pages read-only. A type stored there must
//! implement `netbase_runtime::SharedRow`, whose contract (every bit pattern valid, no
//! pointers, no implicit padding, a fixed layout) is documented on the trait.
//! `#[derive(SharedRow)]` implements that trait after checking the contract at compile time,
//! and reports every violation at the field or attribute that causes it. Use it through the
//! re-export `netbase_runtime::SharedRow`, which names both the trait and the derive.
//!
//! ```
//! use core::sync::atomic::AtomicU64;
//! use netbase_runtime::SharedRow;
//!
//! #[derive(SharedRow)]
//! #[repr(C)]
//! struct Route {
//!     dst: [u8; 16],
//!     prefix_len: u8,
//!     protocol: u8,
//!     _pad0: [u8; 2], // explicit padding: `oif` is 4-aligned
//!     oif: u32,
//!     packets: AtomicU64,
//! }
//!
//! #[derive(SharedRow)]
//! #[repr(transparent)]
//! struct IfIndex(u32);
//!
//! assert_eq!(size_of::<Route>(), 32);
//! ```
//!
//! # Rules
//!
//! **Structs** (with named or tuple fields):
//!
//! * must be `#[repr(C)]` (optionally with `align(N)`) or `#[repr(transparent)]`; Rust's
//!   default layout may differ between two builds. `#[repr(packed)]` is rejected, because
//!   packed fields may be unaligned and atomics need natural alignment.
//! * no field may be a raw pointer, a reference or a function pointer (each process maps memory,
//!   and loads code, at its own addresses), a trait object, a slice, `str` or a tuple, nor
//!   have type `bool` (use `u8`), `char` (use `u32`), `usize` (use `u64`) or `isize` (use
//!   `i64`). These get a dedicated message, also as array elements.
//! * every other field type must implement `SharedRow`; `Vec<u8>`, `String`, `Option<u32>`,
//!   `Box<T>`, … fail with an error underlining the field's type.
//! * no implicit padding: each field must start exactly where the previous one ends, and the
//!   struct must end exactly where its last field ends (checked with `offset_of!` and
//!   `size_of` in constant assertions, which name the field). Padding bytes are uninitialized;
//!   write them as explicit `_pad: [u8; K]` fields.
//!
//! ```compile_fail,E0080
//! use netbase_runtime::SharedRow;
//!
//! #[derive(SharedRow)]
//! #[repr(C)]
//! struct Neighbour {
//!     state: u16,
//!     // error: implicit padding before field `ifindex` in `Neighbour`
//!     ifindex: u32,
//! }
//! ```
//!
//! ```compile_fail
//! use netbase_runtime::SharedRow;
//!
//! #[derive(SharedRow)]
//! #[repr(C)]
//! struct Link {
//!     ifindex: u32,
//!     up: bool, // error: use `u8`
//!     _pad: [u8; 3],
//! }
//! ```
//!
//! **Enums** must be fieldless and have an explicit integer repr: one of `u8`, `u16`, `u32`,
//! `u64`, `i8`, `i16`, `i32`, `i64` (`usize`/`isize` and a bare `repr(C)` have a
//! target-dependent size).
//!
//! <div class="warning">
//!
//! A fieldless enum does **not** fully meet the `SharedRow` contract: only its declared
//! discriminants are valid values, so reading a row in which another process wrote any other
//! value is undefined behaviour. The derive accepts such enums for user code in which every
//! writer is trusted to write valid discriminants. The netbase code generator never relies on
//! this: it emits `#[repr(transparent)]` newtypes over integers with named constants instead of
//! Rust enums, and code that reads rows written by other processes should do the same.
//!
//! </div>
//!
//! **Generic types** and **unions** are rejected: the layout checks need concrete field types,
//! and a union does not record which of its fields is initialized.
//!
//! The generated code refers to `::netbase_runtime`, so the crate using the derive must depend
//! on `netbase-runtime` under that name.

mod field_type;
mod repr;
mod shared_row;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `netbase_runtime::SharedRow` after checking, at compile time, that the type can
/// be shared between processes through shared memory. See the [crate documentation](crate)
/// for the rules.
#[proc_macro_derive(SharedRow)]
pub fn derive_shared_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    shared_row::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
