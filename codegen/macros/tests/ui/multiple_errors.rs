use netbase_runtime::SharedRow;

#[derive(SharedRow)]
struct Everything {
    up: bool,
    next: *mut Everything,
    count: usize,
}

fn main() {}
