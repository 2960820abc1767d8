use netbase_runtime::SharedRow;

#[derive(SharedRow)]
#[repr(u8)]
enum Nexthop {
    Blackhole,
    Gateway([u8; 4]),
    Device { ifindex: u32 },
}

fn main() {}
