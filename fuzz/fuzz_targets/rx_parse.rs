//! Arbitrary bytes as a received Ethernet frame and as an application link frame: the
//! parsers must answer with a value or a drop reason, never panic, and what they accept must
//! survive a round trip through the matching encoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netbase_tiles::net_tile::app_frame::{self, HEADER_LEN};
use netbase_tiles::net_tile::{build_udp4, parse_udp4, Udp4Headers};

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse_udp4(data) {
        assert!(d.payload.len() + 42 <= data.len());
        // Rebuilt from the parsed fields, the frame parses to the same datagram (TTL aside:
        // the builder always sends 64).
        let h = Udp4Headers {
            src_mac: d.src_mac,
            dst_mac: d.dst_mac,
            src_ip: d.src_ip,
            dst_ip: d.dst_ip,
            src_port: d.src_port,
            dst_port: d.dst_port,
            ip_id: 0,
        };
        let mut buf = vec![0u8; 64 + d.payload.len()];
        let n = build_udp4(&mut buf, &h, d.payload).expect("a parsed payload fits");
        let again = parse_udp4(&buf[..n]).expect("a built frame parses");
        assert_eq!((again.src_ip, again.dst_ip), (d.src_ip, d.dst_ip));
        assert_eq!((again.src_port, again.dst_port), (d.src_port, d.dst_port));
        assert_eq!((again.src_mac, again.dst_mac), (d.src_mac, d.dst_mac));
        assert_eq!(again.payload, d.payload);
    }

    if let Ok(f) = app_frame::decode(data) {
        let len = HEADER_LEN + f.payload.len();
        assert!(len <= data.len());
        let mut buf = vec![0u8; len];
        assert_eq!(app_frame::encode(&mut buf, &f), Ok(len));
        assert_eq!(&buf[..], &data[..len]);
    }
});
