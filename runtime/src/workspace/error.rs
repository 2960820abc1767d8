//! Everything that can go wrong when creating, joining or using a workspace.
//!
//! A workspace file is input from another process, possibly a foreign, older or crashed one, so
//! every way it can be malformed has its own variant here instead of a panic.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::header::{FORMAT_VERSION, HEADER_SIZE, MAGIC};
use super::name::{MAX_NAME_LEN, NAME_ALPHABET};

/// Why a workspace operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// The workspace name breaks the naming rules (see [`validate_name`](super::validate_name)).
    InvalidName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `create` found a file of that name already: another instance owns it, or a previous
    /// one did not clean up.
    AlreadyExists {
        /// The workspace name.
        name: String,
        /// The file that is in the way.
        path: PathBuf,
    },
    /// There is no workspace of that name. `remove` returns this too, so that callers that only
    /// want the file gone can ignore it (see [`WorkspaceError::is_not_found`]).
    NotFound {
        /// The workspace name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A system call on the workspace file failed.
    Io {
        /// The operation, e.g. `"open"` or `"mmap"`.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The file does not start with the netbase magic: it is some other file, or its creator
    /// has not finished writing the header yet.
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first eight bytes, as a native-endian `u64`.
        found: u64,
    },
    /// The file is a netbase workspace of a format this build cannot read.
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The format version recorded in its header.
        format_version: u32,
        /// The header size recorded in its header.
        header_size: u32,
    },
    /// The file is shorter than its header, or than the size its header records.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its actual size in bytes.
        file_size: u64,
        /// The size it should have at least.
        expected: u64,
    },
    /// The file is longer than the size its header records, so something other than its
    /// creator resized it.
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Its actual size in bytes.
        file_size: u64,
        /// The size recorded in its header.
        recorded: u64,
    },
    /// The workspace was laid out by a build of a different schema than this process.
    FingerprintMismatch {
        /// The workspace name.
        name: String,
        /// The fingerprint this process was built with.
        ours: u64,
        /// The fingerprint recorded in the workspace.
        theirs: u64,
    },
    /// Another process holds the writer lock.
    WriterPresent {
        /// The workspace name.
        name: String,
        /// The writer's pid as recorded in the header; `None` if it has not recorded one yet.
        pid: Option<u32>,
    },
    /// An object access reaches outside the object area `[HEADER_SIZE, size)`.
    OutOfBounds {
        /// The requested offset.
        offset: u64,
        /// The requested length in bytes (saturated at `u64::MAX` if it overflowed).
        len: u64,
        /// The workspace size.
        size: u64,
    },
    /// An object access at an offset that is not a multiple of the type's alignment.
    Misaligned {
        /// The requested offset.
        offset: u64,
        /// The alignment the type needs.
        align: usize,
    },
    /// A write was attempted through a read-only join.
    ReadOnly {
        /// The workspace name.
        name: String,
    },
    /// The requested size does not fit in this machine's address space.
    TooLarge {
        /// The requested object-area size in bytes.
        requested: u64,
    },
    /// The directory given for [`Backing::HugeTlb`](super::Backing::HugeTlb) is not a usable
    /// hugetlbfs mount.
    HugeTlbUnavailable {
        /// The directory.
        dir: PathBuf,
        /// What was found there instead.
        detail: String,
    },
    /// The hugetlbfs mount exists but has too few free huge pages for the workspace.
    HugePagesExhausted {
        /// The hugetlbfs directory.
        dir: PathBuf,
        /// The workspace size that could not be backed.
        bytes: u64,
    },
}

impl WorkspaceError {
    /// True for [`WorkspaceError::NotFound`], which callers that only want a workspace gone
    /// (supervisors, test cleanup) ignore.
    pub fn is_not_found(&self) -> bool {
        matches!(self, WorkspaceError::NotFound { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WorkspaceError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for WorkspaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkspaceError::InvalidName { name, reason } => write!(
                f,
                "invalid workspace name `{}`: {reason} (names are 1 to {MAX_NAME_LEN} characters \
                 of {NAME_ALPHABET} and do not start with '.')",
                name.escape_debug()
            ),
            WorkspaceError::AlreadyExists { name, path } => write!(
                f,
                "workspace `{name}` already exists at {}; join it, or remove it if the instance \
                 that created it is gone",
                path.display()
            ),
            WorkspaceError::NotFound { name, path } => write!(
                f,
                "workspace `{name}` not found at {} (is its writer running, and is \
                 NETBASE_SHM_DIR the same for both processes?)",
                path.display()
            ),
            WorkspaceError::Io { op, path, source } => {
                write!(f, "{op} of {} failed: {source}", path.display())
            }
            WorkspaceError::BadMagic { path, found } => write!(
                f,
                "{} is not a netbase workspace (it starts with {found:#018x}, not {MAGIC:#018x}); \
                 if it was created just now, its writer may still be initializing it",
                path.display()
            ),
            WorkspaceError::UnsupportedFormat {
                path,
                format_version,
                header_size,
            } => write!(
                f,
                "{} has workspace format version {format_version} with a {header_size}-byte \
                 header, but this build reads only version {FORMAT_VERSION} with a \
                 {HEADER_SIZE}-byte header",
                path.display()
            ),
            WorkspaceError::Truncated {
                path,
                file_size,
                expected,
            } => write!(
                f,
                "workspace file {} is truncated: it has {file_size} bytes but needs {expected}",
                path.display()
            ),
            WorkspaceError::SizeMismatch {
                path,
                file_size,
                recorded,
            } => write!(
                f,
                "workspace file {} has {file_size} bytes but its header records {recorded}; it \
                 was resized by something other than its creator",
                path.display()
            ),
            WorkspaceError::FingerprintMismatch { name, ours, theirs } => write!(
                f,
                "workspace `{name}` has layout fingerprint {theirs:#018x} but this process was \
                 built for {ours:#018x}: both sides must be built from the same schema (rebuild, \
                 or restart the instance)"
            ),
            WorkspaceError::WriterPresent { name, pid } => {
                write!(f, "workspace `{name}` already has a writer (")?;
                match pid {
                    Some(pid) => write!(f, "pid {pid}")?,
                    None => f.write_str("pid not recorded yet")?,
                }
                f.write_str("); a workspace has exactly one writing process")
            }
            WorkspaceError::OutOfBounds { offset, len, size } => write!(
                f,
                "object of {len} bytes at offset {offset} does not fit in the object area \
                 [{HEADER_SIZE}, {size}) of the workspace"
            ),
            WorkspaceError::Misaligned { offset, align } => write!(
                f,
                "object at offset {offset} is not aligned to the {align} bytes its type needs"
            ),
            WorkspaceError::ReadOnly { name } => write!(
                f,
                "workspace `{name}` was joined read-only; only its writer may modify it"
            ),
            WorkspaceError::TooLarge { requested } => write!(
                f,
                "a workspace of {requested} bytes does not fit in this machine's address space"
            ),
            WorkspaceError::HugeTlbUnavailable { dir, detail } => write!(
                f,
                "no hugetlbfs mounted at {dir} ({detail}); mount one with `mount -t hugetlbfs \
                 none {dir}` and reserve pages via /proc/sys/vm/nr_hugepages",
                dir = dir.display()
            ),
            WorkspaceError::HugePagesExhausted { dir, bytes } => write!(
                f,
                "not enough free huge pages at {} for a {bytes}-byte workspace; reserve more \
                 via /proc/sys/vm/nr_hugepages",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for WorkspaceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkspaceError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
