//! Where a workspace file lives: tmpfs (`/dev/shm`) or a hugetlbfs mount.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::WorkspaceError;
use super::name::{file_name, validate_name};

/// Environment variable that moves shm-backed workspaces out of `/dev/shm`, e.g. to give each
/// test run or each container its own directory. Every process of an instance must see the
/// same value.
pub const SHM_DIR_ENV: &str = "NETBASE_SHM_DIR";

/// Directory of shm-backed workspaces when [`SHM_DIR_ENV`] is unset.
pub const DEFAULT_SHM_DIR: &str = "/dev/shm";

/// `f_type` of a hugetlbfs mount (`HUGETLBFS_MAGIC` in `<linux/magic.h>`).
const HUGETLBFS_MAGIC: u32 = 0x9584_58f6;

/// Huge page size assumed when the mount does not report a sensible one.
const DEFAULT_HUGE_PAGE_SIZE: u64 = 2 << 20;

/// The file system a workspace is created in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backing {
    /// A file in `$NETBASE_SHM_DIR`, else `/dev/shm`: ordinary tmpfs pages.
    #[default]
    Shm,
    /// A file in a hugetlbfs mount, so that the tables are backed by 2 MiB (or larger) pages
    /// and cost far fewer TLB entries. The size is rounded up to the mount's huge page size.
    HugeTlb {
        /// The hugetlbfs mount point (or a directory inside one).
        dir: PathBuf,
    },
}

impl Backing {
    /// The directory that holds this backing's workspace files.
    pub fn dir(&self) -> PathBuf {
        match self {
            Backing::Shm => std::env::var_os(SHM_DIR_ENV)
                .filter(|dir| !dir.is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_SHM_DIR), PathBuf::from),
            Backing::HugeTlb { dir } => dir.clone(),
        }
    }

    /// The file of workspace `name` in this backing, after checking the name.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, WorkspaceError> {
        validate_name(name)?;
        Ok(self.dir().join(file_name(name)))
    }

    /// The unit the workspace size is rounded up to: the page size for shm, the huge page size
    /// for hugetlbfs (which also checks that the directory really is a hugetlbfs mount, since
    /// on any other file system the "huge" workspace would silently get small pages).
    pub(crate) fn granule(&self) -> Result<u64, WorkspaceError> {
        match self {
            Backing::Shm => Ok(page_size()),
            Backing::HugeTlb { dir } => hugetlbfs_page_size(dir),
        }
    }
}

/// The system page size; the header is one 4 KiB page, so never less than that.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).map_or(4096, |size| size.max(4096))
}

/// Checks that `dir` is on hugetlbfs and returns that mount's huge page size.
fn hugetlbfs_page_size(dir: &Path) -> Result<u64, WorkspaceError> {
    let unavailable = |detail: String| WorkspaceError::HugeTlbUnavailable {
        dir: dir.to_owned(),
        detail,
    };
    let c_dir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| unavailable("the path contains a NUL byte".to_owned()))?;
    let mut stat = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c_dir` is a NUL-terminated string that outlives the call, and `stat` is valid
    // for writes of one `statfs`, which is all the kernel writes.
    let rc = unsafe { libc::statfs(c_dir.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(unavailable(io::Error::last_os_error().to_string()));
    }
    // SAFETY: statfs returned 0, so the kernel filled in the whole struct.
    let stat = unsafe { stat.assume_init() };
    // `f_type` is a signed word whose width varies by target; the magic is defined as the low
    // 32 bits, so truncating is the comparison the kernel headers intend.
    let fs_type = stat.f_type as u32;
    if fs_type != HUGETLBFS_MAGIC {
        return Err(unavailable(format!(
            "it is on a file system of type {fs_type:#x}, not hugetlbfs"
        )));
    }
    let page = u64::try_from(stat.f_bsize).unwrap_or(0);
    Ok(if page.is_power_of_two() && page >= 4096 {
        page
    } else {
        DEFAULT_HUGE_PAGE_SIZE
    })
}
