//! eBPF instructions: the fields, their 8-byte encoding, and the opcode parts this emitter
//! uses (values from the kernel UAPI, `netbase-uapi`).

use netbase_uapi::linux as k;

/// One eBPF instruction slot. A 64-bit immediate load ([`Insn::ld_imm64`]) takes two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Class | size/op | mode/source bits.
    pub code: u8,
    /// Destination register (4 bits).
    pub dst: u8,
    /// Source register (4 bits), or a pseudo-source tag such as `BPF_PSEUDO_MAP_FD`.
    pub src: u8,
    /// Memory offset, or jump offset in instructions relative to the next one.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// The instruction as the kernel's `struct bpf_insn` lays it out on a little-endian
    /// host, read as a little-endian `u64`: `code`, then `dst` in the low and `src` in the
    /// high nibble, then `off`, then `imm`.
    pub fn word(&self) -> u64 {
        u64::from(self.code)
            | u64::from(self.dst & 0xf) << 8
            | u64::from(self.src & 0xf) << 12
            | u64::from(self.off as u16) << 16
            | u64::from(self.imm as u32) << 32
    }

    /// Inverse of [`Insn::word`].
    pub fn from_word(w: u64) -> Insn {
        Insn {
            code: w as u8,
            dst: (w >> 8) as u8 & 0xf,
            src: (w >> 12) as u8 & 0xf,
            off: (w >> 16) as u16 as i16,
            imm: (w >> 32) as u32 as i32,
        }
    }

    /// The two slots of `dst = imm` for a 64-bit immediate (`BPF_LD | BPF_DW | BPF_IMM`),
    /// with `src` as the pseudo-source tag (0 for a plain number).
    pub fn ld_imm64(dst: Reg, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn {
                code: LD | DW | IMM,
                dst: dst.0,
                src,
                off: 0,
                imm: imm as u32 as i32,
            },
            Insn {
                imm: (imm >> 32) as u32 as i32,
                ..Insn::default()
            },
        ]
    }

    /// The instruction's class (`BPF_LD` … `BPF_ALU64`).
    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    /// Whether it is the first slot of a 64-bit immediate load (so the next slot belongs to
    /// it).
    pub fn is_ld_imm64(&self) -> bool {
        self.code == LD | DW | IMM
    }

    /// Whether it jumps by `off` (conditional jumps and `goto`, not calls or exit).
    pub fn is_jump(&self) -> bool {
        let op = self.code & 0xf0;
        matches!(self.class(), JMP | JMP32) && op != CALL && op != EXIT
    }
}

/// A register `r0` … `r10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

/// Return value and helper result.
pub const R0: Reg = Reg(0);
/// First argument; the program's context on entry.
pub const R1: Reg = Reg(1);
/// Second argument.
pub const R2: Reg = Reg(2);
/// Third argument.
pub const R3: Reg = Reg(3);
/// Fourth argument.
pub const R4: Reg = Reg(4);
/// Fifth argument.
pub const R5: Reg = Reg(5);
/// Callee-saved.
pub const R6: Reg = Reg(6);
/// Read-only frame pointer.
pub const R10: Reg = Reg(10);

/// Access width of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub(crate) fn bits(self) -> u8 {
        match self {
            Size::B => B,
            Size::H => H,
            Size::W => W,
            Size::DW => DW,
        }
    }
}

/// ALU operations (`BPF_ADD` …), as the high nibble of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
    Mov,
}

impl Alu {
    pub(crate) fn bits(self) -> u8 {
        (match self {
            Alu::Add => k::BPF_ADD,
            Alu::Sub => k::BPF_SUB,
            Alu::And => k::BPF_AND,
            Alu::Or => k::BPF_OR,
            Alu::Xor => k::BPF_XOR,
            Alu::Lsh => k::BPF_LSH,
            Alu::Rsh => k::BPF_RSH,
            Alu::Mov => k::BPF_MOV,
        }) as u8
    }
}

/// Conditions of a conditional jump (unsigned where it matters), as the high nibble of the
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cond {
    pub(crate) fn bits(self) -> u8 {
        (match self {
            Cond::Eq => k::BPF_JEQ,
            Cond::Ne => k::BPF_JNE,
            Cond::Gt => k::BPF_JGT,
            Cond::Ge => k::BPF_JGE,
            Cond::Lt => k::BPF_JLT,
            Cond::Le => k::BPF_JLE,
        }) as u8
    }
}

pub(crate) const LD: u8 = k::BPF_LD as u8;
pub(crate) const LDX: u8 = k::BPF_LDX as u8;
pub(crate) const ALU: u8 = k::BPF_ALU as u8;
pub(crate) const JMP: u8 = k::BPF_JMP as u8;
pub(crate) const JMP32: u8 = k::BPF_JMP32 as u8;
pub(crate) const ALU64: u8 = k::BPF_ALU64 as u8;
pub(crate) const W: u8 = k::BPF_W as u8;
pub(crate) const H: u8 = k::BPF_H as u8;
pub(crate) const B: u8 = k::BPF_B as u8;
pub(crate) const DW: u8 = k::BPF_DW as u8;
pub(crate) const IMM: u8 = k::BPF_IMM as u8;
pub(crate) const MEM: u8 = k::BPF_MEM as u8;
pub(crate) const K: u8 = k::BPF_K as u8;
pub(crate) const X: u8 = k::BPF_X as u8;
pub(crate) const JA: u8 = k::BPF_JA as u8;
pub(crate) const CALL: u8 = k::BPF_CALL as u8;
pub(crate) const EXIT: u8 = k::BPF_EXIT as u8;
/// `src` tag of a 64-bit immediate load whose `imm` is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = k::BPF_PSEUDO_MAP_FD as u8;
