use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(u8, align(4))]
enum Scope {
    Universe,
    Host,
}

fn main() {}
