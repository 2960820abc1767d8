use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Route {
    oif: u64,
    name: &'static [u8; 16],
}

fn main() {}
