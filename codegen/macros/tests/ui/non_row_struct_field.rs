use netbase_runtime::SharedRow;

#[repr(C)]
struct NotDerived {
    value: u32,
}

type Alias = *const u8;

#[derive(SharedRow)]
#[repr(C)]
struct Outer {
    hidden_pointer: Alias,
    inner: NotDerived,
    _pad: [u8; 4],
}

fn main() {}
