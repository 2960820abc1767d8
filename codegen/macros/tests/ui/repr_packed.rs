use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C, packed)]
struct Route {
    dst: u32,
    metric: u64,
}

#[derive(SharedRow)]
#[repr(C)]
#[repr(packed(2))]
struct Neigh {
    ifindex: u32,
    state: u16,
}

fn main() {}
