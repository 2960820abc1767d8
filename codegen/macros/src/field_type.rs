//! Syntactic rejection of field types that can never be shared between processes.
//!
//! These checks only exist to give a precise message. Every field type is also checked against
//! the `SharedRow` trait by the generated code, which catches the same types behind aliases and
//! every other unsuitable type (`Vec<u8>`, `String`, `Option<u32>`, …).

use syn::{Type, TypePath};

/// Returns the error message for a field of type `ty` that is rejected outright, or `None` if
/// the type is left to the trait check. `field` is the field's name (or index) for the message.
///
/// The error is reported at the returned type, which is `ty` itself or, for an array, the
/// offending element type.
pub fn rejected<'a>(field: &str, ty: &'a Type) -> Option<(&'a Type, String)> {
    rejected_inner(field, ty, false)
}

fn rejected_inner<'a>(field: &str, ty: &'a Type, nested: bool) -> Option<(&'a Type, String)> {
    let has = if nested { "contains" } else { "has type" };
    let is = if nested { "contains" } else { "is" };
    let why = match ty {
        Type::Group(group) => return rejected_inner(field, &group.elem, nested),
        Type::Paren(paren) => return rejected_inner(field, &paren.elem, nested),
        Type::Array(array) => return rejected_inner(field, &array.elem, true),
        Type::Ptr(_) => format!(
            "field `{field}` {is} a raw pointer: each process maps shared memory at its own \
             address, so an address written by one process is meaningless in another; store an \
             offset or an index (e.g. `u64`) instead"
        ),
        Type::Reference(_) => format!(
            "field `{field}` {is} a reference: each process maps shared memory at its own \
             address, so an address written by one process is meaningless in another (and a \
             dangling or null reference is undefined behaviour); store an offset or an index \
             (e.g. `u64`) instead"
        ),
        Type::BareFn(_) => format!(
            "field `{field}` {is} a function pointer: code is loaded at a different address in \
             every process, so a function pointer written by one process is meaningless in \
             another; store an integer tag and dispatch on it instead"
        ),
        Type::TraitObject(_) | Type::ImplTrait(_) => format!(
            "field `{field}` {is} a trait object: it is unsized and its vtable pointer is only \
             meaningful in the process that created it; store an integer tag and fixed-size \
             data instead"
        ),
        Type::Slice(_) => format!(
            "field `{field}` {is} a slice: a slice is unsized, so its length is not part of \
             the row's layout; use a fixed-size array `[T; N]`"
        ),
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            format!("field `{field}` {has} `()`: zero-sized fields carry no data; remove the field")
        }
        Type::Tuple(_) => format!(
            "field `{field}` {is} a tuple: tuples use Rust's unspecified layout, which may \
             differ between two builds; use a `#[repr(C)]` struct that derives `SharedRow`"
        ),
        Type::Path(path) => match primitive_name(path)? {
            "bool" => format!(
                "field `{field}` {has} `bool`: a byte other than 0 or 1 written by another \
                 process is undefined behaviour; use `u8`"
            ),
            "char" => format!(
                "field `{field}` {has} `char`: a value that is not a Unicode scalar value (a \
                 surrogate or a value above 0x10FFFF) written by another process is undefined \
                 behaviour; use `u32`"
            ),
            "usize" => format!(
                "field `{field}` {has} `usize`: its size depends on the target (4 or 8 bytes), \
                 so processes built for different targets would disagree on the row's layout; \
                 use `u64`"
            ),
            "isize" => format!(
                "field `{field}` {has} `isize`: its size depends on the target (4 or 8 bytes), \
                 so processes built for different targets would disagree on the row's layout; \
                 use `i64`"
            ),
            "str" => format!(
                "field `{field}` {has} `str`: a string slice is unsized, so its length is not \
                 part of the row's layout; use a fixed-size byte array `[u8; N]`"
            ),
            _ => return None,
        },
        _ => return None,
    };
    Some((ty, why))
}

/// The name of a primitive type written as `bool`, `core::primitive::bool`,
/// `::std::primitive::bool`, …; `None` for any other path.
fn primitive_name(path: &TypePath) -> Option<&'static str> {
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = path.path.segments.iter().collect();
    if segments.iter().any(|segment| !segment.arguments.is_none()) {
        return None;
    }
    let last = match segments.as_slice() {
        [last] if path.path.leading_colon.is_none() => last,
        [krate, module, last]
            if (krate.ident == "core" || krate.ident == "std") && module.ident == "primitive" =>
        {
            last
        }
        _ => return None,
    };
    ["bool", "char", "usize", "isize", "str"]
        .into_iter()
        .find(|name| last.ident == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ty: &str) -> Option<String> {
        let ty: Type = syn::parse_str(ty).unwrap();
        rejected("f", &ty).map(|(_, message)| message)
    }

    #[test]
    fn rejects_primitives_by_any_path() {
        for ty in [
            "bool",
            "core::primitive::bool",
            "::std::primitive::bool",
            "(bool)",
        ] {
            assert!(message(ty).unwrap().contains("has type `bool`"), "{ty}");
        }
        assert!(message("[[char; 2]; 3]")
            .unwrap()
            .contains("contains `char`"));
        assert!(message("usize").unwrap().contains("use `u64`"));
        assert!(message("isize").unwrap().contains("use `i64`"));
    }

    #[test]
    fn leaves_other_paths_to_the_trait_check() {
        for ty in [
            "u32",
            "my::bool",
            "core::bool",
            "Vec<bool>",
            "Option<&u8>",
            "[u8; 4]",
        ] {
            assert_eq!(message(ty), None, "{ty}");
        }
    }

    #[test]
    fn rejects_indirections_and_unsized_types() {
        for (ty, expected) in [
            ("*const u8", "is a raw pointer"),
            ("[*mut u8; 2]", "contains a raw pointer"),
            ("&'static u8", "is a reference"),
            ("fn()", "is a function pointer"),
            ("dyn Send", "is a trait object"),
            ("[u8]", "is a slice"),
            ("str", "has type `str`"),
            ("()", "has type `()`"),
            ("(u8, u8)", "is a tuple"),
        ] {
            assert!(message(ty).unwrap().contains(expected), "{ty}");
        }
    }
}
