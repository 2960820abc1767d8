//! Helpers shared by the integration tests: the project's privilege policy, throw-away network
//! namespaces driven with `ip`, raw `NETLINK_ROUTE` sockets opened inside them, and raw frame
//! injection.
//!
//! Include with `mod support;` from a test file. Not every test uses every helper, hence the
//! `dead_code` allowance below.
#![allow(dead_code)]

pub mod netns;
pub mod packet;
pub mod rtnl;

#[allow(unused_imports)]
pub use netns::TestNetns;
#[allow(unused_imports)]
pub use rtnl::Rtnl;

#[allow(unused_imports)]
pub use netbase_runtime::netns::{
    is_root, privileged_or_skip, privileged_required, REQUIRE_PRIVILEGED_ENV,
};

/// A fresh test namespace, or `None` after [`privileged_or_skip`] when one cannot be made
/// (not root, no `ip`, `ip netns add` refused). Typical use:
///
/// ```ignore
/// let Some(ns) = support::netns_or_skip() else { return };
/// ```
#[track_caller]
pub fn netns_or_skip() -> Option<TestNetns> {
    netbase_runtime::netns::netns_or_skip("nbt").map(TestNetns::from)
}

/// Lower-case hex of `bytes`, 16 bytes a line with offsets (for failure messages).
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("  {:04x}:", i * 16));
        for b in line {
            out.push_str(&format!(" {b:02x}"));
        }
        out.push('\n');
    }
    out
}
