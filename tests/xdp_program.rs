//! The generated XDP program in the kernel: it passes the verifier (with and without
//! `BPF_F_XDP_HAS_FRAGS`), `BPF_PROG_TEST_RUN` gives the expected verdict for every kind of
//! frame, and it attaches to a veth in a throw-away namespace in generic and native mode
//! through a BPF link that detaches when dropped.
//!
//! Seeing a redirect without an AF_XDP socket: with an empty XSKMAP slot `bpf_redirect_map`
//! returns its flags argument, the program's `redirect_fallback`. Production programs use
//! `XDP_PASS` there, which would look the same as "not matched"; the programs under test
//! use `XDP_DROP`, so `XDP_DROP` means "the program asked to redirect". The two programs
//! differ in that one immediate only (checked below).
//!
//! Needs root for bpf(2) and namespaces; skips otherwise (fails with
//! NETBASE_REQUIRE_PRIVILEGED=1).

use std::net::Ipv4Addr;

use netbase_codegen::xdp::{self, Asm, Insn, XdpSpec, R0, R1, R2};
use netbase_runtime::bpf::{
    self, AttachMode, LoadError, LoadOptions, TestCtx, XdpLink, XdpProgram, XskMap, XDP_DROP,
    XDP_PASS,
};
use netbase_runtime::netns::{self, Netns};
use netbase_runtime::rawframe;

// The frame builders the codegen unit tests use, so both judge the same bytes.
#[path = "../codegen/src/xdp/tests/frames.rs"]
mod frames;

use frames::{arp_request, ipv6_udp, Ipv4Frame};

/// Whether bpf(2) can be used; prints the skip reason (or panics if privileged tests are
/// required) when not.
#[track_caller]
fn root_or_skip() -> bool {
    if netns::is_root() {
        true
    } else {
        netns::privileged_or_skip("bpf(2) needs root (CAP_BPF, CAP_NET_ADMIN)");
        false
    }
}

fn test_spec(ports: &[u16], dst_addr: Option<Ipv4Addr>) -> XdpSpec {
    XdpSpec {
        udp_ports: ports.to_vec(),
        dst_addr,
        redirect_fallback: XDP_DROP,
    }
}

/// The program for `spec` loaded against a fresh 64-queue XSKMAP (kept alive with it).
fn load(spec: &XdpSpec, opts: &LoadOptions) -> (XskMap, XdpProgram) {
    let map = XskMap::create(64).expect("create XSKMAP");
    let words = xdp::emit(spec).words(map.fd());
    let prog = XdpProgram::load(&words, opts).unwrap_or_else(|e| panic!("{e}"));
    (map, prog)
}

fn verdict(prog: &XdpProgram, frame: &[u8]) -> u32 {
    let r = prog
        .test_run(frame, None)
        .unwrap_or_else(|e| panic!("test run of {} bytes: {e}", frame.len()));
    assert_eq!(r.data_out, frame, "the program does not modify frames");
    r.verdict
}

const REDIRECT_ATTEMPTED: u32 = XDP_DROP;

#[test]
fn production_and_test_programs_differ_only_in_the_fallback() {
    let prod = XdpSpec {
        redirect_fallback: XDP_PASS,
        ..test_spec(&[7000], None)
    };
    let a = xdp::emit(&prod).words(5);
    let b = xdp::emit(&test_spec(&[7000], None)).words(5);
    assert_eq!(a.len(), b.len());
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(diff.len(), 1, "{diff:?}");
    let (pa, pb) = (Insn::from_word(a[diff[0]]), Insn::from_word(b[diff[0]]));
    assert_eq!((pa.imm as u32, pb.imm as u32), (XDP_PASS, XDP_DROP));
}

#[test]
fn verdicts_for_every_kind_of_frame() {
    if !root_or_skip() {
        return;
    }
    let (_map, prog) = load(&test_spec(&[7000, 53], None), &LoadOptions::default());
    let v = |f: &[u8]| verdict(&prog, f);

    assert_eq!(
        v(&Ipv4Frame::udp(7000).bytes()),
        REDIRECT_ATTEMPTED,
        "listed port"
    );
    assert_eq!(
        v(&Ipv4Frame::udp(53).bytes()),
        REDIRECT_ATTEMPTED,
        "second port"
    );
    assert_eq!(v(&Ipv4Frame::udp(7001).bytes()), XDP_PASS, "other port");
    assert_eq!(v(&arp_request()), XDP_PASS, "ARP");
    assert_eq!(v(&ipv6_udp(7000)), XDP_PASS, "IPv6 UDP to a listed port");
    let vlan = Ipv4Frame {
        vlan: Some(100),
        ..Ipv4Frame::udp(7000)
    };
    assert_eq!(v(&vlan.bytes()), XDP_PASS, "VLAN-tagged");
    // Options that put the listed port where a fixed 20-byte header has the UDP port.
    let mut options = Ipv4Frame {
        ihl: 6,
        ..Ipv4Frame::udp(7000)
    }
    .bytes();
    options[36..38].copy_from_slice(&7000u16.to_be_bytes());
    assert_eq!(v(&options), XDP_PASS, "IP options (IHL 6)");
    for (frag, what) in [
        (0x2000, "MF"),
        (0x00b9, "offset"),
        (0x20b9, "MF and offset"),
    ] {
        let f = Ipv4Frame {
            frag,
            ..Ipv4Frame::udp(7000)
        };
        assert_eq!(v(&f.bytes()), XDP_PASS, "fragment ({what})");
    }
    let df = Ipv4Frame {
        frag: 0x4000,
        ..Ipv4Frame::udp(7000)
    };
    assert_eq!(
        v(&df.bytes()),
        REDIRECT_ATTEMPTED,
        "DF alone is no fragment"
    );
    let tcp = Ipv4Frame {
        protocol: 6,
        ..Ipv4Frame::udp(7000)
    };
    assert_eq!(v(&tcp.bytes()), XDP_PASS, "TCP");
}

#[test]
fn truncated_frames_pass() {
    if !root_or_skip() {
        return;
    }
    let (_map, prog) = load(&test_spec(&[7000], None), &LoadOptions::default());
    let full = Ipv4Frame::udp(7000).bytes();
    assert_eq!(
        verdict(&prog, &full[..42]),
        REDIRECT_ATTEMPTED,
        "headers only"
    );
    // One byte short of each header: IPv4 (14 + 19), UDP (14 + 20 + 7), and every length in
    // between.
    assert_eq!(
        verdict(&prog, &full[..14 + 19]),
        XDP_PASS,
        "IPv4 header cut"
    );
    assert_eq!(
        verdict(&prog, &full[..14 + 20 + 7]),
        XDP_PASS,
        "UDP header cut"
    );
    for len in 14..42 {
        assert_eq!(verdict(&prog, &full[..len]), XDP_PASS, "{len} bytes");
    }
    // One byte short of an Ethernet header (13) cannot be shown to the program here: the
    // kernel's test runner refuses frames below 14 bytes (also behind XDP metadata), as
    // devices do. The codegen interpreter tests run it on 0..42 bytes, and the verifier has
    // proved that no read goes past data_end.
    let err = prog.test_run(&full[..13], None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
}

#[test]
fn destination_address_filter_on_and_off() {
    if !root_or_skip() {
        return;
    }
    let to = |dst: [u8; 4]| {
        Ipv4Frame {
            dst,
            ..Ipv4Frame::udp(7000)
        }
        .bytes()
    };
    let (_m1, filtered) = load(
        &test_spec(&[7000], Some(Ipv4Addr::new(10, 9, 0, 129))),
        &LoadOptions::default(),
    );
    assert_eq!(verdict(&filtered, &to([10, 9, 0, 129])), REDIRECT_ATTEMPTED);
    assert_eq!(verdict(&filtered, &to([10, 9, 0, 1])), XDP_PASS);
    let (_m2, open) = load(&test_spec(&[7000], None), &LoadOptions::default());
    assert_eq!(verdict(&open, &to([10, 9, 0, 129])), REDIRECT_ATTEMPTED);
    assert_eq!(verdict(&open, &to([10, 9, 0, 1])), REDIRECT_ATTEMPTED);
}

#[test]
fn loads_with_and_without_frags_and_keeps_a_requested_log() {
    if !root_or_skip() {
        return;
    }
    for frags in [false, true] {
        let opts = LoadOptions {
            xdp_has_frags: frags,
            ..LoadOptions::default()
        };
        let (_map, prog) = load(&test_spec(&[7000], None), &opts);
        assert!(prog.fd() >= 0);
        assert!(prog.verifier_log().is_empty());
        assert_eq!(
            verdict(&prog, &Ipv4Frame::udp(7000).bytes()),
            REDIRECT_ATTEMPTED,
            "frags {frags}"
        );
    }
    let opts = LoadOptions {
        log_level: 2,
        name: "nb test/xdp".into(),
        ..LoadOptions::default()
    };
    let (_map, prog) = load(&test_spec(&[7000], None), &opts);
    assert!(
        prog.verifier_log().contains("processed"),
        "{}",
        prog.verifier_log()
    );
}

#[test]
fn many_ports_pass_the_verifier_across_hops() {
    if !root_or_skip() {
        return;
    }
    // More than one chunk of compares (4096), so hops forward the matches.
    let ports: Vec<u16> = (10_000..15_000).collect();
    let (_map, prog) = load(&test_spec(&ports, None), &LoadOptions::default());
    for port in [10_000, 14_095, 14_096, 14_999] {
        assert_eq!(
            verdict(&prog, &Ipv4Frame::udp(port).bytes()),
            REDIRECT_ATTEMPTED,
            "port {port}"
        );
    }
    assert_eq!(verdict(&prog, &Ipv4Frame::udp(15_000).bytes()), XDP_PASS);
}

#[test]
fn invalid_programs_return_the_verifier_log() {
    if !root_or_skip() {
        return;
    }
    // Reads the packet without checking data_end first.
    let mut a = Asm::new();
    a.ldx(xdp::Size::W, R2, R1, 0);
    a.ldx(xdp::Size::B, R0, R2, 0);
    a.exit();
    let words: Vec<u64> = a.finish().unwrap().insns.iter().map(Insn::word).collect();
    for opts in [
        LoadOptions::default(),
        LoadOptions {
            log_level: 1,
            ..LoadOptions::default()
        },
    ] {
        match XdpProgram::load(&words, &opts) {
            Err(LoadError::Verifier { errno, log }) => {
                assert_eq!(errno.raw_os_error(), Some(libc::EACCES), "{errno}");
                assert!(log.contains("invalid access to packet"), "{log}");
                let shown = LoadError::Verifier { errno, log }.to_string();
                assert!(shown.contains("invalid access to packet"), "{shown}");
            }
            other => panic!("expected a verifier error, got {other:?}"),
        }
    }
    // Exits without setting r0.
    let mut a = Asm::new();
    a.exit();
    let words: Vec<u64> = a.finish().unwrap().insns.iter().map(Insn::word).collect();
    match XdpProgram::load(&words, &LoadOptions::default()) {
        Err(LoadError::Verifier { log, .. }) => assert!(log.contains("R0 !read_ok"), "{log}"),
        other => panic!("expected a verifier error, got {other:?}"),
    }
    // No instructions at all: refused before the kernel is asked.
    assert!(matches!(
        XdpProgram::load(&[], &LoadOptions::default()),
        Err(LoadError::Io(_))
    ));
    // A map descriptor that is not a map.
    let words = xdp::emit(&test_spec(&[7000], None)).words(0);
    let err = XdpProgram::load(&words, &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("fd 0 is not pointing to valid bpf_map"),
        "{err}"
    );
}

#[test]
fn xskmap_slots() {
    if !root_or_skip() {
        return;
    }
    let map = XskMap::create(64).unwrap();
    assert_eq!(map.max_entries(), 64);
    map.clear(0).expect("clearing an empty slot");
    map.clear(63).expect("last slot");
    assert_eq!(
        map.clear(64).unwrap_err().raw_os_error(),
        Some(libc::EINVAL)
    );
    // Only bound AF_XDP sockets go into an XSKMAP.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let e = map
        .set(0, std::os::fd::AsRawFd::as_raw_fd(&udp))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}");
    let e = map.set(0, -1).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    // A descriptor handed down (as the supervisor does) is checked and duplicated.
    let copy = XskMap::from_inherited_fd(map.fd()).unwrap();
    assert_ne!(copy.fd(), map.fd());
    assert_eq!(copy.max_entries(), 64);
    copy.clear(5).unwrap();
    drop(copy);
    map.clear(5).expect("the original descriptor stays open");
    let e = XskMap::from_inherited_fd(std::os::fd::AsRawFd::as_raw_fd(&udp)).unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EINVAL),
        "a socket is no BPF object: {e}"
    );
    let (_m, prog) = load(&test_spec(&[7000], None), &LoadOptions::default());
    assert!(
        XskMap::from_inherited_fd(prog.fd()).is_err(),
        "a program is no map"
    );
    assert!(XskMap::from_inherited_fd(9999).is_err());
}

/// The XDP mode `ip link show dev` reports (`xdp` native, `xdpgeneric`, ...), if a program
/// is attached: a word of the first line, after the MTU.
fn xdp_mode_shown(ns: &Netns, dev: &str) -> Option<String> {
    let out = ns.ip(&["link", "show", "dev", dev]).unwrap();
    let first = out.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .find(|w| w.starts_with("xdp"))
        .map(str::to_string)
}

fn shows_xdp(ns: &Netns, dev: &str) -> bool {
    xdp_mode_shown(ns, dev).is_some()
}

/// Whether the program is gone from `dev` within a second of dropping its link. Closing the
/// last descriptor detaches at once, but a process that another test forks at that moment
/// (to run `ip`) holds a copy of every descriptor until it execs, which closes them.
fn detached_soon(ns: &Netns, dev: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if !shows_xdp(ns, dev) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn attach_in_generic_and_native_mode_and_detach_on_drop() {
    if !root_or_skip() {
        return;
    }
    let Some(ns) = netns::netns_or_skip("nbxdp") else {
        return;
    };
    ns.ip_lines(&[
        "link add nbx0 numrxqueues 4 numtxqueues 4 type veth peer name nbx1 numrxqueues 4 numtxqueues 4",
        "link set nbx0 up",
        "link set nbx1 up",
    ])
    .unwrap();
    let (_map, prog) = load(&test_spec(&[7000], None), &LoadOptions::default());
    ns.run(|| {
        let dev = rawframe::ifindex("nbx0").unwrap();
        assert!(!shows_xdp(&ns, "nbx0"));
        for mode in [AttachMode::Generic, AttachMode::Driver] {
            let link =
                XdpLink::attach(&prog, dev, mode).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            let expect = match mode {
                AttachMode::Generic => "xdpgeneric",
                AttachMode::Driver => "xdp",
            };
            assert_eq!(
                xdp_mode_shown(&ns, "nbx0").as_deref(),
                Some(expect),
                "{mode:?}"
            );
            let details = ns.ip(&["-d", "link", "show", "dev", "nbx0"]).unwrap();
            assert!(details.contains("name netbase_xdp"), "{details}");
            // The link holds the interface: a second program cannot be put there.
            let again = XdpLink::attach(&prog, dev, mode).unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EBUSY), "{again}");
            drop(link);
            assert!(
                detached_soon(&ns, "nbx0"),
                "{mode:?}: still attached after drop"
            );
        }

        // A test run can pretend the frame arrived on queue 3 of `a`.
        let ctx = TestCtx {
            ingress_ifindex: dev,
            rx_queue_index: 3,
        };
        let r = prog
            .test_run(&Ipv4Frame::udp(7000).bytes(), Some(ctx))
            .unwrap();
        assert_eq!(r.verdict, REDIRECT_ATTEMPTED);
        let r = prog.test_run(&arp_request(), Some(ctx)).unwrap();
        assert_eq!(r.verdict, XDP_PASS);
        let bad = TestCtx {
            rx_queue_index: 4,
            ..ctx
        };
        assert!(
            prog.test_run(&arp_request(), Some(bad)).is_err(),
            "queue 4 of 4"
        );
        // No such interface: the kernel says EINVAL.
        assert_eq!(
            XdpLink::attach(&prog, 999_999, AttachMode::Generic)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EINVAL)
        );
    });
}

#[test]
fn native_mode_on_a_large_mtu_needs_frags() {
    if !root_or_skip() {
        return;
    }
    let Some(ns) = netns::netns_or_skip("nbxdp") else {
        return;
    };
    ns.ip_lines(&[
        "link add nbx0 type veth peer name nbx1",
        "link set nbx0 mtu 9000",
        "link set nbx1 mtu 9000",
        "link set nbx0 up",
        "link set nbx1 up",
    ])
    .unwrap();
    let (_m1, single) = load(&test_spec(&[7000], None), &LoadOptions::default());
    let frags = LoadOptions {
        xdp_has_frags: true,
        ..LoadOptions::default()
    };
    let (_m2, multi) = load(&test_spec(&[7000], None), &frags);
    ns.run(|| {
        let dev = rawframe::ifindex("nbx0").unwrap();
        let e = XdpLink::attach(&single, dev, AttachMode::Driver).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ERANGE), "{e}");
        let link = XdpLink::attach(&multi, dev, AttachMode::Driver).unwrap();
        assert_eq!(xdp_mode_shown(&ns, "nbx0").as_deref(), Some("xdp"));
        drop(link);
        assert!(detached_soon(&ns, "nbx0"));
    });
}

#[test]
fn bpf_constants_match_the_kernel() {
    assert_eq!(
        [
            bpf::XDP_ABORTED,
            bpf::XDP_DROP,
            bpf::XDP_PASS,
            bpf::XDP_TX,
            bpf::XDP_REDIRECT
        ],
        [0, 1, 2, 3, 4]
    );
}
