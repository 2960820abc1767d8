//! Dropping privileges once a tile's setup is done: close every descriptor the tile does not
//! use, optionally become an unprivileged user, keep only the named capabilities, set
//! no-new-privs, and read back from `/proc/self/status` what holds afterwards.
//!
//! A tile runs as its own process, started as root by `netbase run`. Setup needs root (opening
//! AF_XDP and raw sockets, loading and attaching XDP, forcing socket buffers, mapping the
//! workspaces); the packet loop that follows reads untrusted input and needs almost nothing.
//! [`drop_privileges`] is the line between the two. It is meant to be called once, from the
//! tile's main thread, while the process is still single-threaded, and a tile must exit
//! (never carry on) when it fails: a failed drop can leave the process half-way.
//!
//! # What each tile kind needs after setup
//!
//! Measured on this project's kernel (Linux 6.18, root, inside `ip netns` namespaces), by
//! opening everything as root, dropping with [`drop_privileges`], then making the calls the
//! tile makes in its loop:
//!
//! | tile kind | capabilities kept | why |
//! |---|---|---|
//! | `netlink` | `CAP_NET_ADMIN`, or none | `RTM_NEWNEIGH` with `NTF_USE` (the kernel-driven neighbour probe) is checked at *send* time, against the sending task's capabilities (`netlink_net_capable`: the opener's *and* the current task's): on a socket opened as root, after the drop it is answered with `EPERM`. Without it the tile falls back to the UDP probe (an empty datagram, TTL 1), which needs nothing. Dumps, joining the route, link and neighbour groups and opening new netlink sockets need nothing, also as `nobody`; a request socket reopened after a failed dump gets `EPERM` for `SO_RCVBUFFORCE` and falls back to `SO_RCVBUF` (capped at `net.core.rmem_max`). |
//! | `net` | none | `sendto` kicks on an already bound AF_XDP socket, `XDP_STATISTICS`, the rings (shared memory), `sendto` on an already open `IPPROTO_RAW` socket and `BPF_MAP_UPDATE_ELEM` / `DELETE_ELEM` on an already open XSKMAP descriptor all work with an empty capability set, also as `nobody` (`CAP_NET_RAW` is checked when a raw or AF_XDP socket is created, `CAP_BPF` when a map or program is created). Measured with `kernel.unprivileged_bpf_disabled=2`, which since Linux 5.19 only restricts creating maps and loading programs; older kernels with it set refuse *every* `bpf(2)` command without `CAP_BPF`/`CAP_SYS_ADMIN`, so there the XSKMAP must only be touched during setup. |
//! | `udp_echo` | none | its UDP socket is bound during setup (a port below 1024 needs `CAP_NET_BIND_SERVICE` there: without it even uid 0 gets `EACCES`); sending and receiving on it need nothing. |
//!
//! Creating any new AF_XDP, raw or packet socket, BPF map or program after the drop fails with
//! `EPERM`, which is the point.
//!
//! # Order
//!
//! [`drop_privileges`] works in this order; each step explains in the code why it sits there:
//!
//! 0. refuse a multi-threaded process (capabilities, the bounding set and no-new-privs are
//!    per thread);
//! 1. resolve the user (the NSS lookup), so that whatever descriptors it leaves open are
//!    closed by the next step;
//! 2. close every descriptor except 0, 1, 2 and the kept ones;
//! 3. drop the bounding set and clear the ambient set, while still holding `CAP_SETPCAP`;
//! 4. switch user: `PR_SET_KEEPCAPS`, `setgroups([gid])`, `setresgid`, `setresuid`;
//! 5. set the permitted and effective sets to exactly the kept capabilities, the inheritable
//!    set to none (`capset`, version 3);
//! 6. `PR_SET_NO_NEW_PRIVS`;
//! 7. read `/proc/self/status` back and fail unless it shows exactly what was asked for.
//!
//! # User lookup and NSS
//!
//! A [`UserSpec::Name`] (and a bare uid, for its primary group) is resolved with
//! `getpwnam_r` / `getpwuid_r`, which go through glibc's NSS as configured in
//! `/etc/nsswitch.conf`: besides `/etc/passwd` that may load shared libraries (`sss`, `ldap`,
//! `systemd`), talk to daemons (nscd, sssd) over sockets or reach the network, and keep a
//! descriptor open afterwards. The lookup therefore runs before descriptors are closed, so its
//! leftovers are closed too, and nothing after the drop calls NSS again. To avoid NSS in the
//! tile altogether, give numbers: `uid:gid` ([`UserSpec::Ids`] with a gid) does no lookup; the
//! supervisor can resolve a name while planning and pass the numbers down.
//!
//! Supplementary groups are set to the primary group alone (no `initgroups`): group
//! memberships listed in `/etc/group` would only widen what the tile can open.
//!
//! # Descriptors and I/O safety
//!
//! Closing descriptors that live objects still own breaks Rust's I/O-safety contract: such an
//! object would later act on a closed or, worse, a reused descriptor number. The caller must
//! list in [`Drop::keep_fds`] every descriptor that a live object will still use or close, and
//! must not use (or must leak, e.g. with `into_raw_fd`) the objects whose descriptors it lets
//! go. A tile does this right after setup, when it knows exactly which sockets, maps and
//! workspace descriptors its loop uses.
//!
//! # Staying uid 0
//!
//! Without a user, the process stays uid 0 with only the kept capabilities. The bounding set
//! and no-new-privs stop an `execve` from regaining capabilities, but uid 0 still owns every
//! root-owned file (owner permission checks need no capability): name a user in the topology
//! where that matters. Switching user also makes the process non-dumpable, so other processes
//! of that user cannot ptrace it or read its `/proc` entries.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;

/// The capabilities netbase keeps or reasons about, with their kernel numbers
/// (`linux/capability.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Cap {
    /// Binding ports below 1024.
    NetBindService = 10,
    /// Network configuration: `NTF_USE` neighbour probes, `SO_RCVBUFFORCE`, XDP attach.
    NetAdmin = 12,
    /// Creating raw, packet and AF_XDP sockets.
    NetRaw = 13,
    /// Locking memory beyond `RLIMIT_MEMLOCK`.
    IpcLock = 14,
    /// The catch-all: namespaces, mounts, and much else.
    SysAdmin = 21,
    /// Raising resource limits.
    SysResource = 24,
    /// Performance monitoring (some BPF program types need it with `CAP_BPF`).
    Perfmon = 38,
    /// Creating BPF maps and loading programs.
    Bpf = 39,
}

impl Cap {
    /// Every variant, in number order.
    pub const ALL: [Cap; 8] = [
        Cap::NetBindService,
        Cap::NetAdmin,
        Cap::NetRaw,
        Cap::IpcLock,
        Cap::SysAdmin,
        Cap::SysResource,
        Cap::Perfmon,
        Cap::Bpf,
    ];

    /// The kernel's number for it.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// Its bit in a capability mask as `/proc/self/status` prints it.
    pub fn mask(self) -> u64 {
        1 << self.number()
    }

    /// The lower-case name without prefix, as `capsh` prints it (`net_admin`).
    pub fn name(self) -> &'static str {
        CAP_NAMES[self.number() as usize]
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts `net_admin`, `NET_ADMIN`, `cap_net_admin` and `CAP_NET_ADMIN`.
impl FromStr for Cap {
    type Err = String;

    fn from_str(s: &str) -> Result<Cap, String> {
        let lower = s.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
        Cap::ALL
            .into_iter()
            .find(|c| c.name() == bare)
            .ok_or_else(|| format!("unknown or unsupported capability `{s}`"))
    }
}

/// Names of capabilities 0..=40 (`CAP_LAST_CAP` of Linux 5.9 to 6.x), for printing masks.
const CAP_NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A capability mask (bit `n` = capability `n`), as the `Cap*` lines of `/proc/self/status`
/// print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// The mask of `caps`.
    pub fn of(caps: &[Cap]) -> CapSet {
        CapSet(caps.iter().fold(0, |m, c| m | c.mask()))
    }

    pub fn contains(self, cap: Cap) -> bool {
        self.0 & cap.mask() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the set bits (`cap_41` and up for numbers without a known name).
    pub fn names(self) -> Vec<String> {
        (0..64)
            .filter(|n| self.0 & (1u64 << n) != 0)
            .map(|n| match CAP_NAMES.get(n) {
                Some(name) => (*name).to_string(),
                None => format!("cap_{n}"),
            })
            .collect()
    }
}

/// `-` when empty, else the names joined with `,`.
impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&self.names().join(","))
        }
    }
}

/// The user a tile becomes, as the topology names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// A user name, resolved with `getpwnam_r` (uid and primary group).
    Name(String),
    /// Numbers; without a gid the primary group is looked up with `getpwuid_r`.
    Ids { uid: u32, gid: Option<u32> },
}

/// Parses `name`, `uid` or `uid:gid`. A string of digits is a uid, never a name.
impl FromStr for UserSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<UserSpec, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty user".to_string());
        }
        let number = |part: &str| {
            part.parse::<u32>()
                .map_err(|_| format!("`{part}` in user `{s}` is not a number"))
        };
        if let Some((uid, gid)) = s.split_once(':') {
            return Ok(UserSpec::Ids {
                uid: number(uid)?,
                gid: Some(number(gid)?),
            });
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(UserSpec::Ids {
                uid: number(s)?,
                gid: None,
            });
        }
        if s.bytes().any(|b| b == 0 || b.is_ascii_whitespace()) {
            return Err(format!("invalid user name `{}`", s.escape_debug()));
        }
        Ok(UserSpec::Name(s.to_string()))
    }
}

impl fmt::Display for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSpec::Name(n) => f.write_str(n),
            UserSpec::Ids { uid, gid: None } => write!(f, "{uid}"),
            UserSpec::Ids {
                uid,
                gid: Some(gid),
            } => write!(f, "{uid}:{gid}"),
        }
    }
}

/// What [`drop_privileges`] leaves the process with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drop {
    /// Capabilities kept in the permitted, effective and bounding sets; all others go.
    pub keep_caps: Vec<Cap>,
    /// The user to become; `None` keeps the current uid and gids.
    pub user: Option<UserSpec>,
    /// Descriptors that stay open besides 0, 1 and 2; all others are closed.
    pub keep_fds: Vec<RawFd>,
}

/// Real, effective, saved and filesystem id, as a `Uid:` / `Gid:` line prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    pub real: u32,
    pub effective: u32,
    pub saved: u32,
    pub fs: u32,
}

impl Ids {
    /// All four are `id`.
    pub fn all(self, id: u32) -> bool {
        self.real == id && self.effective == id && self.saved == id && self.fs == id
    }
}

/// The privileges the process holds, read from `/proc/self/status` (and, for descriptors,
/// probed), for the tile to log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub uid: Ids,
    pub gid: Ids,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    pub cap_effective: CapSet,
    pub cap_permitted: CapSet,
    pub cap_inheritable: CapSet,
    pub cap_bounding: CapSet,
    pub cap_ambient: CapSet,
    pub no_new_privs: bool,
    /// `Seccomp:` (0 none, 1 strict, 2 filter).
    pub seccomp: u32,
    /// `Threads:`.
    pub threads: u32,
    /// Open descriptors, ascending. From [`describe_current`] this lists `/proc/self/fd` and
    /// is `None` when that is unreadable (a process that switched user is non-dumpable, and
    /// its `/proc/self/fd` then belongs to root); from [`drop_privileges`] it is the
    /// descriptors among 0, 1, 2 and the kept ones that are open.
    pub open_fds: Option<Vec<RawFd>>,
    /// Descriptors [`drop_privileges`] closed (as listed in `/proc/self/fd` just before; empty
    /// from [`describe_current`]).
    pub closed_fds: Vec<RawFd>,
}

/// One line: `uid 65534 gid 65534 groups 65534 caps eff=net_admin prm=net_admin inh=-
/// bnd=net_admin amb=- no_new_privs=1 seccomp=0 fds=0,1,2,7 closed=3,4`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[RawFd]| -> String {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let ids = |i: Ids| -> String {
            if i.all(i.real) {
                i.real.to_string()
            } else {
                format!("{}/{}/{}/{}", i.real, i.effective, i.saved, i.fs)
            }
        };
        let groups: Vec<String> = self.groups.iter().map(|g| g.to_string()).collect();
        write!(
            f,
            "uid {} gid {} groups {} caps eff={} prm={} inh={} bnd={} amb={} no_new_privs={} \
             seccomp={} fds={} closed={}",
            ids(self.uid),
            ids(self.gid),
            if groups.is_empty() {
                "-".to_string()
            } else {
                groups.join(",")
            },
            self.cap_effective,
            self.cap_permitted,
            self.cap_inheritable,
            self.cap_bounding,
            self.cap_ambient,
            u8::from(self.no_new_privs),
            self.seccomp,
            self.open_fds.as_deref().map_or("?".to_string(), list),
            list(&self.closed_fds),
        )
    }
}

/// Why a privilege drop failed. After any error but [`PrivError::MultiThreaded`],
/// [`PrivError::BadFd`] and [`PrivError::User`] (which are raised before anything changes) the
/// process may be half-way and must exit.
#[derive(Debug)]
pub enum PrivError {
    /// Capabilities, the bounding set and no-new-privs are per thread: other threads would
    /// keep everything.
    MultiThreaded { threads: u32 },
    /// A negative descriptor in `keep_fds`.
    BadFd(RawFd),
    /// The user could not be resolved.
    User(String),
    /// A system call failed.
    Sys {
        step: &'static str,
        source: io::Error,
    },
    /// `/proc/self/status` could not be read or parsed.
    Status(String),
    /// The drop ran but the process does not hold what was asked for.
    Verify {
        problems: Vec<String>,
        found: Box<Report>,
    },
}

impl fmt::Display for PrivError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivError::MultiThreaded { threads } => write!(
                f,
                "cannot drop privileges in a process with {threads} threads (capabilities are \
                 per thread): drop them before starting threads"
            ),
            PrivError::BadFd(fd) => write!(f, "descriptor {fd} to keep is negative"),
            PrivError::User(m) => write!(f, "user: {m}"),
            PrivError::Sys { step, source } => write!(f, "{step}: {source}"),
            PrivError::Status(m) => write!(f, "/proc/self/status: {m}"),
            PrivError::Verify { problems, found } => write!(
                f,
                "privileges not dropped as asked: {} (now: {found})",
                problems.join("; ")
            ),
        }
    }
}

impl std::error::Error for PrivError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrivError::Sys { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn sys(step: &'static str) -> impl FnOnce(io::Error) -> PrivError {
    move |source| PrivError::Sys { step, source }
}

/// `Err(last_os_error)` when a libc call returned -1.
fn check(rc: libc::c_long, step: &'static str) -> Result<libc::c_long, PrivError> {
    if rc == -1 {
        Err(PrivError::Sys {
            step,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(rc)
    }
}

/// The privileges the process holds now, with its open descriptors when `/proc/self/fd` is
/// readable.
pub fn describe_current() -> Result<Report, PrivError> {
    let mut report = read_status()?;
    report.open_fds = list_open_fds().ok();
    Ok(report)
}

/// Drops privileges as `d` says (see the [module docs](self) for the order and its reasons)
/// and returns what the process holds afterwards, verified.
///
/// Call it from the main thread of a single-threaded process, after setup, with every
/// descriptor that live objects still use in `d.keep_fds` (see "Descriptors and I/O safety" in
/// the module docs). On error the process must exit.
pub fn drop_privileges(d: &Drop) -> Result<Report, PrivError> {
    // Step 0. The kernel keeps capability sets, the bounding set and no-new-privs per thread;
    // glibc spreads uid changes to all threads, but nothing spreads the rest. A second
    // thread would keep every capability, so refuse before changing anything.
    let before = read_status()?;
    if before.threads != 1 {
        return Err(PrivError::MultiThreaded {
            threads: before.threads,
        });
    }
    let mut keep_fds: Vec<RawFd> = Vec::with_capacity(d.keep_fds.len() + 3);
    for &fd in &d.keep_fds {
        if fd < 0 {
            return Err(PrivError::BadFd(fd));
        }
        keep_fds.push(fd);
    }
    keep_fds.extend([0, 1, 2]);
    keep_fds.sort_unstable();
    keep_fds.dedup();
    let keep = CapSet::of(&d.keep_caps);

    // Step 1. Resolve the user first: NSS may open descriptors (nscd's socket, sssd's pipe,
    // /etc/passwd) and keep them; resolving before the close means those are closed too,
    // and nothing later calls NSS again. The lookup changes no privilege.
    let target = d.user.as_ref().map(resolve_user).transpose()?;

    // Step 2. Close descriptors while still root and before switching user: the fallback
    // lists /proc/self/fd, which becomes root's and unreadable once a uid change makes the
    // process non-dumpable. Descriptors are capabilities of their own (a socket opened as
    // root keeps working after any drop), so those the tile does not use must go.
    let listed = list_open_fds().unwrap_or_default();
    close_all_except(&keep_fds)?;
    let closed: Vec<RawFd> = listed
        .into_iter()
        .filter(|fd| keep_fds.binary_search(fd).is_err())
        .collect();

    // Step 3. The bounding set first, while the effective set still holds CAP_SETPCAP
    // (PR_CAPBSET_DROP needs it; after setresuid the effective set is empty). Dropping a
    // capability from the bounding set leaves it in the permitted and effective sets, so the
    // CAP_SETUID and CAP_SETGID that step 4 needs stay usable. The ambient set is cleared
    // here too: ambient capabilities would be handed to any program the tile executes.
    drop_bounding_except(keep)?;
    // SAFETY: prctl(PR_CAP_AMBIENT, CLEAR_ALL) takes no pointers and only changes this
    // thread's ambient set, which nothing in the process relies on.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(rc.into(), "clearing the ambient capabilities")?;

    // Step 4. Become the user. Groups before uid: setgroups and setresgid need CAP_SETGID in
    // the effective set, which the uid change empties. PR_SET_KEEPCAPS keeps the permitted
    // set across the change of every uid from 0 (otherwise the kernel clears it), so that step
    // 5 can still choose what to keep; it is reset right after, so that no later uid change
    // could keep anything. setresuid changes real, effective and saved uid at once: no id is
    // left to switch back to.
    if let Some(t) = target {
        // SAFETY: prctl(PR_SET_KEEPCAPS) takes no pointers; it sets a per-thread flag.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_KEEPCAPS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        check(rc.into(), "PR_SET_KEEPCAPS")?;
        let groups = [t.gid];
        // SAFETY: `groups` is a live array of one gid_t and its length is passed with it; the
        // kernel only reads it.
        let rc = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
        check(rc.into(), "setgroups")?;
        // SAFETY: setresgid takes plain integers.
        let rc = unsafe { libc::setresgid(t.gid, t.gid, t.gid) };
        check(rc.into(), "setresgid")?;
        // SAFETY: setresuid takes plain integers. The process is single-threaded (step 0),
        // so glibc's cross-thread id broadcast has nothing to do.
        let rc = unsafe { libc::setresuid(t.uid, t.uid, t.uid) };
        check(rc.into(), "setresuid")?;
        // SAFETY: as above.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_KEEPCAPS,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        check(rc.into(), "PR_SET_KEEPCAPS off")?;
    }

    // Step 5. Exactly the kept capabilities, permitted and effective. Lowering the permitted
    // set is final: nothing can raise it again. The inheritable set is emptied, not set to
    // the kept ones: a tile never executes programs, and an empty inheritable set makes sure
    // an execve hands nothing on. This also drops CAP_SETPCAP, CAP_SETUID and CAP_SETGID
    // (unless kept), which is why it comes after steps 3 and 4 that need them.
    set_caps(keep, keep, CapSet(0))?;

    // Step 6. No-new-privs last among the changes: it needs no privilege, and from here on no
    // execve can gain privileges through set-uid bits or file capabilities. It is also what
    // lets an unprivileged process install a seccomp filter later.
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes no pointers and only sets a per-thread flag.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(rc.into(), "PR_SET_NO_NEW_PRIVS")?;

    // Step 7. Trust the kernel's account, not the return codes.
    let mut now = read_status()?;
    now.open_fds = Some(keep_fds.iter().copied().filter(|&fd| is_open(fd)).collect());
    now.closed_fds = closed;
    let problems = verify(&now, keep, &before, target);
    if problems.is_empty() {
        Ok(now)
    } else {
        Err(PrivError::Verify {
            problems,
            found: Box::new(now),
        })
    }
}

/// What in `now` differs from what the drop asked for.
fn verify(now: &Report, keep: CapSet, before: &Report, target: Option<Identity>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |what: &str, got: CapSet, want: CapSet| {
        if got != want {
            problems.push(format!("{what} is {got}, expected {want}"));
        }
    };
    expect("CapEff", now.cap_effective, keep);
    expect("CapPrm", now.cap_permitted, keep);
    expect("CapInh", now.cap_inheritable, CapSet(0));
    expect("CapAmb", now.cap_ambient, CapSet(0));
    // A kept capability that was not in the bounding set before cannot come back into it.
    expect(
        "CapBnd",
        now.cap_bounding,
        CapSet(keep.0 & before.cap_bounding.0),
    );
    if !now.no_new_privs {
        problems.push("NoNewPrivs is 0".to_string());
    }
    if let Some(t) = target {
        if !now.uid.all(t.uid) {
            problems.push(format!("Uid is {:?}, expected {} in all", now.uid, t.uid));
        }
        if !now.gid.all(t.gid) {
            problems.push(format!("Gid is {:?}, expected {} in all", now.gid, t.gid));
        }
        if now.groups != [t.gid] {
            problems.push(format!("Groups is {:?}, expected [{}]", now.groups, t.gid));
        }
    }
    problems
}

/// A resolved user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    uid: u32,
    gid: u32,
}

fn resolve_user(spec: &UserSpec) -> Result<Identity, PrivError> {
    match spec {
        UserSpec::Ids {
            uid,
            gid: Some(gid),
        } => Ok(Identity {
            uid: *uid,
            gid: *gid,
        }),
        UserSpec::Ids { uid, gid: None } => match lookup_passwd(Lookup::Uid(*uid))? {
            Some(id) => Ok(id),
            None => Err(PrivError::User(format!(
                "uid {uid} has no passwd entry for its primary group; give `{uid}:GID`"
            ))),
        },
        UserSpec::Name(name) => match lookup_passwd(Lookup::Name(name))? {
            Some(id) => Ok(id),
            None => Err(PrivError::User(format!("no user named `{name}`"))),
        },
    }
}

enum Lookup<'a> {
    Name(&'a str),
    Uid(u32),
}

/// `getpwnam_r` / `getpwuid_r`: `None` when there is no such entry.
fn lookup_passwd(what: Lookup<'_>) -> Result<Option<Identity>, PrivError> {
    let name = match what {
        Lookup::Name(n) => Some(
            std::ffi::CString::new(n)
                .map_err(|_| PrivError::User(format!("user name `{}`", n.escape_debug())))?,
        ),
        Lookup::Uid(_) => None,
    };
    // The entry's strings go into `buf`; grow it on ERANGE, up to a bound that no sane
    // passwd line reaches.
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain data (integers and pointers); all-zero is a valid value
        // that the call overwrites.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `pwd`, `buf` (with its true length) and `result` are live for the call and
        // exclusively borrowed; `name` is a NUL-terminated string that outlives it. The call
        // writes the entry into `pwd` and its strings into `buf`, and `result` either null or
        // `&pwd`. Only the integer fields are read afterwards, so no pointer into `buf` is
        // used.
        let rc = unsafe {
            match (&what, &name) {
                (Lookup::Name(_), Some(c)) => libc::getpwnam_r(
                    c.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut result,
                ),
                (Lookup::Uid(uid), _) => {
                    libc::getpwuid_r(*uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result)
                }
                (Lookup::Name(_), None) => libc::EINVAL,
            }
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        // getpwnam_r reports "not found" as 0 with a null result; some NSS modules return
        // ENOENT or ESRCH for it instead.
        if rc == 0 || rc == libc::ENOENT || rc == libc::ESRCH {
            return Ok((!result.is_null()).then_some(Identity {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            }));
        }
        return Err(PrivError::User(format!(
            "passwd lookup failed: {}",
            io::Error::from_raw_os_error(rc)
        )));
    }
}

/// Closes every descriptor not in `keep` (sorted, deduplicated, non-negative).
fn close_all_except(keep: &[RawFd]) -> Result<(), PrivError> {
    let mut first: u32 = 0;
    for &fd in keep {
        let fd = fd as u32;
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range(first, u32::MAX)
}

/// close_range(2) (Linux 5.9+), or one close per descriptor listed in /proc/self/fd.
fn close_range(first: u32, last: u32) -> Result<(), PrivError> {
    // SAFETY: close_range takes plain integers and only closes descriptors of this process.
    // It is called with the caller's promise (see the module docs, "Descriptors and I/O
    // safety") that no live object will use or close a descriptor in this range again, so no
    // owner is left acting on a number that a later open could reuse.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(PrivError::Sys {
            step: "close_range",
            source: err,
        });
    }
    let listed = list_open_fds().map_err(sys("listing /proc/self/fd"))?;
    for fd in listed {
        let n = fd as u32;
        if (first..=last).contains(&n) {
            // SAFETY: as for close_range above; `fd` was open when listed and the directory
            // handle that listed it is already closed, so this cannot close it.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// The open descriptors, ascending, from /proc/self/fd (without the one reading it).
fn list_open_fds() -> io::Result<Vec<RawFd>> {
    let mut fds: Vec<RawFd> = fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor was listed too, and is closed now.
    fds.retain(|&fd| is_open(fd));
    fds.sort_unstable();
    Ok(fds)
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; an unopened number is EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// PR_CAPBSET_DROP for every capability up to the kernel's last one that is not in `keep`.
fn drop_bounding_except(keep: CapSet) -> Result<(), PrivError> {
    let last = last_cap();
    for n in 0..=last {
        if keep.0 & (1u64 << n) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_READ takes no pointers and reads this thread's bounding set.
        let present = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_READ,
                n as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        // EINVAL: a number this kernel does not know (cap_last_cap was unreadable).
        if present != 1 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes no pointers and only lowers this thread's bounding
        // set.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                n as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        check(
            rc.into(),
            "PR_CAPBSET_DROP (needs CAP_SETPCAP in the effective set)",
        )?;
    }
    Ok(())
}

/// The highest capability number this kernel knows; 63 when it cannot be read (the reads
/// above it then fail with EINVAL and are skipped).
fn last_cap() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(63, |n| n.min(63))
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets as two 32-bit words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (low and high 32 bits).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capset(2) for the calling thread.
fn set_caps(effective: CapSet, permitted: CapSet, inheritable: CapSet) -> Result<(), PrivError> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let word = |s: CapSet, i: usize| (s.0 >> (32 * i)) as u32;
    let data: [CapData; 2] = std::array::from_fn(|i| CapData {
        effective: word(effective, i),
        permitted: word(permitted, i),
        inheritable: word(inheritable, i),
    });
    // SAFETY: `header` and `data` are live, #[repr(C)] copies of the kernel's structures; a
    // version 3 header makes the kernel read exactly two data structures, which `data` has.
    // The kernel may write the version it prefers into `header`, which is exclusively
    // borrowed for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    check(rc, "capset").map(drop)
}

fn read_status() -> Result<Report, PrivError> {
    let text = fs::read_to_string("/proc/self/status")
        .map_err(|e| PrivError::Status(format!("cannot read: {e}")))?;
    parse_status(&text).map_err(PrivError::Status)
}

/// The privilege lines of a `/proc/PID/status` text.
fn parse_status(text: &str) -> Result<Report, String> {
    let mut r = Report::default();
    let mut seen = 0u32;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let bit = match key {
            "Uid" => {
                r.uid = parse_ids(value)?;
                1
            }
            "Gid" => {
                r.gid = parse_ids(value)?;
                2
            }
            "Groups" => {
                r.groups = value
                    .split_whitespace()
                    .map(|g| g.parse().map_err(|_| format!("bad group `{g}`")))
                    .collect::<Result<_, String>>()?;
                4
            }
            "CapInh" => {
                r.cap_inheritable = parse_mask(value)?;
                8
            }
            "CapPrm" => {
                r.cap_permitted = parse_mask(value)?;
                16
            }
            "CapEff" => {
                r.cap_effective = parse_mask(value)?;
                32
            }
            "CapBnd" => {
                r.cap_bounding = parse_mask(value)?;
                64
            }
            "CapAmb" => {
                r.cap_ambient = parse_mask(value)?;
                128
            }
            "NoNewPrivs" => {
                r.no_new_privs = parse_num(key, value)? != 0;
                256
            }
            "Seccomp" => {
                r.seccomp = parse_num(key, value)?;
                512
            }
            "Threads" => {
                r.threads = parse_num(key, value)?;
                1024
            }
            _ => 0,
        };
        seen |= bit;
    }
    // Every line above exists since Linux 4.10 (CapAmb 4.3, NoNewPrivs 4.10); a missing one
    // means this is not a status file we understand, and a silent default would lie.
    if seen != 2047 {
        return Err(format!("missing privilege lines (found mask {seen:#x})"));
    }
    Ok(r)
}

fn parse_num(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("bad {key} value `{value}`"))
}

fn parse_ids(value: &str) -> Result<Ids, String> {
    let v: Vec<u32> = value
        .split_whitespace()
        .map(|x| x.parse().map_err(|_| format!("bad id `{x}`")))
        .collect::<Result<_, String>>()?;
    match v[..] {
        [real, effective, saved, fs] => Ok(Ids {
            real,
            effective,
            saved,
            fs,
        }),
        _ => Err(format!("expected four ids, got `{value}`")),
    }
}

fn parse_mask(value: &str) -> Result<CapSet, String> {
    u64::from_str_radix(value, 16)
        .map(CapSet)
        .map_err(|_| format!("bad capability mask `{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tx\nUmask:\t0022\nState:\tR (running)\nTgid:\t7\n\
        Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nFDSize:\t64\n\
        Groups:\t65534 \nThreads:\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\n\
        CapEff:\t0000000000001000\nCapBnd:\t0000000000001000\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    #[test]
    fn parses_status() {
        let r = parse_status(STATUS).unwrap();
        assert!(r.uid.all(65534) && r.gid.all(65534));
        assert_eq!(r.groups, [65534]);
        assert_eq!(r.cap_effective, CapSet::of(&[Cap::NetAdmin]));
        assert_eq!(r.cap_permitted.names(), ["net_admin"]);
        assert!(r.cap_inheritable.is_empty() && r.cap_ambient.is_empty());
        assert!(r.no_new_privs);
        assert_eq!((r.seccomp, r.threads), (2, 1));
        assert_eq!(
            r.to_string(),
            "uid 65534 gid 65534 groups 65534 caps eff=net_admin prm=net_admin inh=- \
             bnd=net_admin amb=- no_new_privs=1 seccomp=2 fds=? closed=-"
        );
    }

    #[test]
    fn rejects_incomplete_or_garbled_status() {
        assert!(parse_status("Uid:\t0\t0\t0\t0\n").is_err());
        let garbled = STATUS.replace("CapEff:\t0000000000001000", "CapEff:\tzz");
        assert!(parse_status(&garbled).is_err());
        let short = STATUS.replace("Uid:\t65534\t65534\t65534\t65534", "Uid:\t1 2");
        assert!(parse_status(&short).is_err());
    }

    #[test]
    fn parses_the_live_status() {
        let r = describe_current().unwrap();
        assert!(r.threads >= 1);
        assert!(r.open_fds.unwrap().contains(&1) || !is_open(1));
    }

    #[test]
    fn user_specs() {
        assert_eq!(
            "nobody".parse::<UserSpec>().unwrap(),
            UserSpec::Name("nobody".into())
        );
        assert_eq!(
            "65534".parse::<UserSpec>().unwrap(),
            UserSpec::Ids {
                uid: 65534,
                gid: None
            }
        );
        assert_eq!(
            "1000:100".parse::<UserSpec>().unwrap(),
            UserSpec::Ids {
                uid: 1000,
                gid: Some(100)
            }
        );
        for bad in ["", "1000:", ":5", "a:b", "x y", "99999999999"] {
            assert!(bad.parse::<UserSpec>().is_err(), "{bad}");
        }
        assert_eq!(
            "1000:100".parse::<UserSpec>().unwrap().to_string(),
            "1000:100"
        );
    }

    #[test]
    fn caps_by_name_and_number() {
        for c in Cap::ALL {
            assert_eq!(CAP_NAMES[c.number() as usize], c.name());
            assert_eq!(c.name().parse::<Cap>().unwrap(), c);
            assert_eq!(
                format!("CAP_{}", c.name().to_uppercase())
                    .parse::<Cap>()
                    .unwrap(),
                c
            );
        }
        assert_eq!(Cap::NetAdmin.number(), 12);
        assert_eq!(Cap::Bpf.number(), 39);
        assert!("cap_chown".parse::<Cap>().is_err());
        assert_eq!(CapSet(1 << 45).names(), ["cap_45"]);
        assert_eq!(CapSet(0).to_string(), "-");
    }

    #[test]
    fn resolves_numbers_without_nss() {
        let spec = UserSpec::Ids {
            uid: 4242,
            gid: Some(4243),
        };
        assert_eq!(
            resolve_user(&spec).unwrap(),
            Identity {
                uid: 4242,
                gid: 4243
            }
        );
    }

    #[test]
    fn resolves_root_by_name() {
        assert_eq!(
            resolve_user(&UserSpec::Name("root".into())).unwrap(),
            Identity { uid: 0, gid: 0 }
        );
        assert!(matches!(
            resolve_user(&UserSpec::Name("no-such-user-nb".into())),
            Err(PrivError::User(_))
        ));
    }

    #[test]
    fn refuses_a_multi_threaded_process_before_changing_anything() {
        // The test harness runs this on a thread of its own, so there are at least two.
        let before = describe_current().unwrap();
        let err = drop_privileges(&Drop::default()).unwrap_err();
        assert!(matches!(err, PrivError::MultiThreaded { .. }), "{err}");
        let after = describe_current().unwrap();
        assert_eq!(before.cap_effective, after.cap_effective);
        assert_eq!(before.uid, after.uid);
    }
}
