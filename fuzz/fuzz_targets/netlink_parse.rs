//! Arbitrary bytes as rtnetlink data: the generated parsers and the message walker must return
//! an error value on anything malformed, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netbase_runtime::netlink::wire::{self, ParseStats};
use netbase_tiles::schema::{parse_addr4, parse_interface, parse_neigh4, parse_route4};

/// All four parsers on a buffer that starts at an `nlmsghdr`.
fn parse_all(buf: &[u8], stats: &mut ParseStats) {
    let _ = parse_interface(buf, stats);
    let _ = parse_addr4(buf, stats);
    let _ = parse_route4(buf, stats);
    let _ = parse_neigh4(buf, stats);
}

/// Every attribute of `buf` through each accessor, and `depth` levels of nesting below.
fn walk_attrs(buf: &[u8], depth: u32) {
    for a in wire::attrs(buf) {
        let Ok(a) = a else { break };
        assert!(a.payload.len() <= buf.len());
        let _ = (a.u8(), a.u16(), a.u32(), a.u64(), a.array_if::<6>());
        let _ = (a.c_str(), a.name::<16>());
        if depth > 0 {
            walk_attrs(a.payload, depth - 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut stats = ParseStats::default();
    parse_all(data, &mut stats);

    // A datagram of several messages, as a dump delivers them: split it with `wire::message`
    // and hand each message (from its header on) to the parsers.
    let mut rest = data;
    let mut walked = 0usize;
    while !rest.is_empty() {
        let Ok((msg, next)) = wire::message(rest) else {
            break;
        };
        assert!(next.len() < rest.len(), "message() made no progress");
        assert!(msg.payload.len() + wire::NLMSG_HDRLEN <= rest.len());
        parse_all(rest, &mut stats);
        // The attribute walker and accessors on their own, after each family header size
        // rtnetlink uses (ifaddrmsg 8, rtmsg/ndmsg 12, ifinfomsg 16), one nesting level deep.
        for hdr in [8, 12, 16] {
            walk_attrs(msg.payload.get(hdr..).unwrap_or(&[]), 1);
        }
        rest = next;
        walked += 1;
    }
    assert!(walked <= data.len() / wire::NLMSG_HDRLEN);
});
