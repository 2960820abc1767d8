use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(align(8))]
struct Route {
    dst: u32,
    oif: u32,
}

fn main() {}
