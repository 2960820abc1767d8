use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Routes {
    count: u64,
    entries: Vec<u8>,
    name: String,
}

fn main() {}
