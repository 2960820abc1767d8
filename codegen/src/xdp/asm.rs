//! A small assembler: instructions appended in order, jumps to named labels resolved to
//! relative offsets when the program is finished, comments kept for the listing.

use std::collections::BTreeMap;
use std::fmt;

use super::insn::*;

/// A jump target, declared with [`Asm::label`] and placed with [`Asm::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Why a program could not be assembled (a bug in the code that drives the assembler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsmError {
    /// A jump names a label that was never bound.
    Unbound(String),
    /// A label was bound twice.
    BoundTwice(String),
    /// A label was bound after the last instruction, where nothing can execute.
    PastEnd(String),
    /// The distance to the label does not fit the 16-bit jump offset.
    TooFar { label: String, from: usize },
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::Unbound(l) => write!(f, "label `{l}` is used but never bound"),
            AsmError::BoundTwice(l) => write!(f, "label `{l}` is bound twice"),
            AsmError::PastEnd(l) => write!(f, "label `{l}` is bound after the last instruction"),
            AsmError::TooFar { label, from } => {
                write!(f, "jump at {from} to `{label}` exceeds the 16-bit offset")
            }
        }
    }
}

impl std::error::Error for AsmError {}

/// An assembled program with what its listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub insns: Vec<Insn>,
    /// Slots holding a `BPF_PSEUDO_MAP_FD` load, whose `imm` receives the map's descriptor.
    pub map_fd_slots: Vec<usize>,
    /// Label names by the slot they mark.
    pub labels: BTreeMap<usize, Vec<String>>,
    /// A comment by the slot it explains.
    pub comments: BTreeMap<usize, String>,
}

/// The assembler. Errors are collected and reported by [`Asm::finish`], so emitting code
/// reads straight through.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    label_names: Vec<String>,
    label_at: Vec<Option<usize>>,
    /// (slot of the jump, its target).
    fixups: Vec<(usize, Label)>,
    map_fd_slots: Vec<usize>,
    comments: BTreeMap<usize, String>,
    pending_comment: Option<String>,
    errors: Vec<AsmError>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Declares a label; `name` is what the listing shows.
    pub fn label(&mut self, name: impl Into<String>) -> Label {
        self.label_names.push(name.into());
        self.label_at.push(None);
        Label(self.label_names.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub fn bind(&mut self, label: Label) {
        let here = self.insns.len();
        match &mut self.label_at[label.0] {
            Some(_) => self
                .errors
                .push(AsmError::BoundTwice(self.label_names[label.0].clone())),
            slot => *slot = Some(here),
        }
    }

    /// Attaches a comment to the next instruction (a later call before it replaces it).
    pub fn comment(&mut self, text: impl Into<String>) -> &mut Self {
        self.pending_comment = Some(text.into());
        self
    }

    /// The number of slots so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    fn push(&mut self, insn: Insn) -> usize {
        let at = self.insns.len();
        if let Some(c) = self.pending_comment.take() {
            self.comments.insert(at, c);
        }
        self.insns.push(insn);
        at
    }

    /// `dst = src` (64-bit).
    pub fn mov64(&mut self, dst: Reg, src: Reg) {
        self.alu64_reg(Alu::Mov, dst, src);
    }

    /// `dst = imm` (64-bit, `imm` sign-extended).
    pub fn mov64_imm(&mut self, dst: Reg, imm: i32) {
        self.alu64_imm(Alu::Mov, dst, imm);
    }

    /// `dst op= imm` on 64 bits.
    pub fn alu64_imm(&mut self, op: Alu, dst: Reg, imm: i32) {
        self.push(Insn {
            code: ALU64 | op.bits() | K,
            dst: dst.0,
            imm,
            ..Insn::default()
        });
    }

    /// `dst op= src` on 64 bits.
    pub fn alu64_reg(&mut self, op: Alu, dst: Reg, src: Reg) {
        self.push(Insn {
            code: ALU64 | op.bits() | X,
            dst: dst.0,
            src: src.0,
            ..Insn::default()
        });
    }

    /// `wdst op= imm` on the low 32 bits (the upper half becomes zero).
    pub fn alu32_imm(&mut self, op: Alu, dst: Reg, imm: i32) {
        self.push(Insn {
            code: ALU | op.bits() | K,
            dst: dst.0,
            imm,
            ..Insn::default()
        });
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.push(Insn {
            code: LDX | size.bits() | MEM,
            dst: dst.0,
            src: src.0,
            off,
            imm: 0,
        });
    }

    /// `dst = imm` for a 64-bit immediate (two slots).
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        let [a, b] = Insn::ld_imm64(dst, 0, imm);
        self.push(a);
        self.push(b);
    }

    /// `dst = <map>`: a map reference whose descriptor is patched in when loading (two
    /// slots, the first recorded in [`Assembled::map_fd_slots`]).
    pub fn ld_map_fd(&mut self, dst: Reg) {
        let [a, b] = Insn::ld_imm64(dst, PSEUDO_MAP_FD, 0);
        let at = self.push(a);
        self.push(b);
        self.map_fd_slots.push(at);
    }

    fn jump(&mut self, code: u8, dst: Reg, src: Reg, imm: i32, target: Label) {
        let at = self.push(Insn {
            code,
            dst: dst.0,
            src: src.0,
            off: 0,
            imm,
        });
        self.fixups.push((at, target));
    }

    /// `if dst <cond> imm goto target`, comparing all 64 bits (`imm` sign-extended).
    pub fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, target: Label) {
        self.jump(JMP | cond.bits() | K, dst, Reg(0), imm, target);
    }

    /// `if dst <cond> src goto target`, comparing all 64 bits.
    pub fn jmp_reg(&mut self, cond: Cond, dst: Reg, src: Reg, target: Label) {
        self.jump(JMP | cond.bits() | X, dst, src, 0, target);
    }

    /// `if wdst <cond> imm goto target`, comparing the low 32 bits only, so that `imm` is
    /// taken as the 32-bit pattern it is (no sign extension against a zero-extended load).
    pub fn jmp32_imm(&mut self, cond: Cond, dst: Reg, imm: u32, target: Label) {
        self.jump(JMP32 | cond.bits() | K, dst, Reg(0), imm as i32, target);
    }

    /// `goto target`.
    pub fn ja(&mut self, target: Label) {
        self.jump(JMP | JA, Reg(0), Reg(0), 0, target);
    }

    /// Calls helper number `helper` (`BPF_FUNC_*`); arguments in r1–r5, result in r0.
    pub fn call(&mut self, helper: u32) {
        self.push(Insn {
            code: JMP | CALL,
            imm: helper as i32,
            ..Insn::default()
        });
    }

    /// Returns r0.
    pub fn exit(&mut self) {
        self.push(Insn {
            code: JMP | EXIT,
            ..Insn::default()
        });
    }

    /// Resolves every jump: `off = target - (jump + 1)`.
    pub fn finish(mut self) -> Result<Assembled, Vec<AsmError>> {
        let end = self.insns.len();
        let mut labels: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (name, at) in self.label_names.iter().zip(&self.label_at) {
            match at {
                Some(at) if *at >= end => self.errors.push(AsmError::PastEnd(name.clone())),
                Some(at) => labels.entry(*at).or_default().push(name.clone()),
                None => {}
            }
        }
        for &(from, target) in &self.fixups {
            let name = &self.label_names[target.0];
            let Some(to) = self.label_at[target.0] else {
                self.errors.push(AsmError::Unbound(name.clone()));
                continue;
            };
            let delta = to as i64 - (from as i64 + 1);
            match i16::try_from(delta) {
                Ok(off) => self.insns[from].off = off,
                Err(_) => self.errors.push(AsmError::TooFar {
                    label: name.clone(),
                    from,
                }),
            }
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(Assembled {
            insns: self.insns,
            map_fd_slots: self.map_fd_slots,
            labels,
            comments: self.comments,
        })
    }
}
