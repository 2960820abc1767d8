//! Named shared-memory workspaces.
//!
//! A *workspace* is one file, mapped `MAP_SHARED` by every process of a netbase instance. The
//! netlink tile is its only writer: it mirrors the kernel's routing state into tables in the
//! workspace, and every other process maps the same pages read-only and reads the tables
//! without system calls.
//!
//! # Location
//!
//! Workspace `NAME` is the file `netbase-NAME` in `$NETBASE_SHM_DIR` if set, else in
//! `/dev/shm` ([`Backing::Shm`]), or in a hugetlbfs mount ([`Backing::HugeTlb`]) so that large
//! tables cost few TLB entries. Names are 1 to 48 characters of `[A-Za-z0-9_.-]` not starting
//! with `.` ([`validate_name`]), so a name can never escape the directory.
//!
//! The file is created with mode `0644` (regardless of umask): processes of other users may
//! map it read-only, which is the point of the design, while only the creating user can open
//! it for writing. Routing state is not secret on a host; if it is on yours, put
//! `NETBASE_SHM_DIR` in a directory only the instance's users can enter.
//!
//! # Header
//!
//! The first [`HEADER_SIZE`] bytes (one 4 KiB page, so that objects start page-aligned) hold a
//! `#[repr(C)]` header without implicit padding; all offsets are asserted at compile time:
//!
//! | offset | size | field | |
//! |-------:|-----:|-------|-|
//! |      0 |    8 | magic | `NETBASE\x01` ([`MAGIC`]), written last |
//! |      8 |    4 | format_version | [`FORMAT_VERSION`] |
//! |     12 |    4 | header_size | 4096 |
//! |     16 |    8 | fingerprint | layout hash from the code generator |
//! |     24 |    8 | total size | bytes in the file, header included |
//! |     32 |    4 | writer pid | atomic; 0 when no writer is attached |
//! |     36 |    4 | state | atomic; [`STATE_WRITER_ATTACHED`] |
//! |     40 |    8 | generation | atomic; bumped on every publication |
//! |     48 |    8 | created | Unix time in nanoseconds |
//! |     56 |   64 | name | NUL-padded |
//! |    120 | 3976 | reserved | zero |
//!
//! The creator fills in the header of the freshly created (zeroed) file and stores the magic
//! last with Release ordering; joiners load it and fence Acquire before trusting any other
//! field. A joiner racing with a creator therefore sees either a complete header or no magic
//! (a [`WorkspaceError::BadMagic`] or [`WorkspaceError::Truncated`] error it may retry),
//! never a half-written header that looks valid.
//!
//! # One writer
//!
//! The writer holds `flock(LOCK_EX | LOCK_NB)` on the file for as long as it has the
//! workspace. The kernel releases the lock when the writer's file is closed, also when the
//! writer is killed, so a crashed writer never blocks its successor: the next
//! [`Workspace::join`] with [`Access::ReadWrite`] takes over, and
//! [`Workspace::previous_writer_crashed`] tells it whether the previous writer detached
//! cleanly. While the lock is held, a second writer gets [`WorkspaceError::WriterPresent`]
//! with the holder's pid. Readers take no lock at all, so no reader can ever hold up the
//! writer.
//!
//! # Read-only mappings
//!
//! Readers open the file `O_RDONLY` and map it `PROT_READ`. A bug in a reader that writes to
//! the workspace faults (SIGSEGV) in that reader instead of corrupting the state every other
//! process relies on.
//!
//! # Fingerprint
//!
//! The code generator hashes the layout of every object in the schema into a fingerprint that
//! the creator records and every joiner compares with its own. Processes built from different
//! schemas would read each other's bytes with different layouts; the check turns that silent
//! corruption into a [`WorkspaceError::FingerprintMismatch`] at join time.
//!
//! # Offsets, not pointers
//!
//! Every process maps the workspace at its own address (ASLR, different mapping orders), so a
//! pointer stored in the workspace by one process is meaningless in another. Objects are named
//! by their byte offset from the start of the workspace, and references between objects are
//! offsets or indices; [`Workspace::object`] turns an offset into a reference in the calling
//! process after checking bounds and alignment.
//!
//! # Aliasing
//!
//! Readers hold `&T` to memory that the writer, another process, modifies. That is sound only
//! for bytes of `T` that live in an `UnsafeCell`, i.e. the std atomics: **the writer may
//! modify, while readers are attached, only fields whose type is an atomic**, through `&T`
//! from [`Workspace::object`]. Plain (non-atomic) fields are written with
//! [`Workspace::write_copy`] or [`Workspace::bytes_mut`] and read by readers only through
//! [`Workspace::read_volatile_copy`], which copies the bytes without creating a reference;
//! such a copy may be torn, so it must be validated (a seqlock's sequence number, or the
//! [generation](Workspace::generation)). Within one process the borrow checker enforces the
//! same split: the plain-write methods take `&mut self`, so no `&T` into the workspace can
//! be alive while they run.
//!
//! On a read-only workspace, read atomics with `Ordering::Relaxed` (and use
//! `fence(Ordering::Acquire)` where ordering is needed): the std documentation guarantees only
//! small Relaxed atomic loads to be valid on read-only memory. Any store or read-modify-write
//! faults.
//!
//! A workspace file must not be shrunk while mapped: accessing pages beyond the new end of the
//! file raises SIGBUS. Only the creator sizes the file, once, before publishing the header.

mod backing;
mod error;
mod header;
mod mapping;
mod name;
mod options;
mod remove_guard;
mod writer_lock;

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::{SystemTime, UNIX_EPOCH};

pub use backing::{Backing, DEFAULT_SHM_DIR, SHM_DIR_ENV};
pub use error::WorkspaceError;
pub use header::{
    HeaderSnapshot, FORMAT_VERSION, HEADER_SIZE, MAGIC, NAME_FIELD_LEN, STATE_WRITER_ATTACHED,
};
pub use name::{validate_name, FILE_PREFIX, MAX_NAME_LEN};
pub use options::{Access, CreateOptions, JoinOptions};
pub use remove_guard::RemoveGuard;

use crate::SharedRow;
use header::HeaderInit;
use mapping::Mapping;

/// Permissions of a workspace file: the creating user writes, everyone may read.
const FILE_MODE: u32 = 0o644;

// Tiles share one `&Workspace` between threads and move it into them.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Workspace>();
};

/// A mapped workspace: either the single writer or one of any number of readers.
///
/// Dropping it unmaps the workspace and, for the writer, releases the writer lock after
/// marking the header as cleanly detached. The file stays unless
/// [`remove_on_drop`](Self::remove_on_drop) was set.
pub struct Workspace {
    // Declared before `file` so that it is unmapped before the lock is released.
    mapping: Mapping,
    // Open for the workspace's lifetime: for the writer, this open file holds the flock.
    _file: File,
    path: PathBuf,
    name: String,
    access: Access,
    fingerprint: u64,
    previous_writer_crashed: bool,
    remove_on_drop: bool,
    /// Holds the writer lock (false for read-only and shared-writable joins).
    is_writer: bool,
}

impl Workspace {
    /// Creates workspace `options.name` and returns it joined as its writer.
    ///
    /// Fails with [`WorkspaceError::AlreadyExists`] if the file exists (the file is never
    /// reused or overwritten). On any error, the file is removed again.
    pub fn create(options: &CreateOptions) -> Result<Workspace, WorkspaceError> {
        let path = options.backing.path_of(&options.name)?;
        let granule = options.backing.granule()?;
        let total = HEADER_SIZE
            .checked_add(options.size)
            .and_then(|total| total.checked_next_multiple_of(granule))
            .filter(|&total| total <= isize::MAX as u64)
            .ok_or(WorkspaceError::TooLarge {
                requested: options.size,
            })?;
        let len = usize::try_from(total).map_err(|_| WorkspaceError::TooLarge {
            requested: options.size,
        })?;

        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|err| match err.kind() {
                io::ErrorKind::AlreadyExists => WorkspaceError::AlreadyExists {
                    name: options.name.clone(),
                    path: path.clone(),
                },
                _ => WorkspaceError::io("create", &path, err),
            })?;
        // From here on the file is ours: remove it again if creation fails halfway, so that a
        // retry does not run into AlreadyExists.
        let unlink_on_error = RemoveGuard::for_path(path.clone());

        // Locked before the header exists, so that whoever sees a valid magic also finds the
        // lock held.
        if !writer_lock::try_lock_exclusive(&file)
            .map_err(|err| WorkspaceError::io("flock", &path, err))?
        {
            return Err(WorkspaceError::WriterPresent {
                name: options.name.clone(),
                pid: None,
            });
        }
        // `mode` above is filtered through the umask; readers of other users need 0644.
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(|err| WorkspaceError::io("chmod", &path, err))?;
        file.set_len(total)
            .map_err(|err| WorkspaceError::io("ftruncate", &path, err))?;
        let mapping = Mapping::new(&file, len, true)
            .map_err(|err| mmap_error(err, &path, &options.backing, total))?;
        let header = mapping
            .header_mut()
            .ok_or_else(|| WorkspaceError::ReadOnly {
                name: options.name.clone(),
            })?;
        // SAFETY: the file was created by this call (O_EXCL) and the magic is still zero, so no
        // other process trusts the header yet; the mapping is not shared with any other thread.
        unsafe {
            header.initialize(&HeaderInit {
                fingerprint: options.fingerprint,
                total_size: total,
                name: &options.name,
                created_unix_ns: unix_time_ns(),
                writer_pid: std::process::id(),
            });
        }
        unlink_on_error.disarm();

        Ok(Workspace {
            mapping,
            _file: file,
            path,
            name: options.name.clone(),
            access: Access::ReadWrite,
            fingerprint: options.fingerprint,
            previous_writer_crashed: false,
            remove_on_drop: false,
            is_writer: true,
        })
    }

    /// Joins the shm-backed workspace `name`; see [`join_with`](Self::join_with).
    pub fn join(name: &str, fingerprint: u64, access: Access) -> Result<Workspace, WorkspaceError> {
        Self::join_with(&JoinOptions::new(name, fingerprint, access))
    }

    /// Maps an existing workspace after validating its header: size at least the header,
    /// magic, format version, header size, recorded size equal to the file size, and
    /// fingerprint, in that order.
    ///
    /// With [`Access::ReadWrite`] it also takes the writer lock, or fails with
    /// [`WorkspaceError::WriterPresent`].
    pub fn join_with(options: &JoinOptions) -> Result<Workspace, WorkspaceError> {
        let name = options.name.as_str();
        let path = options.backing.path_of(name)?;
        let writable = options.access == Access::ReadWrite;
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(|err| match err.kind() {
                io::ErrorKind::NotFound => WorkspaceError::NotFound {
                    name: name.to_owned(),
                    path: path.clone(),
                },
                _ => WorkspaceError::io("open", &path, err),
            })?;
        let file_size = file
            .metadata()
            .map_err(|err| WorkspaceError::io("fstat", &path, err))?
            .len();
        if file_size < HEADER_SIZE {
            return Err(WorkspaceError::Truncated {
                path,
                file_size,
                expected: HEADER_SIZE,
            });
        }
        let len = usize::try_from(file_size).map_err(|_| WorkspaceError::TooLarge {
            requested: file_size,
        })?;
        let mapping = Mapping::new(&file, len, writable)
            .map_err(|err| mmap_error(err, &path, &options.backing, file_size))?;

        let header = mapping.header();
        let magic = header.magic();
        if magic != MAGIC {
            return Err(WorkspaceError::BadMagic { path, found: magic });
        }
        let snapshot = header.snapshot();
        if snapshot.format_version != FORMAT_VERSION
            || u64::from(snapshot.header_size) != HEADER_SIZE
        {
            return Err(WorkspaceError::UnsupportedFormat {
                path,
                format_version: snapshot.format_version,
                header_size: snapshot.header_size,
            });
        }
        if file_size < snapshot.size {
            return Err(WorkspaceError::Truncated {
                path,
                file_size,
                expected: snapshot.size,
            });
        }
        if file_size > snapshot.size {
            return Err(WorkspaceError::SizeMismatch {
                path,
                file_size,
                recorded: snapshot.size,
            });
        }
        if snapshot.fingerprint != options.fingerprint {
            return Err(WorkspaceError::FingerprintMismatch {
                name: name.to_owned(),
                ours: options.fingerprint,
                theirs: snapshot.fingerprint,
            });
        }

        let mut previous_writer_crashed = false;
        if writable && options.writer_lock {
            // Only after validation: a process that merely opened a foreign or unfinished file
            // must not hold the lock a legitimate writer needs.
            if !writer_lock::try_lock_exclusive(&file)
                .map_err(|err| WorkspaceError::io("flock", &path, err))?
            {
                let pid = header.writer_pid();
                return Err(WorkspaceError::WriterPresent {
                    name: name.to_owned(),
                    pid: (pid != 0).then_some(pid),
                });
            }
            let header = mapping
                .header_mut()
                .ok_or_else(|| WorkspaceError::ReadOnly {
                    name: name.to_owned(),
                })?;
            let state = header.attach_writer(std::process::id());
            previous_writer_crashed = state & STATE_WRITER_ATTACHED != 0;
        }

        Ok(Workspace {
            mapping,
            _file: file,
            path,
            name: name.to_owned(),
            access: options.access,
            fingerprint: options.fingerprint,
            previous_writer_crashed,
            remove_on_drop: false,
            is_writer: writable && options.writer_lock,
        })
    }

    /// Removes the shm-backed workspace `name`; see [`remove_with`](Self::remove_with).
    pub fn remove(name: &str) -> Result<(), WorkspaceError> {
        Self::remove_with(name, &Backing::Shm)
    }

    /// Unlinks the file of workspace `name`. Processes that have it mapped keep their mapping;
    /// new joiners get [`WorkspaceError::NotFound`], as does removing a workspace that does
    /// not exist (see [`WorkspaceError::is_not_found`]).
    pub fn remove_with(name: &str, backing: &Backing) -> Result<(), WorkspaceError> {
        let path = backing.path_of(name)?;
        fs::remove_file(&path).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => WorkspaceError::NotFound {
                name: name.to_owned(),
                path: path.clone(),
            },
            _ => WorkspaceError::io("unlink", &path, err),
        })
    }

    /// Whether dropping this handle unlinks the file, also during a panic (off by default).
    pub fn remove_on_drop(&mut self, remove: bool) {
        self.remove_on_drop = remove;
    }

    /// The workspace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The workspace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Total size in bytes, header included; objects live at offsets
    /// `HEADER_SIZE..size()`.
    pub fn size(&self) -> u64 {
        self.mapping.len() as u64
    }

    /// How this process joined.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The layout fingerprint (checked equal to the caller's at join).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The current generation. Acquire semantics: after seeing generation `g`, a reader sees
    /// everything the writer did before publishing `g`.
    /// The workspace file's descriptor: open as long as the workspace is (for the writer it
    /// holds the single-writer lock), so a sandbox that closes unused descriptors keeps it.
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self._file)
    }

    pub fn generation(&self) -> u64 {
        self.mapping.header().generation()
    }

    /// Publishes the writer's changes: bumps the generation with Release semantics and returns
    /// the new value.
    pub fn bump_generation(&self) -> Result<u64, WorkspaceError> {
        let header = self.mapping.header_mut().ok_or_else(|| self.read_only())?;
        Ok(header.bump_generation())
    }

    /// A copy of the header as it is now.
    pub fn header(&self) -> HeaderSnapshot {
        self.mapping.header().snapshot()
    }

    /// Pid of the attached writer, as recorded in the header. `None` when no writer is
    /// attached. A writer that was killed stays recorded until the next one joins.
    pub fn writer_pid(&self) -> Option<u32> {
        let pid = self.mapping.header().writer_pid();
        (pid != 0).then_some(pid)
    }

    /// For a writer: whether the previous writer died without detaching (its pid and
    /// attached flag were still in the header when this process took the lock), so that the
    /// objects may hold a half-finished update.
    pub fn previous_writer_crashed(&self) -> bool {
        self.previous_writer_crashed
    }

    /// A reference to the `T` at byte `offset`.
    ///
    /// Fails unless `HEADER_SIZE <= offset`, `offset + size_of::<T>() <= size()` and the
    /// address is aligned for `T`. See the [module docs](self#aliasing) for which fields the
    /// writer may change while such references exist.
    pub fn object<T: SharedRow + Sync>(&self, offset: u64) -> Result<&T, WorkspaceError> {
        let ptr = self.mapping.checked_ptr::<T>(offset, 1)?;
        // SAFETY: `checked_ptr` checked that the `T` lies inside the mapping and is aligned; the
        // mapping lives as long as the borrow of `self`. Its bytes are initialized (file pages)
        // and, by `SharedRow`'s contract, any bytes are a valid `T`. Within this process all
        // non-atomic writes to the mapping need `&mut self`, so they cannot overlap this
        // borrow; other processes may only change `T`'s atomic fields, which are `UnsafeCell`s
        // (module docs, "Aliasing"). `Sync` because `&self` may be shared across threads.
        Ok(unsafe { ptr.as_ref() })
    }

    /// A slice of `count` consecutive `T`s starting at byte `offset`; checked like
    /// [`object`](Self::object).
    pub fn slice<T: SharedRow + Sync>(
        &self,
        offset: u64,
        count: usize,
    ) -> Result<&[T], WorkspaceError> {
        let ptr = self.mapping.checked_ptr::<T>(offset, count)?;
        // SAFETY: as in `object`, for all `count` elements: `checked_ptr` checked that
        // `count * size_of::<T>()` bytes from `offset` lie inside the mapping (so the length
        // also fits in isize), and the start is aligned and non-null.
        Ok(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), count) })
    }

    /// Copies the `T` at byte `offset` with a volatile read, without ever creating a
    /// reference to it: the way to read plain fields that the writer may be changing.
    ///
    /// The copy may be torn (part old, part new value) if the writer changes the bytes during
    /// the copy; callers must validate it, e.g. with a seqlock sequence number read before
    /// and after. Fields the writer changes through atomics are read through
    /// [`object`](Self::object) instead: Rust's memory model does not define a plain
    /// (volatile) read racing with an atomic store within one process.
    pub fn read_volatile_copy<T: SharedRow + Copy>(
        &self,
        offset: u64,
    ) -> Result<T, WorkspaceError> {
        let ptr = self.mapping.checked_ptr::<T>(offset, 1)?;
        // SAFETY: the `T` lies inside the live mapping and is aligned (`checked_ptr`), and its
        // bytes are initialized (file pages). What may race with the copy:
        // - writes by the writer process. They happen outside this program's abstract machine,
        //   like a device writing MMIO memory, and volatile reads are the tool for such memory:
        //   the compiler performs them as written and assumes nothing about the value. No
        //   reference to the bytes is created, so no aliasing guarantee is claimed either.
        // - writes within this process: plain writes need `&mut self` (`write_copy`,
        //   `bytes_mut`), so they cannot overlap this `&self` call.
        // A racing write may leave the copy torn (some bytes old, some new). By `SharedRow`'s
        // contract every bit pattern is a valid `T`, so the result is still a valid value,
        // possibly an inconsistent one, which callers detect by validating a sequence number.
        Ok(unsafe { ptr::read_volatile(ptr.as_ptr()) })
    }

    /// The writer's volatile write of `value` to byte `offset`, checked like
    /// [`object`](Self::object). Readers in other processes must read the bytes with
    /// [`read_volatile_copy`](Self::read_volatile_copy) and validate what they read.
    ///
    /// Takes `&mut self` so that no reference into the workspace from this process can be
    /// alive while plain bytes change under it.
    pub fn write_copy<T: SharedRow + Copy>(
        &mut self,
        offset: u64,
        value: &T,
    ) -> Result<(), WorkspaceError> {
        if !self.mapping.is_writable() {
            return Err(self.read_only());
        }
        let ptr = self.mapping.checked_ptr::<T>(offset, 1)?;
        // SAFETY: the `T` lies inside the mapping and is aligned (`checked_ptr`), and the
        // mapping is writable. `&mut self` guarantees that no reference into the mapping exists
        // in this process. `SharedRow` rules out padding, so every byte written is initialized.
        // Readers in other processes hold no references to plain fields (module docs,
        // "Aliasing"): they copy them with volatile reads and validate.
        unsafe { ptr::write_volatile(ptr.as_ptr(), *value) };
        Ok(())
    }

    /// The object area `[HEADER_SIZE, size())` as bytes, for the writer only (`None` for a
    /// read-only join). Index `i` of the slice is workspace offset `HEADER_SIZE + i`. The
    /// header is left out so that it cannot be overwritten.
    ///
    /// Meant for laying out and initializing objects before publishing them with
    /// [`bump_generation`](Self::bump_generation). Writes through the slice are ordinary
    /// stores that the compiler may reorder or merge; readers see them in a defined order
    /// only through the writer's subsequent Release operation (generation bump or seqlock).
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if !self.mapping.is_writable() {
            return None;
        }
        let start = self.mapping.base().wrapping_add(HEADER_SIZE as usize);
        let len = self.mapping.len() - HEADER_SIZE as usize;
        // SAFETY: the mapping is writable and at least HEADER_SIZE long, so `[start, start +
        // len)` is the mapped object area; it stays mapped for the borrow of `self`, which is
        // exclusive, so no other reference into the mapping exists in this process. The bytes
        // are initialized (file pages), and any bytes are valid `u8`s.
        Some(unsafe { std::slice::from_raw_parts_mut(start, len) })
    }

    /// The start of the mapping, for tests that must show that a read-only mapping really is
    /// read-only. Writing through it is the caller's responsibility.
    #[doc(hidden)]
    pub fn base_ptr(&self) -> *mut u8 {
        self.mapping.base()
    }

    fn read_only(&self) -> WorkspaceError {
        WorkspaceError::ReadOnly {
            name: self.name.clone(),
        }
    }
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("access", &self.access)
            .field("size", &self.size())
            .field("fingerprint", &format_args!("{:#018x}", self.fingerprint))
            .finish_non_exhaustive()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(header) = self.mapping.header_mut().filter(|_| self.is_writer) {
            // The writer lock is released just after this, when the file is closed.
            header.detach_writer();
        }
        if self.remove_on_drop {
            // Unlinked while the lock is still held, so that no new writer can join the file
            // between the unlock and the unlink. Errors cannot be reported from drop.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Turns an mmap failure into an error that names the likely cause.
fn mmap_error(err: io::Error, path: &Path, backing: &Backing, bytes: u64) -> WorkspaceError {
    match backing {
        // hugetlbfs reserves every page of a shared mapping at mmap time, so running out of
        // huge pages shows up here as ENOMEM.
        Backing::HugeTlb { dir } if err.raw_os_error() == Some(libc::ENOMEM) => {
            WorkspaceError::HugePagesExhausted {
                dir: dir.clone(),
                bytes,
            }
        }
        _ => WorkspaceError::io("mmap", path, err),
    }
}

fn unix_time_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}
