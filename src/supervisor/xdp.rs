//! The XDP programs of an instance: one per interface that net tiles serve, emitted from the
//! plan, loaded and attached by the supervisor before the tiles start.
//!
//! The supervisor owns the program, its XSKMAP and the `BPF_LINK_CREATE` link, so the program
//! detaches when the supervisor exits, whichever way (a SIGKILL closes the link fd too). Net
//! tiles inherit the XSKMAP descriptor (its number in [`XSKMAP_FD_ENV`]) and put their AF_XDP
//! socket at their queue's index; until they do, the program's fallback passes matching frames
//! to the kernel.

use std::os::fd::RawFd;

use netbase_codegen::plan::Plan;
use netbase_codegen::topology::{TileParams, XdpMode};
use netbase_codegen::xdp::{self, XdpSpec};
use netbase_runtime::bpf::{AttachMode, LoadOptions, XdpLink, XdpProgram, XskMap};
use netbase_runtime::rawframe;

/// Environment variable through which a net tile learns the descriptor number of the XSKMAP
/// of its interface.
pub const XSKMAP_FD_ENV: &str = "NETBASE_XSKMAP_FD";

/// Entries of each XSKMAP: receive queue indexes a net tile may use.
pub const XSKMAP_ENTRIES: u32 = 64;

/// One attached program.
pub struct Attached {
    pub interface: String,
    pub map: XskMap,
    /// Dropped last: detaching first means no frame is redirected to a map being torn down.
    pub link: XdpLink,
    pub program: XdpProgram,
}

/// Emits, loads and attaches the program of every interface that net tiles of `plan` serve.
/// Errors name the interface and carry the verifier log when the kernel refused the program.
pub fn attach_all(plan: &Plan) -> Result<Vec<Attached>, String> {
    let mut attached: Vec<Attached> = Vec::new();
    for t in &plan.tiles {
        let TileParams::Net {
            interface,
            xdp_mode,
            ..
        } = &t.params
        else {
            continue;
        };
        if attached.iter().any(|a| &a.interface == interface) {
            continue;
        }
        let spec = XdpSpec::from_plan(plan, &t.instance)?;
        let code = xdp::emit(&spec);
        let ifindex = rawframe::ifindex(interface)
            .map_err(|e| format!("interface {interface} (net tile {}): {e}", t.instance))?;
        let map =
            XskMap::create(XSKMAP_ENTRIES).map_err(|e| format!("XSKMAP for {interface}: {e}"))?;
        let opts = LoadOptions {
            // Multi-buffer frames (MTU above a page) then reach the program instead of making
            // the attach fail on veth; the program only reads the first buffer.
            xdp_has_frags: true,
            log_level: 0,
            name: "netbase_xdp".into(),
        };
        let program = XdpProgram::load(&code.words(map.fd()), &opts)
            .map_err(|e| format!("XDP program for {interface} refused: {e}"))?;
        let mode = match xdp_mode {
            XdpMode::Drv => AttachMode::Driver,
            XdpMode::Skb => AttachMode::Generic,
        };
        let link = XdpLink::attach(&program, ifindex, mode).map_err(|e| {
            let mode = match xdp_mode {
                XdpMode::Drv => "drv",
                XdpMode::Skb => "skb",
            };
            format!("cannot attach XDP to {interface} in {mode} mode: {e}")
        })?;
        attached.push(Attached {
            interface: interface.clone(),
            map,
            link,
            program,
        });
    }
    Ok(attached)
}

/// The XSKMAP descriptor a net tile on `interface` inherits.
pub fn map_fd_for(attached: &[Attached], interface: &str) -> Option<RawFd> {
    attached
        .iter()
        .find(|a| a.interface == interface)
        .map(|a| a.map.fd())
}
