//! Reading TOML into span-carrying structs, with serde's errors turned into diagnostics.

use serde::de::DeserializeOwned;

use crate::diag::{Diagnostic, SourceFile};

pub use serde_spanned::Spanned;

/// Deserializes a whole file; a syntax or type error becomes one located diagnostic.
pub fn from_file<T: DeserializeOwned>(file: &SourceFile) -> Result<T, Diagnostic> {
    toml::from_str::<T>(&file.text).map_err(|e| error_to_diagnostic(file, &e))
}

fn error_to_diagnostic(file: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    let raw = e.message().trim();
    // serde phrases unknown keys and variants as "…, expected one of `a`, `b`": split the
    // expectation off so that it is shown on its own line like our own diagnostics.
    let (message, expected) = match raw.split_once(", expected ") {
        Some((m, x)) => (m.to_string(), Some(x.to_string())),
        None => match raw.split_once("\nexpected ") {
            Some((m, x)) => (m.to_string(), Some(x.to_string())),
            None => (raw.to_string(), None),
        },
    };
    let message = message.replace("unknown field", "unknown key");
    let d = match e.span() {
        Some(span) => file.error(span, message),
        None => Diagnostic::whole_file(&file.path, message),
    };
    match expected {
        Some(x) => d.expected(x),
        None => d,
    }
}

/// Deserializes a value that was kept as raw TOML (for fields whose shape depends on other
/// fields); errors are reported at the value's span.
pub fn from_value<T: DeserializeOwned>(
    file: &SourceFile,
    value: &Spanned<toml::Value>,
) -> Result<T, Diagnostic> {
    T::deserialize(value.get_ref().clone()).map_err(|e| {
        let raw = e.message().trim().replace("unknown field", "unknown key");
        let (message, expected) = match raw.split_once(", expected ") {
            Some((m, x)) => (m.to_string(), Some(x.to_string())),
            None => (raw, None),
        };
        let d = file.error(value.span(), message);
        match expected {
            Some(x) => d.expected(x),
            None => d,
        }
    })
}

/// What a TOML value is, in the words of the TOML spec, for "found …" messages.
pub fn kind_of(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}
