//! From the schema as written to the validated model: every name resolved, every constraint
//! checked, every problem reported with its location (all of them, not just the first).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::raw::{RawEnum, RawField, RawRow, RawSchema, RawSourceTable, RawTable};
use super::*;
use crate::diag::{Collector, Diagnostics, SourceFile};
use crate::family;
use crate::toml_input::{self, Spanned};
use crate::uapi_names;

/// Fields per row: the parsers report presence as one bit per field in a `u64`.
pub const MAX_FIELDS: usize = 64;
/// Schema versions this code generator understands.
pub const SUPPORTED_VERSIONS: &[i64] = &[1];
/// Largest table capacity (rows); bigger tables do not fit the 32-bit row indexes.
pub const MAX_CAPACITY: i64 = 1 << 28;
/// Longest fixed name.
pub const MAX_NAME_LEN: i64 = 256;

type Ctx<'a> = Collector<'a>;

pub(super) fn resolve(file: &SourceFile, raw: RawSchema) -> Result<Schema, Diagnostics> {
    let mut cx = Ctx::new(file);

    let version = *raw.schema_version.get_ref();
    if !SUPPORTED_VERSIONS.contains(&version) {
        cx.err(
            raw.schema_version.span(),
            format!("unsupported schema_version {version}"),
            "1",
        );
    }
    check_ident(&mut cx, &raw.name, IdentCase::Snake, "schema name");

    let mut type_names: HashMap<String, Range<usize>> = HashMap::new();
    let enums: Vec<EnumDef> = raw
        .enums
        .iter()
        .map(|e| {
            declare(&mut cx, &mut type_names, &e.name, "type");
            resolve_enum(&mut cx, e)
        })
        .collect();

    let rows: Vec<RowDef> = raw
        .rows
        .iter()
        .map(|r| {
            declare(&mut cx, &mut type_names, &r.name, "type");
            resolve_row(&mut cx, r, &enums)
        })
        .collect();

    let mut table_names = HashMap::new();
    let mut tables = Vec::new();
    for t in &raw.tables {
        declare(&mut cx, &mut table_names, &t.name, "table");
        if let Some(def) = resolve_table(&mut cx, t, &rows, &raw.rows, &enums) {
            tables.push(def);
        }
    }
    check_table_selection(&mut cx, &raw.tables, &tables, &rows);

    let schema = Schema {
        path: file.path.clone(),
        name: raw.name.get_ref().clone(),
        version: u32::try_from(version).unwrap_or(0),
        enums,
        rows,
        tables,
    };
    cx.diags.into_result(schema)
}

#[derive(Clone, Copy)]
enum IdentCase {
    Snake,
    Camel,
}

fn check_ident(cx: &mut Ctx, name: &Spanned<String>, case: IdentCase, what: &str) -> bool {
    let s = name.get_ref();
    let mut chars = s.chars();
    let ok = match case {
        IdentCase::Snake => {
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
        IdentCase::Camel => {
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && s.chars().all(|c| c.is_ascii_alphanumeric())
        }
    };
    let ok = ok && syn::parse_str::<syn::Ident>(s).is_ok();
    if !ok {
        let expected = match case {
            IdentCase::Snake => "a snake_case identifier: a lowercase letter, then a-z, 0-9 or _",
            IdentCase::Camel => {
                "an UpperCamelCase identifier: an uppercase letter, then A-Z, a-z or 0-9"
            }
        };
        cx.err(name.span(), format!("invalid {what} `{s}`"), expected);
    }
    ok
}

fn declare(
    cx: &mut Ctx,
    seen: &mut HashMap<String, Range<usize>>,
    name: &Spanned<String>,
    what: &str,
) {
    cx.declare(seen, name, what);
}

fn resolve_enum(cx: &mut Ctx, e: &RawEnum) -> EnumDef {
    check_ident(cx, &e.name, IdentCase::Camel, "enum name");
    let repr = IntType::parse(e.repr.get_ref()).unwrap_or_else(|| {
        cx.err(
            e.repr.span(),
            format!("unknown enum repr `{}`", e.repr.get_ref()),
            "one of u8, u16, u32, u64",
        );
        IntType::U8
    });
    if e.values.get_ref().is_empty() {
        cx.err(
            e.values.span(),
            "an enum needs at least one value",
            "{ name = number, ... }",
        );
    }
    let mut values = Vec::new();
    let mut rejected = Vec::new();
    let mut by_value: BTreeMap<u64, &str> = BTreeMap::new();
    for (name, value) in e.values.get_ref() {
        check_ident(cx, name, IdentCase::Snake, "enum value name");
        let v = *value.get_ref();
        if v < 0 || (v as u64) > repr.max() {
            cx.err(
                value.span(),
                format!(
                    "value {v} of `{}` does not fit the enum's repr {}",
                    name.get_ref(),
                    repr.name()
                ),
                format!("0..={}", repr.max()),
            );
            rejected.push(name.get_ref().clone());
            continue;
        }
        if let Some(other) = by_value.insert(v as u64, name.get_ref()) {
            cx.err(
                value.span(),
                format!(
                    "value {v} of `{}` is already used by `{other}`",
                    name.get_ref()
                ),
                "distinct values",
            );
        }
        values.push((name.get_ref().clone(), v as u64));
    }
    values.sort_by_key(|(_, v)| *v);
    let mut aliases = Vec::new();
    for (alias, target) in &e.aliases {
        if !values.iter().any(|(n, _)| n == target.get_ref())
            && !rejected.contains(target.get_ref())
        {
            let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
            cx.err(
                target.span(),
                format!(
                    "alias `{}` names unknown value `{}`",
                    alias.get_ref(),
                    target.get_ref()
                ),
                one_of(&names),
            );
        }
        aliases.push((alias.get_ref().clone(), target.get_ref().clone()));
    }
    EnumDef {
        name: e.name.get_ref().clone(),
        doc: e.doc.clone(),
        repr,
        values,
        aliases,
        flags: e.flags,
        rejected,
    }
}

fn kernel_const(cx: &mut Ctx, name: &Spanned<String>, prefix: &str, what: &str) -> Option<u64> {
    let n = name.get_ref();
    if n.starts_with(prefix) {
        if let Some(v) = uapi_names::lookup(n) {
            return Some(v);
        }
    }
    let hints = uapi_names::suggest(n, prefix);
    let expected = if hints.is_empty() {
        format!("a kernel constant starting with {prefix}")
    } else {
        format!(
            "a kernel constant starting with {prefix}, e.g. {}",
            hints.join(", ")
        )
    };
    cx.err(name.span(), format!("unknown {what} `{n}`"), expected);
    None
}

fn resolve_row(cx: &mut Ctx, r: &RawRow, enums: &[EnumDef]) -> RowDef {
    check_ident(cx, &r.name, IdentCase::Camel, "row name");
    let m = r.message.get_ref();
    let new_type = kernel_const(cx, &m.new, "RTM_", "message type").unwrap_or(0) as u16;
    let del_type = kernel_const(cx, &m.del, "RTM_", "message type").unwrap_or(0) as u16;
    let header = family::header(m.header.get_ref()).unwrap_or_else(|| {
        let names: Vec<&str> = family::HEADERS.iter().map(|h| h.name).collect();
        cx.err(
            m.header.span(),
            format!("unknown family header `{}`", m.header.get_ref()),
            one_of(&names),
        );
        &family::HEADERS[0]
    });
    let family = if m.family.get_ref() == "any" {
        None
    } else {
        kernel_const(cx, &m.family, "AF_", "address family")
            .map(|v| (m.family.get_ref().clone(), v as u8))
    };

    let mut skip_if = Vec::new();
    for s in &r.skip_if {
        let s_ref = s.get_ref();
        let Some(field) = header_field(cx, header, &s_ref.field) else {
            continue;
        };
        let mask = match s_ref.mask.get_ref().parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => kernel_const(cx, &s_ref.mask, "", "flag constant"),
        };
        if let Some(mask) = mask {
            skip_if.push(SkipIf {
                field: *field,
                mask_name: s_ref.mask.get_ref().clone(),
                mask,
            });
        }
    }

    if r.fields.is_empty() {
        cx.err(
            r.name.span(),
            format!("row `{}` has no fields", r.name.get_ref()),
            "at least one [[row.field]]",
        );
    }
    if r.fields.len() > MAX_FIELDS {
        cx.err(
            r.fields[MAX_FIELDS].name.span(),
            format!("row `{}` has {} fields", r.name.get_ref(), r.fields.len()),
            format!("at most {MAX_FIELDS} fields per row"),
        );
    }
    let mut seen = HashMap::new();
    let mut fields: Vec<FieldDef> = Vec::new();
    let mut typed = Vec::new();
    for f in &r.fields {
        declare(cx, &mut seen, &f.name, "field");
        let (def, ok) = resolve_field(cx, f, header, enums);
        fields.push(def);
        typed.push(ok);
    }
    // `when` refers to other fields of the row, so it is resolved once all are known.
    let conditional: Vec<bool> = r.fields.iter().map(|f| f.when.is_some()).collect();
    let mut whens = Vec::new();
    for (i, f) in r.fields.iter().enumerate() {
        if let Some(w) = &f.when {
            let targets = WhenTargets {
                fields: &fields,
                typed: &typed,
                conditional: &conditional,
            };
            whens.push((i, resolve_when(cx, w, i, &targets, enums)));
        }
    }
    for (i, w) in whens {
        fields[i].when = w;
    }
    RowDef {
        name: r.name.get_ref().clone(),
        doc: r.doc.clone(),
        message: MessageSpec {
            new_name: m.new.get_ref().clone(),
            new_type,
            del_name: m.del.get_ref().clone(),
            del_type,
            header,
            family,
        },
        skip_if,
        fields,
    }
}

fn header_field(
    cx: &mut Ctx,
    header: &'static FamilyHeader,
    name: &Spanned<String>,
) -> Option<&'static HeaderField> {
    let f = header.field(name.get_ref());
    if f.is_none() {
        let names: Vec<&str> = header.fields.iter().map(|f| f.name).collect();
        cx.err(
            name.span(),
            format!("`{}` is not a field of {}", name.get_ref(), header.name),
            one_of(&names),
        );
    }
    f
}

fn parse_type(cx: &mut Ctx, f: &RawField, enums: &[EnumDef]) -> Option<FieldType> {
    let t = f.ty.get_ref().as_str();
    let ty = match t {
        "ipv4" => FieldType::Ipv4,
        "ipv6" => FieldType::Ipv6,
        "mac" => FieldType::Mac,
        "name" => {
            let Some(len) = &f.len else {
                cx.err(
                    f.ty.span(),
                    "a `name` field needs a length",
                    format!("`len = N` with 2 <= N <= {MAX_NAME_LEN}"),
                );
                return None;
            };
            let n = *len.get_ref();
            if !(2..=MAX_NAME_LEN).contains(&n) {
                cx.err(
                    len.span(),
                    format!("name length {n} is out of range"),
                    format!("2..={MAX_NAME_LEN}"),
                );
                return None;
            }
            FieldType::Name(n as usize)
        }
        other => match IntType::parse(other) {
            Some(i) => FieldType::Int(i),
            None => match enums.iter().position(|e| e.name == other) {
                Some(i) => FieldType::Enum(i),
                None => {
                    let mut kinds = vec!["u8", "u16", "u32", "u64", "ipv4", "ipv6", "mac", "name"];
                    kinds.extend(enums.iter().map(|e| e.name.as_str()));
                    cx.err(
                        f.ty.span(),
                        format!("unknown field type `{other}`"),
                        one_of(&kinds),
                    );
                    return None;
                }
            },
        },
    };
    if let (Some(len), false) = (&f.len, matches!(ty, FieldType::Name(_))) {
        cx.err(
            len.span(),
            "`len` is only allowed on fields of type `name`",
            "no `len` key",
        );
    }
    Some(ty)
}

fn resolve_field(
    cx: &mut Ctx,
    f: &RawField,
    header: &'static FamilyHeader,
    enums: &[EnumDef],
) -> (FieldDef, bool) {
    let name_ok = check_ident(cx, &f.name, IdentCase::Snake, "field name");
    if name_ok && f.name.get_ref().starts_with('_') {
        cx.err(
            f.name.span(),
            "field names starting with `_` are reserved for padding",
            "a name starting with a letter",
        );
    }
    let ty = parse_type(cx, f, enums);
    let ty_or_u8 = ty.unwrap_or(FieldType::Int(IntType::U8));
    let presence = f.present.as_ref().is_some_and(|p| *p.get_ref());
    let mut sources = Vec::new();
    if let Some(src) = &f.source {
        let items: Vec<Spanned<toml::Value>> = match src.get_ref() {
            toml::Value::Array(items) => items
                .iter()
                // Elements of an inline array carry no span of their own: report at the array.
                .map(|v| Spanned::new(src.span(), v.clone()))
                .collect(),
            _ => vec![src.clone()],
        };
        if items.is_empty() {
            cx.err(
                src.span(),
                "empty `source`",
                "a source path, or an array of them",
            );
        }
        for item in &items {
            if let Some(s) = resolve_source(cx, item, header, ty, enums, presence) {
                sources.push(s);
            }
        }
    } else if presence {
        cx.err(
            f.present
                .as_ref()
                .map(|p| p.span())
                .unwrap_or(f.name.span()),
            "`present = true` needs a `source`",
            "a source attribute",
        );
    }
    if presence {
        if ty.is_some() && ty != Some(FieldType::Int(IntType::U8)) {
            cx.err(
                f.ty.span(),
                "a presence flag must have type u8",
                "type = \"u8\"",
            );
        }
        if sources.len() > 1
            || sources
                .iter()
                .any(|s| matches!(s.path, SourcePath::Header(_)))
        {
            cx.err(
                f.source.as_ref().map_or(f.name.span(), |s| s.span()),
                "a presence flag takes exactly one attribute source",
                "source = \"ATTR\"",
            );
        }
    }
    let default = match &f.default {
        None => 0,
        // A field of an unknown type was reported already; its default cannot be checked.
        Some(_) if ty.is_none() => 0,
        Some(d) => value_of(cx, d, ty_or_u8, enums, "default").unwrap_or(0),
    };
    let other_lengths = match f.other_lengths.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("error") => OtherLengths::Error,
        Some("ignore") => OtherLengths::Ignore,
        Some(other) => {
            let span = f.other_lengths.as_ref().map(|s| s.span()).unwrap_or(0..0);
            cx.err(
                span,
                format!("unknown `other_lengths` policy `{other}`"),
                "\"error\" or \"ignore\"",
            );
            OtherLengths::Error
        }
    };
    let def = FieldDef {
        name: f.name.get_ref().clone(),
        doc: f.doc.clone(),
        ty: ty_or_u8,
        sources,
        default,
        other_lengths,
        when: None,
    };
    (def, ty.is_some())
}

/// A number for integer fields, a variant name for enum fields.
fn value_of(
    cx: &mut Ctx,
    v: &Spanned<toml::Value>,
    ty: FieldType,
    enums: &[EnumDef],
    what: &str,
) -> Option<u64> {
    match (ty, v.get_ref()) {
        (FieldType::Int(t), toml::Value::Integer(i)) => {
            if *i < 0 || (*i as u64) > t.max() {
                cx.err(
                    v.span(),
                    format!("{what} {i} does not fit {}", t.name()),
                    format!("0..={}", t.max()),
                );
                None
            } else {
                Some(*i as u64)
            }
        }
        (FieldType::Enum(e), toml::Value::String(s)) => {
            let def = &enums[e];
            let found = def.value_of(s);
            // A value whose declaration was already reported is not reported again.
            if found.is_none() && !def.rejected.contains(s) {
                let names: Vec<&str> = def.values.iter().map(|(n, _)| n.as_str()).collect();
                cx.err(
                    v.span(),
                    format!("`{s}` is not a value of enum {}", def.name),
                    one_of(&names),
                );
            }
            found
        }
        (FieldType::Int(t), other) => {
            cx.err(
                v.span(),
                format!(
                    "{what} must be an integer, found {}",
                    toml_input::kind_of(other)
                ),
                format!("an integer that fits {}", t.name()),
            );
            None
        }
        (FieldType::Enum(e), other) => {
            cx.err(
                v.span(),
                format!(
                    "{what} must be a string, found {}",
                    toml_input::kind_of(other)
                ),
                format!("a value name of enum {}", enums[e].name),
            );
            None
        }
        (other, _) => {
            cx.err(
                v.span(),
                format!(
                    "a {what} is only allowed on integer and enum fields, not {}",
                    other.spelling(enums)
                ),
                format!("no `{what}` key"),
            );
            None
        }
    }
}

fn resolve_source(
    cx: &mut Ctx,
    item: &Spanned<toml::Value>,
    header: &'static FamilyHeader,
    ty: Option<FieldType>,
    enums: &[EnumDef],
    presence: bool,
) -> Option<Source> {
    let table: RawSourceTable = match item.get_ref() {
        toml::Value::String(s) => RawSourceTable {
            path: s.clone(),
            wire: None,
            map: BTreeMap::new(),
        },
        toml::Value::Table(_) => match toml_input::from_value(cx.file, item) {
            Ok(t) => t,
            Err(d) => {
                cx.push(d);
                return None;
            }
        },
        other => {
            cx.err(
                item.span(),
                format!(
                    "a source must be a string or a table, found {}",
                    toml_input::kind_of(other)
                ),
                "\"ATTR\", \"ATTR/NESTED\", \"hdr.field\" or { path = ..., map = {...} }",
            );
            return None;
        }
    };
    let span = item.span();
    if table.path.trim().is_empty() {
        cx.err(span, "empty source path", "an attribute (\"RTA_GATEWAY\"), a nested path (\"IFLA_LINKINFO/IFLA_INFO_KIND\") or a header field (\"hdr.rtm_type\")");
        return None;
    }
    let path_spanned = Spanned::new(span.clone(), table.path.clone());
    let path = if let Some(hf) = table.path.strip_prefix("hdr.") {
        let f = header_field(cx, header, &Spanned::new(span.clone(), hf.to_string()))?;
        SourcePath::Header(*f)
    } else {
        let mut chain = Vec::new();
        for seg in table.path.split('/') {
            let seg_sp = Spanned::new(span.clone(), seg.to_string());
            let prefix: String = seg
                .split('_')
                .next()
                .map(|p| format!("{p}_"))
                .unwrap_or_default();
            let v = kernel_const(
                cx,
                &seg_sp,
                if prefix.len() > 1 { &prefix } else { "" },
                "attribute",
            )?;
            if v > u64::from(u16::MAX >> 2) {
                cx.err(
                    span.clone(),
                    format!("attribute `{seg}` = {v} is out of range"),
                    "an attribute type below 16384",
                );
                return None;
            }
            chain.push((seg.to_string(), v as u16));
        }
        if chain.is_empty() {
            cx.err(span, "empty source path", "an attribute or hdr.field");
            return None;
        }
        SourcePath::Attr(chain)
    };
    let _ = path_spanned;
    let ty = ty?;
    let wire = match (table.wire.as_deref(), presence) {
        (_, true) => Wire::Presence,
        (None, _) => {
            // IFLA_INFO_KIND and friends are strings; a name field is always a string.
            let is_string_attr = matches!(&path, SourcePath::Attr(c) if c.last().is_some_and(|(n, _)| STRING_ATTRS.contains(&n.as_str())));
            if matches!(ty, FieldType::Name(_)) || is_string_attr {
                Wire::String
            } else {
                Wire::Native
            }
        }
        (Some("native"), _) => Wire::Native,
        (Some("string"), _) => Wire::String,
        (Some(other), _) => {
            cx.err(
                span,
                format!("unknown wire format `{other}`"),
                "\"native\" or \"string\"",
            );
            return None;
        }
    };
    match (&wire, ty, &path) {
        (Wire::String, FieldType::Name(_) | FieldType::Enum(_), SourcePath::Attr(_)) => {}
        (Wire::String, _, SourcePath::Header(_)) => {
            cx.err(
                span,
                "header fields are integers, not strings",
                "an attribute path for a string source",
            );
            return None;
        }
        (Wire::String, other, _) => {
            cx.err(
                span,
                format!(
                    "a string source can only fill a name or enum field, not {}",
                    other.spelling(enums)
                ),
                "type = \"name\" or an enum type",
            );
            return None;
        }
        (Wire::Native, FieldType::Name(_), _) => {
            cx.err(
                span,
                "a name field needs a string source",
                "wire = \"string\" (the default for names)",
            );
            return None;
        }
        (
            Wire::Native,
            FieldType::Ipv4 | FieldType::Ipv6 | FieldType::Mac,
            SourcePath::Header(_),
        ) => {
            cx.err(
                span,
                format!(
                    "header fields are integers and cannot fill a {} field",
                    ty.spelling(enums)
                ),
                "an attribute source",
            );
            return None;
        }
        (Wire::Native, FieldType::Int(_) | FieldType::Enum(_), SourcePath::Header(h))
            if table.map.is_empty() =>
        {
            let width = ty.size(enums);
            if h.size > width {
                cx.err(
                    span,
                    format!(
                        "header field {} is {} bytes wide and does not fit {}",
                        h.name,
                        h.size,
                        ty.spelling(enums)
                    ),
                    format!("a field type of at least {} bytes", h.size),
                );
                return None;
            }
        }
        _ => {}
    }
    let mut map = Vec::new();
    if !table.map.is_empty() {
        let FieldType::Enum(e) = ty else {
            cx.err(span, "`map` is only allowed for enum fields", "no `map`");
            return None;
        };
        let def = &enums[e];
        for (k, v) in &table.map {
            let key = match wire {
                Wire::String => MapKey::Str(k.clone()),
                _ => match k.parse::<u64>() {
                    Ok(n) => MapKey::Int(n),
                    Err(_) => {
                        cx.err(
                            span.clone(),
                            format!("map key `{k}` is not a number"),
                            "numeric keys for an integer source",
                        );
                        continue;
                    }
                },
            };
            match def.value_of(v) {
                Some(val) => map.push((key, val)),
                None if def.rejected.contains(v) => {}
                None => {
                    let names: Vec<&str> = def.values.iter().map(|(n, _)| n.as_str()).collect();
                    cx.err(
                        span.clone(),
                        format!("map value `{v}` is not a value of enum {}", def.name),
                        one_of(&names),
                    );
                }
            }
        }
    }
    Some(Source { path, wire, map })
}

/// Attributes whose payload is a NUL-terminated string.
const STRING_ATTRS: &[&str] = &[
    "IFLA_IFNAME",
    "IFLA_INFO_KIND",
    "IFLA_INFO_SLAVE_KIND",
    "IFLA_QDISC",
    "IFLA_IFALIAS",
    "IFA_LABEL",
    "IFLA_ALT_IFNAME",
    "IFLA_PARENT_DEV_NAME",
];

/// Where the `when` conditions of a row may point.
struct WhenTargets<'a> {
    fields: &'a [FieldDef],
    typed: &'a [bool],
    conditional: &'a [bool],
}

fn resolve_when(
    cx: &mut Ctx,
    w: &Spanned<super::raw::RawWhen>,
    own: usize,
    targets: &WhenTargets,
    enums: &[EnumDef],
) -> Option<When> {
    let fields = targets.fields;
    let w = w.get_ref();
    let Some(idx) = fields.iter().position(|f| &f.name == w.field.get_ref()) else {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        cx.err(
            w.field.span(),
            format!("unknown field `{}` in `when`", w.field.get_ref()),
            format!("a field of this row: {}", names.join(", ")),
        );
        return None;
    };
    if idx == own {
        cx.err(
            w.field.span(),
            format!("field `{}` cannot depend on itself", w.field.get_ref()),
            "another field of this row",
        );
        return None;
    }
    if targets.conditional[idx] {
        cx.err(
            w.field.span(),
            format!("field `{}` has a `when` of its own", w.field.get_ref()),
            "a field without `when` (conditions do not chain)",
        );
        return None;
    }
    if !targets.typed[idx] {
        return None; // its type was reported as unknown already
    }
    let value = value_of(cx, &w.is, fields[idx].ty, enums, "`when` value")?;
    Some(When { field: idx, value })
}

fn resolve_table(
    cx: &mut Ctx,
    t: &RawTable,
    rows: &[RowDef],
    raw_rows: &[RawRow],
    enums: &[EnumDef],
) -> Option<TableDef> {
    check_ident(cx, &t.name, IdentCase::Snake, "table name");
    let kind = match t.kind.get_ref().as_str() {
        "array" => Some(TableKind::Array),
        "hash" => Some(TableKind::Hash),
        "lpm" => Some(TableKind::Lpm),
        other => {
            cx.err(
                t.kind.span(),
                format!("unknown table kind `{other}`"),
                "one of array, hash, lpm",
            );
            None
        }
    };
    let Some(row_idx) = raw_rows
        .iter()
        .position(|r| r.name.get_ref() == t.row.get_ref())
    else {
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        cx.err(
            t.row.span(),
            format!("unknown row type `{}`", t.row.get_ref()),
            one_of(&names),
        );
        return None;
    };
    let row = &rows[row_idx];
    let mut key = Vec::new();
    for k in t.key.get_ref() {
        match row.field_index(k.get_ref()) {
            Some(i) => key.push(i),
            None => {
                let names: Vec<&str> = row.fields.iter().map(|f| f.name.as_str()).collect();
                cx.err(
                    k.span(),
                    format!("row `{}` has no field `{}`", row.name, k.get_ref()),
                    one_of(&names),
                );
            }
        }
    }
    let kind = kind?;
    if key.len() != t.key.get_ref().len() {
        return None;
    }
    let cap = *t.capacity.get_ref();
    if !(1..=MAX_CAPACITY).contains(&cap) {
        cx.err(
            t.capacity.span(),
            format!("capacity {cap} is out of range"),
            format!("1..={MAX_CAPACITY} rows"),
        );
        return None;
    }
    match kind {
        TableKind::Array => {
            let ok = key.len() == 1 && matches!(row.fields[key[0]].ty, FieldType::Int(_));
            if !ok {
                cx.err(
                    t.key.span(),
                    "an array table is indexed by exactly one integer field",
                    "key = [\"<integer field>\"]",
                );
            } else if let FieldType::Int(it) = row.fields[key[0]].ty {
                if it != IntType::U64 && (cap as u64) > it.max() + 1 {
                    cx.err(
                        t.capacity.span(),
                        format!(
                            "capacity {cap} does not fit key `{}` of type {}",
                            row.fields[key[0]].name,
                            it.name()
                        ),
                        format!("at most {} rows", it.max() + 1),
                    );
                }
            }
        }
        TableKind::Hash => {
            if !(cap as u64).is_power_of_two() || cap < 2 {
                cx.err(
                    t.capacity.span(),
                    format!("hash table capacity {cap} is not a power of two"),
                    format!(
                        "a power of two, e.g. {}",
                        (cap.max(2) as u64).next_power_of_two()
                    ),
                );
            }
            if key.is_empty() {
                cx.err(
                    t.key.span(),
                    "a hash table needs at least one key field",
                    "key = [\"field\", ...]",
                );
            }
        }
        TableKind::Lpm => {
            let ok = key.len() == 2
                && matches!(row.fields[key[0]].ty, FieldType::Ipv4 | FieldType::Ipv6)
                && row.fields[key[1]].ty == FieldType::Int(IntType::U8);
            if !ok {
                cx.err(
                    t.key.span(),
                    "an lpm table is keyed by an address field and a u8 prefix length",
                    "key = [\"<ipv4 or ipv6 field>\", \"<u8 length field>\"]",
                );
            }
        }
    }
    let select = match &t.select {
        None => None,
        Some(s) => {
            let s = s.get_ref();
            match row.field_index(s.field.get_ref()) {
                None => {
                    cx.err(
                        s.field.span(),
                        format!("row `{}` has no field `{}`", row.name, s.field.get_ref()),
                        "a field of the table's row",
                    );
                    None
                }
                Some(i) => {
                    value_of(cx, &s.equals, row.fields[i].ty, enums, "select value").map(|v| (i, v))
                }
            }
        }
    };
    let metric = match &t.metric {
        None => None,
        Some(m) => match row.field_index(m.get_ref()) {
            None => {
                let names: Vec<&str> = row.fields.iter().map(|f| f.name.as_str()).collect();
                cx.err(
                    m.span(),
                    format!("row `{}` has no field `{}`", row.name, m.get_ref()),
                    one_of(&names),
                );
                None
            }
            Some(_) if kind != TableKind::Lpm => {
                cx.err(
                    m.span(),
                    "`metric` is only meaningful for lpm tables",
                    "no `metric` key, or kind = \"lpm\"",
                );
                None
            }
            Some(i) => match row.fields[i].ty {
                FieldType::Int(IntType::U8 | IntType::U16 | IntType::U32) => Some(i),
                other => {
                    cx.err(
                        m.span(),
                        format!(
                            "metric field `{}` has type {}",
                            m.get_ref(),
                            other.spelling(enums)
                        ),
                        "an integer field of at most 32 bits",
                    );
                    None
                }
            },
        },
    };
    Some(TableDef {
        name: t.name.get_ref().clone(),
        doc: t.doc.clone(),
        row: row_idx,
        kind,
        key,
        capacity: cap as u64,
        select,
        metric,
    })
}

/// A message must land in exactly one table: tables that share a row type need selectors that
/// tell them apart.
fn check_table_selection(cx: &mut Ctx, raw: &[RawTable], tables: &[TableDef], rows: &[RowDef]) {
    for (i, a) in tables.iter().enumerate() {
        for b in &tables[..i] {
            if a.row != b.row {
                continue;
            }
            let clash = match (a.select, b.select) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            if clash {
                let span = raw
                    .iter()
                    .find(|t| t.name.get_ref() == &a.name)
                    .map_or(0..0, |t| t.name.span());
                cx.err(
                    span,
                    format!("tables `{}` and `{}` both take every `{}` row", b.name, a.name, rows[a.row].name),
                    "a distinct `select = { field = ..., equals = ... }` on each table of the same row",
                );
            }
        }
    }
}

/// "one of a, b, c", or a plain statement when there is nothing to choose from.
fn one_of(names: &[&str]) -> String {
    if names.is_empty() {
        "a declared name (there are none)".to_string()
    } else {
        format!("one of {}", names.join(", "))
    }
}
