//! The XDP program of a net tile's interface, emitted as raw eBPF instructions: no clang,
//! libbpf or ELF. The runtime (`netbase_runtime::bpf`) loads the words of
//! [`XdpProgramCode::words`] after patching in its XSKMAP descriptor.
//!
//! - [`XdpSpec`]: what to redirect (UDP ports, optional destination address), usually from a
//!   plan ([`XdpSpec::from_plan`]);
//! - [`emit`]: the program (see [`program`] for what it checks and why);
//! - [`Asm`]: the assembler it is written with, labels resolved to jump offsets;
//! - [`XdpProgramCode::disassemble`]: a readable listing, as `netbase compile` shows it.

mod asm;
mod disasm;
mod insn;
pub mod program;
mod spec;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use asm::{Asm, AsmError, Assembled, Label};
pub use insn::{Alu, Cond, Insn, Reg, Size, PSEUDO_MAP_FD, R0, R1, R10, R2, R3, R4, R5, R6};
pub use program::emit;
pub use spec::{XdpSpec, MAX_UDP_PORTS};

/// An emitted program: instructions plus where the XSKMAP descriptor goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpProgramCode {
    pub insns: Vec<Insn>,
    /// Slots of the `BPF_PSEUDO_MAP_FD` loads that name the XSKMAP.
    pub map_fd_slots: Vec<usize>,
    labels: BTreeMap<usize, Vec<String>>,
    comments: BTreeMap<usize, String>,
    summary: String,
}

impl XdpProgramCode {
    /// The instruction words to load, with `xskmap_fd` in every map slot.
    pub fn words(&self, xskmap_fd: i32) -> Vec<u64> {
        let mut insns = self.insns.clone();
        for &slot in &self.map_fd_slots {
            if let Some(i) = insns.get_mut(slot) {
                i.imm = xskmap_fd;
            }
        }
        insns.iter().map(Insn::word).collect()
    }

    /// The listing: a summary line, then one instruction a line with its slot number,
    /// labels on lines of their own and comments after `;`.
    pub fn disassemble(&self) -> String {
        let label_at = |slot: usize| self.labels.get(&slot).map(|names| names.join(", "));
        let mut out = format!("; {}\n", self.summary);
        for slot in 0..self.insns.len() {
            let Some(text) = disasm::insn_text(&self.insns, slot, &label_at) else {
                continue;
            };
            if let Some(names) = self.labels.get(&slot) {
                for name in names {
                    out.push_str(&format!("{name}:\n"));
                }
            }
            let line = format!("{slot:>6}: {text}");
            match self.comments.get(&slot) {
                Some(c) => out.push_str(&format!("{line:<48} ; {c}\n")),
                None => out.push_str(&format!("{line}\n")),
            }
        }
        out
    }
}
