use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
union Addr {
    v4: [u8; 4],
    v6: [u8; 16],
}

fn main() {}
