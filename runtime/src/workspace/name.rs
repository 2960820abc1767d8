//! Workspace names and the file each one maps to.
//!
//! A name becomes part of a file name in a directory that other software shares (`/dev/shm`),
//! so the alphabet is small enough that a name can never be a path (`/`), a hidden or special
//! entry (`.`, `..`, a leading dot) or need quoting in a shell.

use super::error::WorkspaceError;

/// Longest accepted name. The header stores the name NUL-padded in 64 bytes; stopping at 48
/// keeps room for suffixes that tools may append (for example a generation tag) without
/// changing the header.
pub const MAX_NAME_LEN: usize = 48;

/// The characters a name may use, for error messages.
pub(crate) const NAME_ALPHABET: &str = "A-Z a-z 0-9 _ . -";

/// Prefix of every workspace file, so that `ls /dev/shm` shows which files are netbase's.
pub const FILE_PREFIX: &str = "netbase-";

/// Checks that `name` may name a workspace: 1 to [`MAX_NAME_LEN`] characters of
/// `[A-Za-z0-9_.-]`, not starting with `.`.
pub fn validate_name(name: &str) -> Result<(), WorkspaceError> {
    let invalid = |reason| {
        Err(WorkspaceError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is too long");
    }
    if name.starts_with('.') {
        return invalid("it starts with '.'");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !name.chars().all(allowed) {
        return invalid("it contains a character outside the allowed set");
    }
    Ok(())
}

/// The file name (without directory) of the workspace `name`, which must be valid.
pub(crate) fn file_name(name: &str) -> String {
    format!("{FILE_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for name in ["a", "netbase", "A-b_c.9", "x.", &"n".repeat(MAX_NAME_LEN)] {
            assert!(validate_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        for name in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a b",
            "é",
            "a\0b",
            long.as_str(),
        ] {
            let err = validate_name(name).unwrap_err();
            assert!(
                matches!(err, WorkspaceError::InvalidName { .. }),
                "{name}: {err}"
            );
        }
    }
}
