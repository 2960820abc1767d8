//! The family-header table of the code generator must match the kernel ABI exactly: check every
//! offset and size against the bindgen structs of `netbase-uapi`.

use core::mem::{offset_of, size_of};

use netbase_codegen::family::header;
use netbase_uapi::linux as k;

fn check(name: &str, size: usize, fields: &[(&str, usize, usize)]) {
    let h = header(name).unwrap_or_else(|| panic!("no header {name}"));
    assert_eq!(h.size, size, "size of {name}");
    for &(f, off, sz) in fields {
        let hf = h
            .field(f)
            .unwrap_or_else(|| panic!("{name} has no field {f}"));
        assert_eq!((hf.offset, hf.size), (off, sz), "{name}.{f}");
    }
}

macro_rules! fields {
    ($ty:ty; $($f:ident),*) => {
        &[$((stringify!($f), offset_of!($ty, $f), {
            let v: $ty = Default::default();
            core::mem::size_of_val(&v.$f)
        })),*]
    };
}

#[test]
fn headers_match_uapi() {
    check(
        "ifinfomsg",
        size_of::<k::ifinfomsg>(),
        fields!(k::ifinfomsg; ifi_family, ifi_type, ifi_index, ifi_flags, ifi_change),
    );
    check(
        "ifaddrmsg",
        size_of::<k::ifaddrmsg>(),
        fields!(k::ifaddrmsg; ifa_family, ifa_prefixlen, ifa_flags, ifa_scope, ifa_index),
    );
    check(
        "rtmsg",
        size_of::<k::rtmsg>(),
        fields!(k::rtmsg; rtm_family, rtm_dst_len, rtm_src_len, rtm_tos, rtm_table, rtm_protocol, rtm_scope, rtm_type, rtm_flags),
    );
    check(
        "ndmsg",
        size_of::<k::ndmsg>(),
        fields!(k::ndmsg; ndm_family, ndm_ifindex, ndm_state, ndm_flags, ndm_type),
    );
    check(
        "nhmsg",
        size_of::<k::nhmsg>(),
        fields!(k::nhmsg; nh_family, nh_scope, nh_protocol, nh_flags),
    );
    check(
        "fib_rule_hdr",
        size_of::<k::fib_rule_hdr>(),
        fields!(k::fib_rule_hdr; family, dst_len, src_len, tos, table, action, flags),
    );
}
