//! Expansion of `#[derive(SharedRow)]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DataEnum, DataStruct, DeriveInput, Fields, Ident, Index, Member, Type};

use crate::field_type;
use crate::repr::{Repr, ENUM_INT_REPRS};

/// Collects errors so that one expansion reports every problem of an item, not just the first.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let repr = match Repr::parse(&input.attrs) {
        Ok(repr) => repr,
        Err(error) => {
            errors.push(error);
            Repr::default()
        }
    };
    let name = &input.ident;

    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            format!(
                "`#[derive(SharedRow)]` does not support generic parameters on `{name}`: the \
                 layout checks need concrete field types; derive on a concrete type instead \
                 (e.g. one emitted by the netbase code generator per instantiation)"
            ),
        );
    } else if let Some(where_clause) = &input.generics.where_clause {
        errors.spanned(
            where_clause,
            format!("`#[derive(SharedRow)]` does not support a `where` clause on `{name}`"),
        );
    }

    let checks = match &input.data {
        Data::Struct(data) => check_struct(name, data, &repr, &mut errors),
        Data::Enum(data) => check_enum(name, data, &repr, &mut errors),
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                format!(
                    "`#[derive(SharedRow)]` does not support unions (`{name}`): the active \
                     field is not recorded in the row, so a reader in another process cannot \
                     know which bytes are initialized; use a `#[repr(C)]` struct with an \
                     explicit tag and a byte array"
                ),
            );
            TokenStream::new()
        }
    };
    errors.finish()?;

    Ok(quote! {
        // SAFETY: checked by the derive and by the constant assertions below: the type has a
        // `repr(C)`/`repr(transparent)` layout (or is a fieldless enum with an integer repr, see
        // the `netbase-macros` documentation), every field is `SharedRow`, and there is no
        // implicit padding.
        #[automatically_derived]
        unsafe impl ::netbase_runtime::SharedRow for #name {}

        #checks
    })
}

/// A struct field, as the layout checks need it.
struct FieldInfo<'a> {
    /// The field as `offset_of!` names it: `name` or `0`.
    member: Member,
    /// The field's name or index, for messages.
    display: String,
    /// Where diagnostics about the field's position point: its name, or its type in a tuple
    /// struct.
    span: Span,
    ty: &'a Type,
}

fn check_struct(name: &Ident, data: &DataStruct, repr: &Repr, errors: &mut Errors) -> TokenStream {
    if let Some(packed) = repr.packed {
        errors.push(syn::Error::new(
            packed,
            "`#[derive(SharedRow)]` does not support `#[repr(packed)]`: packed fields may be \
             unaligned, and atomics (like any reference to a field) require natural alignment; \
             use `#[repr(C)]` and add explicit padding fields instead",
        ));
    } else if repr.c.is_none() && repr.transparent.is_none() {
        errors.spanned(
            name,
            "`#[derive(SharedRow)]` requires `#[repr(C)]` or `#[repr(transparent)]`: Rust's \
             default layout may differ between two builds, and processes sharing memory must \
             agree on every offset",
        );
    }

    let fields: Vec<FieldInfo> = match &data.fields {
        Fields::Named(fields) => fields
            .named
            .iter()
            .map(|field| {
                let ident = field.ident.as_ref().expect("named field");
                FieldInfo {
                    member: Member::Named(ident.clone()),
                    display: ident.unraw().to_string(),
                    span: ident.span(),
                    ty: &field.ty,
                }
            })
            .collect(),
        Fields::Unnamed(fields) => fields
            .unnamed
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let span = field.ty.span();
                FieldInfo {
                    member: Member::Unnamed(Index {
                        index: index as u32,
                        span,
                    }),
                    display: index.to_string(),
                    span,
                    ty: &field.ty,
                }
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };

    let mut checks = TokenStream::new();
    for field in &fields {
        if let Some((offending, message)) = field_type::rejected(&field.display, field.ty) {
            errors.spanned(offending, message);
            continue;
        }
        // The type keeps its own spans, so an unsatisfied bound underlines the field's type.
        let ty = field.ty;
        checks.extend(quote_spanned! {ty.span()=>
            const _: () = ::netbase_runtime::plain::assert_shared_row::<#ty>();
        });
    }

    // No implicit padding: every field starts where the previous one ends (`repr(C)` keeps
    // declaration order and puts the first field at offset 0), and the struct ends where its
    // last field ends.
    let offset_of = |field: &FieldInfo| {
        let member = &field.member;
        quote!(::core::mem::offset_of!(#name, #member))
    };
    for pair in fields.windows(2) {
        let [prev, next] = pair else {
            unreachable!("windows(2)");
        };
        let message = format!(
            "implicit padding before field `{}` in `{name}`: add an explicit padding field \
             (e.g. `_pad: [u8; K]`) after field `{}`, so that every byte of the row belongs to \
             a field",
            next.display, prev.display,
        );
        let (prev_offset, next_offset, prev_ty) = (offset_of(prev), offset_of(next), prev.ty);
        checks.extend(quote_spanned! {next.span=>
            const _: () = ::core::assert!(
                #next_offset == #prev_offset + ::core::mem::size_of::<#prev_ty>(),
                #message
            );
        });
    }
    match fields.last() {
        Some(last) => {
            let message = format!(
                "implicit tail padding after field `{}` in `{name}`: the struct's alignment \
                 rounds its size up past the end of its last field; add an explicit padding \
                 field (e.g. `_pad: [u8; K]`) at the end",
                last.display,
            );
            let (last_offset, last_ty) = (offset_of(last), last.ty);
            checks.extend(quote_spanned! {last.span=>
                const _: () = ::core::assert!(
                    ::core::mem::size_of::<#name>()
                        == #last_offset + ::core::mem::size_of::<#last_ty>(),
                    #message
                );
            });
        }
        None => {
            let message = format!(
                "implicit tail padding in `{name}`: the struct has no fields but a non-zero \
                 size; add an explicit padding field (e.g. `_pad: [u8; K]`)"
            );
            checks.extend(quote_spanned! {name.span()=>
                const _: () = ::core::assert!(::core::mem::size_of::<#name>() == 0, #message);
            });
        }
    }
    checks
}

fn check_enum(name: &Ident, data: &DataEnum, repr: &Repr, errors: &mut Errors) -> TokenStream {
    let int = repr
        .int
        .as_ref()
        .filter(|int| ENUM_INT_REPRS.iter().any(|allowed| *int == allowed));
    match (&repr.int, int) {
        (_, Some(_)) => {}
        (Some(int), None) => {
            let why = if int == "usize" || int == "isize" {
                "its size depends on the target (4 or 8 bytes), so processes built for \
                 different targets would disagree on the layout"
            } else {
                "shared rows use discriminants of at most 64 bits"
            };
            errors.spanned(
                int,
                format!(
                    "`#[derive(SharedRow)]` does not support `#[repr({int})]` on enum `{name}`: \
                     {why}; use one of `u8`, `u16`, `u32`, `u64`, `i8`, `i16`, `i32`, `i64`"
                ),
            );
        }
        (None, None) => {
            let (span, extra) = match repr.c {
                Some(c) => (
                    c,
                    "; `#[repr(C)]` alone gives the enum the size of C's `int`, which depends \
                     on the target",
                ),
                None => (name.span(), ""),
            };
            errors.push(syn::Error::new(
                span,
                format!(
                    "`#[derive(SharedRow)]` on enum `{name}`: enums need an explicit integer \
                     repr, e.g. `#[repr(u8)]` (one of `u8`, `u16`, `u32`, `u64`, `i8`, `i16`, \
                     `i32`, `i64`), so that every process agrees on the discriminant's size{extra}"
                ),
            ));
        }
    }

    if data.variants.is_empty() {
        errors.spanned(
            name,
            format!(
                "`#[derive(SharedRow)]` on enum `{name}`: an enum without variants has no valid \
                 value, so no bytes in shared memory can ever be read as it"
            ),
        );
    }
    for variant in &data.variants {
        if !variant.fields.is_empty() {
            let variant_name = &variant.ident;
            errors.spanned(
                &variant.fields,
                format!(
                    "`#[derive(SharedRow)]` on enum `{name}`: variant `{variant_name}` carries \
                     data; only fieldless enums are supported: which payload bytes are valid \
                     depends on a discriminant written by another process, and the payload of \
                     one variant may be padding in another; use a `#[repr(C)]` struct with an \
                     explicit tag field"
                ),
            );
        }
    }

    // `repr(u8, align(4))` would add tail padding after the discriminant.
    match int {
        Some(int) => {
            let message = format!(
                "implicit padding in enum `{name}`: it is larger than its `{int}` \
                 discriminant (remove `align(..)` from its repr)"
            );
            quote_spanned! {name.span()=>
                const _: () = ::core::assert!(
                    ::core::mem::size_of::<#name>() == ::core::mem::size_of::<#int>(),
                    #message
                );
            }
        }
        None => TokenStream::new(),
    }
}
