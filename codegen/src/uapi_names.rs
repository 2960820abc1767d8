//! Kernel constant names (`RTA_GATEWAY`, `RTM_NEWROUTE`, …) resolved to numbers.
//!
//! The numbers come from the committed bindgen output of `netbase-uapi`, parsed here with `syn`,
//! so the schema can name attributes the way the kernel headers do and no number is typed twice.

use std::collections::HashMap;
use std::sync::OnceLock;

fn table() -> &'static HashMap<String, u64> {
    static TABLE: OnceLock<HashMap<String, u64>> = OnceLock::new();
    TABLE.get_or_init(|| parse_consts(netbase_uapi::LINUX_RS_SOURCE))
}

/// Every `const NAME: T = <integer literal>;` of a Rust source, at any module depth.
pub fn parse_consts(source: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(file) = syn::parse_file(source) else {
        return out;
    };
    collect(&file.items, &mut out);
    out
}

fn collect(items: &[syn::Item], out: &mut HashMap<String, u64>) {
    for item in items {
        match item {
            syn::Item::Const(c) => {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(lit),
                    ..
                }) = &*c.expr
                {
                    if let Ok(v) = lit.base10_parse::<u64>() {
                        out.insert(c.ident.to_string(), v);
                    }
                }
            }
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    collect(inner, out);
                }
            }
            _ => {}
        }
    }
}

/// The value of a kernel constant, if the bindings define it.
pub fn lookup(name: &str) -> Option<u64> {
    table().get(name).copied()
}

/// Names with `prefix` closest to `name`, for "did you mean" hints.
pub fn suggest(name: &str, prefix: &str) -> Vec<String> {
    let mut candidates: Vec<(usize, &String)> = table()
        .keys()
        .filter(|k| k.starts_with(prefix))
        .map(|k| (edit_distance(k, name), k))
        .filter(|(d, _)| *d <= 3)
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .take(3)
        .map(|(_, k)| k.clone())
        .collect()
}

/// Levenshtein distance, for suggestions only.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_nested_consts() {
        let src = "pub const A: u32 = 5; pub mod m { pub const B: u16 = 0x10; } const C: i32 = -1;";
        let t = parse_consts(src);
        assert_eq!(t.get("A"), Some(&5));
        assert_eq!(t.get("B"), Some(&16));
        assert_eq!(t.get("C"), None);
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("RTA_GATEWAY", "RTA_GATEWY"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
