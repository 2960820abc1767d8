use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Table {
    len: usize,
    delta: core::primitive::isize,
}

fn main() {}
