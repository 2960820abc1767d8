//! The `bpf(2)` system call, as far as an XDP data path needs it: an XSKMAP that steers frames
//! to AF_XDP sockets, loading an XDP program from raw instructions, running it on a test
//! packet, and attaching it to an interface through a BPF link.
//!
//! Nothing here needs clang, libbpf, ELF files or bpffs: the program arrives as instruction
//! words (netbase-codegen's `xdp` emitter produces them), and every object is a file
//! descriptor that this process owns. Dropping an object closes its descriptor; for
//! [`XdpLink`] that detaches the program from the interface, so a crashed tile never leaves a
//! stale program behind.
//!
//! Attributes are built in the bindgen `bpf_attr` union of `netbase-uapi`, zeroed first: the
//! kernel rejects a command whose unused attribute bytes are not zero.
//!
//! Memory: `RLIMIT_MEMLOCK` is not raised. Kernels since 5.11 charge BPF maps and programs to
//! the memory cgroup instead, and a refused raise (no `CAP_SYS_RESOURCE`) would only turn a
//! working setup into an error.
//!
//! Byte order: instruction words are little-endian (see [`InsnWord`]); on a big-endian host
//! [`XdpProgram::load`] refuses them instead of loading garbage.

mod link;
mod map;
mod prog;
mod sys;

pub use link::{AttachMode, XdpLink};
pub use map::XskMap;
pub use prog::{LoadError, LoadOptions, TestCtx, TestRunResult, XdpProgram};

use netbase_uapi::linux;

/// One instruction encoded as the kernel reads it (8 bytes: `code` u8, `dst:4|src:4` u8 with
/// `dst` in the low nibble, `off` i16 LE, `imm` i32 LE), as a little-endian `u64` word: byte
/// `i` of the instruction is bits `8*i..8*i+8`. A 64-bit immediate load takes two words.
pub type InsnWord = u64;

/// XDP verdict: error; the frame is dropped and a tracepoint fires.
pub const XDP_ABORTED: u32 = linux::XDP_ABORTED;
/// XDP verdict: drop the frame.
pub const XDP_DROP: u32 = linux::XDP_DROP;
/// XDP verdict: hand the frame to the kernel's network stack.
pub const XDP_PASS: u32 = linux::XDP_PASS;
/// XDP verdict: send the frame back out of the interface it came in on.
pub const XDP_TX: u32 = linux::XDP_TX;
/// XDP verdict: redirect (to an AF_XDP socket through an XSKMAP, here).
pub const XDP_REDIRECT: u32 = linux::XDP_REDIRECT;
