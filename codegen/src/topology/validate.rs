//! Topology validation: names resolve, kinds and parameters fit, access rules hold (one writer
//! per workspace, net tiles never write the netbase), ring geometry is sane.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::raw::{RawLink, RawTile, RawTopology, RawWorkspace};
use super::*;
use crate::diag::{Collector, Diagnostic, Diagnostics, SourceFile};
use crate::toml_input::Spanned;

/// Most instances of one tile.
pub const MAX_TILE_COUNT: i64 = 64;
/// Deepest ring (slots).
pub const MAX_DEPTH: i64 = 1 << 20;
/// Largest frame (bytes); enough for a jumbo frame.
pub const MAX_FRAME: i64 = 65536;

type Ctx<'a> = Collector<'a>;

pub(super) fn validate(
    file: &SourceFile,
    raw: RawTopology,
    schema: Option<&Schema>,
) -> Result<Topology, Diagnostics> {
    let mut cx = Ctx::new(file);
    check_name(&mut cx, &raw.name, "topology name");

    let schema = match schema {
        Some(s) => s.clone(),
        None => {
            let base = file.path.parent().unwrap_or(Path::new("."));
            let path = base.join(raw.schema.get_ref());
            if !path.is_file() {
                cx.err(
                    raw.schema.span(),
                    format!("schema file `{}` not found", path.display()),
                    "a path to a schema TOML file, relative to this topology",
                );
                return Err(cx.diags);
            }
            match Schema::load(&path) {
                Ok(s) => s,
                Err(mut d) => {
                    // Schema errors are located in the schema file; say which topology used it.
                    let first = file.error(
                        raw.schema.span(),
                        format!(
                            "schema `{}` is invalid ({} error(s) below)",
                            raw.schema.get_ref(),
                            d.len()
                        ),
                    );
                    d.0.insert(0, first);
                    return Err(d);
                }
            }
        }
    };

    let mut seen = HashMap::new();
    let workspaces: Vec<WorkspaceDef> = raw
        .workspaces
        .iter()
        .map(|w| {
            declare(&mut cx, &mut seen, &w.name, "workspace");
            resolve_workspace(&mut cx, w)
        })
        .collect();
    let ws_index = |name: &str| raw.workspaces.iter().position(|w| w.name.get_ref() == name);

    let mut seen = HashMap::new();
    let mut tiles = Vec::new();
    for t in &raw.tiles {
        let before = cx.diags.len();
        declare(&mut cx, &mut seen, &t.name, "tile");
        let duplicate = cx
            .diags
            .iter()
            .skip(before)
            .any(|d| d.message.starts_with("duplicate"));
        if let Some(def) = resolve_tile(&mut cx, t, &ws_index, &raw.workspaces) {
            // A duplicate is reported once; keeping it would also report it as a second writer.
            if !duplicate {
                tiles.push((t, def));
            }
        }
    }

    check_writers(&mut cx, &raw, &workspaces, &tiles, &schema);

    let mut seen = HashMap::new();
    let mut links = Vec::new();
    for l in &raw.links {
        declare(&mut cx, &mut seen, &l.name, "link");
        if let Some(def) = resolve_link(&mut cx, l, &tiles, &ws_index, &workspaces) {
            links.push(def);
        }
    }

    let topo = Topology {
        path: file.path.clone(),
        name: raw.name.get_ref().clone(),
        description: raw.description.clone(),
        schema,
        workspaces,
        tiles: tiles.into_iter().map(|(_, d)| d).collect(),
        links,
    };
    if cx.diags.is_empty() {
        check_sizes(&mut cx, &raw, &topo);
    }
    cx.diags.into_result(topo)
}

fn check_name(cx: &mut Ctx, name: &Spanned<String>, what: &str) {
    let s = name.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        cx.err(
            name.span(),
            format!("invalid {what} `{s}`"),
            "1 to 32 characters: a lowercase letter, then a-z, 0-9 or _",
        );
    }
}

fn declare(
    cx: &mut Ctx,
    seen: &mut HashMap<String, Range<usize>>,
    name: &Spanned<String>,
    what: &str,
) {
    check_name(cx, name, &format!("{what} name"));
    cx.declare(seen, name, what);
}

/// "64MiB", "1GiB", "4096" or an integer, in bytes.
pub fn parse_size(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(i) if *i > 0 => Some(*i as u64),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num.parse().ok()?;
            let mult: u64 = match unit.trim() {
                "" | "B" => 1,
                "KiB" => 1 << 10,
                "MiB" => 1 << 20,
                "GiB" => 1 << 30,
                "TiB" => 1 << 40,
                _ => return None,
            };
            n.checked_mul(mult).filter(|&b| b > 0)
        }
        _ => None,
    }
}

fn resolve_workspace(cx: &mut Ctx, w: &RawWorkspace) -> WorkspaceDef {
    let backing = match w.backing.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("shm") => Backing::Shm,
        Some("hugetlb") => Backing::Hugetlb,
        Some(other) => {
            let span = w.backing.as_ref().map_or(0..0, |b| b.span());
            cx.err(
                span,
                format!("unknown backing `{other}`"),
                "\"shm\" or \"hugetlb\"",
            );
            Backing::Shm
        }
    };
    let size_limit = w.size_limit.as_ref().and_then(|v| {
        let parsed = parse_size(v.get_ref());
        if parsed.is_none() {
            cx.err(v.span(), "invalid size_limit", "a positive number of bytes or a string like \"64MiB\" (units B, KiB, MiB, GiB, TiB)");
        }
        parsed
    });
    WorkspaceDef {
        name: w.name.get_ref().clone(),
        holds_tables: w.tables.as_ref().is_some_and(|t| *t.get_ref()),
        backing,
        size_limit,
    }
}

fn resolve_tile(
    cx: &mut Ctx,
    t: &RawTile,
    ws_index: &dyn Fn(&str) -> Option<usize>,
    raw_ws: &[RawWorkspace],
) -> Option<TileDef> {
    let Some(kind) = TileKind::parse(t.kind.get_ref()) else {
        let names: Vec<&str> = TileKind::ALL.iter().map(|k| k.name()).collect();
        cx.err(
            t.kind.span(),
            format!("unknown tile kind `{}`", t.kind.get_ref()),
            format!("one of {}", names.join(", ")),
        );
        return None;
    };
    let count = match &t.count {
        None => 1,
        Some(c) => {
            let v = *c.get_ref();
            let max = if kind == TileKind::Netlink {
                1
            } else {
                MAX_TILE_COUNT
            };
            if !(1..=max).contains(&v) {
                let why = if kind == TileKind::Netlink {
                    " (the netbase has exactly one writer)"
                } else {
                    ""
                };
                cx.err(
                    c.span(),
                    format!("tile count {v} is out of range{why}"),
                    format!("1..={max}"),
                );
            }
            v.clamp(1, max) as u32
        }
    };
    let mut maps = Vec::new();
    for (ws, access) in &t.maps {
        let Some(wi) = ws_index(ws.get_ref()) else {
            let names: Vec<&str> = raw_ws.iter().map(|w| w.name.get_ref().as_str()).collect();
            cx.err(
                ws.span(),
                format!(
                    "tile `{}` maps unknown workspace `{}`",
                    t.name.get_ref(),
                    ws.get_ref()
                ),
                format!("one of {}", names.join(", ")),
            );
            continue;
        };
        let a = match access.get_ref().as_str() {
            "read-only" => Access::ReadOnly,
            "read-write" => Access::ReadWrite,
            other => {
                cx.err(
                    access.span(),
                    format!("unknown access `{other}`"),
                    "\"read-only\" or \"read-write\"",
                );
                continue;
            }
        };
        maps.push((wi, a));
    }
    let params = resolve_params(cx, t, kind);
    Some(TileDef {
        name: t.name.get_ref().clone(),
        kind,
        count,
        maps,
        user: t.user.as_ref().map(|u| u.get_ref().clone()),
        restart: t.restart.as_ref().is_some_and(|r| *r.get_ref()),
        params,
    })
}

/// The kind's parameters; on errors (reported here) a stand-in value keeps the tile in the
/// topology so that its links and maps do not produce knock-on errors.
fn resolve_params(cx: &mut Ctx, t: &RawTile, kind: TileKind) -> TileParams {
    // Parameters that belong to other kinds are errors, not silently ignored.
    type Param<'a> = (&'a str, Option<Range<usize>>, &'a [TileKind]);
    let all: [Param; 6] = [
        (
            "interface",
            t.interface.as_ref().map(|v| v.span()),
            &[TileKind::Net],
        ),
        (
            "xdp_mode",
            t.xdp_mode.as_ref().map(|v| v.span()),
            &[TileKind::Net],
        ),
        (
            "dst_addr",
            t.dst_addr.as_ref().map(|v| v.span()),
            &[TileKind::Net],
        ),
        (
            "udp_port",
            t.udp_port.as_ref().map(|v| v.span()),
            &[TileKind::UdpEcho, TileKind::App],
        ),
        (
            "probe",
            t.probe.as_ref().map(|v| v.span()),
            &[TileKind::Netlink],
        ),
        ("app", t.app.as_ref().map(|v| v.span()), &[TileKind::App]),
    ];
    for (key, span, kinds) in all {
        if let Some(span) = span {
            if !kinds.contains(&kind) {
                let valid: Vec<&str> = all_keys_for(kind);
                cx.err(
                    key_span(cx.file, key, span),
                    format!("`{key}` is not a parameter of tile kind `{}`", kind.name()),
                    if valid.is_empty() {
                        "no kind-specific parameters".to_string()
                    } else {
                        format!("one of {}", valid.join(", "))
                    },
                );
            }
        }
    }
    let params = match kind {
        TileKind::Netlink => {
            let probe = match t.probe.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("auto") => ProbeMethod::Auto,
                Some("netlink") => ProbeMethod::Netlink,
                Some("udp") => ProbeMethod::Udp,
                Some(other) => {
                    cx.err(
                        t.probe.as_ref().map_or(0..0, |p| p.span()),
                        format!("unknown probe method `{other}`"),
                        "\"auto\", \"netlink\" or \"udp\"",
                    );
                    ProbeMethod::Auto
                }
            };
            TileParams::Netlink { probe }
        }
        TileKind::Net => {
            let Some(iface) = &t.interface else {
                cx.err(
                    t.name.span(),
                    format!("net tile `{}` needs an `interface`", t.name.get_ref()),
                    "interface = \"<device name>\"",
                );
                return TileParams::Net {
                    interface: String::new(),
                    xdp_mode: XdpMode::Drv,
                    dst_addr: None,
                };
            };
            let name = iface.get_ref();
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
                cx.err(
                    iface.span(),
                    format!("invalid interface name `{name}`"),
                    "1 to 15 bytes without '/', space or NUL (Linux IFNAMSIZ)",
                );
            }
            let xdp_mode = match t.xdp_mode.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("drv") => XdpMode::Drv,
                Some("skb") => XdpMode::Skb,
                Some(other) => {
                    cx.err(
                        t.xdp_mode.as_ref().map_or(0..0, |m| m.span()),
                        format!("unknown xdp_mode `{other}`"),
                        "\"drv\" (native) or \"skb\" (generic)",
                    );
                    XdpMode::Drv
                }
            };
            let dst_addr = match &t.dst_addr {
                None => None,
                Some(a) => match a.get_ref().parse::<std::net::Ipv4Addr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        cx.err(
                            a.span(),
                            format!("invalid IPv4 address `{}`", a.get_ref()),
                            "a dotted-quad IPv4 address like \"10.0.0.1\"",
                        );
                        None
                    }
                },
            };
            TileParams::Net {
                interface: name.clone(),
                xdp_mode,
                dst_addr,
            }
        }
        TileKind::UdpEcho => {
            let Some(port) = &t.udp_port else {
                cx.err(
                    t.name.span(),
                    format!("udp_echo tile `{}` needs a `udp_port`", t.name.get_ref()),
                    "udp_port = <1..=65535>",
                );
                return TileParams::UdpEcho { udp_port: 0 };
            };
            TileParams::UdpEcho {
                udp_port: udp_port(cx, port),
            }
        }
        TileKind::App => {
            let Some(app) = &t.app else {
                cx.err(
                    t.name.span(),
                    format!("app tile `{}` needs an `app`", t.name.get_ref()),
                    "app = \"<name the binary registers the application under>\"",
                );
                return TileParams::App {
                    app: String::new(),
                    udp_port: None,
                };
            };
            check_name(cx, app, "app name");
            TileParams::App {
                app: app.get_ref().clone(),
                udp_port: t.udp_port.as_ref().map(|p| udp_port(cx, p)),
            }
        }
    };
    params
}

/// A `udp_port` value, reported when out of range.
fn udp_port(cx: &mut Ctx, port: &Spanned<i64>) -> u16 {
    let p = *port.get_ref();
    if !(1..=65535).contains(&p) {
        cx.err(
            port.span(),
            format!("UDP port {p} is out of range"),
            "1..=65535",
        );
    }
    p.clamp(0, 65535) as u16
}

fn all_keys_for(kind: TileKind) -> Vec<&'static str> {
    match kind {
        TileKind::Netlink => vec!["probe"],
        TileKind::Net => vec!["interface", "xdp_mode", "dst_addr"],
        TileKind::UdpEcho => vec!["udp_port"],
        TileKind::App => vec!["app", "udp_port"],
    }
}

/// One writer per workspace; the netbase tables written by the netlink tile only.
fn check_writers(
    cx: &mut Ctx,
    raw: &RawTopology,
    workspaces: &[WorkspaceDef],
    tiles: &[(&RawTile, TileDef)],
    schema: &Schema,
) {
    // The root cause first: every later check assumes one tables workspace.
    if workspaces.iter().filter(|w| w.holds_tables).count() > 1 {
        let span = raw
            .workspaces
            .iter()
            .filter(|w| w.tables.as_ref().is_some_and(|t| *t.get_ref()))
            .nth(1)
            .map_or(0..0, |w| w.name.span());
        cx.err(
            span,
            "a second workspace holds the netbase tables",
            "`tables = true` on exactly one workspace",
        );
    }
    let table_names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    for (wi, ws) in workspaces.iter().enumerate() {
        let writers: Vec<&(&RawTile, TileDef)> = tiles
            .iter()
            .filter(|(_, t)| t.maps.contains(&(wi, Access::ReadWrite)))
            .collect();
        let access_span = |rt: &RawTile| -> Range<usize> {
            rt.maps
                .iter()
                .find(|(k, _)| k.get_ref() == &ws.name)
                .map_or(rt.name.span(), |(_, v)| v.span())
        };
        if ws.holds_tables {
            for (rt, t) in &writers {
                if t.kind != TileKind::Netlink {
                    cx.err(access_span(rt), format!("tile `{}` (kind {}) is given write access to the netbase workspace `{}`", t.name, t.kind.name(), ws.name), "\"read-only\": only the netlink tile writes the netbase tables");
                }
            }
            // Writers of another kind were reported just above; count the netlink ones.
            let writers: Vec<_> = writers
                .iter()
                .filter(|(_, t)| t.kind == TileKind::Netlink)
                .collect();
            if writers.len() > 1 {
                let (rt, _) = writers[1];
                cx.err(
                    access_span(rt),
                    format!(
                        "two writers on the netbase tables ({}): tiles `{}` and `{}`",
                        table_names.join(", "),
                        writers[0].1.name,
                        writers[1].1.name
                    ),
                    "exactly one read-write mapping of a workspace that holds tables",
                );
            } else if writers.is_empty() {
                let span = raw.workspaces[wi].name.span();
                cx.err(
                    span,
                    format!(
                        "nobody writes the netbase tables in workspace `{}`",
                        ws.name
                    ),
                    "a netlink tile that maps it \"read-write\"",
                );
            }
        } else if writers.len() > 1 {
            let (rt, _) = writers[1];
            cx.err(
                access_span(rt),
                format!(
                    "two writers on workspace `{}`: tiles `{}` and `{}`",
                    ws.name, writers[0].1.name, writers[1].1.name
                ),
                "one read-write mapping per workspace (give each producer its own workspace)",
            );
        }
    }
}

fn resolve_link(
    cx: &mut Ctx,
    l: &RawLink,
    tiles: &[(&RawTile, TileDef)],
    ws_index: &dyn Fn(&str) -> Option<usize>,
    workspaces: &[WorkspaceDef],
) -> Option<LinkDef> {
    let find = |cx: &mut Ctx, name: &Spanned<String>, role: &str| -> Option<usize> {
        let i = tiles.iter().position(|(_, t)| &t.name == name.get_ref());
        if i.is_none() {
            let names: Vec<&str> = tiles.iter().map(|(_, t)| t.name.as_str()).collect();
            cx.err(
                name.span(),
                format!(
                    "link `{}` has unknown {role} `{}`",
                    l.name.get_ref(),
                    name.get_ref()
                ),
                format!("a tile of this topology: {}", names.join(", ")),
            );
        }
        i
    };
    let producer = find(cx, &l.producer, "producer");
    let consumer = find(cx, &l.consumer, "consumer");
    let workspace = ws_index(l.workspace.get_ref());
    if workspace.is_none() {
        let names: Vec<&str> = workspaces.iter().map(|w| w.name.as_str()).collect();
        cx.err(
            l.workspace.span(),
            format!(
                "link `{}` is placed in unknown workspace `{}`",
                l.name.get_ref(),
                l.workspace.get_ref()
            ),
            format!("one of {}", names.join(", ")),
        );
    }
    let mode = match l.mode.get_ref().as_str() {
        "lossy" => Some(LinkMode::Lossy),
        "reliable" => Some(LinkMode::Reliable),
        other => {
            cx.err(
                l.mode.span(),
                format!("unknown link mode `{other}`"),
                "\"lossy\" (producer never waits) or \"reliable\" (back-pressure)",
            );
            None
        }
    };
    let depth = *l.depth.get_ref();
    if !(2..=MAX_DEPTH).contains(&depth) {
        cx.err(
            l.depth.span(),
            format!("link depth {depth} is out of range"),
            format!("a power of two in 2..={MAX_DEPTH}"),
        );
    } else if !(depth as u64).is_power_of_two() {
        let up = (depth as u64).next_power_of_two();
        cx.err(
            l.depth.span(),
            format!("link depth {depth} is not a power of two"),
            format!("a power of two, e.g. {} or {up}", up / 2),
        );
    }
    let frame = *l.frame_size.get_ref();
    if !(8..=MAX_FRAME).contains(&frame) {
        cx.err(
            l.frame_size.span(),
            format!("frame size {frame} is out of range"),
            format!("a multiple of 8 in 8..={MAX_FRAME}"),
        );
    } else if frame % 8 != 0 {
        cx.err(
            l.frame_size.span(),
            format!("frame size {frame} is not a multiple of 8"),
            format!("a multiple of 8, e.g. {}", (frame + 7) / 8 * 8),
        );
    }
    let (producer, consumer, workspace, mode) = (producer?, consumer?, workspace?, mode?);
    if producer == consumer {
        cx.err(
            l.consumer.span(),
            format!(
                "link `{}` connects tile `{}` to itself",
                l.name.get_ref(),
                tiles[producer].1.name
            ),
            "a consumer other than the producer",
        );
    }
    let (p_raw, p) = &tiles[producer];
    let (c_raw, c) = &tiles[consumer];
    // A tile whose maps name an unknown workspace was reported already: its maps are
    // incomplete, and checking links against them would report the same typo again.
    let complete = |raw: &RawTile| {
        raw.maps
            .iter()
            .all(|(w, _)| workspaces.iter().any(|d| &d.name == w.get_ref()))
    };
    if complete(p_raw) && !p.maps.contains(&(workspace, Access::ReadWrite)) {
        cx.err(
            l.workspace.span(),
            format!(
                "producer `{}` of link `{}` does not map workspace `{}` read-write",
                p.name,
                l.name.get_ref(),
                workspaces[workspace].name
            ),
            format!(
                "`{} = \"read-write\"` in the maps of tile `{}`",
                workspaces[workspace].name, p.name
            ),
        );
    }
    if complete(c_raw) && !c.maps.iter().any(|(w, _)| *w == workspace) {
        cx.err(
            l.workspace.span(),
            format!(
                "consumer `{}` of link `{}` does not map workspace `{}`",
                c.name,
                l.name.get_ref(),
                workspaces[workspace].name
            ),
            format!(
                "`{} = \"read-only\"` in the maps of tile `{}`",
                workspaces[workspace].name, c.name
            ),
        );
    }
    if workspaces[workspace].holds_tables {
        cx.err(
            l.workspace.span(),
            format!(
                "link `{}` is placed in the netbase workspace `{}`",
                l.name.get_ref(),
                workspaces[workspace].name
            ),
            "a workspace written by the link's producer",
        );
    }
    if c.count > 1 && p.count != c.count {
        cx.err(
            l.consumer.span(),
            format!(
                "link `{}` goes from {} `{}` tile(s) to {} `{}` tiles",
                l.name.get_ref(),
                p.count,
                p.name,
                c.count,
                c.name
            ),
            "one consumer tile, or as many consumers as producers (paired by index)",
        );
    }
    Some(LinkDef {
        name: l.name.get_ref().clone(),
        producer,
        consumer,
        workspace,
        depth: depth as u32,
        frame_size: frame as u32,
        mode,
    })
}

/// Workspace sizes against their limits (and against address-space sanity).
fn check_sizes(cx: &mut Ctx, raw: &RawTopology, topo: &Topology) {
    let plan = crate::plan::Plan::build(topo);
    for (i, ws) in topo.workspaces.iter().enumerate() {
        let Some(p) = plan
            .workspaces
            .iter()
            .find(|p| p.name == ws.name || p.name.starts_with(&format!("{}.", ws.name)))
        else {
            continue;
        };
        if let Some(limit) = ws.size_limit {
            if p.size > limit {
                let span = raw.workspaces[i]
                    .size_limit
                    .as_ref()
                    .map_or(raw.workspaces[i].name.span(), |s| s.span());
                let biggest = p
                    .objects
                    .iter()
                    .max_by_key(|o| o.size)
                    .map(|o| format!(" (largest object: {} with {} bytes)", o.name, o.size))
                    .unwrap_or_default();
                cx.err(
                    span,
                    format!(
                        "workspace `{}` needs {} bytes, over its size_limit of {limit}{biggest}",
                        ws.name, p.size
                    ),
                    "a size_limit that fits the tables and links it holds, or smaller capacities",
                );
            }
        }
        if p.size > crate::plan::MAX_WORKSPACE_BYTES {
            cx.diags.push(Diagnostic::whole_file(
                &topo.path,
                format!(
                    "workspace `{}` would be {} bytes, more than the {} bytes netbase maps",
                    ws.name,
                    p.size,
                    crate::plan::MAX_WORKSPACE_BYTES
                ),
            ));
        }
    }
}

/// The span of `key` in `key = value`: found by looking back from the value on its line, since
/// serde keeps spans of values only.
fn key_span(file: &SourceFile, key: &str, value: Range<usize>) -> Range<usize> {
    let line_start = file.text[..value.start.min(file.text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    match file.text[line_start..value.start].rfind(key) {
        Some(i) => line_start + i..line_start + i + key.len(),
        None => value,
    }
}
