//! Emits one zero-allocation netlink parser per row, driven by the schema's sources.
//!
//! Every source of every field gets a local `Option`; the message's header fields and
//! attributes fill them in one walk (nested attributes through a trie of the schema's paths),
//! and the first present source of each field wins. Fields with a `when` condition keep their
//! decode result until the condition is known, so that an attribute whose meaning depends on
//! another (IFLA_INFO_DATA depends on IFLA_INFO_KIND) cannot fail a message it does not apply to.

use std::collections::BTreeMap;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::schema_code::{field_index_const, field_type, field_value, int_lit};
use crate::family::HeaderField;
use crate::schema::{
    FieldType, IntType, MapKey, OtherLengths, RowDef, Schema, Source, SourcePath, Wire,
};

/// Nested attribute paths of one row, merged.
#[derive(Default)]
struct Trie {
    /// (field, source) pairs decoded from an attribute at this node.
    leaves: Vec<(usize, usize)>,
    children: BTreeMap<u16, (String, Trie)>,
}

impl Trie {
    fn insert(&mut self, path: &[(String, u16)], leaf: (usize, usize)) {
        match path.split_first() {
            None => self.leaves.push(leaf),
            Some(((name, id), rest)) => self
                .children
                .entry(*id)
                .or_insert_with(|| (name.clone(), Trie::default()))
                .1
                .insert(rest, leaf),
        }
    }
}

fn src_var(field: usize, source: usize) -> proc_macro2::Ident {
    format_ident!("src_{}_{}", field, source)
}

pub fn emit_parser(schema: &Schema, row: &RowDef) -> TokenStream {
    let row_ident = format_ident!("{}", row.name);
    let fn_name = format_ident!("parse_{}", crate::emit::snake(&row.name));
    let m = &row.message;
    let new_ty = Literal::u16_suffixed(m.new_type);
    let del_ty = Literal::u16_suffixed(m.del_type);
    let hdr_len = m.header.size;

    let family_check = match &m.family {
        Some((_, fam)) => {
            let ff = m
                .header
                .field(m.header.family_field)
                .map_or(0, |f| f.offset);
            let fam = Literal::u8_suffixed(*fam);
            quote! {
                if hdr[#ff] != #fam {
                    return Ok(wire::Outcome::Skipped(wire::Skip::Family(hdr[#ff])));
                }
            }
        }
        None => quote! {},
    };
    let skip_checks = row.skip_if.iter().map(|s| {
        let read = read_header(&s.field);
        let mask = Literal::u64_suffixed(s.mask);
        quote! {
            if u64::from(#read) & #mask != 0 {
                return Ok(wire::Outcome::Skipped(wire::Skip::Filtered));
            }
        }
    });

    // Locals for every source.
    let mut decls = Vec::new();
    let mut header_fills = Vec::new();
    let mut trie = Trie::default();
    for (fi, f) in row.fields.iter().enumerate() {
        let ty = field_type(schema, f.ty);
        for (si, s) in f.sources.iter().enumerate() {
            let v = src_var(fi, si);
            match &s.path {
                SourcePath::Header(h) => {
                    let read = read_header(h);
                    let conv = convert_int(schema, f.ty, s, quote! { raw });
                    header_fills.push(quote! { let #v: Option<#ty> = { let raw = #read; #conv }; });
                }
                SourcePath::Attr(path) => {
                    if f.when.is_some() {
                        decls.push(
                            quote! { let mut #v: Option<Result<#ty, wire::ParseError>> = None; },
                        );
                    } else {
                        decls.push(quote! { let mut #v: Option<#ty> = None; });
                    }
                    trie.insert(path, (fi, si));
                }
            }
        }
    }

    let walk = emit_walk(schema, row, &trie, quote! { attrs }, 0);
    let mut names = BTreeMap::new();
    collect_names(&trie, &mut names);
    let attr_consts = names.iter().map(|(name, id)| {
        let c = format_ident!("{}", name);
        let l = Literal::u16_suffixed(*id);
        quote! { const #c: u16 = #l; }
    });

    // Combine sources: fields without `when` first, so conditions see final values.
    let mut combine = Vec::new();
    let mut deferred = Vec::new();
    for (fi, f) in row.fields.iter().enumerate() {
        if f.sources.is_empty() {
            continue;
        }
        let fid = format_ident!("{}", f.name);
        let bit = field_index_const(&f.name);
        let default = (f.default != 0).then(|| {
            let d = field_value(schema, f.ty, f.default);
            quote! { else { row.#fid = #d; } }
        });
        match &f.when {
            None => {
                let vars: Vec<_> = (0..f.sources.len()).map(|si| src_var(fi, si)).collect();
                let first = &vars[0];
                let rest = &vars[1..];
                combine.push(quote! {
                    if let Some(v) = #first #(.or(#rest))* {
                        row.#fid = v;
                        present |= 1u64 << #row_ident::#bit;
                    } #default
                });
            }
            Some(w) => {
                let cond_field = format_ident!("{}", row.fields[w.field].name);
                let cond_val = cond_value(schema, row.fields[w.field].ty, w.value);
                let vars: Vec<TokenStream> = f
                    .sources
                    .iter()
                    .enumerate()
                    .map(|(si, s)| {
                        let v = src_var(fi, si);
                        if matches!(s.path, SourcePath::Attr(_)) {
                            quote! { #v.transpose()? }
                        } else {
                            quote! { #v }
                        }
                    })
                    .collect();
                let first = &vars[0];
                let rest = &vars[1..];
                deferred.push(quote! {
                    if row.#cond_field == #cond_val {
                        if let Some(v) = #first #(.or(#rest))* {
                            row.#fid = v;
                            present |= 1u64 << #row_ident::#bit;
                        } #default
                    }
                });
            }
        }
    }
    let doc = format!(
        " Parses one `{}` / `{}` message (starting at its `nlmsghdr`) into a [`{}`].\n\n \
         Never allocates and never panics: a truncated or malformed message is an error value; \
         attributes the schema does not map are counted in `stats`.",
        m.new_name, m.del_name, row.name
    );
    quote! {
        #[doc = #doc]
        #[allow(non_snake_case, unused_mut, unused_variables, clippy::useless_conversion, clippy::collapsible_match, clippy::single_match, clippy::match_single_binding)]
        pub fn #fn_name(
            buf: &[u8],
            stats: &mut ::netbase_runtime::netlink::wire::ParseStats,
        ) -> Result<::netbase_runtime::netlink::wire::Outcome<#row_ident>, ::netbase_runtime::netlink::wire::ParseError> {
            use ::netbase_runtime::netlink::wire;
            #(#attr_consts)*
            let (msg, _) = wire::message(buf)?;
            let op = match msg.ty {
                #new_ty => wire::Op::New,
                #del_ty => wire::Op::Del,
                ty => return Err(wire::ParseError::UnexpectedType { ty }),
            };
            let (hdr, attrs) = wire::family_header::<#hdr_len>(msg.payload)?;
            #family_check
            #(#skip_checks)*
            #(#decls)*
            #(#header_fills)*
            #walk
            let mut row = #row_ident::ZERO;
            let mut present: u64 = 0;
            #(#combine)*
            #(#deferred)*
            Ok(wire::Outcome::Row(wire::Parsed { op, row, present, nl_flags: msg.flags }))
        }
    }
}

/// Reads a header field (host order) from `hdr: &[u8; N]`.
fn read_header(h: &HeaderField) -> TokenStream {
    let o = h.offset;
    match h.size {
        1 => quote! { hdr[#o] },
        2 => {
            let o1 = o + 1;
            quote! { u16::from_ne_bytes([hdr[#o], hdr[#o1]]) }
        }
        _ => {
            let (o1, o2, o3) = (o + 1, o + 2, o + 3);
            quote! { u32::from_ne_bytes([hdr[#o], hdr[#o1], hdr[#o2], hdr[#o3]]) }
        }
    }
}

/// `raw` (an integer) into `Option<field type>`, through the source's map for enums.
fn convert_int(schema: &Schema, ty: FieldType, s: &Source, raw: TokenStream) -> TokenStream {
    match ty {
        FieldType::Int(t) => {
            let i = super::schema_code::int_ident(t);
            quote! { Some(#i::from(#raw)) }
        }
        FieldType::Enum(e) => {
            let def = &schema.enums[e];
            let ident = format_ident!("{}", def.name);
            if s.map.is_empty() {
                let i = super::schema_code::int_ident(def.repr);
                quote! { Some(#ident(#i::from(#raw))) }
            } else {
                let arms = s.map.iter().filter_map(|(k, v)| match k {
                    MapKey::Int(n) => {
                        let n = Literal::u64_unsuffixed(*n);
                        let l = int_lit(def.repr, *v);
                        Some(quote! { #n => Some(#ident(#l)), })
                    }
                    MapKey::Str(_) => None,
                });
                quote! { match u64::from(#raw) { #(#arms)* _ => None } }
            }
        }
        // Rejected by validation: header fields cannot fill addresses or names.
        _ => quote! { None },
    }
}

/// Decodes attribute `a` for one (field, source) into an expression of type
/// `Result<Option<field type>, ParseError>`.
fn decode_attr(
    schema: &Schema,
    row: &RowDef,
    fi: usize,
    si: usize,
    a: &TokenStream,
) -> TokenStream {
    let f = &row.fields[fi];
    let s = &f.sources[si];
    if s.wire == Wire::Presence {
        return quote! { Ok(Some(1u8)) };
    }
    let ignore = f.other_lengths == OtherLengths::Ignore;
    let fixed = |n: usize, wrap: TokenStream| -> TokenStream {
        if ignore {
            quote! {
                match #a.array_if::<#n>() {
                    Some(b) => Ok(Some(#wrap(b))),
                    None => { stats.ignored_lengths += 1; Ok(None) }
                }
            }
        } else {
            quote! { #a.array::<#n>().map(|b| Some(#wrap(b))) }
        }
    };
    match (f.ty, &s.wire) {
        (FieldType::Ipv4, _) => fixed(4, quote! { ::netbase_runtime::types::Ipv4 }),
        (FieldType::Ipv6, _) => fixed(16, quote! { ::netbase_runtime::types::Ipv6 }),
        (FieldType::Mac, _) => fixed(6, quote! { ::netbase_runtime::types::Mac }),
        (FieldType::Name(n), _) => quote! { #a.name::<#n>().map(Some) },
        (FieldType::Enum(e), Wire::String) => {
            let def = &schema.enums[e];
            let ident = format_ident!("{}", def.name);
            let pairs: Vec<(String, u64)> = if s.map.is_empty() {
                def.values
                    .iter()
                    .cloned()
                    .chain(
                        def.aliases
                            .iter()
                            .filter_map(|(al, t)| def.value_of(t).map(|v| (al.clone(), v))),
                    )
                    .collect()
            } else {
                s.map
                    .iter()
                    .filter_map(|(k, v)| match k {
                        MapKey::Str(st) => Some((st.clone(), *v)),
                        MapKey::Int(_) => None,
                    })
                    .collect()
            };
            let arms = pairs.iter().map(|(k, v)| {
                let bytes = Literal::byte_string(k.as_bytes());
                let l = int_lit(def.repr, *v);
                quote! { #bytes => Some(#ident(#l)), }
            });
            quote! { #a.c_str().map(|s| match s { #(#arms)* _ => None }) }
        }
        (FieldType::Enum(e), _) => {
            let def = &schema.enums[e];
            let getter = int_getter(def.repr);
            let conv = convert_int(schema, f.ty, s, quote! { raw });
            quote! { #a.#getter().map(|raw| #conv) }
        }
        (FieldType::Int(t), _) => {
            let getter = int_getter(t);
            quote! { #a.#getter().map(Some) }
        }
    }
}

fn int_getter(t: IntType) -> proc_macro2::Ident {
    format_ident!("{}", t.name())
}

fn cond_value(schema: &Schema, ty: FieldType, v: u64) -> TokenStream {
    field_value_nonzero(schema, ty, v)
}

fn field_value_nonzero(schema: &Schema, ty: FieldType, v: u64) -> TokenStream {
    match ty {
        FieldType::Enum(i) => {
            let e = format_ident!("{}", schema.enums[i].name);
            let l = int_lit(schema.enums[i].repr, v);
            quote! { #e(#l) }
        }
        other => field_value(schema, other, v),
    }
}

/// The walk over the attributes in `buf`, matching this trie level.
fn emit_walk(
    schema: &Schema,
    row: &RowDef,
    trie: &Trie,
    buf: TokenStream,
    depth: usize,
) -> TokenStream {
    let a = format_ident!("a{}", depth);
    let a_ts = quote! { #a };
    let arms = trie.children.iter().map(|(id, (name, node))| {
        let _ = id;
        let id_lit = format_ident!("{}", name);
        let leaves = node.leaves.iter().map(|&(fi, si)| {
            let v = src_var(fi, si);
            let dec = decode_attr(schema, row, fi, si, &a_ts);
            if row.fields[fi].when.is_some() {
                quote! { #v = #dec.transpose(); }
            } else {
                quote! { if let Some(x) = #dec? { #v = Some(x); } }
            }
        });
        let nested = if node.children.is_empty() {
            quote! {}
        } else {
            emit_walk(schema, row, node, quote! { #a.payload }, depth + 1)
        };
        quote! {
            #id_lit => {
                #(#leaves)*
                #nested
            }
        }
    });
    quote! {
        for #a in wire::attrs(#buf) {
            let #a = #a?;
            match #a.kind {
                #(#arms)*
                _ => stats.unknown_attrs += 1,
            }
        }
    }
}

fn collect_names(trie: &Trie, out: &mut BTreeMap<String, u16>) {
    for (id, (name, node)) in &trie.children {
        out.insert(name.clone(), *id);
        collect_names(node, out);
    }
}
