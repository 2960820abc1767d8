//! Checks that the committed `src/linux.rs` is exactly what `generate.rs`
//! produces from `wrapper.h` with the installed headers and libclang.
//!
//! Rewrite the file after changing `wrapper.h`, `generate.rs`, bindgen or the
//! headers:
//!
//! ```text
//! NETBASE_UAPI_BLESS=1 cargo test -p netbase-uapi --test bindings_fresh
//! ```
//!
//! This test needs libclang and fails (never skips) without it; install it
//! with `scripts/install-test-deps.sh`.

#[path = "../generate.rs"]
mod generate;

use std::path::Path;

const REGENERATE: &str = "NETBASE_UAPI_BLESS=1 cargo test -p netbase-uapi --test bindings_fresh";

#[test]
fn committed_bindings_are_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/linux.rs");
    let fresh = match generate::bindings() {
        Ok(text) => text,
        Err(e) => panic!(
            "cannot regenerate {}: {e}\n\
             libclang is required by this test: run scripts/install-test-deps.sh \
             (installs libclang-dev) and try again",
            path.display()
        ),
    };

    if std::env::var_os("NETBASE_UAPI_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &fresh)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {} ({} bytes)", path.display(), fresh.len());
        return;
    }

    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nregenerate with: {REGENERATE}",
            path.display()
        )
    });
    if committed == fresh {
        return;
    }

    let mut committed_lines = committed.lines();
    let mut fresh_lines = fresh.lines();
    let mut line = 1usize;
    loop {
        match (committed_lines.next(), fresh_lines.next()) {
            (Some(c), Some(f)) if c == f => line += 1,
            (None, None) => panic!(
                "{} is stale: same lines, but line endings or the final newline differ\n\
                 regenerate with: {REGENERATE}",
                path.display()
            ),
            (c, f) => panic!(
                "{} is stale: first difference at line {line}\n  \
                 committed: {}\n  \
                 generated: {}\n\
                 regenerate with: {REGENERATE}",
                path.display(),
                c.map_or("<end of file>".to_string(), |s| format!("{s:?}")),
                f.map_or("<end of file>".to_string(), |s| format!("{s:?}")),
            ),
        }
    }
}
