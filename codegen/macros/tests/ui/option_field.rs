use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Route {
    oif: u32,
    gateway: Option<u32>,
}

fn main() {}
