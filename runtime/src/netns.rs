//! Throw-away Linux network namespaces driven with `ip`, for `netbase bench netlink`, demos and
//! the privileged tests.
//!
//! A [`Netns`] is created with `ip netns add NAME` (so it appears as `/run/netns/NAME`), is
//! configured with `ip -n NAME …` ([`Netns::ip`], [`Netns::ip_batch`]) and is deleted with
//! `ip netns del NAME` when the guard is dropped, also while a panic unwinds. Code that must
//! open sockets inside it runs on a thread that entered it ([`Netns::run`], [`Netns::enter`]);
//! sockets keep their namespace, so they may be returned and used from any thread.
//!
//! # Privilege policy of the tests
//!
//! Creating a namespace needs root (and the `ip` tool). A privileged test that cannot get one
//! calls [`privileged_or_skip`] (or uses [`netns_or_skip`] / [`namespaces_or_skip`], which do):
//! with `NETBASE_REQUIRE_PRIVILEGED=1` the test fails with the reason; otherwise it prints
//! `skipped: <reason>` to stderr and the test returns early, passing.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// With this environment variable set to `1`, a privileged test that cannot run fails instead
/// of skipping.
pub const REQUIRE_PRIVILEGED_ENV: &str = "NETBASE_REQUIRE_PRIVILEGED";

/// Where `ip netns add` makes the namespace files that `setns` opens.
pub const NETNS_DIR: &str = "/run/netns";

/// A failed namespace operation: what was attempted and why it failed (`ip`'s stderr when it
/// ran and refused).
#[derive(Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.0
    }
}

/// Runs `ip <args>`; its stdout, or an error carrying its stderr.
fn run_ip(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error(format!("cannot run `ip`: {e}")))?;
    check("ip", args, out)
}

fn check(what: &str, args: &[&str], out: Output) -> Result<String, Error> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error(format!(
            "`{what} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace made with `ip netns add`, deleted when dropped (also while unwinding).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `name`; fails if it exists, without root, or without `ip`.
    pub fn create(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        run_ip(&["netns", "add", &name])?;
        Ok(Netns { name })
    }

    /// Creates a namespace named `<prefix>-<pid>-<n>`, with `n` counting up in this process, so
    /// that concurrent tests and processes do not collide.
    pub fn unique(prefix: &str) -> Result<Self, Error> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Netns::create(format!("{prefix}-{}-{n}", std::process::id()))
    }

    /// The namespace's name (as `ip netns` and `ip -n` know it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file that `setns` opens (`/run/netns/NAME`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// Runs `ip -n NAME <args>`; its stdout, or an error carrying its stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String, Error> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// [`Netns::ip`] with the arguments given as one whitespace-separated line.
    pub fn ip_line(&self, line: &str) -> Result<String, Error> {
        self.ip(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// [`Netns::ip_line`] for each line in turn, stopping at the first failure.
    pub fn ip_lines(&self, lines: &[&str]) -> Result<(), Error> {
        lines.iter().try_for_each(|l| self.ip_line(l).map(drop))
    }

    /// Feeds `script` (one `ip` command a line, without `ip`) to `ip -n NAME -batch -`.
    pub fn ip_batch(&self, script: &str) -> Result<(), Error> {
        let mut child = self.spawn_batch(&[])?;
        let fed = child
            .stdin
            .take()
            .expect("spawn_batch pipes stdin")
            .write_all(script.as_bytes());
        let out = child
            .wait_with_output()
            .map_err(|e| Error(format!("cannot wait for `ip -batch`: {e}")))?;
        check("ip -n", &[&self.name, "-batch", "-"], out)?;
        fed.map_err(|e| Error(format!("cannot feed `ip -batch`: {e}")))
    }

    /// Starts `ip -n NAME <flags> -batch -` reading commands from its (piped) stdin; stdout is
    /// discarded, stderr piped. `flags` are e.g. `["-force"]` to go on after a failed command.
    pub fn spawn_batch(&self, flags: &[&str]) -> Result<Child, Error> {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(flags)
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error(format!("cannot run `ip -batch`: {e}")))
    }

    /// Moves the calling thread (only it) into this namespace. Use a thread of its own, or
    /// [`Netns::run`]: a thread cannot leave again without a handle on its old namespace.
    pub fn enter(&self) -> Result<(), Error> {
        let path = self.path();
        let file =
            File::open(&path).map_err(|e| Error(format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: setns(2) only reads the descriptor, which `file` keeps open across the call,
        // and changes the network namespace of the calling thread alone; no memory is shared.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(Error(format!(
                "setns({}) failed: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    /// Runs `f` on a new thread that entered this namespace and returns its result; a panic in
    /// `f` (or failing to enter the namespace) is raised again here.
    pub fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        std::thread::scope(|s| {
            let handle = s.spawn(|| {
                self.enter().unwrap_or_else(|e| panic!("{e}"));
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// Whether privileged tests must run (`NETBASE_REQUIRE_PRIVILEGED=1`).
pub fn privileged_required() -> bool {
    std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1")
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The privilege policy for a test that cannot run for `reason`: with
/// `NETBASE_REQUIRE_PRIVILEGED=1` this panics with the reason; otherwise it prints
/// `skipped: <reason>` to stderr, and the caller returns early.
#[track_caller]
pub fn privileged_or_skip(reason: &str) {
    if privileged_required() {
        panic!("privileged test cannot run ({REQUIRE_PRIVILEGED_ENV}=1): {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// `n` fresh namespaces named after `prefix` (see [`Netns::unique`]), or `None` after
/// [`privileged_or_skip`] when they cannot be made (not root, no `ip`, refused). Typical use:
///
/// ```no_run
/// # use netbase_runtime::netns::namespaces_or_skip;
/// let Some([a, b]) = namespaces_or_skip::<2>("nbt") else { return };
/// a.ip(&["link", "set", "lo", "up"]).unwrap();
/// # drop(b);
/// ```
#[track_caller]
pub fn namespaces_or_skip<const N: usize>(prefix: &str) -> Option<[Netns; N]> {
    let made = if is_root() {
        (0..N)
            .map(|_| Netns::unique(prefix))
            .collect::<Result<Vec<_>, _>>()
            .map_err(String::from)
    } else {
        Err("needs root to create network namespaces".to_string())
    };
    match made {
        Ok(v) => Some(v.try_into().expect("N namespaces")),
        Err(reason) => {
            privileged_or_skip(&reason);
            None
        }
    }
}

/// One fresh namespace, or `None` after [`privileged_or_skip`]: see [`namespaces_or_skip`].
#[track_caller]
pub fn netns_or_skip(prefix: &str) -> Option<Netns> {
    namespaces_or_skip::<1>(prefix).map(|[ns]| ns)
}
