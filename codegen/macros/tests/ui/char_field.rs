use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(C)]
struct Label(u32, char);

fn main() {}
