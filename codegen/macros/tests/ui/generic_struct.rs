use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Slot<T> {
    seq: u64,
    value: T,
}

#[derive(SharedRow)]
#[repr(C)]
struct Borrowed<'a> {
    bytes: [u8; 8],
    marker: core::marker::PhantomData<&'a ()>,
}

#[derive(SharedRow)]
#[repr(C)]
struct Fixed<const N: usize> {
    bytes: [u8; N],
}

fn main() {}
