//! Assembler, emitter and spec tests; the emitted program is run on test frames by a small
//! interpreter ([`interp`]). The kernel side (verifier, test runs, attaching) is tested by
//! the root crate's `tests/xdp_program.rs`.

mod frames;
mod interp;

use std::net::Ipv4Addr;
use std::path::Path;

use netbase_uapi::linux as k;

use super::*;
use crate::{Plan, Topology};
use frames::{arp_request, ipv6_udp, Ipv4Frame};

const MAP_FD: i32 = 7;

fn spec(ports: &[u16], dst_addr: Option<Ipv4Addr>) -> XdpSpec {
    XdpSpec {
        udp_ports: ports.to_vec(),
        dst_addr,
        redirect_fallback: k::XDP_PASS,
    }
}

fn plan(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(format!("schema/topologies/{name}.toml"));
    Plan::build(&Topology::load(&path).unwrap_or_else(|d| panic!("{d}")))
}

// ---- encoding and assembler ----

#[test]
fn words_encode_as_the_kernel_reads_them() {
    let mut a = Asm::new();
    a.ldx(Size::W, R2, R1, 4); // 0x61, dst 2, src 1, off 4
    a.mov64_imm(R0, 2); // 0xb7
    let next = a.label("next");
    a.jmp32_imm(Cond::Ne, R5, 0x11, next);
    a.bind(next);
    a.exit();
    let asm = a.finish().unwrap();
    let words: Vec<u64> = asm.insns.iter().map(Insn::word).collect();
    assert_eq!(words[0], 0x0000_0000_0004_1261);
    assert_eq!(words[1], 0x0000_0002_0000_00b7);
    // JMP32 | JNE | K = 0x56; target is the next slot: offset 0.
    assert_eq!(words[2], 0x0000_0011_0000_0556);
    assert_eq!(words[3], 0x95);
    assert_eq!(words[0].to_le_bytes(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
    for w in words {
        assert_eq!(Insn::from_word(w).word(), w);
    }
    let neg = Insn {
        code: 0x05,
        dst: 0,
        src: 0,
        off: -2,
        imm: -1,
    };
    assert_eq!(neg.word(), 0xffff_ffff_fffe_0005);
    assert_eq!(Insn::from_word(neg.word()), neg);
}

#[test]
fn jump_offsets_count_from_the_next_slot() {
    let mut a = Asm::new();
    let end = a.label("end");
    let back = a.label("back");
    a.bind(back);
    a.jmp_imm(Cond::Eq, R1, 0, end); // slot 0 -> 4: +3
    a.ld_imm64(R2, 0x1_0000_0002); // slots 1, 2: counts as two
    a.ja(back); // slot 3 -> 0: -4
    a.bind(end);
    a.exit(); // slot 4
    let asm = a.finish().unwrap();
    assert_eq!(asm.insns.len(), 5);
    assert_eq!(asm.insns[0].off, 3);
    assert_eq!(asm.insns[3].off, -4);
    assert_eq!(asm.labels[&4], vec!["end".to_string()]);
}

#[test]
fn ld_imm64_takes_two_slots_and_map_slots_are_patched() {
    let mut a = Asm::new();
    a.ld_imm64(R3, 0x1122_3344_5566_7788);
    a.ld_map_fd(R1);
    a.exit();
    let asm = a.finish().unwrap();
    assert_eq!(asm.insns.len(), 5);
    assert_eq!(asm.insns[0].code, 0x18);
    assert_eq!(asm.insns[0].imm as u32, 0x5566_7788);
    assert_eq!(asm.insns[1].imm as u32, 0x1122_3344);
    assert_eq!(asm.insns[1].code, 0);
    assert_eq!(asm.map_fd_slots, vec![2]);
    assert_eq!(asm.insns[2].src, PSEUDO_MAP_FD);
    assert_eq!(asm.insns[2].word() & 0xffff, 0x1118);

    let code = emit(&spec(&[7000], None));
    let words = code.words(MAP_FD);
    assert_eq!(code.map_fd_slots.len(), 1);
    let slot = code.map_fd_slots[0];
    assert_eq!(words[slot], 0x0000_0007_0000_1118, "r1 = map_fd(7), src 1");
    assert_eq!(words[slot + 1], 0, "second slot of the pair");
    assert_eq!(words.len(), code.insns.len());
}

#[test]
fn assembler_reports_label_mistakes() {
    let mut a = Asm::new();
    let nowhere = a.label("nowhere");
    let twice = a.label("twice");
    let end = a.label("end");
    a.bind(twice);
    a.ja(nowhere);
    a.bind(twice);
    a.ja(end);
    a.bind(end);
    let errors = a.finish().unwrap_err();
    assert!(
        errors.contains(&AsmError::Unbound("nowhere".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&AsmError::BoundTwice("twice".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&AsmError::PastEnd("end".into())),
        "{errors:?}"
    );

    let mut a = Asm::new();
    let far = a.label("far");
    a.ja(far);
    for _ in 0..40_000 {
        a.mov64_imm(R0, 0);
    }
    a.bind(far);
    a.exit();
    assert_eq!(
        a.finish().unwrap_err(),
        vec![AsmError::TooFar {
            label: "far".into(),
            from: 0
        }]
    );
}

#[test]
fn listing_reads_like_the_verifier_log() {
    let mut a = Asm::new();
    let pass = a.label("pass");
    a.ldx(Size::H, R5, R2, 12);
    a.jmp32_imm(Cond::Ne, R5, 0x11, pass);
    a.jmp_reg(Cond::Gt, R4, R3, pass);
    a.alu32_imm(Alu::And, R5, 0xff3f);
    a.alu64_imm(Alu::Add, R4, 14);
    a.ld_map_fd(R1);
    a.call(k::BPF_FUNC_redirect_map);
    a.bind(pass);
    a.exit();
    let asm = a.finish().unwrap();
    let label_at = |slot: usize| asm.labels.get(&slot).map(|n| n.join(","));
    let text: Vec<String> = (0..asm.insns.len())
        .filter_map(|s| disasm::insn_text(&asm.insns, s, &label_at))
        .collect();
    assert_eq!(
        text,
        [
            "r5 = *(u16 *)(r2 + 12)",
            "if w5 != 0x11 goto +6 <pass>",
            "if r4 > r3 goto +5 <pass>",
            "w5 &= 0xff3f",
            "r4 += 14",
            "r1 = map_fd(0) ll",
            "call bpf_redirect_map#51",
            "exit",
        ]
    );
}

// ---- the program's decisions ----

fn verdict(code: &XdpProgramCode, frame: &[u8]) -> interp::Run {
    interp::run(&code.words(MAP_FD), frame, 3, false).unwrap_or_else(|e| panic!("{e}"))
}

fn redirected(code: &XdpProgramCode, frame: &[u8]) -> bool {
    let run = verdict(code, frame);
    match run.redirect {
        Some((map, key, flags)) => {
            assert_eq!(map, MAP_FD as u64);
            assert_eq!(key, 3, "keyed by the receive queue");
            assert_eq!(flags, u64::from(k::XDP_PASS));
            assert_eq!(run.verdict, k::XDP_PASS, "empty slot: the fallback");
            true
        }
        None => {
            assert_eq!(run.verdict, k::XDP_PASS);
            false
        }
    }
}

#[test]
fn redirects_exactly_ipv4_udp_to_the_listed_ports() {
    let code = emit(&spec(&[7000, 53], None));
    assert!(redirected(&code, &Ipv4Frame::udp(7000).bytes()));
    assert!(redirected(&code, &Ipv4Frame::udp(53).bytes()));
    assert!(!redirected(&code, &Ipv4Frame::udp(7001).bytes()));
    // A port whose bytes are swapped must not match (network order compare).
    assert!(!redirected(
        &code,
        &Ipv4Frame::udp(7000u16.swap_bytes()).bytes()
    ));
    assert!(!redirected(&code, &arp_request()));
    assert!(!redirected(&code, &ipv6_udp(7000)));
    let tagged = Ipv4Frame {
        vlan: Some(5),
        ..Ipv4Frame::udp(7000)
    };
    assert!(!redirected(&code, &tagged.bytes()));
    // Options that put the listed port where a fixed 20-byte header has the UDP port.
    let mut options = Ipv4Frame {
        ihl: 6,
        ..Ipv4Frame::udp(7000)
    }
    .bytes();
    options[36..38].copy_from_slice(&7000u16.to_be_bytes());
    assert!(!redirected(&code, &options));
    for frag in [0x2000, 0x0001, 0x1fff, 0x6000] {
        let f = Ipv4Frame {
            frag,
            ..Ipv4Frame::udp(7000)
        };
        assert!(!redirected(&code, &f.bytes()), "frag {frag:#x}");
    }
    for frag in [0x0000, 0x4000, 0x8000] {
        let f = Ipv4Frame {
            frag,
            ..Ipv4Frame::udp(7000)
        };
        assert!(redirected(&code, &f.bytes()), "not a fragment: {frag:#x}");
    }
    let tcp = Ipv4Frame {
        protocol: 6,
        ..Ipv4Frame::udp(7000)
    };
    assert!(!redirected(&code, &tcp.bytes()));
    let v6_in_v4_header = {
        let mut f = Ipv4Frame::udp(7000).bytes();
        f[14] = 0x65;
        f
    };
    assert!(!redirected(&code, &v6_in_v4_header));
}

#[test]
fn truncated_frames_pass_at_every_boundary() {
    let code = emit(&spec(&[7000], Some(Ipv4Addr::new(10, 9, 0, 1))));
    let full = Ipv4Frame::udp(7000).bytes();
    assert!(redirected(&code, &full));
    assert!(redirected(&code, &full[..42]), "headers only");
    for len in 0..42 {
        assert!(!redirected(&code, &full[..len]), "{len} bytes");
    }
}

#[test]
fn destination_address_filter() {
    let to = |dst: [u8; 4]| {
        Ipv4Frame {
            dst,
            ..Ipv4Frame::udp(7000)
        }
        .bytes()
    };
    // 10.9.0.129 has the top bit of the loaded word set: a 64-bit compare against a
    // sign-extended immediate would never match it.
    for addr in [[10, 9, 0, 1], [10, 9, 0, 129], [255, 255, 255, 255]] {
        let code = emit(&spec(&[7000], Some(Ipv4Addr::from(addr))));
        assert!(redirected(&code, &to(addr)), "{addr:?}");
        assert!(!redirected(&code, &to([10, 9, 0, 7])), "{addr:?}");
    }
    let any = emit(&spec(&[7000], None));
    assert!(redirected(&any, &to([10, 9, 0, 7])));
    assert!(redirected(&any, &to([192, 168, 1, 1])));
}

#[test]
fn a_socket_on_the_queue_gives_xdp_redirect() {
    let code = emit(&spec(&[7000], None));
    let run = interp::run(&code.words(MAP_FD), &Ipv4Frame::udp(7000).bytes(), 0, true).unwrap();
    assert_eq!(run.verdict, k::XDP_REDIRECT);
    assert_eq!(
        run.redirect,
        Some((MAP_FD as u64, 0, u64::from(k::XDP_PASS)))
    );
}

#[test]
fn fallback_is_the_only_difference() {
    let prod = emit(&spec(&[7000, 7001], None)).words(MAP_FD);
    let test = emit(&XdpSpec {
        redirect_fallback: k::XDP_DROP,
        ..spec(&[7000, 7001], None)
    })
    .words(MAP_FD);
    let diff: Vec<usize> = (0..prod.len()).filter(|&i| prod[i] != test[i]).collect();
    assert_eq!(prod.len(), test.len());
    assert_eq!(diff.len(), 1);
    let (p, t) = (
        Insn::from_word(prod[diff[0]]),
        Insn::from_word(test[diff[0]]),
    );
    assert_eq!((p.imm as u32, t.imm as u32), (k::XDP_PASS, k::XDP_DROP));
    assert_eq!(Insn { imm: 0, ..p }, Insn { imm: 0, ..t });
}

#[test]
fn empty_port_set_passes_everything() {
    let code = emit(&spec(&[], None));
    assert!(code.map_fd_slots.is_empty());
    assert!(!redirected(&code, &Ipv4Frame::udp(7000).bytes()));
    assert!(!redirected(&code, &arp_request()));
}

#[test]
fn every_port_with_hops_between_chunks() {
    let all: Vec<u16> = (1..=u16::MAX).collect();
    let code = emit(&spec(&all, None));
    let words = code.words(MAP_FD);
    let max_jump = code
        .insns
        .iter()
        .filter(|i| i.is_jump())
        .map(|i| i.off.unsigned_abs())
        .max()
        .unwrap();
    assert!(max_jump <= 4100, "{max_jump}");
    for port in [1, 2, 4095, 4096, 4097, 8192, 40000, 65534, 65535] {
        let run = interp::run(&words, &Ipv4Frame::udp(port).bytes(), 1, false).unwrap();
        assert!(run.redirect.is_some(), "port {port}");
    }
    let run = interp::run(&words, &Ipv4Frame::udp(0).bytes(), 1, false).unwrap();
    assert!(run.redirect.is_none());
}

#[test]
fn duplicate_and_unsorted_ports_are_normalised() {
    assert_eq!(
        emit(&spec(&[7001, 7000, 7001], None)),
        emit(&spec(&[7000, 7001], None))
    );
}

// ---- the spec from a plan ----

#[test]
fn spec_of_the_shipped_topologies() {
    let default = plan("default");
    assert_eq!(
        XdpSpec::from_plan(&default, "net.0").unwrap(),
        spec(&[7000], None)
    );
    let mq = plan("multiqueue");
    for i in 0..4 {
        assert_eq!(
            XdpSpec::from_plan(&mq, &format!("net.{i}")).unwrap(),
            spec(&[7000], None)
        );
    }
    let e = XdpSpec::from_plan(&default, "echo.0").unwrap_err();
    assert!(e.contains("not a net tile"), "{e}");
    let e = XdpSpec::from_plan(&default, "net.7").unwrap_err();
    assert!(e.contains("no tile instance `net.7`"), "{e}");
}

#[test]
fn spec_covers_every_net_tile_on_the_interface() {
    // Give echo.1 of the multiqueue plan its own port: every queue's program must take it,
    // since RSS may deliver its datagrams to any queue.
    let mut mq = plan("multiqueue");
    for t in &mut mq.tiles {
        if t.instance == "echo.1" {
            t.params = crate::topology::TileParams::UdpEcho { udp_port: 9000 };
        }
    }
    assert_eq!(
        XdpSpec::from_plan(&mq, "net.3").unwrap().udp_ports,
        vec![7000, 9000]
    );
    // Instances on one interface must agree on the address filter.
    for t in &mut mq.tiles {
        if let crate::topology::TileParams::Net { dst_addr, .. } = &mut t.params {
            if t.instance == "net.2" {
                *dst_addr = Some(Ipv4Addr::new(10, 0, 0, 1));
            }
        }
    }
    let e = XdpSpec::from_plan(&mq, "net.0").unwrap_err();
    assert!(e.contains("different dst_addr"), "{e}");
}

// ---- snapshots of the listing ----

#[test]
fn listing_of_the_default_topology() {
    let spec = XdpSpec::from_plan(&plan("default"), "net.0").unwrap();
    insta::assert_snapshot!("xdp_default", emit(&spec).disassemble());
}

#[test]
fn listing_with_address_and_two_ports() {
    let spec = spec(&[7000, 7001], Some(Ipv4Addr::new(10, 0, 0, 1)));
    insta::assert_snapshot!("xdp_dst_addr_two_ports", emit(&spec).disassemble());
}
