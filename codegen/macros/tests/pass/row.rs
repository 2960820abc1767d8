use core::sync::atomic::AtomicU32;
use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Nexthop {
    gateway: [u8; 16],
    ifindex: u32,
    weight: AtomicU32,
}

#[derive(SharedRow)]
#[repr(C, align(8))]
struct Entry(Nexthop, [u8; 0]);

fn main() {
    netbase_runtime::plain::assert_shared_row::<Entry>();
    assert_eq!(size_of::<Entry>(), 24);
}
