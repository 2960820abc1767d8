//! Plain-old-data marker for types that may live in shared memory.
//!
//! A netbase workspace is a file mapped by several processes at once: the netlink tile writes
//! routing state into it, and other processes map the same pages read-only. Every type stored
//! there must therefore mean the same thing in every process, whatever bytes the writer left
//! behind. [`SharedRow`] is the marker for such types; the derive macro
//! [`#[derive(SharedRow)]`](macro@crate::SharedRow) from `netbase-macros` implements it for
//! user types after checking the rules below at compile time.
//!
//! ```
//! use core::sync::atomic::AtomicU64;
//! use netbase_runtime::SharedRow;
//!
//! #[derive(SharedRow)]
//! #[repr(C)]
//! struct Counter {
//!     hits: AtomicU64,
//!     ifindex: u32,
//!     _pad: [u8; 4], // explicit, so that no byte of the row is uninitialized
//! }
//!
//! netbase_runtime::plain::assert_shared_row::<Counter>();
//! ```

use core::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
};

/// Types that can be placed in memory shared between processes.
///
/// # Safety
///
/// Implementing this trait asserts all of the following about `Self`:
///
/// 1. **Every bit pattern is a valid value.** A reader maps bytes written by another process
///    (possibly a buggy or older one, possibly in the middle of a write), so it must never be
///    able to observe an invalid value. This rules out `bool`, `char`, references, `NonZero*`,
///    `Option<…>` and enums with data.
/// 2. **No pointers or references,** not even raw ones. Each process maps the shared region at
///    its own address (and has its own heap and code addresses, thanks to ASLR), so an address
///    written by one process is meaningless in another. Store offsets or indices instead.
/// 3. **No implicit padding.** Padding bytes are uninitialized: copying them into shared memory
///    leaks whatever the writer had on its stack, and reading them is undefined behaviour. Two
///    processes built from one schema must agree on the row byte for byte, so every byte has to
///    belong to a field; write padding as explicit `[u8; N]` fields.
/// 4. **A layout fixed by the type's definition:** `#[repr(C)]`, `#[repr(transparent)]` or a
///    primitive. Rust's default layout may reorder fields differently in two builds.
/// 5. **The same size on every target netbase supports.** This is why `usize` and `isize` are
///    not `SharedRow`: they are 4 bytes on 32-bit targets and 8 bytes on 64-bit ones, so a
///    32-bit and a 64-bit process mapping the same workspace would disagree on every offset
///    after the first such field. Use `u64`/`i64`.
/// 6. **No drop glue and no ownership of anything outside the row** (`Vec`, `String`, `Box`,
///    file descriptors): the bytes are the whole value.
///
/// Do not implement this trait by hand: use `#[derive(SharedRow)]`, which checks rules 1–5
/// for structs at compile time (see the `netbase-macros` crate documentation).
///
/// The `'static` supertrait keeps borrowed data out at the type level as well.
///
/// # Implementations
///
/// * the fixed-width integers `u8`…`u128` and `i8`…`i128`;
/// * `f32` and `f64` (every bit pattern is some float, possibly a NaN);
/// * arrays `[T; N]` of `SharedRow` elements (arrays never have padding between elements);
/// * the atomics `AtomicU8`…`AtomicU64` and `AtomicI8`…`AtomicI64`, which have the same size
///   and in-memory representation as the corresponding integer.
///
/// ## Atomics across processes
///
/// Shared rows may contain atomics so that a writer can update a field while readers in other
/// processes load it. This works because the std atomics are *lock-free* on the targets
/// netbase supports (Linux on x86-64 and aarch64): every operation is a single hardware
/// instruction (or an LL/SC loop) on the memory location itself, and the hardware keeps that
/// location coherent no matter which virtual address each process maps it at. An atomic
/// implemented with a lock in process-local memory would not work; this module therefore
/// refuses to compile on targets without native 8-, 16-, 32- and 64-bit atomics.
///
/// ## `u128` and `i128`
///
/// Their alignment on x86-64 changed from 8 to 16 bytes in Rust 1.77. The workspace's
/// `rust-version` is newer than that, so all supported compilers agree on the layout, but
/// processes sharing a workspace should in general be built with the same toolchain.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be placed in shared memory: it does not implement `SharedRow`",
    label = "`{Self}` is not a `SharedRow` type",
    note = "shared-memory rows may only contain fixed-width integers (`u8`..`u128`, \
            `i8`..`i128`), `f32`, `f64`, the std integer atomics, arrays of these, and types \
            with `#[derive(SharedRow)]`",
    note = "heap-owning types (`Vec`, `String`, `Box`), `Option`, pointers, `bool`, `char`, \
            `usize` and `isize` are not allowed: another process may map different addresses \
            or write bytes that are invalid for them"
)]
pub unsafe trait SharedRow: 'static {}

/// Compiles only if `T` implements [`SharedRow`]; does nothing at run time.
///
/// `#[derive(SharedRow)]` calls this once per field, in a `const` item spanned at the field's
/// type, so that a field of an unsuitable type is reported at that field.
pub const fn assert_shared_row<T: SharedRow>() {}

macro_rules! impl_shared_row {
    ($($ty:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive integer or float: every bit pattern is a valid value, no
            // padding, no pointers, and the same size on every target.
            unsafe impl SharedRow for $ty {}
        )*
    };
}

impl_shared_row!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

// SAFETY: an array is `N` consecutive `T`s with no padding in between (the size of a type is
// always a multiple of its alignment), so it inherits every property of `T`.
unsafe impl<T: SharedRow, const N: usize> SharedRow for [T; N] {}

#[cfg(not(all(
    target_has_atomic = "8",
    target_has_atomic = "16",
    target_has_atomic = "32",
    target_has_atomic = "64"
)))]
compile_error!(
    "netbase shares atomics between processes and needs native (lock-free) 8-, 16-, 32- and \
     64-bit atomics; this target does not have them"
);

macro_rules! impl_shared_row_atomic {
    ($($atomic:ty => $int:ty),* $(,)?) => {
        $(
            // SAFETY: the std documentation guarantees that the atomic has the same size and
            // bit validity as the integer (any bit pattern is valid), and that it is lock-free
            // on targets with native atomics of that width, which the `compile_error!` above
            // requires.
            unsafe impl SharedRow for $atomic {}

            const _: () = assert!(
                core::mem::size_of::<$atomic>() == core::mem::size_of::<$int>()
                    && core::mem::align_of::<$atomic>() == core::mem::size_of::<$int>(),
                concat!(
                    "`", stringify!($atomic), "` must have the size of `", stringify!($int),
                    "` and natural alignment"
                )
            );
        )*
    };
}

impl_shared_row_atomic!(
    AtomicU8 => u8,
    AtomicU16 => u16,
    AtomicU32 => u32,
    AtomicU64 => u64,
    AtomicI8 => i8,
    AtomicI16 => i16,
    AtomicI32 => i32,
    AtomicI64 => i64,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_arrays_and_atomics_are_shared_rows() {
        assert_shared_row::<u8>();
        assert_shared_row::<i128>();
        assert_shared_row::<f64>();
        assert_shared_row::<[u32; 4]>();
        assert_shared_row::<[[AtomicU64; 2]; 3]>();
        assert_shared_row::<AtomicI16>();
    }
}
