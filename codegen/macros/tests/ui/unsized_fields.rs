use netbase_runtime::SharedRow;

trait Action {}

#[derive(SharedRow)]
#[repr(C)]
struct Name {
    len: u32,
    text: str,
}

#[derive(SharedRow)]
#[repr(C)]
struct Bytes {
    len: u32,
    data: [u8],
}

#[derive(SharedRow)]
#[repr(C)]
struct Dyn {
    len: u32,
    action: dyn Action,
}

#[derive(SharedRow)]
#[repr(C)]
struct Tuple {
    pair: (u32, u32),
}

fn main() {}
