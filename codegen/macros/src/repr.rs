//! Parsing of `#[repr(...)]` attributes.

use proc_macro2::Span;
use syn::{Attribute, Ident};

/// What the `#[repr(...)]` attributes of an item ask for. Several `repr` attributes are merged,
/// as rustc does. Each entry remembers the span of its keyword, for diagnostics.
#[derive(Default)]
pub struct Repr {
    /// `repr(C)`.
    pub c: Option<Span>,
    /// `repr(transparent)`.
    pub transparent: Option<Span>,
    /// `repr(packed)` or `repr(packed(N))`.
    pub packed: Option<Span>,
    /// `repr(u8)`, `repr(i64)`, `repr(usize)`, …: any primitive integer.
    pub int: Option<Ident>,
}

/// The integer reprs that an enum deriving `SharedRow` may use.
pub const ENUM_INT_REPRS: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

const ALL_INT_REPRS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

impl Repr {
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Repr> {
        let mut repr = Repr::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("repr")) {
            attr.parse_nested_meta(|meta| {
                // `align(N)`, `packed(N)` and anything we do not know: skip the arguments and
                // leave their validation to rustc.
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    content.parse::<proc_macro2::TokenStream>()?;
                }
                let Some(ident) = meta.path.get_ident() else {
                    return Ok(());
                };
                let span = ident.span();
                match ident.to_string().as_str() {
                    "C" => repr.c = Some(span),
                    "transparent" => repr.transparent = Some(span),
                    "packed" => repr.packed = Some(span),
                    int if ALL_INT_REPRS.contains(&int) => repr.int = Some(ident.clone()),
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(repr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::DeriveInput;

    fn repr(attrs: &str) -> Repr {
        let input: DeriveInput = syn::parse_str(&format!("{attrs} struct S;")).unwrap();
        Repr::parse(&input.attrs).unwrap()
    }

    #[test]
    fn merges_repr_attributes() {
        let parsed = repr("#[repr(C)] #[derive(Clone)] #[repr(align(64))]");
        assert!(parsed.c.is_some() && parsed.transparent.is_none() && parsed.packed.is_none());

        let parsed = repr("#[repr(C, packed(2))]");
        assert!(parsed.c.is_some() && parsed.packed.is_some());

        assert!(repr("#[repr(transparent)]").transparent.is_some());
        assert_eq!(repr("#[repr(u16)]").int.unwrap(), "u16");
        assert!(repr("#[repr(simd)]").int.is_none());
        assert!(repr("").c.is_none());
    }
}
