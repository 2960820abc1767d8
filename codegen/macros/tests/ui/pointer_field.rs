use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Route {
    oif: u64,
    next: *const Route,
    prev: [*mut Route; 2],
}

fn main() {}
