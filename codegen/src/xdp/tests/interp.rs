//! A tiny eBPF interpreter for the instructions the emitter uses, so the program's decisions
//! are tested without root or a kernel. Reads outside the packet are errors: a missing
//! bounds check shows up here as well as in the verifier.

use super::super::insn::*;
use netbase_uapi::linux as k;

const CTX: u64 = 0x1_0000_0000;
const PKT: u64 = 0x2_0000_0000;

/// What a run returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub verdict: u32,
    /// (map descriptor, key, flags) of the `bpf_redirect_map` call, if made.
    pub redirect: Option<(u64, u64, u64)>,
}

/// Runs `words` on `packet` received on queue `rx_queue`; `socket_on_queue` says whether the
/// XSKMAP holds a socket for it (the helper then returns `XDP_REDIRECT`, else its flags).
pub fn run(
    words: &[u64],
    packet: &[u8],
    rx_queue: u32,
    socket_on_queue: bool,
) -> Result<Run, String> {
    let insns: Vec<Insn> = words.iter().map(|&w| Insn::from_word(w)).collect();
    let mut r = [0u64; 11];
    r[1] = CTX;
    r[10] = 0x3_0000_0000;
    let mut redirect = None;
    let mut pc = 0usize;
    for _ in 0..1_000_000 {
        let i = *insns
            .get(pc)
            .ok_or(format!("pc {pc} outside the program"))?;
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        let op = i.code & 0xf0;
        let class = i.class();
        pc += 1;
        match class {
            ALU | ALU64 => {
                let rhs = if i.code & 0x08 == X {
                    r[s]
                } else {
                    i.imm as i64 as u64
                };
                let lhs = r[d];
                let v = match op {
                    o if o == Alu::Mov.bits() => rhs,
                    o if o == Alu::Add.bits() => lhs.wrapping_add(rhs),
                    o if o == Alu::Sub.bits() => lhs.wrapping_sub(rhs),
                    o if o == Alu::And.bits() => lhs & rhs,
                    o if o == Alu::Or.bits() => lhs | rhs,
                    o if o == Alu::Xor.bits() => lhs ^ rhs,
                    o if o == Alu::Lsh.bits() => lhs << (rhs & 63),
                    o if o == Alu::Rsh.bits() => lhs >> (rhs & 63),
                    _ => return Err(format!("unsupported ALU op {:#x}", i.code)),
                };
                r[d] = if class == ALU { v & 0xffff_ffff } else { v };
            }
            LDX => {
                let addr = r[s].wrapping_add(i.off as i64 as u64);
                let width = match i.code & 0x18 {
                    B => 1,
                    H => 2,
                    W => 4,
                    _ => 8,
                };
                r[d] = load(addr, width, packet, rx_queue)?;
            }
            LD if i.is_ld_imm64() => {
                let hi = insns.get(pc).ok_or("ld_imm64 without its second slot")?.imm as u32;
                r[d] = u64::from(hi) << 32 | u64::from(i.imm as u32);
                pc += 1;
            }
            JMP | JMP32 if op == EXIT => {
                return Ok(Run {
                    verdict: r[0] as u32,
                    redirect,
                })
            }
            JMP | JMP32 if op == CALL => {
                if i.imm as u32 != k::BPF_FUNC_redirect_map {
                    return Err(format!("unexpected helper {}", i.imm));
                }
                redirect = Some((r[1], r[2], r[3]));
                r[0] = if socket_on_queue {
                    u64::from(k::XDP_REDIRECT)
                } else {
                    r[3] & 3
                };
            }
            JMP | JMP32 => {
                let (a, b) = if class == JMP32 {
                    let rhs = if i.code & 0x08 == X {
                        r[s]
                    } else {
                        i.imm as u32 as u64
                    };
                    (r[d] & 0xffff_ffff, rhs & 0xffff_ffff)
                } else {
                    let rhs = if i.code & 0x08 == X {
                        r[s]
                    } else {
                        i.imm as i64 as u64
                    };
                    (r[d], rhs)
                };
                let taken = match op {
                    JA => true,
                    o if o == Cond::Eq.bits() => a == b,
                    o if o == Cond::Ne.bits() => a != b,
                    o if o == Cond::Gt.bits() => a > b,
                    o if o == Cond::Ge.bits() => a >= b,
                    o if o == Cond::Lt.bits() => a < b,
                    o if o == Cond::Le.bits() => a <= b,
                    _ => return Err(format!("unsupported jump {:#x}", i.code)),
                };
                if taken {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            _ => return Err(format!("unsupported instruction {:#x}", i.code)),
        }
    }
    Err("no exit after a million steps".into())
}

fn load(addr: u64, width: u64, packet: &[u8], rx_queue: u32) -> Result<u64, String> {
    if (CTX..CTX + 24).contains(&addr) {
        if width != 4 {
            return Err("xdp_md fields are read as u32".into());
        }
        return match addr - CTX {
            0 => Ok(PKT),
            4 => Ok(PKT + packet.len() as u64),
            16 => Ok(u64::from(rx_queue)),
            other => Err(format!("unexpected xdp_md offset {other}")),
        };
    }
    let start = addr.wrapping_sub(PKT);
    let end = start.wrapping_add(width);
    if addr < PKT || end > packet.len() as u64 {
        return Err(format!(
            "read of {width} bytes at packet offset {start} beyond its {} bytes",
            packet.len()
        ));
    }
    let bytes = &packet[start as usize..end as usize];
    Ok(bytes.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)))
}
