//! What the XDP program steers to AF_XDP, and how a topology plan decides it.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use netbase_uapi::linux as k;

use crate::plan::{Plan, TilePlan};
use crate::topology::TileParams;

/// Most UDP ports one program matches. Ports are compared one after the other, and the
/// verifier refuses a chain of more than 8192 conditional jumps; a topology with this many
/// application ports is a mistake anyway.
pub const MAX_UDP_PORTS: usize = 1024;

/// The frames the program redirects: IPv4 UDP to one of `udp_ports` (and to `dst_addr` if
/// set). Everything else goes to the kernel (`XDP_PASS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpSpec {
    /// Destination ports (host order) to redirect. Order and duplicates do not matter.
    pub udp_ports: Vec<u16>,
    /// Only frames to this IPv4 destination, if set.
    pub dst_addr: Option<Ipv4Addr>,
    /// The action when the receive queue has no AF_XDP socket in the XSKMAP: the flags
    /// argument of `bpf_redirect_map`. `XDP_PASS` in production, so that frames reach the
    /// kernel while a net tile restarts. The helper accepts only `XDP_ABORTED`..=`XDP_TX`;
    /// with any other value it returns `XDP_ABORTED` for every matching frame.
    pub redirect_fallback: u32,
}

impl XdpSpec {
    /// The spec of the program on the interface of net tile instance `net_tile_instance`
    /// (`net.0`).
    ///
    /// One XDP program serves a whole interface: the kernel runs it for every receive queue
    /// and it redirects a match to the socket of whichever queue the frame arrived on (RSS
    /// decides that, not the port). So the ports are those of every tile with a `udp_port`
    /// (`udp_echo`) linked, in either direction, to *any* net tile instance on that
    /// interface, and those instances must agree on `dst_addr`. The fallback is `XDP_PASS`.
    pub fn from_plan(plan: &Plan, net_tile_instance: &str) -> Result<XdpSpec, String> {
        let me = plan
            .tiles
            .iter()
            .find(|t| t.instance == net_tile_instance)
            .ok_or_else(|| {
                format!(
                    "topology `{}` has no tile instance `{net_tile_instance}`",
                    plan.topology
                )
            })?;
        let TileParams::Net {
            interface,
            dst_addr,
            ..
        } = &me.params
        else {
            return Err(format!(
                "tile instance `{net_tile_instance}` is a {} tile, not a net tile",
                me.kind.name()
            ));
        };
        let on_interface: Vec<&TilePlan> = plan
            .tiles
            .iter()
            .filter(|t| matches!(&t.params, TileParams::Net { interface: i, .. } if i == interface))
            .collect();
        for other in &on_interface {
            if let TileParams::Net { dst_addr: d, .. } = &other.params {
                if d != dst_addr {
                    return Err(format!(
                        "net tiles `{}` and `{}` share interface `{interface}` but filter \
                         different dst_addr ({} vs {}); its one XDP program cannot serve both",
                        me.instance,
                        other.instance,
                        show_addr(dst_addr),
                        show_addr(d)
                    ));
                }
            }
        }
        let is_ours = |instance: &str| on_interface.iter().any(|t| t.instance == instance);
        let mut ports = BTreeSet::new();
        for ring in plan.links.iter().flat_map(|l| &l.rings) {
            let peer = if is_ours(&ring.producer) {
                &ring.consumer
            } else if is_ours(&ring.consumer) {
                &ring.producer
            } else {
                continue;
            };
            let peer = plan.tiles.iter().find(|t| &t.instance == peer);
            if let Some((udp_port, instance)) =
                peer.and_then(|t| Some((t.params.udp_port()?, &t.instance)))
            {
                if udp_port == 0 {
                    return Err(format!("tile `{instance}` has UDP port 0"));
                }
                ports.insert(udp_port);
            }
        }
        if ports.len() > MAX_UDP_PORTS {
            return Err(format!(
                "interface `{interface}` serves {} UDP ports; the XDP program matches at most \
                 {MAX_UDP_PORTS}",
                ports.len()
            ));
        }
        Ok(XdpSpec {
            udp_ports: ports.into_iter().collect(),
            dst_addr: *dst_addr,
            redirect_fallback: k::XDP_PASS,
        })
    }
}

fn show_addr(a: &Option<Ipv4Addr>) -> String {
    a.map_or_else(|| "any".to_string(), |a| a.to_string())
}
