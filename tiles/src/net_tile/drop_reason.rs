//! Why the net tile dropped a packet: the one list of reasons, used as counter indexes and, by
//! [`DropReason::name`], as metric and JSON keys.
//!
//! Receive-side reasons describe frames from the wire that are not UDP over IPv4 for an
//! application; transmit-side reasons describe datagrams of applications that cannot be sent.
//! A new reason goes here and nowhere else: counters are arrays indexed by `reason as usize`,
//! sized [`DropReason::COUNT`].

/// Why a packet was dropped. `repr(u8)`, numbered densely from 0 in the order of
/// [`DropReason::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    // Receive side.
    /// Shorter than the headers it announces (Ethernet, or Ethernet + IPv4 base header).
    FrameTooShort,
    /// Not an untagged IPv4 Ethernet frame (ARP, IPv6, VLAN-tagged, ...). The XDP program
    /// should pass those to the kernel; counted in case it does not.
    NotIpv4,
    /// IPv4 header unusable: version not 4, header length below 20 bytes, total length
    /// shorter than the header or longer than the frame.
    IpHeaderBad,
    IpChecksumBad,
    /// IPv4 header with options (IHL above 5): not supported.
    IpOptions,
    /// A fragment (more-fragments flag or a fragment offset): reassembly is not supported.
    IpFragment,
    /// An IPv4 protocol other than UDP.
    NotUdp,
    /// UDP length field below 8 or beyond the IPv4 payload.
    UdpLengthBad,
    UdpChecksumBad,
    /// No application owns the destination port.
    NoApp,
    /// The payload is larger than an application link frame carries.
    AppFrameTooLong,
    /// The link to the owning application is full.
    AppLinkFull,

    // Transmit side.
    /// No table had a route for the destination.
    NoRoute,
    /// The route is of type `blackhole`.
    Blackhole,
    /// The route is of type `unreachable`.
    Unreachable,
    /// The route is of type `prohibit`.
    Prohibit,
    /// The route has several next hops or uses a nexthop object: not resolved yet.
    RouteUnsupported,
    /// A route type (or destination class) that sends nothing to a single neighbour:
    /// broadcast, multicast, anycast, nat, ...
    RouteOther,
    /// A route table could not answer for the destination (routes it could not store, or
    /// a row that stayed mid-write): better no packet than one along a wrong route.
    TableIncomplete,
    /// The next hop has no usable link-layer address yet (a solicit was requested).
    NoNeighbour,
    /// The kernel's neighbour entry for the next hop is `FAILED`.
    NeighbourFailed,
    /// The output interface is not up (see `route` for what "up" means).
    InterfaceDown,
    /// The output interface is not in the interface table.
    InterfaceUnknown,
    /// The route leaves through an interface this net tile does not serve (its AF_XDP socket
    /// can only send on its own): a topology with a net tile per interface sends it.
    OtherInterface,
    /// The IPv4 packet would exceed the output interface's MTU.
    Mtu,
    /// The transmit ring was full.
    TxRingFull,
    /// An application frame that does not decode, or whose datagram cannot be built.
    BadAppFrame,
    /// No source address could be chosen for the output interface.
    NoSourceAddress,
}

impl DropReason {
    /// Every reason, in discriminant order (`ALL[r as usize] == r`).
    pub const ALL: [DropReason; 28] = [
        DropReason::FrameTooShort,
        DropReason::NotIpv4,
        DropReason::IpHeaderBad,
        DropReason::IpChecksumBad,
        DropReason::IpOptions,
        DropReason::IpFragment,
        DropReason::NotUdp,
        DropReason::UdpLengthBad,
        DropReason::UdpChecksumBad,
        DropReason::NoApp,
        DropReason::AppFrameTooLong,
        DropReason::AppLinkFull,
        DropReason::NoRoute,
        DropReason::Blackhole,
        DropReason::Unreachable,
        DropReason::Prohibit,
        DropReason::RouteUnsupported,
        DropReason::RouteOther,
        DropReason::TableIncomplete,
        DropReason::NoNeighbour,
        DropReason::NeighbourFailed,
        DropReason::InterfaceDown,
        DropReason::InterfaceUnknown,
        DropReason::OtherInterface,
        DropReason::Mtu,
        DropReason::TxRingFull,
        DropReason::BadAppFrame,
        DropReason::NoSourceAddress,
    ];

    /// Number of reasons: the length of a per-reason counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// The snake_case name (metric label, JSON key). Stable: renaming breaks dashboards.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::FrameTooShort => "frame_too_short",
            DropReason::NotIpv4 => "not_ipv4",
            DropReason::IpHeaderBad => "ip_header_bad",
            DropReason::IpChecksumBad => "ip_checksum_bad",
            DropReason::IpOptions => "ip_options",
            DropReason::IpFragment => "ip_fragment",
            DropReason::NotUdp => "not_udp",
            DropReason::UdpLengthBad => "udp_length_bad",
            DropReason::UdpChecksumBad => "udp_checksum_bad",
            DropReason::NoApp => "no_app",
            DropReason::AppFrameTooLong => "app_frame_too_long",
            DropReason::AppLinkFull => "app_link_full",
            DropReason::NoRoute => "no_route",
            DropReason::Blackhole => "blackhole",
            DropReason::Unreachable => "unreachable",
            DropReason::Prohibit => "prohibit",
            DropReason::RouteUnsupported => "route_unsupported",
            DropReason::RouteOther => "route_other",
            DropReason::TableIncomplete => "table_incomplete",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::NeighbourFailed => "neighbour_failed",
            DropReason::InterfaceDown => "interface_down",
            DropReason::InterfaceUnknown => "interface_unknown",
            DropReason::OtherInterface => "other_interface",
            DropReason::Mtu => "mtu",
            DropReason::TxRingFull => "tx_ring_full",
            DropReason::BadAppFrame => "bad_app_frame",
            DropReason::NoSourceAddress => "no_source_address",
        }
    }

    /// The reason with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether the reason is about received frames (else about datagrams to send).
    pub const fn is_rx(self) -> bool {
        (self as u8) <= DropReason::AppLinkFull as u8
    }

    /// The counter index of this reason.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for r in DropReason::ALL {
            let n = r.name();
            assert!(seen.insert(n), "duplicate name {n}");
            assert!(
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && n.as_bytes()[0].is_ascii_lowercase()
                    && !n.starts_with('_')
                    && !n.ends_with('_'),
                "{n} is not snake_case"
            );
            assert_eq!(DropReason::from_name(n), Some(r));
        }
        assert_eq!(DropReason::from_name("nope"), None);
    }

    #[test]
    fn sides() {
        assert!(DropReason::FrameTooShort.is_rx());
        assert!(DropReason::AppLinkFull.is_rx());
        assert!(!DropReason::NoRoute.is_rx());
        assert!(!DropReason::NoSourceAddress.is_rx());
    }
}
