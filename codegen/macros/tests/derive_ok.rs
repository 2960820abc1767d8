//! Types that `#[derive(SharedRow)]` accepts.

#![allow(dead_code)]

use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::{AtomicI32, AtomicU16, AtomicU64, AtomicU8, Ordering};

use netbase_runtime::plain::assert_shared_row;
use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Prefix {
    addr: [u8; 16],
    len: u8,
    family: u8,
    _pad: [u8; 2],
}

/// Nested `SharedRow` struct, arrays of structs, atomics and explicit padding.
#[derive(SharedRow)]
#[repr(C)]
struct Route {
    dst: Prefix,
    gateways: [Prefix; 2],
    oif: u32,
    metric: i32,
    _pad0: [u8; 4],
    generation: AtomicU64,
    flags: AtomicU16,
    state: AtomicU8,
    _pad1: [u8; 1],
    refs: AtomicI32,
}

/// A cache-line-sized slot: `align(64)` is fine as long as the fields fill the whole line.
#[derive(SharedRow)]
#[repr(C, align(64))]
struct Slot {
    seq: AtomicU64,
    value: [u64; 6],
    checksum: u32,
    _pad: [u8; 4],
}

/// `align` may also come from a second `repr` attribute.
#[derive(SharedRow)]
#[repr(C)]
#[repr(align(16))]
struct Pair {
    lo: u64,
    hi: u64,
}

#[derive(SharedRow)]
#[repr(C)]
struct Mac([u8; 6], u16);

#[derive(SharedRow)]
#[repr(transparent)]
struct IfIndex(u32);

#[derive(SharedRow)]
#[repr(transparent)]
struct Weight {
    value: f64,
}

#[derive(SharedRow)]
#[repr(C)]
struct Wide {
    a: u128,
    b: i128,
    c: f32,
    d: i16,
    e: i8,
    f: u8,
    g: f64,
}

/// Raw identifiers and fully qualified primitive paths.
#[derive(SharedRow)]
#[repr(C)]
struct Keywords {
    r#type: ::core::primitive::u32,
    r#match: [IfIndex; 3],
}

#[derive(SharedRow)]
#[repr(C)]
struct Empty {}

#[derive(SharedRow)]
#[repr(C)]
struct Unit;

/// Fieldless enums with an explicit integer repr are accepted (see the crate docs for the
/// soundness caveat).
#[derive(SharedRow)]
#[repr(u8)]
enum Scope {
    Universe = 0,
    Site = 200,
    Link = 253,
    Host = 254,
    Nowhere = 255,
}

#[derive(SharedRow)]
#[repr(i64)]
enum Sign {
    Negative = -1,
    Zero,
    Positive,
}

#[derive(SharedRow)]
#[repr(C)]
struct WithEnum {
    scope: Scope,
    _pad: [u8; 7],
    sign: Sign,
}

const _: () = assert_shared_row::<[[Route; 2]; 2]>();

#[test]
fn layouts() {
    assert_eq!(size_of::<Prefix>(), 20);
    assert_eq!(size_of::<Route>(), 3 * 20 + 4 + 4 + 4 + 8 + 2 + 1 + 1 + 4);
    assert_eq!(offset_of!(Route, generation), 72);
    assert_eq!(size_of::<Slot>(), 64);
    assert_eq!(align_of::<Slot>(), 64);
    assert_eq!(size_of::<Pair>(), 16);
    assert_eq!(align_of::<Pair>(), 16);
    assert_eq!(size_of::<Mac>(), 8);
    assert_eq!(size_of::<IfIndex>(), 4);
    assert_eq!(size_of::<Weight>(), 8);
    assert_eq!(size_of::<Wide>(), 48);
    assert_eq!(size_of::<Keywords>(), 16);
    assert_eq!(size_of::<Empty>(), 0);
    assert_eq!(size_of::<Unit>(), 0);
    assert_eq!(size_of::<Scope>(), 1);
    assert_eq!(size_of::<Sign>(), 8);
    assert_eq!(size_of::<WithEnum>(), 16);
}

#[test]
fn rows_are_usable() {
    fn shared<T: SharedRow>(_: &T) {}

    let slot = Slot {
        seq: AtomicU64::new(1),
        value: [0; 6],
        checksum: 0,
        _pad: [0; 4],
    };
    shared(&slot);
    slot.seq.fetch_add(1, Ordering::Relaxed);
    assert_eq!(slot.seq.load(Ordering::Relaxed), 2);
    shared(&Mac([2, 0, 0, 0, 0, 1], 0));
    shared(&IfIndex(7));
    shared(&Scope::Host);
}
