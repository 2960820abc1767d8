use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Handler {
    id: u64,
    callback: fn(u64) -> u64,
}

fn main() {}
