//! Compile-fail (and compile-pass) tests for `#[derive(SharedRow)]`, with pinned diagnostics.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p netbase-macros --test
//! ui`, then check that each message still underlines the offending field or attribute.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
