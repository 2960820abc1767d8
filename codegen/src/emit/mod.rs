//! Code emitters. Each returns tokens; `format` turns them into the text that is written out.

pub mod parser;
pub mod plan_code;
pub mod schema_code;
pub mod stem_code;

use crate::schema::{Source, SourcePath};

/// An identifier for a topology name (lowercase letters, digits, `_`): raw when it is a Rust
/// keyword, and with a trailing `_` for the keywords that cannot be raw (`self`, `super`,
/// `crate`), so that any valid topology emits code that compiles.
pub fn name_ident(name: &str) -> proc_macro2::Ident {
    use proc_macro2::{Ident, Span};
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else if matches!(name, "self" | "super" | "crate" | "Self") {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else {
        Ident::new_raw(name, Span::call_site())
    }
}

/// Formats emitted tokens as a Rust file with a generated-code banner.
pub fn format(banner: &str, tokens: proc_macro2::TokenStream) -> Result<String, String> {
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("emitted code does not parse: {e}"))?;
    let mut out = String::new();
    for line in banner.lines() {
        out.push_str("// ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&prettyplease::unparse(&file));
    Ok(out)
}

/// `RouteEntry` → `route_entry`.
pub fn snake(name: &str) -> String {
    let mut s = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| !p.is_ascii_digit()) {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
        prev = Some(c);
    }
    s
}

/// A source as the schema spells it, for documentation.
pub fn source_text(s: &Source) -> String {
    match &s.path {
        SourcePath::Header(h) => format!("hdr.{}", h.name),
        SourcePath::Attr(chain) => chain
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("/"),
    }
}

#[cfg(test)]
mod tests {
    use super::name_ident;

    #[test]
    fn keywords_become_raw_or_suffixed_identifiers() {
        assert_eq!(name_ident("numbers").to_string(), "numbers");
        assert_eq!(name_ident("type").to_string(), "r#type");
        assert_eq!(name_ident("match").to_string(), "r#match");
        assert_eq!(name_ident("self").to_string(), "self_");
        assert_eq!(name_ident("crate").to_string(), "crate_");
    }
}
