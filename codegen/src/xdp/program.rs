//! The XDP program: which frames go to the AF_XDP socket of their receive queue.
//!
//! Decisions, in order; every "no" is `XDP_PASS`, so the kernel keeps handling everything
//! netbase does not take over (ARP above all, or it stops resolving neighbours):
//! 1. at least an Ethernet header, EtherType IPv4. A VLAN-tagged frame (0x8100, 0x88a8) is
//!    not IPv4 at this offset and passes: the kernel strips tags for its VLAN devices;
//! 2. a complete 20-byte IPv4 header with version 4 and IHL 5. Headers with options pass:
//!    they are rare, and the kernel parses, validates and counts them correctly;
//! 3. not a fragment (MF clear and offset 0): the kernel reassembles fragments;
//! 4. protocol UDP, the destination address if the spec names one;
//! 5. a complete UDP header whose destination port is in the set.
//!
//! A match returns `bpf_redirect_map(&xskmap, ctx->rx_queue_index, redirect_fallback)`.
//! Each header is checked against `data_end` before it is read (the verifier insists), so a
//! truncated frame passes at the first header it lacks. The program only steers: the net
//! tile validates what it receives again (lengths, checksums), as for any untrusted input.
//!
//! Field values are compared as the load yields them: the packet's network-order bytes read
//! little-endian, so each constant is converted once here instead of swapping every frame.

use std::net::Ipv4Addr;

use netbase_uapi::linux as k;

use super::asm::{Asm, Label};
use super::insn::*;
use super::spec::XdpSpec;
use super::XdpProgramCode;

/// Offsets in the frame (no VLAN tag, IPv4 header without options).
const ETH_HLEN: i32 = 14;
const ETH_TYPE: i16 = 12;
const IP_VER_IHL: i16 = 14;
const IP_FRAG: i16 = 14 + 6;
const IP_PROTO: i16 = 14 + 9;
const IP_DADDR: i16 = 14 + 16;
const IP_END: i32 = 14 + 20;
const UDP_DPORT: i16 = 14 + 20 + 2;
const UDP_END: i32 = 14 + 20 + 8;

/// Offsets in `struct xdp_md`.
const MD_DATA: i16 = 0;
const MD_DATA_END: i16 = 4;
const MD_RX_QUEUE_INDEX: i16 = 16;

const ETH_P_IP: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;
const IP_VERSION_4_IHL_5: u8 = 0x45;
/// MF flag and fragment offset; DF and the reserved bit do not make a fragment.
const IP_MF_OFFSET_MASK: u16 = 0x3fff;

/// Port compares between two hops to the redirect block: keeps every jump far inside the
/// 16-bit offset whatever the number of ports.
const PORTS_PER_HOP: usize = 4096;

/// A 16-bit field as a `u16` load from the packet yields it (little-endian host).
fn wire16(host: u16) -> u32 {
    u32::from(u16::from_le_bytes(host.to_be_bytes()))
}

/// An IPv4 address as a `u32` load from the packet yields it.
fn wire32(addr: Ipv4Addr) -> u32 {
    u32::from_le_bytes(addr.octets())
}

/// Emits the program for `spec`. An empty port set gives a program that passes everything
/// (and references no map).
pub fn emit(spec: &XdpSpec) -> XdpProgramCode {
    let mut ports = spec.udp_ports.clone();
    ports.sort_unstable();
    ports.dedup();
    let summary = summary(spec, &ports);
    let mut a = Asm::new();
    if ports.is_empty() {
        a.comment("no UDP ports: nothing to redirect");
        a.mov64_imm(R0, k::XDP_PASS as i32);
        a.exit();
    } else {
        emit_filter(&mut a, spec, &ports);
    }
    let asm = a
        .finish()
        .unwrap_or_else(|e| panic!("the XDP emitter produced invalid assembly: {e:?}"));
    XdpProgramCode {
        insns: asm.insns,
        map_fd_slots: asm.map_fd_slots,
        labels: asm.labels,
        comments: asm.comments,
        summary,
    }
}

/// r1 = ctx (kept for the redirect), r2 = data, r3 = data_end, r4 = end of the header about
/// to be read, r5 = the field under test. Layout: header checks, the pass block, port
/// compares, the redirect block.
fn emit_filter(a: &mut Asm, spec: &XdpSpec, ports: &[u16]) {
    let pass = a.label("pass");
    let redirect = a.label("redirect");

    a.comment("data");
    a.ldx(Size::W, R2, R1, MD_DATA);
    a.comment("data_end");
    a.ldx(Size::W, R3, R1, MD_DATA_END);
    header_fits(a, ETH_HLEN, pass, "Ethernet header");
    a.comment("EtherType");
    a.ldx(Size::H, R5, R2, ETH_TYPE);
    a.comment("not IPv4: ARP, IPv6, VLAN tag, ... pass");
    a.jmp32_imm(Cond::Ne, R5, wire16(ETH_P_IP), pass);

    header_fits(a, IP_END, pass, "IPv4 header");
    a.comment("version, IHL");
    a.ldx(Size::B, R5, R2, IP_VER_IHL);
    a.comment("not IPv4 with a 20-byte header (options pass)");
    a.jmp32_imm(Cond::Ne, R5, u32::from(IP_VERSION_4_IHL_5), pass);
    a.comment("flags, fragment offset");
    a.ldx(Size::H, R5, R2, IP_FRAG);
    a.comment("MF | offset");
    a.alu32_imm(Alu::And, R5, wire16(IP_MF_OFFSET_MASK) as i32);
    a.comment("a fragment");
    a.jmp32_imm(Cond::Ne, R5, 0, pass);
    a.comment("protocol");
    a.ldx(Size::B, R5, R2, IP_PROTO);
    a.comment("not UDP");
    a.jmp32_imm(Cond::Ne, R5, u32::from(IPPROTO_UDP), pass);
    if let Some(addr) = spec.dst_addr {
        a.comment("destination address");
        a.ldx(Size::W, R5, R2, IP_DADDR);
        a.comment(format!("not to {addr}"));
        a.jmp32_imm(Cond::Ne, R5, wire32(addr), pass);
    }

    // The pass block sits here, before the port compares, so every jump to it stays short
    // however many ports follow; a complete UDP header jumps over it.
    let udp = a.label("udp");
    a.mov64(R4, R2);
    a.alu64_imm(Alu::Add, R4, UDP_END);
    a.comment("UDP header complete");
    a.jmp_reg(Cond::Le, R4, R3, udp);
    a.bind(pass);
    a.comment("XDP_PASS");
    a.mov64_imm(R0, k::XDP_PASS as i32);
    a.exit();

    a.bind(udp);
    a.comment("UDP destination port");
    a.ldx(Size::H, R5, R2, UDP_DPORT);
    // A jump reaches at most PORTS_PER_HOP + 2 slots: each chunk of compares jumps to the
    // hop right after it, which forwards to the next hop, the last one to `redirect`.
    let chunks: Vec<&[u16]> = ports.chunks(PORTS_PER_HOP).collect();
    let hops: Vec<Label> = (1..chunks.len())
        .map(|i| a.label(format!("hop{i}")))
        .collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let target = hops.get(i).copied().unwrap_or(redirect);
        for &port in *chunk {
            a.comment(format!("port {port}"));
            a.jmp32_imm(Cond::Eq, R5, wire16(port), target);
        }
        if i + 1 == chunks.len() {
            a.comment("no port matched: XDP_PASS");
            a.mov64_imm(R0, k::XDP_PASS as i32);
            a.exit();
        } else {
            let next = a.label(format!("ports{}", i + 1));
            a.ja(next);
            a.bind(target);
            a.ja(hops.get(i + 1).copied().unwrap_or(redirect));
            a.bind(next);
        }
    }

    a.bind(redirect);
    a.comment("key: ctx->rx_queue_index");
    a.ldx(Size::W, R2, R1, MD_RX_QUEUE_INDEX);
    a.comment("the XSKMAP");
    a.ld_map_fd(R1);
    a.comment(format!(
        "fallback when the queue has no socket: {}",
        action_name(spec.redirect_fallback)
    ));
    a.mov64_imm(R3, spec.redirect_fallback as i32);
    a.call(k::BPF_FUNC_redirect_map);
    a.exit();
}

/// Jumps to `pass` unless the frame holds `end` bytes: `r4 = data + end; if r4 > data_end`.
fn header_fits(a: &mut Asm, end: i32, pass: Label, what: &str) {
    a.mov64(R4, R2);
    a.alu64_imm(Alu::Add, R4, end);
    a.comment(format!("truncated {what}"));
    a.jmp_reg(Cond::Gt, R4, R3, pass);
}

fn action_name(action: u32) -> String {
    match action {
        k::XDP_ABORTED => "XDP_ABORTED".into(),
        k::XDP_DROP => "XDP_DROP".into(),
        k::XDP_PASS => "XDP_PASS".into(),
        k::XDP_TX => "XDP_TX".into(),
        other => format!("{other} (invalid: the helper returns XDP_ABORTED)"),
    }
}

fn summary(spec: &XdpSpec, ports: &[u16]) -> String {
    let ports = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let addr = spec
        .dst_addr
        .map_or_else(|| "any address".to_string(), |a| format!("address {a}"));
    format!(
        "XDP program: IPv4 UDP to {addr}, port in [{ports}] -> \
         bpf_redirect_map(xskmap, rx_queue_index, {}); anything else -> XDP_PASS",
        action_name(spec.redirect_fallback)
    )
}
