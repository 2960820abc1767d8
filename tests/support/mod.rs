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

/// With this variable set to `1`, a privileged test that cannot run fails instead of skipping.
pub const REQUIRE_PRIVILEGED_ENV: &str = "NETBASE_REQUIRE_PRIVILEGED";

/// Whether privileged tests must run (`NETBASE_REQUIRE_PRIVILEGED=1`).
pub fn privileged_required() -> bool {
    std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1")
}

/// The project's one rule for a privileged test that cannot run: with
/// `NETBASE_REQUIRE_PRIVILEGED=1` the test fails with `reason`; otherwise this prints
/// `skipped: <reason>` to stderr and the caller returns early.
#[track_caller]
pub fn privileged_or_skip(reason: &str) {
    if privileged_required() {
        panic!("privileged test cannot run ({REQUIRE_PRIVILEGED_ENV}=1): {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A fresh test namespace, or `None` after [`privileged_or_skip`] when one cannot be made
/// (not root, no `ip`, `ip netns add` refused). Typical use:
///
/// ```ignore
/// let Some(ns) = support::netns_or_skip() else { return };
/// ```
#[track_caller]
pub fn netns_or_skip() -> Option<TestNetns> {
    if !is_root() {
        privileged_or_skip("needs root to create network namespaces");
        return None;
    }
    match TestNetns::new() {
        Ok(ns) => Some(ns),
        Err(e) => {
            privileged_or_skip(&e);
            None
        }
    }
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
