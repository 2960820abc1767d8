//! Throw-away network namespaces for tests.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`nbt-<pid>-<counter>`) created with `ip netns add` and deleted
/// again when dropped, also while a failing test unwinds.
#[derive(Debug)]
pub struct TestNetns {
    name: String,
}

impl TestNetns {
    /// Creates a namespace with a name unique to this process.
    pub fn new() -> Result<Self, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("nbt-{}-{n}", std::process::id());
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`ip netns add {name}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TestNetns { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file that `setns` opens.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME <args>`; its stdout, or its stderr as the error.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`ip -n {} {}` failed ({}): {}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs `ip -n NAME <args>`, panicking with its stderr when it fails.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        self.try_ip(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `ip -n NAME <line>` for each whitespace-separated command line.
    #[track_caller]
    pub fn ip_lines(&self, lines: &[&str]) {
        for line in lines {
            let args: Vec<&str> = line.split_whitespace().collect();
            self.ip(&args);
        }
    }

    /// Runs `f` on a new thread that has entered this namespace (`setns(CLONE_NEWNET)`), and
    /// returns its result; a panic in `f` is re-raised here. Sockets created inside `f` stay in
    /// the namespace and may be returned and used from any thread.
    pub fn run<R, F>(&self, f: F) -> R
    where
        R: Send,
        F: FnOnce() -> R + Send,
    {
        let path = self.path();
        std::thread::scope(|s| {
            let handle = s.spawn(move || {
                enter_netns(&path);
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
#[track_caller]
pub fn enter_netns(path: &std::path::Path) {
    let file = File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: the fd is valid for the call; setns only changes this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        panic!(
            "setns({}) failed: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let res = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .output();
        match res {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: `ip netns del {}` failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("warning: cannot run `ip netns del {}`: {e}", self.name),
        }
    }
}
