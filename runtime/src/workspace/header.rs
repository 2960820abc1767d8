//! The header at offset 0 of every workspace: its layout, how it is published, and how it is
//! read back from memory that another process owns.
//!
//! The fields that never change after creation are plain integers, written before the magic
//! is published and read only after it has been seen. The fields that change while readers
//! are attached (writer pid, state, generation) are atomics.

use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ptr::{self, NonNull};
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// First eight bytes of every workspace: `NETBASE` and a 0x01 byte. Stored native-endian so
/// that the file starts with exactly these bytes (recognizable in a hex dump) on any target.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"NETBASE\x01");

/// Version of the header layout and of the rules for where objects live. Bumped on any
/// incompatible change; joiners refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// Size of the header, and so the offset of the first object. One 4 KiB page, so that the
/// object area starts page-aligned and the header never shares a cache line with an object.
pub const HEADER_SIZE: u64 = 4096;

/// Bytes reserved for the NUL-padded name in the header.
pub const NAME_FIELD_LEN: usize = 64;

/// Bit of [`HeaderSnapshot::state`]: set while a writer is attached; cleared when it detaches
/// cleanly. Finding it set while taking the writer lock means the previous writer died.
pub const STATE_WRITER_ATTACHED: u32 = 1 << 0;

/// Byte length of the reserved tail of the header.
const RESERVED_LEN: usize = HEADER_SIZE as usize - 120;

/// The header as it lies in the file. `#[repr(C)]` with every field naturally aligned after
/// the previous one, so there is no implicit padding (asserted below): every byte of the
/// header is defined, and processes built separately agree on it byte for byte.
#[repr(C)]
pub(crate) struct Header {
    /// [`MAGIC`], stored last by the creator (Release), so that seeing it means the rest of the
    /// header is complete.
    magic: AtomicU64,
    format_version: u32,
    header_size: u32,
    /// Hash of every object layout, computed by the code generator.
    fingerprint: u64,
    /// Size of the whole file in bytes, header included.
    total_size: u64,
    /// Pid of the attached writer, 0 if none.
    writer_pid: AtomicU32,
    /// `STATE_*` bits.
    state: AtomicU32,
    /// Bumped by the writer on each publication.
    generation: AtomicU64,
    created_unix_ns: u64,
    name: [u8; NAME_FIELD_LEN],
    /// Zero; room for later fields without a format change for old readers that ignore them.
    reserved: [u8; RESERVED_LEN],
}

const _: () = {
    assert!(size_of::<Header>() == HEADER_SIZE as usize);
    assert!(align_of::<Header>() == 8);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, format_version) == 8);
    assert!(offset_of!(Header, header_size) == 12);
    assert!(offset_of!(Header, fingerprint) == 16);
    assert!(offset_of!(Header, total_size) == 24);
    assert!(offset_of!(Header, writer_pid) == 32);
    assert!(offset_of!(Header, state) == 36);
    assert!(offset_of!(Header, generation) == 40);
    assert!(offset_of!(Header, created_unix_ns) == 48);
    assert!(offset_of!(Header, name) == 56);
    assert!(offset_of!(Header, reserved) == 120);
    // The fields add up to the whole struct, so the compiler inserted no padding anywhere.
    assert!(
        size_of::<AtomicU64>()
            + size_of::<u32>()
            + size_of::<u32>()
            + size_of::<u64>()
            + size_of::<u64>()
            + size_of::<AtomicU32>()
            + size_of::<AtomicU32>()
            + size_of::<AtomicU64>()
            + size_of::<u64>()
            + NAME_FIELD_LEN
            + RESERVED_LEN
            == size_of::<Header>()
    );
};

/// A copy of a workspace header, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSnapshot {
    /// The first eight bytes; [`MAGIC`] for a valid workspace.
    pub magic: u64,
    /// Header format version.
    pub format_version: u32,
    /// Header size recorded in the file.
    pub header_size: u32,
    /// Layout fingerprint the workspace was created with.
    pub fingerprint: u64,
    /// Total file size in bytes, header included.
    pub size: u64,
    /// Pid of the attached writer, 0 if none.
    pub writer_pid: u32,
    /// `STATE_*` bits.
    pub state: u32,
    /// Publication counter.
    pub generation: u64,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// The workspace name recorded at creation (non-UTF-8 bytes replaced).
    pub name: String,
}

impl HeaderSnapshot {
    /// Whether a writer was attached when the snapshot was taken (or died attached).
    pub fn writer_attached(&self) -> bool {
        self.state & STATE_WRITER_ATTACHED != 0
    }
}

/// Values the creator writes into a fresh header.
pub(crate) struct HeaderInit<'a> {
    pub fingerprint: u64,
    pub total_size: u64,
    pub name: &'a str,
    pub created_unix_ns: u64,
    pub writer_pid: u32,
}

/// Read access to a mapped header.
///
/// Loads of the atomic fields are Relaxed followed by an Acquire fence rather than Acquire
/// loads: the std documentation guarantees only small *Relaxed* atomic loads to work on
/// read-only memory, and readers map the workspace read-only. The fence gives the same
/// ordering as an Acquire load.
#[derive(Clone, Copy)]
pub(crate) struct HeaderRef<'a> {
    ptr: NonNull<Header>,
    _mapping: PhantomData<&'a Header>,
}

impl<'a> HeaderRef<'a> {
    /// # Safety
    ///
    /// `base` must be 8-aligned and valid for reads of [`HEADER_SIZE`] bytes for `'a`, in a
    /// mapping shared with other processes that follow this module's protocol: after the
    /// magic is published, only the atomic fields change.
    pub(crate) unsafe fn new(base: NonNull<u8>) -> Self {
        HeaderRef {
            ptr: base.cast(),
            _mapping: PhantomData,
        }
    }

    fn magic_cell(&self) -> &'a AtomicU64 {
        // SAFETY: the field lies inside the header, which `new`'s contract keeps mapped and
        // aligned for `'a` (offsets asserted above). It is an `UnsafeCell`, so other processes
        // storing to it while this reference lives is allowed.
        unsafe { &*ptr::addr_of!((*self.ptr.as_ptr()).magic) }
    }

    fn writer_pid_cell(&self) -> &'a AtomicU32 {
        // SAFETY: as in `magic_cell`.
        unsafe { &*ptr::addr_of!((*self.ptr.as_ptr()).writer_pid) }
    }

    fn state_cell(&self) -> &'a AtomicU32 {
        // SAFETY: as in `magic_cell`.
        unsafe { &*ptr::addr_of!((*self.ptr.as_ptr()).state) }
    }

    fn generation_cell(&self) -> &'a AtomicU64 {
        // SAFETY: as in `magic_cell`.
        unsafe { &*ptr::addr_of!((*self.ptr.as_ptr()).generation) }
    }

    /// The magic; once it reads [`MAGIC`], the creator's writes of every other field are
    /// visible (its Release store pairs with the fence here).
    pub(crate) fn magic(&self) -> u64 {
        let magic = self.magic_cell().load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        magic
    }

    pub(crate) fn writer_pid(&self) -> u32 {
        let pid = self.writer_pid_cell().load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        pid
    }

    pub(crate) fn generation(&self) -> u64 {
        let generation = self.generation_cell().load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        generation
    }

    fn state(&self) -> u32 {
        let state = self.state_cell().load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        state
    }

    /// Copies the whole header. Call after [`magic`](Self::magic) returned [`MAGIC`] to get
    /// the values the creator wrote; before that, the plain fields may still be in flight and
    /// the copy is only good for error messages.
    pub(crate) fn snapshot(&self) -> HeaderSnapshot {
        let h = self.ptr.as_ptr();
        let magic = self.magic();
        // SAFETY: each field is inside the mapped, aligned header (`new`'s contract). Volatile
        // reads because the bytes belong to memory that another process writes: the compiler
        // must neither cache nor invent these loads. Once the magic has been seen, the creator
        // wrote these fields before publishing and nobody writes them again, so the copies are
        // exact; before that (a file still being created, or a foreign one) they may be stale
        // or torn, which is harmless for plain integers and only reported in error messages.
        let (format_version, header_size, fingerprint, size, created_unix_ns, name) = unsafe {
            (
                ptr::read_volatile(ptr::addr_of!((*h).format_version)),
                ptr::read_volatile(ptr::addr_of!((*h).header_size)),
                ptr::read_volatile(ptr::addr_of!((*h).fingerprint)),
                ptr::read_volatile(ptr::addr_of!((*h).total_size)),
                ptr::read_volatile(ptr::addr_of!((*h).created_unix_ns)),
                ptr::read_volatile(ptr::addr_of!((*h).name)),
            )
        };
        let name_len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        HeaderSnapshot {
            magic,
            format_version,
            header_size,
            fingerprint,
            size,
            writer_pid: self.writer_pid(),
            state: self.state(),
            generation: self.generation(),
            created_unix_ns,
            name: String::from_utf8_lossy(&name[..name_len]).into_owned(),
        }
    }
}

/// Write access to a header in a writable mapping, for the process holding the writer lock.
#[derive(Clone, Copy)]
pub(crate) struct HeaderMut<'a> {
    read: HeaderRef<'a>,
}

impl<'a> HeaderMut<'a> {
    /// # Safety
    ///
    /// As [`HeaderRef::new`], and the mapping must also be writable.
    pub(crate) unsafe fn new(base: NonNull<u8>) -> Self {
        HeaderMut {
            // SAFETY: forwarded from this function's contract.
            read: unsafe { HeaderRef::new(base) },
        }
    }

    /// Fills in a fresh, zeroed header and publishes it by storing the magic last.
    ///
    /// # Safety
    ///
    /// The magic must not have been published yet and no other thread of this process may be
    /// reading the header, so that these plain writes race with nothing: other processes read
    /// the plain fields only after seeing the magic.
    pub(crate) unsafe fn initialize(&self, init: &HeaderInit<'_>) {
        let mut name = [0u8; NAME_FIELD_LEN];
        let name_len = init.name.len().min(NAME_FIELD_LEN);
        name[..name_len].copy_from_slice(&init.name.as_bytes()[..name_len]);
        let h = self.read.ptr.as_ptr();
        // SAFETY: each field is inside the mapped, aligned, writable header (`new`'s contract);
        // nothing else reads them until the magic below is published (this function's
        // contract). Volatile so that the stores are really made to the shared pages.
        unsafe {
            ptr::write_volatile(ptr::addr_of_mut!((*h).format_version), FORMAT_VERSION);
            ptr::write_volatile(ptr::addr_of_mut!((*h).header_size), HEADER_SIZE as u32);
            ptr::write_volatile(ptr::addr_of_mut!((*h).fingerprint), init.fingerprint);
            ptr::write_volatile(ptr::addr_of_mut!((*h).total_size), init.total_size);
            ptr::write_volatile(
                ptr::addr_of_mut!((*h).created_unix_ns),
                init.created_unix_ns,
            );
            ptr::write_volatile(ptr::addr_of_mut!((*h).name), name);
        }
        self.read
            .writer_pid_cell()
            .store(init.writer_pid, Ordering::Relaxed);
        self.read
            .state_cell()
            .store(STATE_WRITER_ATTACHED, Ordering::Relaxed);
        self.read.generation_cell().store(0, Ordering::Relaxed);
        // Release: a joiner that sees the magic (and fences Acquire) sees everything above.
        self.read.magic_cell().store(MAGIC, Ordering::Release);
    }

    /// Records `pid` as the writer; returns the state bits found, so the caller can tell
    /// whether the previous writer detached cleanly.
    pub(crate) fn attach_writer(&self, pid: u32) -> u32 {
        self.read.writer_pid_cell().store(pid, Ordering::Release);
        self.read
            .state_cell()
            .fetch_or(STATE_WRITER_ATTACHED, Ordering::AcqRel)
    }

    /// Marks the writer as cleanly gone.
    pub(crate) fn detach_writer(&self) {
        self.read.writer_pid_cell().store(0, Ordering::Release);
        self.read
            .state_cell()
            .fetch_and(!STATE_WRITER_ATTACHED, Ordering::AcqRel);
    }

    /// Bumps the generation; Release, so that a reader that sees the new value also sees every
    /// write the writer made before publishing it. Returns the new generation.
    pub(crate) fn bump_generation(&self) -> u64 {
        self.read
            .generation_cell()
            .fetch_add(1, Ordering::Release)
            .wrapping_add(1)
    }
}
