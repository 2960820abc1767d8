//! Instruction listing in the style of the kernel verifier's log (`if w5 != 0x8 goto +20`),
//! so a listing and a verifier complaint about the same program read alike.

use netbase_uapi::linux as k;

use super::insn::*;

/// The text of the instruction at `slot` of `insns`, or `None` for the second slot of a
/// 64-bit immediate load (printed with the first). `label_at` names a jump's target.
pub(super) fn insn_text(
    insns: &[Insn],
    slot: usize,
    label_at: &dyn Fn(usize) -> Option<String>,
) -> Option<String> {
    if slot > 0 && insns[slot - 1].is_ld_imm64() {
        return None;
    }
    let i = insns[slot];
    let op = i.code & 0xf0;
    let text = match i.class() {
        ALU64 | ALU => alu(&i, i.class() == ALU64),
        LDX if i.code & 0xe0 == MEM => format!(
            "r{} = *({} *)(r{} {})",
            i.dst,
            size_name(i.code & 0x18),
            i.src,
            signed_offset(i.off)
        ),
        LD if i.is_ld_imm64() => {
            let hi = insns.get(slot + 1).map_or(0, |n| n.imm as u32);
            let value = u64::from(hi) << 32 | u64::from(i.imm as u32);
            if i.src == PSEUDO_MAP_FD {
                format!("r{} = map_fd({}) ll", i.dst, i.imm)
            } else {
                format!("r{} = {value:#x} ll", i.dst)
            }
        }
        JMP | JMP32 if op == CALL => format!("call {}", helper_name(i.imm)),
        JMP | JMP32 if op == EXIT => "exit".to_string(),
        JMP | JMP32 if op == JA => format!("goto {}", target(slot, i.off, label_at)),
        JMP | JMP32 => {
            let reg = if i.class() == JMP { 'r' } else { 'w' };
            let rhs = if i.code & 0x08 == X {
                format!("{reg}{}", i.src)
            } else {
                format!("{:#x}", i.imm)
            };
            format!(
                "if {reg}{} {} {rhs} goto {}",
                i.dst,
                cond_name(op),
                target(slot, i.off, label_at)
            )
        }
        _ => format!(".word {:#018x}", i.word()),
    };
    Some(text)
}

fn alu(i: &Insn, wide: bool) -> String {
    let reg = if wide { 'r' } else { 'w' };
    let op = i.code & 0xf0;
    let rhs = if i.code & 0x08 == X {
        format!("{reg}{}", i.src)
    } else if [Alu::And, Alu::Or, Alu::Xor].iter().any(|a| a.bits() == op) {
        format!("{:#x}", i.imm)
    } else {
        i.imm.to_string()
    };
    let sym = match op {
        o if o == Alu::Mov.bits() => "=",
        o if o == Alu::Add.bits() => "+=",
        o if o == Alu::Sub.bits() => "-=",
        o if o == Alu::And.bits() => "&=",
        o if o == Alu::Or.bits() => "|=",
        o if o == Alu::Xor.bits() => "^=",
        o if o == Alu::Lsh.bits() => "<<=",
        o if o == Alu::Rsh.bits() => ">>=",
        _ => return format!(".word {:#018x}", i.word()),
    };
    format!("{reg}{} {sym} {rhs}", i.dst)
}

fn size_name(bits: u8) -> &'static str {
    match bits {
        B => "u8",
        H => "u16",
        W => "u32",
        _ => "u64",
    }
}

fn cond_name(op: u8) -> &'static str {
    [
        (Cond::Eq, "=="),
        (Cond::Ne, "!="),
        (Cond::Gt, ">"),
        (Cond::Ge, ">="),
        (Cond::Lt, "<"),
        (Cond::Le, "<="),
    ]
    .iter()
    .find(|(c, _)| c.bits() == op)
    .map_or("?", |(_, s)| s)
}

fn signed_offset(off: i16) -> String {
    if off < 0 {
        format!("- {}", -i32::from(off))
    } else {
        format!("+ {off}")
    }
}

fn target(slot: usize, off: i16, label_at: &dyn Fn(usize) -> Option<String>) -> String {
    let to = slot as i64 + 1 + i64::from(off);
    let rel = if off < 0 {
        off.to_string()
    } else {
        format!("+{off}")
    };
    match usize::try_from(to).ok().and_then(label_at) {
        Some(name) => format!("{rel} <{name}>"),
        None => rel,
    }
}

fn helper_name(id: i32) -> String {
    match u32::try_from(id) {
        Ok(k::BPF_FUNC_redirect_map) => format!("bpf_redirect_map#{id}"),
        _ => format!("#{id}"),
    }
}
