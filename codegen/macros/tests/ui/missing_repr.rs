use netbase_runtime::SharedRow;

#[derive(SharedRow)]
struct Route {
    dst: u32,
    oif: u32,
}

fn main() {}
