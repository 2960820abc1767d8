//! Loading an XDP program from instruction words, and running it on a test packet.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use netbase_uapi::linux as k;

use super::sys::{addr, bpf, bpf_fd, object_name, zeroed_attr};
use super::InsnWord;

/// The license string the kernel checks for GPL-only helpers.
const LICENSE: &[u8] = b"GPL\0";

/// First size of the verifier log buffer; doubled on ENOSPC (the log did not fit).
const LOG_START_BYTES: usize = 256 * 1024;
/// The largest verifier log kept; a program whose log is longer is far past anything the
/// emitter produces, and the truncated log still shows where verification went wrong.
const LOG_MAX_BYTES: usize = 16 * 1024 * 1024;

/// How to load a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load with `BPF_F_XDP_HAS_FRAGS` (multi-buffer XDP, Linux 5.18+): needed to attach in
    /// native mode to devices whose MTU exceeds one page of frame (veth: above ~3500).
    pub xdp_has_frags: bool,
    /// Verifier log level. 0: no log on success; on failure the load is repeated with level 1
    /// to get one. Above 0: that level on the first attempt, and the log is kept
    /// ([`XdpProgram::verifier_log`]).
    pub log_level: u32,
    /// The program's name as `bpftool` shows it: at most 15 of `[A-Za-z0-9_.]`, other
    /// characters are replaced by `_` and the rest is cut.
    pub name: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            xdp_has_frags: false,
            log_level: 0,
            name: "netbase_xdp".to_string(),
        }
    }
}

/// A failed [`XdpProgram::load`].
#[derive(Debug)]
pub enum LoadError {
    /// The verifier rejected the program; `log` is its explanation (the last lines name the
    /// instruction and the reason).
    Verifier { errno: io::Error, log: String },
    /// The load failed without a verifier explanation (bad attributes, missing privilege,
    /// unsupported flags, out of memory).
    Io(io::Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Verifier { errno, log } => {
                write!(
                    f,
                    "the BPF verifier rejected the XDP program ({errno}):\n{log}"
                )
            }
            LoadError::Io(e) => write!(f, "cannot load the XDP program: {e}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Verifier { errno, .. } => Some(errno),
            LoadError::Io(e) => Some(e),
        }
    }
}

impl From<LoadError> for io::Error {
    fn from(e: LoadError) -> io::Error {
        match e {
            LoadError::Io(e) => e,
            LoadError::Verifier { ref errno, .. } => io::Error::new(errno.kind(), e.to_string()),
        }
    }
}

/// The context a test run hands the program in place of a real receive queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCtx {
    /// An interface of the calling thread's namespace (0: none; then `rx_queue_index` must
    /// be 0 too).
    pub ingress_ifindex: u32,
    /// A receive queue of that interface (below its number of queues).
    pub rx_queue_index: u32,
}

/// What a test run returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value (`XDP_PASS`, …).
    pub verdict: u32,
    /// The packet as the program left it.
    pub data_out: Vec<u8>,
    /// Run time reported by the kernel, in nanoseconds.
    pub duration_ns: u32,
}

/// `struct xdp_md` of `<linux/bpf.h>` (not in the bindgen output): the context passed as
/// `ctx_in` of a test run. Offsets are ABI, see the assertions below.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

const _: () = {
    assert!(std::mem::size_of::<XdpMd>() == 24);
    assert!(std::mem::offset_of!(XdpMd, data_end) == 4);
    assert!(std::mem::offset_of!(XdpMd, ingress_ifindex) == 12);
    assert!(std::mem::offset_of!(XdpMd, rx_queue_index) == 16);
    assert!(std::mem::offset_of!(XdpMd, egress_ifindex) == 20);
};

/// A loaded `BPF_PROG_TYPE_XDP` program; the descriptor is closed on drop (the kernel keeps
/// the program while a link or an attachment still uses it).
pub struct XdpProgram {
    fd: OwnedFd,
    log: String,
}

impl XdpProgram {
    /// Loads `insns` as an XDP program (license "GPL", expected attach type `BPF_XDP`). Maps
    /// the program names must already be patched in as `BPF_PSEUDO_MAP_FD` loads.
    pub fn load(insns: &[InsnWord], opts: &LoadOptions) -> Result<XdpProgram, LoadError> {
        if cfg!(target_endian = "big") {
            return Err(LoadError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "instruction words are little-endian; this host is big-endian",
            )));
        }
        let insn_cnt = u32::try_from(insns.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                LoadError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a program needs 1 to 2^32-1 instructions, not {}",
                        insns.len()
                    ),
                ))
            })?;
        let loaded = if opts.log_level == 0 {
            match attempt(insns, insn_cnt, opts) {
                Ok(fd) => Ok((fd, String::new())),
                // The quiet attempt says only "EACCES"; the same load with a log says why.
                Err(_) => attempt_logged(insns, insn_cnt, opts, 1),
            }
        } else {
            attempt_logged(insns, insn_cnt, opts, opts.log_level)
        };
        match loaded {
            Ok((fd, log)) => Ok(XdpProgram { fd, log }),
            Err((err, log)) => Err(classify(err, log, opts)),
        }
    }

    /// The program's descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The verifier log of a load with `log_level` above 0 (empty otherwise).
    pub fn verifier_log(&self) -> &str {
        &self.log
    }

    /// Runs the program once on `packet` (`BPF_PROG_TEST_RUN`), without any interface: a
    /// redirect is reported as the `XDP_REDIRECT` verdict but not carried out. `ctx` sets the
    /// receive interface and queue the program sees (the interface must be in the calling
    /// thread's namespace and the queue must exist, else EINVAL / ENODEV); without it the
    /// program sees queue 0 of no interface. The kernel refuses packets shorter than an
    /// Ethernet header (EINVAL).
    pub fn test_run(&self, packet: &[u8], ctx: Option<TestCtx>) -> io::Result<TestRunResult> {
        let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "test packet too large");
        let size = u32::try_from(packet.len()).map_err(|_| too_large())?;
        let c = ctx.unwrap_or_default();
        // A context is always passed (all-zero interface and queue mean "none"), so that the
        // kernel also returns one, which says where the frame starts after the run.
        let md_in = XdpMd {
            data_end: size,
            ingress_ifindex: c.ingress_ifindex,
            rx_queue_index: c.rx_queue_index,
            ..XdpMd::default()
        };
        let mut md_out = XdpMd::default();
        // Room for a program that grows the packet by up to a page (bpf_xdp_adjust_tail);
        // if it grows more, the kernel says how much (ENOSPC) and the run is repeated once.
        let mut out = vec![0u8; packet.len() + 4096];
        let mut retried = false;
        loop {
            let mut attr = zeroed_attr();
            attr.test.prog_fd = self.fd.as_raw_fd() as u32;
            attr.test.data_in = addr(packet);
            attr.test.data_size_in = size;
            attr.test.data_out = addr(out.as_mut_ptr());
            attr.test.data_size_out = u32::try_from(out.len()).map_err(|_| too_large())?;
            attr.test.repeat = 1;
            attr.test.ctx_in = addr(&md_in);
            attr.test.ctx_size_in = std::mem::size_of::<XdpMd>() as u32;
            attr.test.ctx_out = addr(&mut md_out as *mut XdpMd);
            attr.test.ctx_size_out = std::mem::size_of::<XdpMd>() as u32;
            // SAFETY: `packet` and `md_in` are live for the call and only read by the kernel;
            // `out` (exactly `data_size_out` bytes) and `md_out` (exactly `ctx_size_out`
            // bytes) are exclusively borrowed and the only memory it writes through.
            let rc = unsafe { bpf(k::BPF_PROG_TEST_RUN, &mut attr) };
            // SAFETY: reading the variant this call used; all its fields are plain integers
            // and the whole union was zeroed first.
            let t = unsafe { attr.test };
            match rc {
                Ok(_) => {
                    let end = (t.data_size_out as usize).min(out.len());
                    // The output starts at the metadata, which the program may have added.
                    let start = (md_out.data as usize).min(end);
                    return Ok(TestRunResult {
                        verdict: t.retval,
                        data_out: out[start..end].to_vec(),
                        duration_ns: t.duration,
                    });
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOSPC)
                        && !retried
                        && t.data_size_out as usize > out.len() =>
                {
                    retried = true;
                    out = vec![0u8; t.data_size_out as usize];
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("fd", &self.fd.as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// One `BPF_PROG_LOAD` without a verifier log.
fn attempt(insns: &[InsnWord], insn_cnt: u32, opts: &LoadOptions) -> io::Result<OwnedFd> {
    load_with_log(insns, insn_cnt, opts, 0, &mut [])
}

/// One `BPF_PROG_LOAD`; an empty `log` means no log at all.
fn load_with_log(
    insns: &[InsnWord],
    insn_cnt: u32,
    opts: &LoadOptions,
    log_level: u32,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    attr.__bindgen_anon_3.prog_type = k::BPF_PROG_TYPE_XDP;
    attr.__bindgen_anon_3.insn_cnt = insn_cnt;
    attr.__bindgen_anon_3.insns = addr(insns);
    attr.__bindgen_anon_3.license = addr(LICENSE);
    attr.__bindgen_anon_3.expected_attach_type = k::BPF_XDP;
    attr.__bindgen_anon_3.prog_name = object_name(&opts.name);
    if opts.xdp_has_frags {
        attr.__bindgen_anon_3.prog_flags = k::BPF_F_XDP_HAS_FRAGS;
    }
    if !log.is_empty() {
        attr.__bindgen_anon_3.log_level = log_level;
        attr.__bindgen_anon_3.log_buf = addr(log.as_mut_ptr());
        attr.__bindgen_anon_3.log_size = log.len() as u32;
    }
    // SAFETY: `insns` (insn_cnt words of 8 bytes, the kernel's `struct bpf_insn` on this
    // little-endian host) and `LICENSE` (NUL-terminated) are live and only read; `log` is an
    // exclusively borrowed buffer of exactly `log_size` bytes, the only memory written.
    unsafe { bpf_fd(k::BPF_PROG_LOAD, &mut attr) }
}

/// A load with a verifier log at `log_level`, growing the buffer while the log does not fit
/// (ENOSPC). Returns the log with the descriptor or with the error.
fn attempt_logged(
    insns: &[InsnWord],
    insn_cnt: u32,
    opts: &LoadOptions,
    log_level: u32,
) -> Result<(OwnedFd, String), (io::Error, String)> {
    let mut size = LOG_START_BYTES;
    loop {
        let mut buf = vec![0u8; size];
        let rc = load_with_log(insns, insn_cnt, opts, log_level, &mut buf);
        let text = log_text(&buf);
        match rc {
            Ok(fd) => return Ok((fd, text)),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && size < LOG_MAX_BYTES => {
                size *= 2;
            }
            Err(e) => return Err((e, text)),
        }
    }
}

/// The NUL-terminated log the kernel wrote.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim_end().to_string()
}

fn classify(err: io::Error, log: String, opts: &LoadOptions) -> LoadError {
    if !log.trim().is_empty() {
        return LoadError::Verifier { errno: err, log };
    }
    if err.raw_os_error() == Some(libc::EINVAL) && opts.xdp_has_frags {
        // Kernels before 5.18 reject the unknown flag before verifying anything, so there is
        // no log to show: name the likely cause instead of a bare EINVAL.
        return LoadError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "BPF_PROG_LOAD failed with EINVAL ({err}) while BPF_F_XDP_HAS_FRAGS was set: \
                 this kernel probably does not support multi-buffer XDP (Linux 5.18+); \
                 load without xdp_has_frags and keep the interface MTU within one page"
            ),
        ));
    }
    LoadError::Io(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(on: bool) -> LoadOptions {
        LoadOptions {
            xdp_has_frags: on,
            ..LoadOptions::default()
        }
    }

    #[test]
    fn a_log_makes_a_verifier_error() {
        let e = classify(
            io::Error::from_raw_os_error(libc::EACCES),
            "0: R1 invalid mem access".into(),
            &frags(true),
        );
        assert!(matches!(e, LoadError::Verifier { .. }));
        assert!(e.to_string().contains("R1 invalid mem access"), "{e}");
    }

    #[test]
    fn einval_with_frags_names_the_flag() {
        let e = classify(
            io::Error::from_raw_os_error(libc::EINVAL),
            String::new(),
            &frags(true),
        );
        let text = e.to_string();
        assert!(matches!(e, LoadError::Io(_)));
        assert!(text.contains("BPF_F_XDP_HAS_FRAGS"), "{text}");
        assert!(text.contains("EINVAL"), "{text}");
        let e = classify(
            io::Error::from_raw_os_error(libc::EINVAL),
            String::new(),
            &frags(false),
        );
        assert!(!e.to_string().contains("FRAGS"), "{e}");
        let e = classify(
            io::Error::from_raw_os_error(libc::EPERM),
            String::new(),
            &frags(true),
        );
        assert!(!e.to_string().contains("FRAGS"), "{e}");
    }

    #[test]
    fn log_text_stops_at_nul() {
        assert_eq!(log_text(b"line 1\nline 2\n\0garbage"), "line 1\nline 2");
        assert_eq!(log_text(b"no nul"), "no nul");
    }
}
