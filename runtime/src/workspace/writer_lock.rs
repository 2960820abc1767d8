//! The single-writer lock: an exclusive `flock` on the workspace file.
//!
//! `flock` rather than a flag in the header because the kernel drops the lock when the last
//! descriptor of the holder's open file goes away, including when the writer is killed, so a
//! crashed writer can never block its successor and no stale-lock heuristics are needed.
//! Workspace files are opened `O_CLOEXEC` (std's default), so a child the writer spawns does not
//! inherit the descriptor and keep the lock alive after the writer dies. Readers take no lock at
//! all, so nothing a reader does can delay the writer.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Tries to take the writer lock without waiting: `Ok(false)` if another open file (in this or
/// another process) holds it.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock only operates on the descriptor number, which `file` keeps open for the
        // whole call; it touches no memory of ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}
