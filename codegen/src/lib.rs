//! netbase-codegen: the schema and topology model, their validation, and the emitters.
//!
//! Used from build scripts through [`Builder`], and by the `netbase compile` command.

// Diagnostics are large on purpose (file, line, snippet, expectation) and only travel on the
// error path of a build step, where their size costs nothing measurable.
#![allow(clippy::result_large_err)]

mod builder;
pub mod diag;
pub mod emit;
pub mod family;
pub mod fingerprint;
pub mod geometry;
pub mod layout;
pub mod plan;
pub mod schema;
pub mod seccomp;
pub mod toml_input;
pub mod topology;
pub mod uapi_names;
pub mod xdp;

pub use builder::{schema_source, BuildError, Builder, Generated};
pub use diag::{Diagnostic, Diagnostics, SourceFile};
pub use plan::Plan;
pub use schema::Schema;
pub use topology::Topology;
