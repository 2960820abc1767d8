//! Emits the Rust code of a schema: enums as integer newtypes, fixed-layout rows with their
//! compile-time layout assertions, table descriptions, the layout fingerprint, and one netlink
//! parser per row.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::parser::emit_parser;
use crate::fingerprint::schema_fingerprint;
use crate::layout::{row_layout, RowLayout};
use crate::schema::{EnumDef, FieldType, IntType, RowDef, Schema, TableKind};

pub fn emit(schema: &Schema) -> TokenStream {
    let name = &schema.name;
    let version = schema.version;
    let fp = Literal::u64_suffixed(schema_fingerprint(schema));
    let enums = schema.enums.iter().map(emit_enum);
    let rows = schema.rows.iter().map(|r| emit_row(schema, r));
    let parsers = schema.rows.iter().map(|r| emit_parser(schema, r));
    let tables = emit_tables(schema);
    quote! {
        /// Name of the schema this code was generated from.
        pub const SCHEMA_NAME: &str = #name;
        /// `schema_version` of that schema.
        pub const SCHEMA_VERSION: u32 = #version;
        /// Hash of every layout in this module; written into workspace headers so that a process
        /// built from another schema refuses to join.
        pub const LAYOUT_FINGERPRINT: u64 = #fp;
        #(#enums)*
        #(#rows)*
        #tables
        #(#parsers)*
    }
}

pub fn int_ident(t: IntType) -> proc_macro2::Ident {
    format_ident!("{}", t.name())
}

pub fn int_lit(t: IntType, v: u64) -> Literal {
    match t {
        IntType::U8 => Literal::u8_suffixed(v as u8),
        IntType::U16 => Literal::u16_suffixed(v as u16),
        IntType::U32 => Literal::u32_suffixed(v as u32),
        IntType::U64 => Literal::u64_suffixed(v),
    }
}

fn doc_attr(doc: &Option<String>) -> TokenStream {
    match doc {
        Some(d) => {
            let lines = d.lines().map(|l| format!(" {l}"));
            quote! { #(#[doc = #lines])* }
        }
        None => quote! {},
    }
}

fn emit_enum(e: &EnumDef) -> TokenStream {
    let ident = format_ident!("{}", e.name);
    let repr = int_ident(e.repr);
    let doc = doc_attr(&e.doc);
    let consts = e.values.iter().map(|(n, v)| {
        let c = format_ident!("{}", n.to_uppercase());
        let lit = int_lit(e.repr, *v);
        let d = format!(" `{n}` ({v})");
        quote! { #[doc = #d] pub const #c: Self = Self(#lit); }
    });
    let names = e.values.iter().map(|(n, _)| n.as_str());
    let consts2 = e
        .values
        .iter()
        .map(|(n, _)| format_ident!("{}", n.to_uppercase()));
    let name_arms = e.values.iter().map(|(n, v)| {
        let lit = int_lit(e.repr, *v);
        quote! { #lit => Some(#n), }
    });
    let from_arms = e
        .values
        .iter()
        .map(|(n, v)| (n.as_str(), *v))
        .chain(
            e.aliases
                .iter()
                .filter_map(|(a, t)| e.value_of(t).map(|v| (a.as_str(), v))),
        )
        .map(|(n, v)| {
            let lit = int_lit(e.repr, v);
            quote! { #n => Some(Self(#lit)), }
        });
    let debug_body = if e.flags {
        quote! {
            if self.0 == 0 {
                return match self.name() { Some(n) => f.write_str(n), None => f.write_str("0") };
            }
            let mut rest = self.0;
            let mut first = true;
            for (n, v) in Self::VALUES {
                if v.0 != 0 && rest & v.0 == v.0 {
                    if !first { f.write_str("|")?; }
                    f.write_str(n)?;
                    first = false;
                    rest &= !v.0;
                }
            }
            if rest != 0 {
                if !first { f.write_str("|")?; }
                write!(f, "{:#x}", rest)?;
            }
            Ok(())
        }
    } else {
        quote! {
            match self.name() { Some(n) => f.write_str(n), None => write!(f, "{}", self.0) }
        }
    };
    let n_values = e.values.len();
    quote! {
        #doc
        ///
        /// An integer newtype rather than a Rust `enum`: a reader of shared memory may see any
        /// value, and every value must be valid. Unknown values are kept and shown as numbers.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, ::netbase_runtime::SharedRow)]
        #[repr(transparent)]
        pub struct #ident(pub #repr);
        impl #ident {
            #(#consts)*
            /// Every named value, in ascending order.
            pub const VALUES: [(&'static str, Self); #n_values] = [#((#names, Self::#consts2)),*];
            /// The schema's name of this value, if it has one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { #(#name_arms)* _ => None }
            }
            /// The value of a name (or of a kernel alias of one).
            pub fn from_name(name: &str) -> Option<Self> {
                match name { #(#from_arms)* _ => None }
            }
        }
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #debug_body
            }
        }
        impl ::core::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(self, f)
            }
        }
    }
}

/// The Rust type of a field.
pub fn field_type(schema: &Schema, ty: FieldType) -> TokenStream {
    match ty {
        FieldType::Int(t) => {
            let i = int_ident(t);
            quote! { #i }
        }
        FieldType::Ipv4 => quote! { ::netbase_runtime::types::Ipv4 },
        FieldType::Ipv6 => quote! { ::netbase_runtime::types::Ipv6 },
        FieldType::Mac => quote! { ::netbase_runtime::types::Mac },
        FieldType::Name(n) => quote! { ::netbase_runtime::types::Name<#n> },
        FieldType::Enum(i) => {
            let e = format_ident!("{}", schema.enums[i].name);
            quote! { #e }
        }
    }
}

/// A constant expression of a field's type holding `v` (0 means the zero value).
pub fn field_value(schema: &Schema, ty: FieldType, v: u64) -> TokenStream {
    match ty {
        FieldType::Int(t) => {
            let l = int_lit(t, v);
            quote! { #l }
        }
        FieldType::Ipv4 => quote! { ::netbase_runtime::types::Ipv4::UNSPECIFIED },
        FieldType::Ipv6 => quote! { ::netbase_runtime::types::Ipv6::UNSPECIFIED },
        FieldType::Mac => quote! { ::netbase_runtime::types::Mac::ZERO },
        FieldType::Name(n) => quote! { ::netbase_runtime::types::Name::<#n>::EMPTY },
        FieldType::Enum(i) => {
            let e = format_ident!("{}", schema.enums[i].name);
            let l = int_lit(schema.enums[i].repr, v);
            quote! { #e(#l) }
        }
    }
}

pub fn field_index_const(name: &str) -> proc_macro2::Ident {
    format_ident!("FIELD_{}", name.to_uppercase())
}

fn emit_row(schema: &Schema, row: &RowDef) -> TokenStream {
    let ident = format_ident!("{}", row.name);
    let layout: RowLayout = row_layout(schema, row);
    let doc = doc_attr(&row.doc);
    let size = layout.size;
    let align = layout.align;
    let mut fields = Vec::new();
    let mut zero = Vec::new();
    let mut asserts = Vec::new();
    let mut infos = Vec::new();
    for slot in &layout.slots {
        let f_ident = format_ident!("{}", slot.name);
        let off = slot.offset;
        let msg = format!(
            "layout of {} changed: `{}` is not at offset {off}",
            row.name, slot.name
        );
        asserts.push(quote! {
            if ::core::mem::offset_of!(#ident, #f_ident) != #off { panic!(#msg) }
        });
        match slot.field {
            Some(i) => {
                let f = &row.fields[i];
                let ty = field_type(schema, f.ty);
                let mut d = f.doc.clone().unwrap_or_default();
                let src: Vec<String> = f.sources.iter().map(crate::emit::source_text).collect();
                if !src.is_empty() {
                    if !d.is_empty() {
                        d.push('\n');
                    }
                    d.push_str(&format!("\nFrom `{}`.", src.join("`, else `")));
                } else if d.is_empty() {
                    d.push_str("Written by the tile, not read from netlink.");
                }
                let fdoc = doc_attr(&Some(d));
                fields.push(quote! { #fdoc pub #f_ident: #ty, });
                let z = field_value(schema, f.ty, 0);
                zero.push(quote! { #f_ident: #z, });
                let name = &f.name;
                let spelling = f.ty.spelling(&schema.enums);
                let fsize = slot.size;
                infos.push(quote! {
                    ::netbase_runtime::schema_info::FieldInfo { name: #name, ty: #spelling, offset: #off, size: #fsize },
                });
            }
            None => {
                let n = slot.size;
                fields.push(quote! { #[doc(hidden)] pub #f_ident: [u8; #n], });
                zero.push(quote! { #f_ident: [0; #n], });
            }
        }
    }
    let index_consts = row.fields.iter().enumerate().map(|(i, f)| {
        let c = field_index_const(&f.name);
        let d = format!(
            " Index of `{}` in [`Parsed::present`](::netbase_runtime::netlink::wire::Parsed).",
            f.name
        );
        quote! { #[doc = #d] pub const #c: usize = #i; }
    });
    let n_fields = row.fields.len();
    let row_name = &row.name;
    let size_msg = format!("layout of {} changed: its size is not {size}", row.name);
    let align_msg = format!(
        "layout of {} changed: its alignment is not {align}",
        row.name
    );
    let debug_names = row.fields.iter().map(|f| f.name.as_str());
    let debug_idents = row.fields.iter().map(|f| format_ident!("{}", f.name));
    quote! {
        #doc
        #[derive(Clone, Copy, PartialEq, Eq, Hash, ::netbase_runtime::SharedRow)]
        #[repr(C)]
        pub struct #ident { #(#fields)* }
        // Padding is always zero and would only clutter the output.
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#row_name) #(.field(#debug_names, &self.#debug_idents))* .finish()
            }
        }
        impl #ident {
            /// Every field zero (or its zero value).
            pub const ZERO: Self = Self { #(#zero)* };
            /// Size in bytes, the same in every process built from this schema.
            pub const SIZE: usize = #size;
            /// Schema fields in schema order (padding excluded).
            pub const FIELDS: [::netbase_runtime::schema_info::FieldInfo; #n_fields] = [#(#infos)*];
            #(#index_consts)*
        }
        impl Default for #ident {
            fn default() -> Self { Self::ZERO }
        }
        const _: () = {
            // Written as `if … { panic!() }` rather than `assert!(…)`: the condition is then
            // ordinary code that formats the same in every build, not macro tokens.
            if ::core::mem::size_of::<#ident>() != #size { panic!(#size_msg) }
            if ::core::mem::align_of::<#ident>() != #align { panic!(#align_msg) }
            #(#asserts)*
        };
    }
}

fn emit_tables(schema: &Schema) -> TokenStream {
    let mut consts = Vec::new();
    let mut all = Vec::new();
    for (i, t) in schema.tables.iter().enumerate() {
        let row = &schema.rows[t.row];
        let c = format_ident!("{}", t.name.to_uppercase());
        let name = &t.name;
        let kind = match t.kind {
            TableKind::Array => quote! { Array },
            TableKind::Hash => quote! { Hash },
            TableKind::Lpm => quote! { Lpm },
        };
        let row_name = &row.name;
        let row_ident = format_ident!("{}", row.name);
        let cap = t.capacity;
        let key = t.key.iter().map(|&k| row.fields[k].name.as_str());
        let doc = doc_attr(&t.doc);
        let id = format_ident!("{}_ID", t.name.to_uppercase());
        consts.push(quote! {
            #doc
            pub const #c: ::netbase_runtime::schema_info::TableInfo = ::netbase_runtime::schema_info::TableInfo {
                name: #name,
                kind: ::netbase_runtime::schema_info::TableKind::#kind,
                row: #row_name,
                capacity: #cap,
                row_size: ::core::mem::size_of::<super::#row_ident>(),
                key: &[#(#key),*],
            };
            /// Index of this table in [`ALL`].
            pub const #id: usize = #i;
        });
        consts.push(emit_key_fns(schema, t));
        all.push(c);
    }
    let selectors = schema.rows.iter().map(|row| {
        let r_idx = schema
            .rows
            .iter()
            .position(|r| r.name == row.name)
            .unwrap_or(0);
        let fn_name = format_ident!("table_for_{}", crate::emit::snake(&row.name));
        let row_ident = format_ident!("{}", row.name);
        let arms = schema
            .tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.row == r_idx)
            .map(|(i, t)| match t.select {
                Some((f, v)) => {
                    let fi = format_ident!("{}", row.fields[f].name);
                    let val = field_value_for_compare(schema, row.fields[f].ty, v);
                    quote! { if row.#fi == #val { return Some(#i); } }
                }
                None => quote! { return Some(#i); },
            });
        let doc = format!(
            " The table (index into [`ALL`]) that a `{}` row belongs to, if any.",
            row.name
        );
        quote! {
            #[doc = #doc]
            #[allow(unreachable_code, unused_variables)]
            pub fn #fn_name(row: &super::#row_ident) -> Option<usize> {
                #(#arms)*
                None
            }
        }
    });
    let objects = crate::layout::table_objects(schema);
    let total = objects.last().map_or(0, |o| {
        o.offset + o.size - netbase_runtime::workspace::HEADER_SIZE
    });
    let offsets = objects.iter().map(|o| {
        let c = format_ident!("{}_OFFSET", o.name.to_uppercase());
        let b = format_ident!("{}_BYTES", o.name.to_uppercase());
        let (off, size) = (o.offset, o.size);
        let d = format!(
            " Offset of table `{}` in the workspace that holds the tables.",
            o.name
        );
        quote! { #[doc = #d] pub const #c: u64 = #off; pub const #b: u64 = #size; }
    });
    quote! {
        /// The netbase tables of this schema.
        pub mod tables {
            #(#offsets)*
            /// Bytes (after the workspace header) of the workspace that holds the tables.
            pub const WORKSPACE_BYTES: u64 = #total;
            #(#consts)*
            /// Every table, in schema order.
            pub const ALL: &[::netbase_runtime::schema_info::TableInfo] = &[#(#all),*];
            #(#selectors)*
        }
    }
}

fn field_value_for_compare(schema: &Schema, ty: FieldType, v: u64) -> TokenStream {
    match ty {
        FieldType::Enum(i) => {
            let e = format_ident!("{}", schema.enums[i].name);
            let l = int_lit(schema.enums[i].repr, v);
            quote! { super::#e(#l) }
        }
        other => field_value(schema, other, v),
    }
}

/// The key helpers of a table: a byte key for hash and array tables (fields in key order,
/// integers little-endian, addresses as on the wire), and prefix / metric / next-hop views for
/// LPM tables.
fn emit_key_fns(schema: &Schema, t: &crate::schema::TableDef) -> TokenStream {
    let row = &schema.rows[t.row];
    let row_ident = format_ident!("{}", row.name);
    let name = &t.name;
    match t.kind {
        TableKind::Array | TableKind::Hash => {
            let fn_name = format_ident!("{}_key", t.name);
            let len: usize = t
                .key
                .iter()
                .map(|&k| row.fields[k].ty.size(&schema.enums))
                .sum();
            let mut at = 0usize;
            let parts = t.key.iter().map(|&k| {
                let f = &row.fields[k];
                let fi = format_ident!("{}", f.name);
                let size = f.ty.size(&schema.enums);
                let (a, b) = (at, at + size);
                at = b;
                let bytes = match f.ty {
                    FieldType::Int(_) => quote! { row.#fi.to_le_bytes() },
                    FieldType::Enum(_) => quote! { row.#fi.0.to_le_bytes() },
                    _ => quote! { row.#fi.0 },
                };
                quote! { k[#a..#b].copy_from_slice(&#bytes); }
            });
            let doc = format!(
                " The key of a `{}` row in table `{name}` ({len} bytes).",
                row.name
            );
            quote! {
                #[doc = #doc]
                pub fn #fn_name(row: &super::#row_ident) -> [u8; #len] {
                    let mut k = [0u8; #len];
                    #(#parts)*
                    k
                }
            }
        }
        TableKind::Lpm => {
            let (addr, len) = (&row.fields[t.key[0]], &row.fields[t.key[1]]);
            let (addr_i, len_i) = (
                format_ident!("{}", addr.name),
                format_ident!("{}", len.name),
            );
            let prefix_fn = format_ident!("{}_prefix", t.name);
            let nexthop_fn = format_ident!("{}_nexthop", t.name);
            let metric_fn = format_ident!("{}_metric", t.name);
            let (prefix_ty, prefix_val, zero) = match addr.ty {
                FieldType::Ipv6 => (
                    quote! { [u8; 16] },
                    quote! { row.#addr_i.0 },
                    quote! { ::netbase_runtime::types::Ipv6::UNSPECIFIED },
                ),
                _ => (
                    quote! { u32 },
                    quote! { row.#addr_i.to_u32() },
                    quote! { ::netbase_runtime::types::Ipv4::UNSPECIFIED },
                ),
            };
            let metric = match t.metric {
                Some(m) => {
                    let mi = format_ident!("{}", row.fields[m].name);
                    quote! { u32::from(row.#mi) }
                }
                None => quote! { 0 },
            };
            let d1 = format!(" The prefix (address in host order for IPv4, length) of a `{}` row in table `{name}`.", row.name);
            let d2 = " The row as the table's next hop: the same row with its prefix cleared, so that routes to different prefixes through one next hop share it.".to_string();
            let d3 = " The metric that orders routes to one prefix (lowest wins); 0 when the table has none.".to_string();
            quote! {
                #[doc = #d1]
                pub fn #prefix_fn(row: &super::#row_ident) -> (#prefix_ty, u8) {
                    (#prefix_val, row.#len_i)
                }
                #[doc = #d2]
                pub fn #nexthop_fn(row: &super::#row_ident) -> super::#row_ident {
                    super::#row_ident { #addr_i: #zero, #len_i: 0, ..*row }
                }
                #[doc = #d3]
                #[allow(unused_variables, clippy::useless_conversion)]
                pub fn #metric_fn(row: &super::#row_ident) -> u32 {
                    #metric
                }
            }
        }
    }
}
