//! Confining a tile after its setup and before it touches untrusted input: privileges dropped
//! (capabilities, user, no-new-privs, unused descriptors closed), then the tile kind's seccomp
//! filter from the plan.
//!
//! What each kind keeps after setup:
//!
//! | kind | capabilities | why |
//! |---|---|---|
//! | netlink | `CAP_NET_ADMIN` with `probe = "auto"`/`"netlink"`, none with `"udp"` | `RTM_NEWNEIGH` + `NTF_USE` is checked when sent; the UDP probe needs nothing |
//! | net | none | its AF_XDP and raw sockets and the XSKMAP are open; sends on them need no capability |
//! | udp_echo | none | shared memory only |
//!
//! Descriptors kept: the tile's own sockets ([`Tile::descriptors`]), the files of the
//! workspaces it mapped (the writer's holds the single-writer lock) and stdio; everything else
//! (e.g. the XSKMAP descriptor the supervisor handed down, once duplicated) is closed.

use std::os::fd::RawFd;

use netbase_codegen::plan::TilePlan;
use netbase_codegen::topology::{ProbeMethod, TileParams};
use netbase_runtime::privs::{self, Cap, UserSpec};
use netbase_runtime::seccomp::{self, FdBindings};
use netbase_runtime::tile::Tile;

use super::kinds::Joined;

/// Environment variable that makes a tile misbehave on purpose once confined, for the
/// fault-injection tests: `INSTANCE:FAULT` (`net.0:netlink-socket`, `net.0:write-netbase`).
/// Test setting, not an operator knob.
pub const FAULT_ENV: &str = "NETBASE_FAULT_INJECT";

/// The capabilities tile `me` keeps after setup (see the module table).
pub fn kept_caps(me: &TilePlan) -> Vec<Cap> {
    match &me.params {
        TileParams::Netlink { probe } if *probe != ProbeMethod::Udp => vec![Cap::NetAdmin],
        _ => Vec::new(),
    }
}

/// Drops privileges and installs the seccomp filter. Errors are fatal for the tile: a tile
/// half-confined must not run.
pub fn confine(me: &TilePlan, tile: &dyn Tile, joined: &[Joined]) -> Result<String, String> {
    let mut keep: Vec<RawFd> = tile.descriptors();
    keep.extend(joined.iter().map(|j| j.workspace.fd()));
    let user = me
        .user
        .as_deref()
        .map(|u| {
            u.parse::<UserSpec>()
                .map_err(|e| format!("user {u:?} of tile {}: {e}", me.instance))
        })
        .transpose()?;
    let report = privs::drop_privileges(&privs::Drop {
        keep_caps: kept_caps(me),
        user,
        keep_fds: keep,
    })
    .map_err(|e| format!("dropping privileges: {e}"))?;
    let fds = FdBindings::discover().map_err(|e| format!("seccomp descriptors: {e}"))?;
    seccomp::install(&me.seccomp, &fds).map_err(|e| format!("seccomp filter: {e}"))?;
    // The report was taken before the filter went in (its `seccomp=` is the mode then).
    Ok(format!(
        "{report}; then seccomp filter of {} rules",
        me.seccomp.rules.len()
    ))
}

/// The fault `me` was asked to inject, if any.
pub fn injected_fault(me: &TilePlan) -> Option<String> {
    let spec = std::env::var(FAULT_ENV).ok()?;
    let (instance, fault) = spec.split_once(':')?;
    (instance == me.instance).then(|| fault.to_owned())
}
