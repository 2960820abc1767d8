use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Neighbour {
    state: u16,
    ifindex: u32,
}

#[derive(SharedRow)]
#[repr(C)]
struct Pair(u8, u64);

fn main() {}
