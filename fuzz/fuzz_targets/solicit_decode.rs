//! Arbitrary bytes as `solicit` link frames: the decoder must return an error value on
//! anything malformed, and the engine must keep its bounds whatever sequence of requests,
//! answers, hints and clock values (including time going backwards) it is fed.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use netbase_tiles::solicit::{decode, encode, Config, NeighState, Solicitor, FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    // The whole input as one frame: exercises the length check and every field check.
    if let Ok(r) = decode(data) {
        assert_eq!(&encode(&r)[..], data);
    }

    let cfg = Config {
        global_rate_per_sec: 50,
        burst: 8,
        reserved: 2,
        max_placeholders: 4,
        max_placeholders_per_ifindex: 3,
        max_keepalives: 4,
        per_address_window: Duration::from_millis(100),
        placeholder_ttl: Duration::from_millis(300),
        fairness_epoch: Duration::from_millis(5),
        ..Config::default()
    };
    let mut s = Solicitor::new(cfg);
    s.set_gateways(&[(1, Ipv4Addr::new(10, 0, 0, 1))]);
    let mut now = Duration::ZERO;
    // The bucket's bound holds against the latest time seen: probes sent before the clock
    // stepped back stay sent, and stepping back must not refill the bucket.
    let mut latest = Duration::ZERO;
    // Each chunk: 1 control byte, then a frame. The control byte moves the clock (sometimes
    // backwards), picks the neighbour state the closure reports, and sometimes answers the
    // probe or asks for keepalives.
    for chunk in data.chunks(1 + FRAME_LEN) {
        let (ctl, frame) = (chunk[0], &chunk[1..]);
        let step = Duration::from_millis(u64::from(ctl & 0x1f));
        now = if ctl & 0x20 != 0 {
            now.saturating_sub(step)
        } else {
            now + step
        };
        latest = latest.max(now);
        let state = match ctl >> 6 {
            0 => NeighState::Missing,
            1 => NeighState::Resolving,
            2 => NeighState::Usable,
            _ => NeighState::Failed,
        };
        let _ = s.on_frame(now, frame, |_, _| state);
        if let Ok(r) = decode(frame) {
            if ctl & 0x80 != 0 {
                s.on_probe_result(now, r.ifindex, r.ip, ctl & 0x40 != 0);
            }
        }
        if ctl & 0x0f == 0x0f {
            let n = s
                .due_keepalives(now, Duration::from_millis(u64::from(ctl)))
                .count();
            assert!(n <= 8);
        }
        let c = s.counters();
        assert!(c.placeholders <= 4);
        assert!(
            c.probes_sent + c.gateway_probes + c.keepalives_sent
                <= 8 + 50 * (latest.as_secs() + 1) + 50
        );
    }
});
