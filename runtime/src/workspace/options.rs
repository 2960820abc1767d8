//! What a caller asks for when creating or joining a workspace.

use super::backing::Backing;

/// How a process maps a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `PROT_READ` mapping, no lock: any number of readers, and a write faults (SIGSEGV).
    ReadOnly,
    /// Read-write mapping under the exclusive writer lock: at most one at a time.
    ReadWrite,
}

/// Parameters of [`Workspace::create`](super::Workspace::create).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Workspace name; see [`validate_name`](super::validate_name).
    pub name: String,
    /// Bytes needed for objects, *excluding* the header. The file is
    /// `HEADER_SIZE + size` rounded up to the page size (the huge page size for
    /// [`Backing::HugeTlb`]), so [`Workspace::size`](super::Workspace::size) may be larger
    /// than asked for; object offsets run from `HEADER_SIZE` to that total size.
    pub size: u64,
    /// Layout fingerprint from the code generator; joiners must present the same one.
    pub fingerprint: u64,
    /// Where the file lives.
    pub backing: Backing,
}

impl CreateOptions {
    /// Options for a shm-backed workspace.
    pub fn new(name: impl Into<String>, size: u64, fingerprint: u64) -> Self {
        CreateOptions {
            name: name.into(),
            size,
            fingerprint,
            backing: Backing::Shm,
        }
    }

    /// Replaces the backing.
    pub fn with_backing(mut self, backing: Backing) -> Self {
        self.backing = backing;
        self
    }
}

/// Parameters of [`Workspace::join_with`](super::Workspace::join_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    /// Workspace name.
    pub name: String,
    /// The fingerprint this process was built with.
    pub fingerprint: u64,
    /// Read-only, or the single writer.
    pub access: Access,
    /// Where to look for the file; must match the creator's backing directory.
    pub backing: Backing,
    /// With [`Access::ReadWrite`]: take the single-writer lock (the default). Off only for
    /// objects whose every word is claimed atomically by its users (guest reader slots).
    pub writer_lock: bool,
}

impl JoinOptions {
    /// Options for joining a shm-backed workspace.
    pub fn new(name: impl Into<String>, fingerprint: u64, access: Access) -> Self {
        JoinOptions {
            name: name.into(),
            fingerprint,
            access,
            backing: Backing::Shm,
            writer_lock: true,
        }
    }

    /// A writable mapping that does not take the writer lock, for workspaces shared by many
    /// cooperating writers whose protocol claims each word by compare-and-swap (guest reader
    /// slots). Nothing else may be joined this way: it gives up the single-writer guarantee.
    pub fn shared_writable(mut self) -> Self {
        self.access = Access::ReadWrite;
        self.writer_lock = false;
        self
    }

    /// Replaces the backing.
    pub fn with_backing(mut self, backing: Backing) -> Self {
        self.backing = backing;
        self
    }
}
