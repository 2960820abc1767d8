//! Removal of a workspace file when a scope ends, however it ends.

use std::path::{Path, PathBuf};

use super::backing::Backing;
use super::error::WorkspaceError;

/// Unlinks a workspace file when dropped, including during a panic, unless disarmed.
///
/// For supervisors and tests that create workspaces, possibly through other processes, and
/// must not leave files in `/dev/shm` when something fails halfway. A file that is already
/// gone is fine. Unlinking does not disturb processes that still map the workspace: their
/// mappings stay valid until they unmap.
#[derive(Debug)]
#[must_use = "the file is removed when the guard is dropped"]
pub struct RemoveGuard {
    path: Option<PathBuf>,
}

impl RemoveGuard {
    /// Guards the file of workspace `name` in `backing` (which need not exist yet).
    pub fn new(name: &str, backing: &Backing) -> Result<Self, WorkspaceError> {
        Ok(RemoveGuard {
            path: Some(backing.path_of(name)?),
        })
    }

    pub(crate) fn for_path(path: PathBuf) -> Self {
        RemoveGuard { path: Some(path) }
    }

    /// The guarded file.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the file after all.
    pub fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for RemoveGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Nothing useful can be done about a failure while dropping, and NotFound is the
            // expected case when the workspace was never created or already removed.
            let _ = std::fs::remove_file(path);
        }
    }
}
