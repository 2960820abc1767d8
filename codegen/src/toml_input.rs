//! Reading TOML into span-carrying structs, with serde's errors turned into diagnostics.

use serde::de::DeserializeOwned;

use crate::diag::{Diagnostic, SourceFile};

pub use serde_spanned::Spanned;

/// Deserializes a whole file; a syntax or type error becomes one located diagnostic.
pub fn from_file<T: DeserializeOwned>(file: &SourceFile) -> Result<T, Diagnostic> {
    toml::from_str::<T>(&file.text).map_err(|e| error_to_diagnostic(file, &e))
}

fn error_to_diagnostic(file: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    let (message, expected) = reword(e.message());
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
        let (message, expected) = reword(e.message());
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

/// serde's wording in the words of a TOML file: keys rather than fields, "an integer" rather
/// than `i64`, with the expectation split off onto its own line like our own diagnostics.
fn reword(raw: &str) -> (String, Option<String>) {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = found.split_once(' ').map_or(found, |(kind, _)| kind);
            let expected = toml_kind(expected.trim());
            return (
                format!("expected {expected}, found {}", toml_kind(found)),
                Some(expected.to_string()),
            );
        }
    }
    let (message, expected) = match raw.split_once(", expected ") {
        Some((m, x)) => (m.to_string(), Some(x.to_string())),
        None => match raw.split_once("\nexpected ") {
            Some((m, x)) => (m.to_string(), Some(x.to_string())),
            None => (raw.to_string(), None),
        },
    };
    (message.replace("unknown field", "unknown key"), expected)
}

fn toml_kind(serde_word: &str) -> &str {
    match serde_word {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "integer" => "an integer",
        "string" | "a string" | "char" => "a string",
        "boolean" | "a boolean" | "bool" => "a boolean",
        "sequence" | "a sequence" => "an array",
        "map" | "a map" | "struct" => "a table",
        "floating" | "float" | "f64" => "a float",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::reword;

    #[test]
    fn rewords_type_errors_in_toml_terms() {
        let (m, x) = reword("invalid type: string \"1024\", expected i64");
        assert_eq!(m, "expected an integer, found a string");
        assert_eq!(x.as_deref(), Some("an integer"));
        let (m, x) = reword("unknown field `sorce`, expected one of `name`, `type`");
        assert_eq!(m, "unknown key `sorce`");
        assert_eq!(x.as_deref(), Some("one of `name`, `type`"));
    }
}
