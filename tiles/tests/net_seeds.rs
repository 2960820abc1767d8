//! The committed fuzz seeds of `rx_parse` (built by an independent script) give the answers
//! their names promise, so the fuzzer starts from frames that reach every stage of the
//! parsers, and the parsers agree with a second implementation of the checksums.

use std::path::Path;

use netbase_tiles::net_tile::{app_frame, parse_udp4, DropReason};

fn seed(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/rx_parse")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn frames_parse_as_named() {
    let payload = |name: &str| -> Vec<u8> {
        let f = seed(name);
        parse_udp4(&f)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .payload
            .to_vec()
    };
    assert_eq!(payload("udp_hello.bin"), b"hello");
    assert_eq!(payload("udp_empty_unpadded.bin"), b"");
    assert_eq!(payload("udp_1472.bin").len(), 1472);
    assert_eq!(payload("udp_no_checksum.bin"), b"no checksum");
    assert_eq!(payload("udp_surplus.bin"), b"abcd");

    for (name, reason) in [
        ("ip_options.bin", DropReason::IpOptions),
        ("ip_fragment.bin", DropReason::IpFragment),
        ("ip_tcp.bin", DropReason::NotUdp),
        ("vlan_tagged.bin", DropReason::NotIpv4),
        ("arp.bin", DropReason::NotIpv4),
        ("truncated_ip.bin", DropReason::FrameTooShort),
    ] {
        assert_eq!(parse_udp4(&seed(name)), Err(reason), "{name}");
    }
}

#[test]
fn app_frames_decode() {
    let f = seed("app_hello.bin");
    let d = app_frame::decode(&f).unwrap();
    assert_eq!(
        (d.peer_port, d.local_port, d.payload),
        (40000, 7000, &b"hello"[..])
    );
    let f = seed("app_empty_any_source.bin");
    assert_eq!(app_frame::decode(&f).unwrap().preferred_src(), None);
    let f = seed("app_trailing.bin");
    assert_eq!(app_frame::decode(&f).unwrap().payload, b"abc");
}
