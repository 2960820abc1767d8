use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Route {
    metric: u64,
    scope: u8,
}

#[derive(SharedRow)]
#[repr(C, align(64))]
struct Slot {
    seq: u64,
}

fn main() {}
