//! `netbase route get ADDR`: the route the netbase picks for an address, like `ip route get`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;

use clap::{Args, Subcommand};
use netbase_runtime::tables::lpm::ChainResult;
use netbase_runtime::types::Ipv4;
use netbase_tiles::netbase_view::{NetbaseView, RouteGet, RouteTable};
use serde_json::{json, Map, Value};

use super::show::{neigh_json, neigh_text, type_name, Names};
use crate::schema::RouteType;
use crate::supervisor;

#[derive(Debug, Args)]
#[command(about = "Route lookups in an instance's netbase (like `ip route`)")]
pub struct RouteArgs {
    #[command(subcommand)]
    pub command: RouteCommand,
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    Get(RouteGetArgs),
}

#[derive(Debug, Args)]
#[command(
    about = "The route, source address and neighbour the netbase gives an IPv4 address",
    long_about = "Looks ADDR up in the instance's tables like the kernel with its default rules \
(table local, then main; a `throw` route passes to the next table) and prints the route like \
`ip route get`: type (when not unicast), gateway, device, table (when not main) and source \
address, then the neighbour entry the packet would go to (the gateway, or ADDR itself when \
on-link).\n\n\
The source address is a simple selection, not the kernel's: the route's prefsrc; for local \
routes ADDR itself; else a primary address of the output device whose scope suits the route, \
preferring one whose subnet holds the next hop.\n\n\
Exit status 1 when no route decides (network unreachable) or the tables cannot answer.",
    after_help = "Examples:\n  \
netbase route get 10.1.2.3\n  \
netbase route get 8.8.8.8 --name edge -j"
)]
pub struct RouteGetArgs {
    /// IPv4 address to look up.
    pub addr: Ipv4Addr,
    /// Instance name, as given to `netbase run --name`.
    #[arg(long, default_value = supervisor::DEFAULT_INSTANCE)]
    pub name: String,
    /// JSON output (the keys of `ip -j route get`, plus `table` and `neighbour`).
    #[arg(short = 'j', long = "json")]
    pub json: bool,
}

pub fn run(args: &RouteArgs) -> i32 {
    let RouteCommand::Get(args) = &args.command;
    match lookup(args) {
        Ok(text) => super::show::emit("route get", &text),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase route get: {e}");
            1
        }
    }
}

fn lookup(args: &RouteGetArgs) -> Result<String, String> {
    super::guest::with_netbase(&args.name, |view| lookup_in(args, view))
}

fn lookup_in(args: &RouteGetArgs, view: &NetbaseView<'_>) -> Result<String, String> {
    let names = Names::of(view)?;
    let get = view
        .route_get(Ipv4::from(args.addr))
        .map_err(|e| e.to_string())?;
    let table_name = |i: usize| RouteTable::ALL.get(i).map_or("?", |t| t.name());
    match get.result {
        ChainResult::Hit { .. } => {}
        ChainResult::Unreachable => return Err(format!("{}: network is unreachable", args.addr)),
        ChainResult::Incomplete { table } => {
            return Err(format!(
                "{}: table {} is missing routes covering it (out of room); no answer",
                args.addr,
                table_name(table)
            ))
        }
        ChainResult::Busy { table } => {
            return Err(format!(
                "{}: table {} stayed mid-write; try again",
                args.addr,
                table_name(table)
            ))
        }
    }
    if args.json {
        Ok(Value::Array(vec![get_json(&get, &names)]).to_string() + "\n")
    } else {
        Ok(get_text(&get, &names))
    }
}

/// The device `ip route get` names: local routes are delivered through `lo`.
fn out_dev(get: &RouteGet, names: &Names) -> Option<String> {
    let route = get.route?;
    if route.route_type == RouteType::LOCAL {
        return Some("lo".into());
    }
    (route.oif != 0).then(|| names.dev(route.oif))
}

fn get_text(get: &RouteGet, names: &Names) -> String {
    let mut s = String::new();
    let Some(route) = get.route else {
        return s;
    };
    if route.route_type != RouteType::UNICAST {
        let _ = write!(s, "{} ", type_name(route.route_type));
    }
    let _ = write!(s, "{}", get.dst);
    if !route.gateway.is_unspecified() {
        let _ = write!(s, " via {}", route.gateway);
    }
    if let Some(dev) = out_dev(get, names) {
        let _ = write!(s, " dev {dev}");
    }
    if let Some(t) = get.table.filter(|t| *t != RouteTable::Main) {
        let _ = write!(s, " table {}", t.name());
    }
    if let Some(src) = get.source {
        let _ = write!(s, " src {src}");
    }
    s.push('\n');
    match (get.neighbour_addr, get.neighbour) {
        (_, Some(n)) => {
            let _ = writeln!(s, "    neighbour {}", neigh_text(&n, names));
        }
        (Some(addr), None) => {
            let _ = writeln!(
                s,
                "    neighbour {addr} dev {}: no entry (would be resolved)",
                names.dev(route.oif)
            );
        }
        (None, None) => {}
    }
    s
}

fn get_json(get: &RouteGet, names: &Names) -> Value {
    let mut m = Map::new();
    let Some(route) = get.route else {
        return Value::Object(m);
    };
    m.insert("type".into(), json!(type_name(route.route_type)));
    m.insert("dst".into(), json!(get.dst.to_string()));
    if !route.gateway.is_unspecified() {
        m.insert("gateway".into(), json!(route.gateway.to_string()));
    }
    if let Some(dev) = out_dev(get, names) {
        m.insert("dev".into(), json!(dev));
    }
    if let Some(t) = get.table {
        m.insert("table".into(), json!(t.name()));
    }
    if let Some(src) = get.source {
        m.insert("prefsrc".into(), json!(src.to_string()));
    }
    m.insert("route".into(), json!(super::show::prefix_text(&route)));
    if route.priority != 0 {
        m.insert("metric".into(), json!(route.priority));
    }
    match (get.neighbour_addr, get.neighbour) {
        (_, Some(n)) => {
            m.insert("neighbour".into(), Value::Object(neigh_json(&n, names)));
        }
        (Some(addr), None) => {
            m.insert(
                "neighbour".into(),
                json!({ "dst": addr.to_string(), "dev": names.dev(route.oif), "state": [] }),
            );
        }
        (None, None) => {}
    }
    Value::Object(m)
}
