//! The solicitation engine in simulated time: every decision path, the bucket's rate and
//! burst, placeholder bounds and expiry, keepalives, gateways, and the spoofed-flood
//! acceptance scenario.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use netbase_tiles::solicit::{
    decode, encode, BadRequest, Config, Decision, Kind, NeighState, Refresh, RefreshKind, Request,
    Solicitor,
};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn solicit(ifindex: u32, ip: Ipv4Addr) -> Request {
    Request {
        kind: Kind::Solicit,
        ifindex,
        ip,
    }
}

fn missing(_: u32, _: Ipv4Addr) -> NeighState {
    NeighState::Missing
}

fn cfg() -> Config {
    Config {
        global_rate_per_sec: 10,
        burst: 4,
        reserved: 1,
        per_address_window: Duration::from_secs(1),
        max_placeholders: 8,
        max_placeholders_per_ifindex: 8,
        placeholder_ttl: Duration::from_secs(2),
        keepalive_before_stale: ms(200),
        keepalive_idle: Duration::from_secs(5),
        max_keepalives: 4,
        gateway_retry: ms(100),
        fairness_epoch: ms(10),
        demand_half_life: ms(250),
        seed: 42,
    }
}

fn ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}

/// xorshift64*: a deterministic PRNG for the randomized loops.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn every_decision_path() {
    let mut s = Solicitor::new(cfg());
    let t = ms(1);
    let a = ip(1);

    // Bad: garbage frame, invalid request built by hand.
    assert_eq!(
        s.on_frame(t, &[0xff; 16], missing),
        Decision::Bad(BadRequest::Check)
    );
    assert_eq!(
        s.on_frame(t, &[1, 2, 3], missing),
        Decision::Bad(BadRequest::Length(3))
    );
    assert_eq!(
        s.on_request(t, solicit(0, a), missing),
        Decision::Bad(BadRequest::IfindexZero)
    );
    let bcast = Ipv4Addr::BROADCAST;
    assert_eq!(
        s.on_request(t, solicit(2, bcast), missing),
        Decision::Bad(BadRequest::Address(bcast))
    );

    // Known / Resolving.
    assert_eq!(
        s.on_request(t, solicit(2, a), |_, _| NeighState::Usable),
        Decision::Known
    );
    assert_eq!(
        s.on_request(t, solicit(2, a), |_, _| NeighState::Resolving),
        Decision::Deduped
    );

    // Probe, then Deduped while pending (through the wire format this time).
    let frame = encode(&solicit(2, a));
    assert_eq!(s.on_frame(t, &frame, missing), Decision::Probe(2, a));
    assert!(s.is_pending(2, a));
    assert_eq!(s.on_frame(ms(2), &frame, missing), Decision::Deduped);

    // Failed answer: suppressed for the window, probed again after it.
    s.on_probe_result(ms(500), 2, a, false);
    assert!(!s.is_pending(2, a));
    assert_eq!(
        s.on_request(ms(900), solicit(2, a), missing),
        Decision::Suppressed
    );
    assert_eq!(
        s.on_request(ms(1001), solicit(2, a), missing),
        Decision::Probe(2, a)
    );
    // Resolved answer: no suppression record, a later miss probes at once.
    s.on_probe_result(ms(1100), 2, a, true);
    assert_eq!(
        s.on_request(ms(1101), solicit(2, a), missing),
        Decision::Probe(2, a)
    );

    // RateLimited: burst 4, reserved 1 => requests drain to 1 token.
    let mut s = Solicitor::new(cfg());
    // 11 ms apart: one fairness round each, so only the bucket decides.
    let d: Vec<_> = (1..=5u32)
        .map(|i| s.on_request(ms(11 * u64::from(i)), solicit(2, ip(i)), missing))
        .collect();
    assert_eq!(
        d.iter()
            .filter(|d| matches!(d, Decision::Probe(..)))
            .count(),
        3
    );
    assert_eq!(d[4], Decision::RateLimited);

    // Hinted.
    let hint = encode(&Request {
        kind: Kind::KeepaliveHint,
        ifindex: 2,
        ip: a,
    });
    assert_eq!(s.on_frame(t, &hint, missing), Decision::Hinted);

    let c = s.counters();
    assert_eq!(
        (c.probes_sent, c.rate_limited, c.hints, c.placeholders),
        (3, 2, 1, 3)
    );
}

#[test]
fn bucket_honours_rate_and_burst() {
    // A fairness round shorter than the request spacing: only the bucket decides here.
    let c = Config {
        global_rate_per_sec: 10,
        burst: 20,
        reserved: 0,
        ..cfg()
    };
    let c = Config {
        fairness_epoch: Duration::from_micros(1),
        ..c
    };
    let mut s = Solicitor::new(Config {
        max_placeholders: 10_000,
        ..c
    });
    let mut probes_by = Vec::new();
    let mut n = 0;
    for i in 0..10_000u32 {
        // One request per ms for 10 s, each for a new address.
        if let Decision::Probe(..) = s.on_request(ms(u64::from(i)), solicit(2, ip(i + 1)), missing)
        {
            n += 1;
        }
        probes_by.push(n);
    }
    // The burst at once, then 10/s.
    assert_eq!(probes_by[0], 1);
    assert_eq!(probes_by[19], 20);
    assert!(probes_by[999] <= 20 + 10, "{}", probes_by[999]);
    assert!((115..=20 + 100).contains(&n), "{n}");
}

#[test]
fn placeholders_stay_bounded_and_expire() {
    let c = Config {
        global_rate_per_sec: 1000,
        burst: 1000,
        reserved: 0,
        ..cfg()
    };
    let mut s = Solicitor::new(Config {
        max_placeholders: 8,
        max_placeholders_per_ifindex: 5,
        ..c
    });
    for i in 0..100u32 {
        let ifindex = 2 + i % 2;
        assert!(matches!(
            s.on_request(ms(1), solicit(ifindex, ip(i + 1)), missing),
            Decision::Probe(..)
        ));
        assert!(s.counters().placeholders <= 8);
    }
    let c = s.counters();
    assert_eq!(c.placeholders, 8);
    assert_eq!(c.placeholder_evictions, 92);
    // The newest survive: the last address of each interface is pending.
    assert!(s.is_pending(2, ip(99)) && s.is_pending(3, ip(100)));
    assert!(!s.is_pending(2, ip(1)));

    // Per-interface cap: a flood on ifindex 2 evicts only its own.
    for i in 0..50u32 {
        s.on_request(ms(2), solicit(2, ip(1000 + i)), missing);
    }
    assert!(s.is_pending(3, ip(100)));

    // Nobody answers: all expire after the TTL.
    s.sweep(ms(3000));
    assert_eq!(s.counters().placeholders, 0);
    assert_eq!(s.counters().placeholder_expired, 8);
}

#[test]
fn refused_probe_leaves_no_placeholder() {
    let c = Config {
        global_rate_per_sec: 1,
        burst: 1,
        reserved: 0,
        ..cfg()
    };
    let mut s = Solicitor::new(c);
    assert_eq!(
        s.on_request(ms(0), solicit(2, ip(1)), missing),
        Decision::Probe(2, ip(1))
    );
    assert_eq!(
        s.on_request(ms(1), solicit(2, ip(2)), missing),
        Decision::RateLimited
    );
    assert!(!s.is_pending(2, ip(2)));
    // Not deduped, not suppressed: it goes through as soon as a token returns.
    assert_eq!(
        s.on_request(ms(999), solicit(2, ip(2)), missing),
        Decision::RateLimited
    );
    assert_eq!(
        s.on_request(ms(1000), solicit(2, ip(2)), missing),
        Decision::Probe(2, ip(2))
    );
}

#[test]
fn unanswered_placeholder_expires() {
    let mut s = Solicitor::new(cfg());
    assert!(matches!(
        s.on_request(ms(0), solicit(2, ip(1)), missing),
        Decision::Probe(..)
    ));
    assert_eq!(
        s.on_request(ms(1999), solicit(2, ip(1)), missing),
        Decision::Deduped
    );
    assert_eq!(
        s.on_request(ms(2000), solicit(2, ip(1)), missing),
        Decision::Probe(2, ip(1))
    );
    assert_eq!(s.counters().placeholder_expired, 1);
}

#[test]
fn keepalives_refresh_before_stale_and_survive_a_flood() {
    let c = Config {
        global_rate_per_sec: 10,
        burst: 10,
        reserved: 3,
        ..cfg()
    };
    let mut s = Solicitor::new(c);
    let reach = ms(1000);
    let (a, b) = (ip(1), ip(2));
    s.on_keepalive_hint(ms(0), 2, a);
    s.on_keepalive_hint(ms(0), 2, b);
    assert_eq!(
        s.on_keepalive_hint(ms(0), 2, Ipv4Addr::LOCALHOST),
        Decision::Bad(BadRequest::Address(Ipv4Addr::LOCALHOST))
    );

    // A flood drains the request share of the bucket.
    for i in 0..1000u32 {
        s.on_request(ms(0), solicit(3, ip(100 + i)), missing);
    }
    let got: Vec<Refresh> = s.due_keepalives(ms(0), reach).collect();
    assert_eq!(got.len(), 2, "the reserved share serves keepalives");
    assert!(got.iter().all(|r| r.kind == RefreshKind::Keepalive));
    // Next refresh 800 ms later (reach 1000 - 200 before stale).
    assert_eq!(s.due_keepalives(ms(799), reach).count(), 0);
    s.on_keepalive_hint(ms(700), 2, a);
    assert_eq!(s.due_keepalives(ms(800), reach).count(), 2);
    // b is idle after 5 s and dropped; a keeps being hinted.
    for t in (1000..8000).step_by(500) {
        s.on_keepalive_hint(ms(t), 2, a);
    }
    let late: Vec<_> = s.due_keepalives(ms(8000), reach).collect();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].ip, a);

    // A failed refresh drops the entry.
    s.on_probe_result(ms(8100), 2, a, false);
    assert_eq!(s.due_keepalives(ms(20_000), reach).count(), 0);
    assert_eq!(s.counters().keepalives_sent, 5);
}

#[test]
fn keepalive_table_is_bounded() {
    let mut s = Solicitor::new(cfg());
    for i in 0..10u32 {
        s.on_keepalive_hint(ms(u64::from(i)), 2, ip(i + 1));
    }
    assert_eq!(s.counters().keepalive_evictions, 6);
    let mut left: Vec<_> = s.due_keepalives(ms(10), ms(1000)).map(|r| r.ip).collect();
    left.sort();
    // Burst 4 is enough for the 4 most recently hinted.
    assert_eq!(left, vec![ip(7), ip(8), ip(9), ip(10)]);
}

#[test]
fn gateways_first_retried_and_never_starved() {
    let c = Config {
        global_rate_per_sec: 10,
        burst: 10,
        reserved: 2,
        ..cfg()
    };
    let mut s = Solicitor::new(c);
    let gw = ip(254);
    s.set_gateways(&[(2, gw), (2, gw), (0, gw), (2, Ipv4Addr::UNSPECIFIED)]);
    for i in 0..100u32 {
        s.on_request(ms(0), solicit(2, ip(i + 1)), missing);
    }
    let got: Vec<_> = s.due_keepalives(ms(0), ms(1000)).collect();
    assert_eq!(
        got,
        vec![Refresh {
            kind: RefreshKind::Gateway,
            ifindex: 2,
            ip: gw
        }]
    );
    // Failed: retried after gateway_retry (100 ms), not after the refresh period.
    s.on_probe_result(ms(50), 2, gw, false);
    assert_eq!(s.due_keepalives(ms(149), ms(1000)).count(), 0);
    assert_eq!(s.due_keepalives(ms(150), ms(1000)).count(), 1);
    // Resolved: next at +800 ms. Setting the same gateways again keeps the schedule.
    s.on_probe_result(ms(200), 2, gw, true);
    s.set_gateways(&[(2, gw)]);
    assert_eq!(s.due_keepalives(ms(949), ms(1000)).count(), 0);
    assert_eq!(s.due_keepalives(ms(950), ms(1000)).count(), 1);
    assert_eq!(s.counters().gateway_probes, 3);
}

/// A flood on one interface must not take the tokens of a legitimate address on another.
#[test]
fn flood_on_one_interface_does_not_starve_another() {
    let c = Config {
        global_rate_per_sec: 20,
        burst: 20,
        reserved: 0,
        ..cfg()
    };
    let mut s = Solicitor::new(Config {
        max_placeholders: 1000,
        max_placeholders_per_ifindex: 1000,
        ..c
    });
    let mut rng = Rng(9);
    let legit = Ipv4Addr::new(192, 168, 7, 7);
    let mut probed_at = None;
    for i in 0..200_000u64 {
        let now = Duration::from_micros(i * 10);
        let r = if i % 1000 == 500 {
            solicit(3, legit)
        } else {
            solicit(2, ip(1 + (rng.next() % 50_000) as u32))
        };
        if s.on_request(now, r, missing) == Decision::Probe(3, legit) {
            probed_at.get_or_insert(now);
        }
    }
    let at = probed_at.expect("legit never probed");
    assert!(at < ms(100), "{at:?}");
}

/// The acceptance scenario: 10^6 requests for 10,000 distinct spoofed addresses within one
/// simulated second, a legitimate address requested repeatedly from 0.25 s on, a gateway.
#[test]
fn spoofed_flood_acceptance() {
    let cfg = Config {
        global_rate_per_sec: 100,
        burst: 128,
        reserved: 16,
        per_address_window: Duration::from_secs(1),
        max_placeholders: 64,
        max_placeholders_per_ifindex: 48,
        placeholder_ttl: Duration::from_secs(3),
        keepalive_before_stale: ms(200),
        keepalive_idle: Duration::from_secs(10),
        max_keepalives: 1024,
        gateway_retry: ms(100),
        fairness_epoch: ms(10),
        demand_half_life: ms(250),
        seed: 0xfeed,
    };
    let (burst, rate, max_ph, window) = (
        cfg.burst,
        cfg.global_rate_per_sec,
        cfg.max_placeholders,
        cfg.per_address_window,
    );
    let mut s = Solicitor::new(cfg);
    let gw = Ipv4Addr::new(10, 0, 0, 1);
    let legit = Ipv4Addr::new(10, 0, 0, 77);
    s.set_gateways(&[(2, gw)]);
    let reach = ms(500);

    // The kernel: resolved entries by address; the gateway and the legitimate host answer
    // 1 ms after a probe, spoofed addresses never (FAILED comes after 3 s, past the flood).
    let mut kernel: HashMap<Ipv4Addr, Duration> = HashMap::new();
    let mut answers: Vec<(Duration, Ipv4Addr)> = Vec::new();
    let mut rng = Rng(0x1234_5678);
    let mut gw_refresh: Vec<Duration> = Vec::new();
    let mut legit_first = None;
    let mut legit_probe = None;
    let mut max_placeholders = 0;
    let mut flood_probes = 0u64;

    const N: u64 = 1_000_000;
    for i in 0..N {
        let now = Duration::from_micros(i); // 10^6 requests in 1 s
        if i % 10_000 == 0 {
            // Housekeeping tick every 10 ms.
            for (t, a) in std::mem::take(&mut answers) {
                if t <= now {
                    kernel.insert(a, t);
                    s.on_probe_result(now, 2, a, true);
                } else {
                    answers.push((t, a));
                }
            }
            for r in s.due_keepalives(now, reach) {
                assert_eq!((r.kind, r.ip), (RefreshKind::Gateway, gw));
                gw_refresh.push(now);
                answers.push((now + ms(1), gw));
            }
        }
        let (req, is_legit) = if i >= 250_537 && i % 1000 == 537 {
            legit_first.get_or_insert(now);
            (solicit(2, legit), true)
        } else {
            let a = 10_000 + (rng.next() % 10_000) as u32; // 10.0.39.16 .. : 10,000 addresses
            (solicit(2, ip(a)), false)
        };
        let known = |_: u32, a: Ipv4Addr| {
            if kernel.contains_key(&a) {
                NeighState::Usable
            } else {
                NeighState::Missing
            }
        };
        match s.on_request(now, req, known) {
            Decision::Probe(_, a) if is_legit => {
                legit_probe.get_or_insert(now);
                answers.push((now + ms(1), a));
            }
            Decision::Probe(..) => flood_probes += 1,
            _ => {}
        }
        max_placeholders = max_placeholders.max(s.counters().placeholders);
    }

    let c = s.counters();
    let total_probes = c.probes_sent + c.gateway_probes + c.keepalives_sent;
    let first = legit_first.unwrap();
    let probed = legit_probe.expect("the legitimate address was never probed");
    let gaps: Vec<_> = gw_refresh.windows(2).map(|w| w[1] - w[0]).collect();
    println!(
        "flood: requests {} probes_sent {} (flood {flood_probes}) gateway_probes {} total {} \
         (bound {}) rate_limited {} fairness_deferred {} deduped {} suppressed {} known {} \
         max_placeholders {max_placeholders} (bound {max_ph}) evictions {} \
         legit latency {:?} gateway refreshes at {:?}",
        c.requests,
        c.probes_sent,
        c.gateway_probes,
        total_probes,
        u64::from(burst) + u64::from(rate),
        c.rate_limited,
        c.fairness_deferred,
        c.deduped,
        c.suppressed,
        c.known,
        c.placeholder_evictions,
        probed - first,
        gw_refresh,
    );
    assert_eq!(c.requests, N);
    assert!(
        total_probes <= u64::from(burst) + u64::from(rate),
        "{total_probes}"
    );
    assert!(max_placeholders <= max_ph as u64);
    assert!(
        probed - first <= window,
        "legit probed after {:?}",
        probed - first
    );
    // The gateway: probed at 0, then every 300 ms (reach 500 - 200), one tick of slack.
    assert_eq!(gw_refresh.first(), Some(&Duration::ZERO));
    assert!(gw_refresh.len() >= 4, "{gw_refresh:?}");
    assert!(gaps.iter().all(|g| *g <= ms(310)), "{gaps:?}");
    // After resolution, the legitimate address is Known, not probed again.
    assert!(c.known > 0);
}

#[test]
fn decode_never_panics_on_random_bytes() {
    let mut rng = Rng(0xdead_beef);
    let mut s = Solicitor::new(cfg());
    let mut ok = 0;
    for i in 0..200_000u64 {
        let len = (rng.next() % 24) as usize;
        let mut buf = [0u8; 24];
        for b in &mut buf {
            *b = rng.next() as u8;
        }
        // Half the time a valid frame with one random byte flipped.
        let buf: Vec<u8> = if i % 2 == 0 {
            let mut f = encode(&solicit(
                1 + (rng.next() as u32),
                ip(rng.next() as u32 & 0xffff),
            ));
            f[(rng.next() % 16) as usize] ^= 1 << (rng.next() % 8);
            f.to_vec()
        } else {
            buf[..len].to_vec()
        };
        if decode(&buf).is_ok() {
            ok += 1;
        }
        let _ = s.on_frame(Duration::from_micros(i), &buf, missing);
    }
    // A single flipped bit always breaks the check word.
    assert_eq!(ok, 0);
}

proptest! {
    #[test]
    fn decode_total(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(r) = decode(&bytes) {
            prop_assert_eq!(bytes.len(), 16);
            prop_assert_eq!(&encode(&r)[..], &bytes[..]);
        }
    }

    #[test]
    fn encode_decode_round_trip(ifindex in 1u32.., a in any::<u32>(), hint in any::<bool>()) {
        let kind = if hint { Kind::KeepaliveHint } else { Kind::Solicit };
        let r = Request { kind, ifindex, ip: Ipv4Addr::from(a) };
        let d = decode(&encode(&r));
        prop_assert_eq!(d.is_ok(), r.validate().is_ok());
        if let Ok(got) = d {
            prop_assert_eq!(got, r);
        }
    }
}
