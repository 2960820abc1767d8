use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Link {
    ifindex: u32,
    up: bool,
    _pad: [u8; 3],
}

fn main() {}
