//! Diagnostics of malformed schema and topology files.
//!
//! - `FIXTURES`: one malformed file per mistake (tests/fixtures/invalid/), each pinned to the
//!   exact headline (`path:line:column: message`), `expected` text and number of diagnostics
//!   of its first error, and each shown to be one edit away from a valid file.
//! - every diagnostic points at text equal to its `found`, and renders with a caret line;
//! - thousands of deterministic mutations of the shipped files never panic the validators and
//!   always yield a located diagnostic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use netbase_codegen::{Diagnostic, Diagnostics, Schema, SourceFile, Topology};

/// tests/fixtures/invalid of the workspace root.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/invalid");

fn fixture(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// Diagnostic text with the fixture directory left out, so that pins do not depend on where
/// the workspace is checked out.
fn strip_dir(s: &str) -> String {
    s.replace(&format!("{DIR}/"), "")
}

/// Schema fixtures are named `schema_*`, topology fixtures `topology_*`.
fn is_schema(name: &str) -> bool {
    name.starts_with("schema_") || name == "valid_schema.toml"
}

/// Validates a fixture from disk, the way `netbase compile` does.
fn load(name: &str) -> Result<(), Diagnostics> {
    let path = fixture(name);
    if is_schema(name) {
        Schema::load(&path).map(|_| ())
    } else {
        Topology::load(&path).map(|_| ())
    }
}

/// Validates a text as if it were the fixture `name` (topologies find their schema next to it).
fn parse_as(name: &str, text: &str) -> Result<(), Diagnostics> {
    let file = SourceFile::new(fixture(name), text);
    if is_schema(name) {
        Schema::parse(&file).map(|_| ())
    } else {
        Topology::parse(&file, None).map(|_| ())
    }
}

/// What the first diagnostic of a fixture must say.
#[derive(Debug, Clone, Copy)]
enum Headline {
    /// Pinned: `file:line:column: message`.
    Is(&'static str),
    /// Only `file:line:column` is pinned: the message is a known problem, described here.
    At(&'static str, &'static str),
}

/// A pinned value, or a known problem (not pinned) with what it should be instead.
#[derive(Debug, Clone, Copy)]
enum Pin<T> {
    Is(T),
    // No entry needs it today; kept so that a diagnostic found wanting can be recorded as such.
    #[allow(dead_code)]
    Bad(&'static str),
}

struct Case {
    /// File in tests/fixtures/invalid.
    file: &'static str,
    /// Of the first diagnostic.
    headline: Headline,
    /// `expected` of the first diagnostic.
    expected: Pin<Option<&'static str>>,
    /// How many diagnostics the file yields.
    count: Pin<usize>,
    /// The one edit (`from` → `to`, `from` occurring once) that makes the file valid.
    fix: (&'static str, &'static str),
}

use netbase_runtime::rand::SplitMix64;
use Headline::At;
use Pin::{Bad, Is};

const CASES: &[Case] = &[
    // ---- schema files ----
    Case {
        file: "schema_toml_syntax.toml",
        headline: At(
            "schema_toml_syntax.toml:56:1",
            "points at the first character of the NEXT line (found `c`) with `invalid array`; \
             should point at the unclosed `[` at 55:7: `array is not closed`",
        ),
        expected: Is(Some("`]`")),
        count: Is(1),
        fix: ("key = [\"ifindex\"\n", "key = [\"ifindex\"]\n"),
    },
    Case {
        file: "schema_unknown_field_key.toml",
        headline: Headline::Is("schema_unknown_field_key.toml:44:3: unknown key `sorce`"),
        expected: Is(Some(
            "one of `name`, `type`, `len`, `doc`, `source`, `default`, `present`, \
             `other_lengths`, `when`",
        )),
        count: Is(1),
        fix: ("sorce = ", "source = "),
    },
    Case {
        file: "schema_wrong_type.toml",
        headline: Headline::Is("schema_wrong_type.toml:63:12: expected an integer, found a string"),
        expected: Is(Some("an integer")),
        count: Is(1),
        fix: ("\"1024\"", "1024"),
    },
    Case {
        file: "schema_duplicate_table.toml",
        headline: Headline::Is(
            "schema_duplicate_table.toml:59:8: duplicate table name `interfaces`",
        ),
        expected: Is(Some(
            "a name not used before (first defined at line 52, column 8)",
        )),
        count: Is(1),
        fix: (
            "name = \"interfaces\"\nrow = \"Route4\"",
            "name = \"routes4\"\nrow = \"Route4\"",
        ),
    },
    Case {
        file: "schema_unknown_row.toml",
        headline: Headline::Is("schema_unknown_row.toml:60:7: unknown row type `Route6`"),
        expected: Is(Some("one of Interface, Route4")),
        count: Is(1),
        fix: ("Route6", "Route4"),
    },
    Case {
        file: "schema_unknown_attribute.toml",
        headline: Headline::Is(
            "schema_unknown_attribute.toml:44:12: unknown attribute `RTA_GATEWY`",
        ),
        expected: Is(Some(
            "a kernel constant starting with RTA_, e.g. RTA_GATEWAY",
        )),
        count: Is(1),
        fix: ("\"RTA_GATEWY\"", "\"RTA_GATEWAY\""),
    },
    Case {
        file: "schema_hash_capacity.toml",
        headline: Headline::Is(
            "schema_hash_capacity.toml:56:12: hash table capacity 300 is not a power of two",
        ),
        expected: Is(Some("a power of two, e.g. 512")),
        count: Is(1),
        fix: ("capacity = 300", "capacity = 256"),
    },
    Case {
        file: "schema_capacity_zero.toml",
        headline: Headline::Is("schema_capacity_zero.toml:63:12: capacity 0 is out of range"),
        expected: Is(Some("1..=268435456 rows")),
        count: Is(1),
        fix: ("capacity = 0", "capacity = 1024"),
    },
    Case {
        file: "schema_capacity_too_big.toml",
        headline: Headline::Is(
            "schema_capacity_too_big.toml:63:12: capacity 536870912 is out of range",
        ),
        expected: Is(Some("1..=268435456 rows")),
        count: Is(1),
        fix: ("capacity = 536870912", "capacity = 1024"),
    },
    Case {
        file: "schema_array_capacity.toml",
        headline: Headline::Is(
            "schema_array_capacity.toml:25:12: capacity 512 does not fit key `table` of type u8",
        ),
        expected: Is(Some("at most 256 rows")),
        count: Is(1),
        fix: ("capacity = 512", "capacity = 256"),
    },
    Case {
        file: "schema_unknown_default.toml",
        headline: Headline::Is(
            "schema_unknown_default.toml:30:13: `othr` is not a value of enum LinkType",
        ),
        expected: Is(Some("one of other, ethernet, vlan")),
        count: Is(1),
        fix: ("\"othr\"", "\"other\""),
    },
    Case {
        file: "schema_when_unknown_field.toml",
        headline: Headline::Is(
            "schema_when_unknown_field.toml:24:20: unknown field `link_kind` in `when`",
        ),
        expected: Is(Some("a field of this row: ifindex, vlan_id, link_type")),
        count: Is(1),
        fix: ("link_kind", "link_type"),
    },
    Case {
        file: "schema_version.toml",
        headline: Headline::Is("schema_version.toml:3:18: unsupported schema_version 2"),
        expected: Is(Some("1")),
        count: Is(1),
        fix: ("schema_version = 2", "schema_version = 1"),
    },
    Case {
        file: "schema_unknown_key_field.toml",
        headline: Headline::Is(
            "schema_unknown_key_field.toml:55:8: row `Interface` has no field `index`",
        ),
        expected: Is(Some("one of ifindex, vlan_id, link_type")),
        count: Is(1),
        fix: ("[\"index\"]", "[\"ifindex\"]"),
    },
    Case {
        file: "schema_unknown_field_type.toml",
        headline: Headline::Is(
            "schema_unknown_field_type.toml:28:10: unknown field type `LinkKind`",
        ),
        expected: Is(Some(
            "one of u8, u16, u32, u64, ipv4, ipv6, mac, name, LinkType",
        )),
        count: Is(1),
        fix: ("LinkKind", "LinkType"),
    },
    Case {
        file: "schema_enum_value_too_big.toml",
        headline: Headline::Is(
            "schema_enum_value_too_big.toml:9:44: value 256 of `vlan` does not fit the enum's \
             repr u8",
        ),
        expected: Is(Some("0..=255")),
        count: Is(1),
        fix: ("vlan = 256", "vlan = 4"),
    },
    // ---- topology files (on valid_schema.toml) ----
    Case {
        file: "topology_toml_syntax.toml",
        headline: Headline::Is("topology_toml_syntax.toml:20:55: invalid inline table"),
        expected: Is(Some("`}`")),
        count: Is(1),
        fix: (
            "net_out = \"read-only\"\n\n[[tile]]\nname = \"net\"",
            "net_out = \"read-only\" }\n\n[[tile]]\nname = \"net\"",
        ),
    },
    Case {
        file: "topology_unknown_tile_key.toml",
        headline: Headline::Is("topology_unknown_tile_key.toml:25:1: unknown key `interfce`"),
        expected: Is(Some(
            "one of `name`, `kind`, `count`, `maps`, `user`, `restart`, `interface`, `xdp_mode`, \
             `dst_addr`, `udp_port`, `probe`, `app`",
        )),
        count: Is(1),
        fix: ("interfce = ", "interface = "),
    },
    Case {
        file: "topology_wrong_type.toml",
        headline: Headline::Is(
            "topology_wrong_type.toml:39:9: expected an integer, found a string",
        ),
        expected: Is(Some("an integer")),
        count: Is(1),
        fix: ("\"1024\"", "1024"),
    },
    Case {
        file: "topology_duplicate_tile.toml",
        headline: Headline::Is("topology_duplicate_tile.toml:29:8: duplicate tile name `net`"),
        expected: Is(Some(
            "a name not used before (first defined at line 23, column 8)",
        )),
        count: Is(1),
        fix: (
            "[[tile]]\nname = \"net\"\nkind = \"net\"\ninterface = \"veth0\"\nmaps = { netbase = \
             \"read-only\", net_out = \"read-write\", echo_out = \"read-only\" }\n\n[[tile]]\nname \
             = \"echo\"",
            "[[tile]]\nname = \"echo\"",
        ),
    },
    Case {
        file: "topology_unknown_producer.toml",
        headline: Headline::Is(
            "topology_unknown_producer.toml:36:12: link `solicit` has unknown producer `xdp`",
        ),
        expected: Is(Some("a tile of this topology: netlink, net, echo")),
        count: Is(1),
        fix: ("\"xdp\"", "\"net\""),
    },
    Case {
        file: "topology_unknown_consumer.toml",
        headline: Headline::Is(
            "topology_unknown_consumer.toml:46:12: link `net_echo` has unknown consumer `echo0`",
        ),
        expected: Is(Some("a tile of this topology: netlink, net, echo")),
        count: Is(1),
        fix: ("\"echo0\"", "\"echo\""),
    },
    Case {
        file: "topology_net_writes_netbase.toml",
        headline: Headline::Is(
            "topology_net_writes_netbase.toml:26:20: tile `net` (kind net) is given write \
             access to the netbase workspace `netbase`",
        ),
        expected: Is(Some(
            "\"read-only\": only the netlink tile writes the netbase tables",
        )),
        count: Is(1),
        fix: (
            "{ netbase = \"read-write\", net_out = \"read-write\"",
            "{ netbase = \"read-only\", net_out = \"read-write\"",
        ),
    },
    Case {
        file: "topology_two_netbase_writers.toml",
        headline: Headline::Is(
            "topology_two_netbase_writers.toml:25:20: two writers on the netbase tables \
             (interfaces, routes4): tiles `netlink` and `netlink2`",
        ),
        expected: Is(Some(
            "exactly one read-write mapping of a workspace that holds tables",
        )),
        count: Is(1),
        fix: (
            "name = \"netlink2\"\nkind = \"netlink\"\nmaps = { netbase = \"read-write\" }",
            "name = \"netlink2\"\nkind = \"netlink\"\nmaps = { netbase = \"read-only\" }",
        ),
    },
    Case {
        file: "topology_two_writers.toml",
        headline: Headline::Is(
            "topology_two_writers.toml:32:20: two writers on workspace `net_out`: tiles `net` \
             and `echo`",
        ),
        expected: Is(Some(
            "one read-write mapping per workspace (give each producer its own workspace)",
        )),
        count: Is(1),
        fix: (
            "{ net_out = \"read-write\", echo_out",
            "{ net_out = \"read-only\", echo_out",
        ),
    },
    Case {
        file: "topology_link_depth.toml",
        headline: Headline::Is(
            "topology_link_depth.toml:57:9: link depth 3000 is not a power of two",
        ),
        expected: Is(Some("a power of two, e.g. 2048 or 4096")),
        count: Is(1),
        fix: ("depth = 3000", "depth = 4096"),
    },
    Case {
        file: "topology_frame_size.toml",
        headline: Headline::Is(
            "topology_frame_size.toml:40:14: frame size 20 is not a multiple of 8",
        ),
        expected: Is(Some("a multiple of 8, e.g. 24")),
        count: Is(1),
        fix: ("frame_size = 20\n", "frame_size = 16\n"),
    },
    Case {
        file: "topology_size_limit.toml",
        headline: Headline::Is(
            "topology_size_limit.toml:9:14: workspace `netbase` needs 57344 bytes, over its \
             size_limit of 32768 (largest object: table.routes4 with 49152 bytes)",
        ),
        expected: Is(Some(
            "a size_limit that fits the tables and links it holds, or smaller capacities",
        )),
        count: Is(1),
        fix: ("\"32KiB\"", "\"64MiB\""),
    },
    Case {
        file: "topology_param_kind.toml",
        headline: Headline::Is(
            "topology_param_kind.toml:26:1: `udp_port` is not a parameter of tile kind `net`",
        ),
        expected: Is(Some("one of interface, xdp_mode, dst_addr")),
        count: Is(1),
        fix: ("udp_port = 7000\nmaps = { netbase", "maps = { netbase"),
    },
    Case {
        file: "topology_app_without_app.toml",
        headline: Headline::Is(
            "topology_app_without_app.toml:62:8: app tile `mine` needs an `app`",
        ),
        expected: Is(Some(
            "app = \"<name the binary registers the application under>\"",
        )),
        count: Is(1),
        fix: ("kind = \"app\"\n", "kind = \"app\"\napp = \"mine\"\n"),
    },
    Case {
        file: "topology_missing_schema.toml",
        headline: Headline::Is(
            "topology_missing_schema.toml:4:10: schema file `netbase.toml` not found",
        ),
        expected: Is(Some(
            "a path to a schema TOML file, relative to this topology",
        )),
        count: Is(1),
        fix: ("\"netbase.toml\"", "\"valid_schema.toml\""),
    },
    Case {
        file: "topology_invalid_schema.toml",
        headline: Headline::Is(
            "topology_invalid_schema.toml:4:10: schema `schema_version.toml` is invalid \
             (1 error(s) below)",
        ),
        expected: Is(None),
        // The schema's own error follows, located in the schema file.
        count: Is(2),
        fix: ("\"schema_version.toml\"", "\"valid_schema.toml\""),
    },
    Case {
        file: "topology_unknown_workspace.toml",
        headline: Headline::Is(
            "topology_unknown_workspace.toml:32:33: tile `echo` maps unknown workspace \
             `echo_ot`",
        ),
        expected: Is(Some("one of netbase, net_out, echo_out")),
        count: Is(1),
        fix: ("echo_ot", "echo_out"),
    },
];

fn load_err(name: &str) -> Diagnostics {
    match load(name) {
        Ok(()) => panic!("{name}: expected diagnostics, the file was accepted"),
        Err(d) => {
            assert!(!d.is_empty(), "{name}: Err without diagnostics");
            d
        }
    }
}

fn location(d: &Diagnostic) -> String {
    strip_dir(&format!("{}:{}:{}", d.path.display(), d.line, d.column))
}

#[test]
fn fixtures_pin_their_first_diagnostic() {
    let mut failures = Vec::new();
    for case in CASES {
        let diags = load_err(case.file);
        let first = &diags.0[0];
        let headline = strip_dir(&first.headline());
        match case.headline {
            Headline::Is(want) if headline != want => failures.push(format!(
                "{}: headline\n    got:  {headline}\n    want: {want}",
                case.file
            )),
            At(want, _) if location(first) != want => failures.push(format!(
                "{}: location\n    got:  {}\n    want: {want}",
                case.file,
                location(first)
            )),
            _ => {}
        }
        if let Is(want) = case.expected {
            if first.expected.as_deref() != want {
                failures.push(format!(
                    "{}: expected\n    got:  {:?}\n    want: {want:?}",
                    case.file, first.expected
                ));
            }
        }
        if let Is(want) = case.count {
            if diags.len() != want {
                failures.push(format!(
                    "{}: {} diagnostic(s), want {want}:\n{}",
                    case.file,
                    diags.len(),
                    strip_dir(&diags.to_string())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The known problems of the table, printed (`--nocapture`) as a to-do list: when one is fixed,
/// pin the new behaviour in `CASES`.
#[test]
fn known_problems_are_described() {
    for case in CASES {
        let mut notes = Vec::new();
        if let At(_, note) = case.headline {
            notes.push(("message", note));
        }
        if let Bad(note) = case.expected {
            notes.push(("expected", note));
        }
        if let Bad(note) = case.count {
            notes.push(("count", note));
        }
        for (what, note) in notes {
            assert!(!note.is_empty(), "{}: describe the problem", case.file);
            eprintln!("known problem: {} ({what}): {note}", case.file);
        }
    }
}

/// Each fixture differs from a valid file by exactly the one mistake it is named after.
#[test]
fn fixtures_are_one_edit_from_valid() {
    for case in CASES {
        let text = std::fs::read_to_string(fixture(case.file)).unwrap();
        let (from, to) = case.fix;
        assert_eq!(
            text.matches(from).count(),
            1,
            "{}: the fix's `from` must occur exactly once",
            case.file
        );
        let fixed = text.replacen(from, to, 1);
        if let Err(d) = parse_as(case.file, &fixed) {
            panic!(
                "{}: still invalid after the fix:\n{}",
                case.file,
                strip_dir(&d.to_string())
            );
        }
    }
}

#[test]
fn every_fixture_is_in_the_table_and_the_bases_are_valid() {
    let mut on_disk: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml") && !n.starts_with("valid_"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fixtures on disk vs. CASES");
    assert!(CASES.len() >= 16);
    assert!(CASES.iter().any(|c| is_schema(c.file)));
    assert!(CASES.iter().any(|c| !is_schema(c.file)));

    for base in ["valid_schema.toml", "valid_topology.toml"] {
        if let Err(d) = load(base) {
            panic!("{base} must be valid:\n{}", strip_dir(&d.to_string()));
        }
    }
}

/// The rest of `text` from a 1-based line and column (in characters), if it exists.
fn text_from(text: &str, line: usize, column: usize) -> Option<&str> {
    let line_start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[line_start..];
    let offset = match rest.char_indices().nth(column - 1) {
        Some((i, _)) => i,
        // Just past the last character of the file.
        None if rest.chars().count() == column - 1 => rest.len(),
        None => return None,
    };
    Some(&rest[offset..])
}

/// Checks that a located diagnostic points at `found` in `text`; whole-file diagnostics
/// (line 0) carry no location and no `found`.
fn check_points_at_found(text: &str, d: &Diagnostic) -> Result<(), String> {
    if d.line == 0 {
        return if d.column == 0 && d.found.is_empty() {
            Ok(())
        } else {
            Err(format!("whole-file diagnostic with a location: {d:?}"))
        };
    }
    let lines = text.matches('\n').count() + 1;
    if d.line > lines || d.column == 0 {
        return Err(format!(
            "{} is outside the file ({lines} lines)",
            d.headline()
        ));
    }
    match text_from(text, d.line, d.column) {
        Some(rest) if rest.starts_with(&d.found) => Ok(()),
        Some(rest) => Err(format!(
            "{}: found {:?} but the text there is {:?}",
            d.headline(),
            d.found,
            rest.chars()
                .take(d.found.chars().count().max(10))
                .collect::<String>()
        )),
        None => Err(format!("{}: column past the end of the line", d.headline())),
    }
}

#[test]
fn every_diagnostic_points_at_its_found_text() {
    let mut failures = Vec::new();
    for case in CASES {
        for d in load_err(case.file).iter() {
            // A topology's schema errors are located in the schema file.
            let text = std::fs::read_to_string(&d.path).unwrap();
            if d.line == 0 {
                failures.push(format!("{}: unlocated: {}", case.file, d.headline()));
            }
            if let Err(e) = check_points_at_found(&text, d) {
                failures.push(format!("{}: {}", case.file, strip_dir(&e)));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn display_underlines_the_offending_text() {
    let d = load_err("schema_version.toml");
    assert_eq!(
        strip_dir(&d.0[0].to_string()),
        "error: schema_version.toml:3:18: unsupported schema_version 2\n  \
         |\n\
         3 | schema_version = 2\n  \
         |                  ^\n  \
         = expected: 1"
    );

    // Every located diagnostic: the source line after `N | `, then carets under `found` (to the
    // end of its first line), then the expectation.
    for case in CASES {
        for d in load_err(case.file).iter().filter(|d| d.line > 0) {
            let shown = d.to_string();
            let text = std::fs::read_to_string(&d.path).unwrap();
            let src = text.lines().nth(d.line - 1).unwrap_or("");
            let number = d.line.to_string();
            let gutter = " ".repeat(number.len());
            let width = d
                .found
                .split('\n')
                .next()
                .unwrap_or("")
                .chars()
                .count()
                .max(1);
            let underline = format!(
                "{gutter} | {}{}",
                " ".repeat(d.column - 1),
                "^".repeat(width)
            );
            let lines: Vec<&str> = shown.lines().collect();
            assert_eq!(
                lines[0],
                format!("error: {}", d.headline()),
                "{}",
                case.file
            );
            assert_eq!(lines[1], format!("{gutter} |"), "{}", case.file);
            assert_eq!(lines[2], format!("{number} | {src}"), "{}", case.file);
            assert_eq!(lines[3], underline, "{}:\n{shown}", case.file);
            match &d.expected {
                Some(x) => assert_eq!(lines[4], format!("  = expected: {x}"), "{}", case.file),
                None => assert_eq!(lines.len(), 4, "{}", case.file),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: mutated shipped files never panic the validators.

/// Byte ranges of the numbers of a text (digit runs not inside a word, with a leading `-`).
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i].is_ascii_digit() && !word_before {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the contents of the double-quoted strings of a text.
fn strings(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (line_start, line) in text.split_inclusive('\n').scan(0, |pos, l| {
        let start = *pos;
        *pos += l.len();
        Some((start, l))
    }) {
        let code = line.split('#').next().unwrap_or("");
        let quotes: Vec<usize> = code.match_indices('"').map(|(i, _)| i).collect();
        for pair in quotes.chunks_exact(2) {
            out.push((line_start + pair[0] + 1, line_start + pair[1]));
        }
    }
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One random mutation of `text`, and its description.
fn mutate(text: &str, rng: &mut SplitMix64) -> (String, String) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (nums, strs) = (numbers(text), strings(text));
    // Kinds that need something to work on fall back to truncation.
    let kind = match rng.index(6) {
        0..=2 if text.is_empty() => 5,
        3 if nums.is_empty() => 5,
        4 if strs.is_empty() => 5,
        k => k,
    };
    match kind {
        0 => {
            let i = rng.index(lines.len());
            let mut out = lines.clone();
            out.remove(i);
            (
                out.concat(),
                format!("delete line {}: {:?}", i + 1, lines[i]),
            )
        }
        1 => {
            let i = rng.index(lines.len());
            let mut out = lines.clone();
            out.insert(i, lines[i]);
            (
                out.concat(),
                format!("duplicate line {}: {:?}", i + 1, lines[i]),
            )
        }
        2 => {
            let chars: Vec<char> = text.chars().collect();
            let (i, j) = (rng.index(chars.len()), rng.index(chars.len()));
            let mut out = chars.clone();
            out.swap(i, j);
            (
                out.into_iter().collect(),
                format!("swap characters {i} {:?} and {j} {:?}", chars[i], chars[j]),
            )
        }
        3 => {
            let (s, e) = nums[rng.index(nums.len())];
            let with = ["-1", "0", "99999999999"][rng.index(3)];
            (
                format!("{}{with}{}", &text[..s], &text[e..]),
                format!("replace number {:?} at byte {s} with {with}", &text[s..e]),
            )
        }
        4 => {
            let (s, e) = strs[rng.index(strs.len())];
            (
                format!("{}{}", &text[..s], &text[e..]),
                format!("empty the string {:?} at byte {s}", &text[s..e]),
            )
        }
        _ => {
            let at = floor_boundary(text, rng.index(text.len() + 1));
            (text[..at].to_string(), format!("truncate at byte {at}"))
        }
    }
}

/// Runs `check` on `count` mutations of `text` (a second mutation one time in four), and fails
/// listing every mutation that panicked or gave an unlocated error.
fn fuzz(
    name: &str,
    text: &str,
    seed: u64,
    count: usize,
    check: impl Fn(&SourceFile) -> Result<(), Diagnostics>,
) {
    let mut rng = SplitMix64::new(seed);
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for n in 0..count {
        let (mut mutated, mut what) = mutate(text, &mut rng);
        if rng.index(4) == 0 {
            let (again, what2) = mutate(&mutated, &mut rng);
            mutated = again;
            what = format!("{what}, then {what2}");
        }
        let file = SourceFile::new(name, mutated.clone());
        match catch_unwind(AssertUnwindSafe(|| check(&file))) {
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("#{n} {what}: PANIC {msg}"));
            }
            Ok(Ok(())) => accepted += 1,
            Ok(Err(diags)) => {
                rejected += 1;
                let lines = mutated.matches('\n').count() + 1;
                if !diags.iter().any(|d| (1..=lines).contains(&d.line)) {
                    failures.push(format!(
                        "#{n} {what}: no diagnostic located in the file: {diags:?}"
                    ));
                }
                for d in diags.iter() {
                    if let Err(e) = check_points_at_found(&mutated, d) {
                        failures.push(format!("#{n} {what}: {e}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} mutations of {name} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutations must exercise both outcomes to mean anything.
    assert!(
        accepted > 0 && rejected > count / 4,
        "{accepted} accepted, {rejected} rejected"
    );
}

/// Mutations per file: `default`, or `NETBASE_FUZZ_ITERATIONS` for a longer run.
fn iterations(default: usize) -> usize {
    std::env::var("NETBASE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn shipped(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

#[test]
fn mutated_schemas_never_panic() {
    let text = shipped("schema/netbase.toml");
    fuzz("netbase.toml", &text, 0x5eed_0001, iterations(2500), |f| {
        Schema::parse(f).map(|_| ())
    });
}

#[test]
fn mutated_topologies_never_panic() {
    let schema_file = SourceFile::new("netbase.toml", shipped("schema/netbase.toml"));
    let schema = Schema::parse(&schema_file).expect("the shipped schema is valid");
    for (i, topo) in ["default", "multiqueue"].into_iter().enumerate() {
        let text = shipped(&format!("schema/topologies/{topo}.toml"));
        fuzz(
            &format!("{topo}.toml"),
            &text,
            0x5eed_0100 + i as u64,
            iterations(1500),
            |f| Topology::parse(f, Some(&schema)).map(|_| ()),
        );
    }
}
