//! Encoders for the few requests the netlink tile sends, written into a caller's buffer.
//!
//! Every request fits in [`MAX_REQUEST_LEN`] bytes, so a stack array is enough and nothing is
//! allocated. Family headers are laid out with the offsets of the bindgen structs in
//! `netbase_uapi`, and every header field the kernel's strict dump validation requires to be
//! zero is left zero (with `NETLINK_GET_STRICT_CHK` a stray byte there fails the dump with
//! `EINVAL`).

use core::fmt;
use core::mem::{offset_of, size_of};

use netbase_uapi::linux as uapi;

use super::wire::{align4, NLA_HDRLEN, NLMSG_HDRLEN};

/// The largest request this module encodes (a route dump: 16 + 12 + 8 = 36 bytes), rounded up.
pub const MAX_REQUEST_LEN: usize = 64;

const IFINFOMSG_LEN: usize = size_of::<uapi::ifinfomsg>();
const IFADDRMSG_LEN: usize = size_of::<uapi::ifaddrmsg>();
const RTMSG_LEN: usize = size_of::<uapi::rtmsg>();
const NDMSG_LEN: usize = size_of::<uapi::ndmsg>();

/// One kind of object dump. Routes are dumped one table at a time so that the kernel filters
/// (strict checking) and a failure costs one table, not all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DumpKind {
    /// `RTM_GETLINK`, every family (`AF_UNSPEC`): interfaces.
    Links,
    /// `RTM_GETADDR`, `AF_INET`.
    Addrs4,
    /// `RTM_GETROUTE`, `AF_INET`, one table (`RT_TABLE_MAIN` = 254, `RT_TABLE_LOCAL` = 255,
    /// or any other id up to `u32::MAX`).
    Routes4 { table: u32 },
    /// `RTM_GETNEIGH`, `AF_INET`.
    Neigh4,
}

impl DumpKind {
    /// The request's message type.
    pub fn message_type(self) -> u16 {
        let ty = match self {
            DumpKind::Links => uapi::RTM_GETLINK,
            DumpKind::Addrs4 => uapi::RTM_GETADDR,
            DumpKind::Routes4 { .. } => uapi::RTM_GETROUTE,
            DumpKind::Neigh4 => uapi::RTM_GETNEIGH,
        };
        // RTM_* values are below 100; the enum alias is merely wider than the wire field.
        ty as u16
    }
}

impl fmt::Display for DumpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpKind::Links => f.write_str("links"),
            DumpKind::Addrs4 => f.write_str("IPv4 addresses"),
            DumpKind::Routes4 { table } => write!(f, "IPv4 routes of table {table}"),
            DumpKind::Neigh4 => f.write_str("IPv4 neighbours"),
        }
    }
}

/// The buffer cannot hold the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    pub need: usize,
    pub have: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request needs {} bytes, buffer has {}",
            self.need, self.have
        )
    }
}

impl std::error::Error for BufferTooSmall {}

/// Writes fields at fixed offsets of a buffer whose length was checked once up front, so no
/// individual write can go out of bounds.
struct Out<'a> {
    buf: &'a mut [u8],
}

impl Out<'_> {
    fn bytes(&mut self, at: usize, b: &[u8]) {
        self.buf[at..at + b.len()].copy_from_slice(b);
    }
    fn u8(&mut self, at: usize, v: u8) {
        self.buf[at] = v;
    }
    fn u16(&mut self, at: usize, v: u16) {
        self.bytes(at, &v.to_ne_bytes());
    }
    fn u32(&mut self, at: usize, v: u32) {
        self.bytes(at, &v.to_ne_bytes());
    }
    /// An attribute header and payload at `at`; returns the offset after its padding.
    fn attr(&mut self, at: usize, kind: u16, payload: &[u8]) -> usize {
        let len = NLA_HDRLEN + payload.len();
        // Attribute payloads here are 4 bytes; the u16 length field cannot overflow.
        self.u16(at, len as u16);
        self.u16(at + 2, kind);
        self.bytes(at + NLA_HDRLEN, payload);
        at + align4(len)
    }
}

/// Lays out `nlmsghdr` + a zeroed family header of `family_len` bytes + `attrs_len` bytes of
/// attributes; returns the writer and the total length.
fn begin(
    buf: &mut [u8],
    ty: u16,
    flags: u16,
    seq: u32,
    family_len: usize,
    attrs_len: usize,
) -> Result<(Out<'_>, usize), BufferTooSmall> {
    let len = NLMSG_HDRLEN + align4(family_len) + attrs_len;
    let have = buf.len();
    let Some(buf) = buf.get_mut(..len) else {
        return Err(BufferTooSmall { need: len, have });
    };
    // Every byte the kernel may look at starts zero: reserved fields and padding included.
    buf.fill(0);
    let mut out = Out { buf };
    // `len` is at most a few dozen bytes.
    out.u32(0, len as u32);
    out.u16(4, ty);
    out.u16(6, flags);
    out.u32(8, seq);
    // nlmsg_pid stays 0: the kernel fills in the sender's port id itself.
    Ok((out, len))
}

const DUMP_FLAGS: u16 = (uapi::NLM_F_REQUEST | uapi::NLM_F_DUMP) as u16;

/// Encodes the dump request for `kind` with sequence number `seq`; returns the request bytes
/// (a prefix of `buf`).
pub fn dump(kind: DumpKind, seq: u32, buf: &mut [u8]) -> Result<&[u8], BufferTooSmall> {
    let ty = kind.message_type();
    let len = match kind {
        DumpKind::Links => {
            // ifi_family AF_UNSPEC (0): every interface. Index, type, flags and change stay 0
            // as strict validation demands.
            let (_, len) = begin(buf, ty, DUMP_FLAGS, seq, IFINFOMSG_LEN, 0)?;
            len
        }
        DumpKind::Addrs4 => {
            let (mut out, len) = begin(buf, ty, DUMP_FLAGS, seq, IFADDRMSG_LEN, 0)?;
            out.u8(
                NLMSG_HDRLEN + offset_of!(uapi::ifaddrmsg, ifa_family),
                uapi::AF_INET as u8,
            );
            len
        }
        DumpKind::Routes4 { table } => {
            let attrs = align4(NLA_HDRLEN + 4);
            let (mut out, len) = begin(buf, ty, DUMP_FLAGS, seq, RTMSG_LEN, attrs)?;
            out.u8(
                NLMSG_HDRLEN + offset_of!(uapi::rtmsg, rtm_family),
                uapi::AF_INET as u8,
            );
            // rtm_table holds 8 bits; ids above 255 exist only in RTA_TABLE, which the kernel
            // reads after the header and which therefore wins. RT_TABLE_COMPAT is what the
            // kernel itself puts in rtm_table for such tables.
            let short = u8::try_from(table).unwrap_or(uapi::RT_TABLE_COMPAT as u8);
            out.u8(NLMSG_HDRLEN + offset_of!(uapi::rtmsg, rtm_table), short);
            out.attr(
                NLMSG_HDRLEN + align4(RTMSG_LEN),
                uapi::RTA_TABLE as u16,
                &table.to_ne_bytes(),
            );
            len
        }
        DumpKind::Neigh4 => {
            let (mut out, len) = begin(buf, ty, DUMP_FLAGS, seq, NDMSG_LEN, 0)?;
            out.u8(
                NLMSG_HDRLEN + offset_of!(uapi::ndmsg, ndm_family),
                uapi::AF_INET as u8,
            );
            len
        }
    };
    Ok(&buf[..len])
}

const SOLICIT_FLAGS: u16 =
    (uapi::NLM_F_REQUEST | uapi::NLM_F_ACK | uapi::NLM_F_CREATE | uapi::NLM_F_REPLACE) as u16;

/// Encodes the neighbour solicitation request: `RTM_NEWNEIGH` with `NTF_USE`, state 0 and
/// `NDA_DST`, which makes the kernel resolve `addr` on interface `ifindex` (an ARP request) as
/// if a packet were waiting for it. `NLM_F_CREATE` lets it create the entry, `NLM_F_REPLACE`
/// lets it reuse an existing one; the kernel answers with an ACK (needs CAP_NET_ADMIN).
pub fn solicit_neigh4(
    ifindex: u32,
    addr: [u8; 4],
    seq: u32,
    buf: &mut [u8],
) -> Result<&[u8], BufferTooSmall> {
    let attrs = align4(NLA_HDRLEN + 4);
    let ty = uapi::RTM_NEWNEIGH as u16;
    let (mut out, len) = begin(buf, ty, SOLICIT_FLAGS, seq, NDMSG_LEN, attrs)?;
    out.u8(
        NLMSG_HDRLEN + offset_of!(uapi::ndmsg, ndm_family),
        uapi::AF_INET as u8,
    );
    // ndm_ifindex is a C int; interface indexes are positive, so the bits are the same.
    out.u32(NLMSG_HDRLEN + offset_of!(uapi::ndmsg, ndm_ifindex), ifindex);
    out.u8(
        NLMSG_HDRLEN + offset_of!(uapi::ndmsg, ndm_flags),
        uapi::NTF_USE as u8,
    );
    out.attr(
        NLMSG_HDRLEN + align4(NDMSG_LEN),
        uapi::NDA_DST as u16,
        &addr,
    );
    Ok(&buf[..len])
}

#[cfg(test)]
mod tests {
    //! netlink-packet-route is the oracle: it must decode each request into the structure a
    //! hand-written `ip` invocation would produce.

    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::address::AddressMessage;
    use netlink_packet_route::link::LinkMessage;
    use netlink_packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
    };
    use netlink_packet_route::route::{
        RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
    };
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

    fn decode(bytes: &[u8]) -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).expect("oracle decodes")
    }

    fn inner(m: NetlinkMessage<RouteNetlinkMessage>) -> RouteNetlinkMessage {
        match m.payload {
            NetlinkPayload::InnerMessage(i) => i,
            other => panic!("not an rtnetlink message: {other:?}"),
        }
    }

    #[test]
    fn netlink_link_dump_request() {
        let mut buf = [0xffu8; MAX_REQUEST_LEN];
        let req = dump(DumpKind::Links, 41, &mut buf).unwrap();
        assert_eq!(req.len(), 32);
        let m = decode(req);
        assert_eq!(m.header.sequence_number, 41);
        assert_eq!(m.header.port_number, 0);
        assert_eq!(m.header.flags, DUMP_FLAGS);
        assert_eq!(m.header.flags, 0x301);
        assert_eq!(m.header.length as usize, req.len());
        match inner(m) {
            RouteNetlinkMessage::GetLink(LinkMessage {
                header, attributes, ..
            }) => {
                assert_eq!(header.interface_family, AddressFamily::Unspec);
                assert_eq!(header.index, 0);
                assert!(header.flags.is_empty());
                assert!(header.change_mask.is_empty());
                assert!(attributes.is_empty());
            }
            other => panic!("{other:?}"),
        }
        // The stale 0xff bytes of the buffer were all overwritten.
        assert!(req[16..].iter().all(|&b| b == 0));
    }

    #[test]
    fn netlink_addr_dump_request() {
        let mut buf = [0xffu8; MAX_REQUEST_LEN];
        let req = dump(DumpKind::Addrs4, 7, &mut buf).unwrap();
        assert_eq!(req.len(), 24);
        let m = decode(req);
        assert_eq!(m.header.sequence_number, 7);
        assert_eq!(m.header.flags, DUMP_FLAGS);
        match inner(m) {
            RouteNetlinkMessage::GetAddress(AddressMessage {
                header, attributes, ..
            }) => {
                assert_eq!(header.family, AddressFamily::Inet);
                assert_eq!(header.prefix_len, 0);
                assert_eq!(header.index, 0);
                assert!(attributes.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    fn route_dump(table: u32) -> (Vec<u8>, RouteMessage) {
        let mut buf = [0xffu8; MAX_REQUEST_LEN];
        let req = dump(DumpKind::Routes4 { table }, 9, &mut buf)
            .unwrap()
            .to_vec();
        let m = decode(&req);
        assert_eq!(m.header.flags, DUMP_FLAGS);
        match inner(m) {
            RouteNetlinkMessage::GetRoute(r) => (req, r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn netlink_route_dump_request_names_its_table_twice() {
        for (table, short) in [
            (254u32, 254u8),
            (255, 255),
            (0, 0),
            (1000, 252),
            (u32::MAX, 252),
        ] {
            let (req, r) = route_dump(table);
            assert_eq!(req.len(), 36);
            assert_eq!(r.header.address_family, AddressFamily::Inet);
            assert_eq!(r.header.table, short);
            // Fields strict validation wants zero.
            assert_eq!(r.header.destination_prefix_length, 0);
            assert_eq!(r.header.source_prefix_length, 0);
            assert_eq!(r.header.tos, 0);
            assert_eq!(r.header.protocol, RouteProtocol::Unspec);
            assert_eq!(r.header.scope, RouteScope::Universe);
            assert_eq!(r.header.kind, RouteType::Unspec);
            assert!(r.header.flags.is_empty());
            assert_eq!(r.attributes, vec![RouteAttribute::Table(table)]);
        }
    }

    #[test]
    fn netlink_neigh_dump_request() {
        let mut buf = [0xffu8; MAX_REQUEST_LEN];
        let req = dump(DumpKind::Neigh4, 3, &mut buf).unwrap();
        assert_eq!(req.len(), 28);
        match inner(decode(req)) {
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage {
                header, attributes, ..
            }) => {
                assert_eq!(header.family, AddressFamily::Inet);
                assert_eq!(header.ifindex, 0);
                assert_eq!(header.state, NeighbourState::None);
                assert!(header.flags.is_empty());
                assert_eq!(header.kind, RouteType::Unspec);
                assert!(attributes.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn netlink_solicitation_request() {
        let mut buf = [0xffu8; MAX_REQUEST_LEN];
        let req = solicit_neigh4(17, [10, 1, 0, 2], 99, &mut buf).unwrap();
        assert_eq!(req.len(), 36);
        let m = decode(req);
        assert_eq!(m.header.sequence_number, 99);
        assert_eq!(m.header.flags, 0x1 | 0x4 | 0x400 | 0x100);
        match inner(m) {
            RouteNetlinkMessage::NewNeighbour(NeighbourMessage {
                header, attributes, ..
            }) => {
                assert_eq!(header.family, AddressFamily::Inet);
                assert_eq!(header.ifindex, 17);
                assert_eq!(header.state, NeighbourState::None);
                assert_eq!(header.flags, NeighbourFlags::Use);
                assert_eq!(header.kind, RouteType::Unspec);
                assert_eq!(
                    attributes,
                    vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
                        [10, 1, 0, 2].into()
                    ))]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn netlink_short_buffers_are_refused_not_overrun() {
        let mut small = [0u8; 35];
        assert_eq!(
            dump(DumpKind::Routes4 { table: 254 }, 1, &mut small).unwrap_err(),
            BufferTooSmall { need: 36, have: 35 }
        );
        assert_eq!(
            solicit_neigh4(1, [10, 0, 0, 1], 1, &mut small[..8]).unwrap_err(),
            BufferTooSmall { need: 36, have: 8 }
        );
        let mut exact = [0u8; 24];
        assert!(dump(DumpKind::Addrs4, 1, &mut exact).is_ok());
    }

    #[test]
    fn netlink_requests_walk_cleanly_with_the_wire_walker() {
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let req = dump(DumpKind::Routes4 { table: 4242 }, 5, &mut buf).unwrap();
        let (m, rest) = crate::netlink::wire::message(req).unwrap();
        assert!(rest.is_empty());
        assert_eq!((m.ty, m.seq), (uapi::RTM_GETROUTE as u16, 5));
        let (_, attrs) = crate::netlink::wire::family_header::<RTMSG_LEN>(m.payload).unwrap();
        let a: Vec<_> = crate::netlink::wire::attrs(attrs)
            .map(|a| a.unwrap())
            .collect();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].kind, a[0].u32().unwrap()),
            (uapi::RTA_TABLE as u16, 4242)
        );
    }
}
