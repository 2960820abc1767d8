//! Process helpers for supervisors: spawning children that die with their parent, and
//! signalling processes by pid.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Spawns `cmd` so that the kernel sends the child `SIGKILL` when the spawning thread exits
/// (`PR_SET_PDEATHSIG`), however it exits, `SIGKILL` included: tiles never outlive their
/// supervisor. Call it from a thread that lives as long as the supervisor (the main thread):
/// the signal is tied to the parent *thread*.
///
/// If the parent is already gone by the time the child has armed the signal, the spawn fails
/// with `ESRCH` instead of leaving an orphan that would never get it.
pub fn spawn_with_parent_death(cmd: &mut Command) -> io::Result<Child> {
    spawn_with_parent_death_keeping(cmd, &[])
}

/// [`spawn_with_parent_death`], and the child inherits the descriptors `keep` under the same
/// numbers (their close-on-exec flag is cleared in the child only): how a supervisor hands a
/// tile an object it created, such as the XSKMAP of an XDP program it attached. Every other
/// descriptor the Rust standard library opened stays close-on-exec.
pub fn spawn_with_parent_death_keeping(cmd: &mut Command, keep: &[RawFd]) -> io::Result<Child> {
    // Read before fork: in the child, getppid() must still name this process.
    let parent = std::process::id() as libc::pid_t;
    let keep: Vec<RawFd> = keep.to_vec();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed (another thread of the parent may have held the allocator lock
    // at fork time). It calls prctl, getppid and fcntl, all plain system calls listed as
    // async-signal-safe, reads `keep` (allocated before the fork, only borrowed here) and
    // builds an io::Error from a raw errno, which stores an integer and does not allocate.
    // It touches no other parent state. fcntl on a descriptor that is not open fails with
    // EBADF, which is reported, never undefined.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then the child was already
            // reparented and the death signal will never come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            for &fd in &keep {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Sends signal `sig` to process `pid`. Refuses pids that would address a process group or
/// every process (`pid <= 0`), so a garbled pid file cannot turn into `kill(-1, …)`.
pub fn send_signal(pid: i32, sig: i32) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal pid {pid}"),
        ));
    }
    // SAFETY: kill has no memory-safety preconditions; `pid > 0` names exactly one process.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether process `pid` no longer exists (`kill(pid, 0)` fails with `ESRCH`). A process we may
/// not signal (`EPERM`) exists; so does a zombie, until its parent reaps it. Only a true answer
/// is certain, which is what reclaiming a dead process's resources needs.
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match send_signal(pid, 0) {
        Ok(()) => false,
        Err(e) => e.raw_os_error() == Some(libc::ESRCH),
    }
}

/// The conventional name of a signal number (`SIGSEGV`), or `None` for one without a
/// well-known name.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_child_runs_and_can_be_signalled() {
        let mut child = spawn_with_parent_death(Command::new("sleep").arg("30")).unwrap();
        send_signal(child.id() as i32, libc::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn refuses_group_pids_and_names_signals() {
        assert!(send_signal(0, libc::SIGTERM).is_err());
        assert!(send_signal(-1, libc::SIGTERM).is_err());
        assert_eq!(signal_name(libc::SIGSEGV), Some("SIGSEGV"));
        assert_eq!(signal_name(1000), None);
    }

    #[test]
    fn kept_descriptors_are_inherited_and_others_are_not() {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = file.as_raw_fd();
        let probe = format!("test -e /proc/self/fd/{fd}");
        let inherited = |keep: &[RawFd]| {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &probe]);
            spawn_with_parent_death_keeping(&mut cmd, keep)
                .unwrap()
                .wait()
                .unwrap()
                .success()
        };
        assert!(!inherited(&[]), "std opens files close-on-exec");
        assert!(inherited(&[fd]));
        let mut cmd = Command::new("true");
        assert!(spawn_with_parent_death_keeping(&mut cmd, &[987_654]).is_err());
    }
}
