//! The build-script entry point, in the manner of `prost-build`: point it at a schema (and
//! topologies), and it writes formatted Rust into `OUT_DIR` for `include!`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::diag::Diagnostics;
use crate::emit;
use crate::schema::Schema;
use crate::topology::Topology;

/// Configures and runs code generation.
///
/// ```no_run
/// // In the build.rs of a crate that uses netbase:
/// let result = netbase_codegen::Builder::new()
///     .schema("schema/netbase.toml")
///     .topology("schema/topologies/default.toml")
///     .compile();
/// if let Err(e) = result {
///     eprintln!("{e}");
///     std::process::exit(1);
/// }
/// ```
/// and in the crate: `include!(concat!(env!("OUT_DIR"), "/netbase_schema.rs"));`.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    schema: Option<PathBuf>,
    topologies: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    cargo_rerun: bool,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// `<out>/<schema name>_schema.rs`, if a schema was given.
    pub schema_file: Option<PathBuf>,
    /// `<out>/<topology name>_plan.rs` per topology.
    pub plan_files: Vec<PathBuf>,
    /// The schema's layout fingerprint.
    pub fingerprint: Option<u64>,
}

#[derive(Debug)]
pub enum BuildError {
    /// The schema or a topology is invalid.
    Invalid(Diagnostics),
    /// Neither a schema nor a topology was given, or no output directory is known.
    Config(String),
    /// Writing the output failed.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The emitter produced code that does not parse (a bug in netbase-codegen).
    Emit(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Invalid(d) => write!(f, "{d}"),
            BuildError::Config(m) => write!(f, "netbase-codegen: {m}"),
            BuildError::Io { path, error } => {
                write!(
                    f,
                    "netbase-codegen: cannot write {}: {error}",
                    path.display()
                )
            }
            BuildError::Emit(m) => write!(f, "netbase-codegen bug: {m}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<Diagnostics> for BuildError {
    fn from(d: Diagnostics) -> Self {
        BuildError::Invalid(d)
    }
}

impl Builder {
    /// A builder that writes to `$OUT_DIR` and tells cargo which files to watch.
    pub fn new() -> Self {
        Builder {
            cargo_rerun: true,
            ..Default::default()
        }
    }

    /// The schema to generate rows, tables and parsers from.
    pub fn schema(mut self, path: impl Into<PathBuf>) -> Self {
        self.schema = Some(path.into());
        self
    }

    /// A topology to generate a plan for (its schema is taken from the topology file unless
    /// `schema` was given).
    pub fn topology(mut self, path: impl Into<PathBuf>) -> Self {
        self.topologies.push(path.into());
        self
    }

    /// Writes somewhere other than `$OUT_DIR`.
    pub fn out_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (on by default).
    pub fn cargo_rerun(mut self, on: bool) -> Self {
        self.cargo_rerun = on;
        self
    }

    pub fn compile(self) -> Result<Generated, BuildError> {
        let out = match self
            .out_dir
            .clone()
            .or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from))
        {
            Some(o) => o,
            None => {
                return Err(BuildError::Config(
                    "no output directory: call .out_dir() or run from a build script".into(),
                ))
            }
        };
        if self.schema.is_none() && self.topologies.is_empty() {
            return Err(BuildError::Config(
                "nothing to generate: give a schema or a topology".into(),
            ));
        }
        let mut generated = Generated {
            schema_file: None,
            plan_files: Vec::new(),
            fingerprint: None,
        };
        if let Some(path) = &self.schema {
            self.watch(path);
            let schema = Schema::load(path)?;
            let text = schema_source(&schema)?;
            let file = out.join(format!("{}_schema.rs", schema.name));
            write(&file, &text)?;
            generated.schema_file = Some(file);
            generated.fingerprint = Some(crate::fingerprint::schema_fingerprint(&schema));
        }
        for path in &self.topologies {
            self.watch(path);
            let topo = Topology::load(path)?;
            self.watch(&topo.schema.path);
            let plan = crate::plan::Plan::build(&topo);
            let text = emit::format(&banner(path), emit::plan_code::emit(&topo, &plan))
                .map_err(BuildError::Emit)?;
            let file = out.join(format!("{}_plan.rs", topo.name));
            write(&file, &text)?;
            generated.plan_files.push(file);
        }
        Ok(generated)
    }

    fn watch(&self, path: &Path) {
        if self.cargo_rerun {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn banner(source: &Path) -> String {
    format!(
        "Generated by netbase-codegen {} from {}. Do not edit: change the source and rebuild.",
        env!("CARGO_PKG_VERSION"),
        source.file_name().map_or_else(
            || source.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    )
}

/// The formatted Rust source of a schema.
pub fn schema_source(schema: &Schema) -> Result<String, BuildError> {
    emit::format(&banner(&schema.path), emit::schema_code::emit(schema)).map_err(BuildError::Emit)
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    // Unchanged output is not rewritten, so that cargo does not rebuild dependents needlessly.
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|error| BuildError::Io {
        path: path.to_path_buf(),
        error,
    })
}
