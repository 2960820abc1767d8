use netbase_runtime::SharedRow;

#[derive(SharedRow)]
enum Scope {
    Universe,
    Host,
}

#[derive(SharedRow)]
#[repr(C)]
enum Protocol {
    Kernel,
    Static,
}

#[derive(SharedRow)]
#[repr(usize)]
enum State {
    Up,
    Down,
}

fn main() {}
