//! `netbase show`: an instance's netbase tables, printed like `ip` (text) or `ip -j` (JSON).
//! Also the helpers `netbase route get` and `netbase diff` share: iproute2's names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use clap::{Args, ValueEnum};
use netbase_tiles::netbase_view::{NetbaseView, RouteTable, ViewRoute};
use serde_json::{json, Map, Value};

use crate::schema::{Addr4, Interface, Neigh4, NudState, OperState, Route4, RouteType};
use crate::supervisor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Interfaces, like `ip link`.
    Links,
    /// IPv4 addresses, like `ip -4 addr`.
    Addrs,
    /// IPv4 routes of one table, like `ip route show table T`.
    Routes,
    /// IPv4 neighbours, like `ip -4 neigh`.
    Neigh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableArg {
    Local,
    Main,
}

impl TableArg {
    fn table(self) -> RouteTable {
        match self {
            TableArg::Local => RouteTable::Local,
            TableArg::Main => RouteTable::Main,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    about = "Print an instance's netbase tables like `ip` does",
    long_about = "Maps the instance's tables workspace read-only (no effect on the netlink tile) \
and prints its interfaces, IPv4 addresses, IPv4 routes (table local or main) or IPv4 \
neighbours the way `ip` prints the kernel's; with -j as JSON with the keys of `ip -j`.",
    after_help = "Examples:\n  \
netbase show links                      interfaces of instance `netbase`\n  \
netbase show addrs --name edge          addresses of instance `edge`\n  \
netbase show routes --table local -j    the local table as JSON\n  \
netbase show neigh"
)]
pub struct ShowArgs {
    /// What to print.
    #[arg(value_enum)]
    pub what: What,
    /// Instance name, as given to `netbase run --name`.
    #[arg(long, default_value = supervisor::DEFAULT_INSTANCE)]
    pub name: String,
    /// Route table (routes only).
    #[arg(long, value_enum, default_value = "main")]
    pub table: TableArg,
    /// JSON output (the keys of `ip -j`).
    #[arg(short = 'j', long = "json")]
    pub json: bool,
}

pub fn run(args: &ShowArgs) -> i32 {
    match render(args) {
        Ok(text) => emit("show", &text),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase show: {e}");
            1
        }
    }
}

/// The text `netbase show routes|neigh --name NAME` prints (main table), for other commands'
/// reports.
pub(crate) fn render_for(name: &str, what: &str) -> Result<String, String> {
    let what = match what {
        "routes" => What::Routes,
        "neigh" => What::Neigh,
        "addrs" => What::Addrs,
        _ => What::Links,
    };
    render(&ShowArgs {
        what,
        name: name.to_owned(),
        table: TableArg::Main,
        json: false,
    })
}

fn render(args: &ShowArgs) -> Result<String, String> {
    super::guest::with_netbase(&args.name, |view| render_view(args, view))
}

fn render_view(args: &ShowArgs, view: &NetbaseView<'_>) -> Result<String, String> {
    let names = Names::of(view)?;
    let e = |e: netbase_tiles::netbase_view::ViewError| e.to_string();
    let (text, json) = match args.what {
        What::Links => {
            let rows = view.links().map_err(e)?;
            (
                rows.iter().map(|r| link_text(r, &names)).collect(),
                rows.iter().map(|r| link_json(r, &names)).collect(),
            )
        }
        What::Addrs => {
            let links = view.links().map_err(e)?;
            let addrs = view.addrs().map_err(e)?;
            addrs_output(&links, &addrs, &names)
        }
        What::Routes => {
            let rows = view.routes(args.table.table()).map_err(e)?;
            (
                rows.iter().map(|r| route_text(r, &names) + "\n").collect(),
                rows.iter().map(|r| route_json(r, &names)).collect(),
            )
        }
        What::Neigh => {
            let rows = view.neighbours().map_err(e)?;
            (
                rows.iter().map(|r| neigh_text(r, &names) + "\n").collect(),
                rows.iter()
                    .map(|r| Value::Object(neigh_json(r, &names)))
                    .collect(),
            )
        }
    };
    if args.json {
        Ok(Value::Array(json).to_string() + "\n")
    } else {
        Ok(text)
    }
}

/// Writes `text` to stdout; 0, or 1 on a write error other than a closed pipe.
pub(super) fn emit(cmd: &str, text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase {cmd}: {e}");
            1
        }
    }
}

/// Interface names by ifindex.
pub(super) struct Names(BTreeMap<u32, String>);

impl Names {
    pub(super) fn of(view: &NetbaseView<'_>) -> Result<Self, String> {
        let links = view.links().map_err(|e| e.to_string())?;
        Ok(Names(
            links
                .iter()
                .map(|l| (l.ifindex, l.name.to_string_lossy()))
                .collect(),
        ))
    }

    /// The device name, or `if<N>` for an ifindex the interfaces table does not have.
    pub(super) fn dev(&self, ifindex: u32) -> String {
        self.0
            .get(&ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if{ifindex}"))
    }
}

/// iproute2's `rt_protos` names.
pub(super) fn protocol_name(p: u8) -> String {
    let name = match p {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        _ => return p.to_string(),
    };
    name.to_string()
}

/// iproute2's `rt_scopes` names.
pub(super) fn scope_name(s: u8) -> String {
    let name = match s {
        0 => "global",
        200 => "site",
        253 => "link",
        254 => "host",
        255 => "nowhere",
        _ => return s.to_string(),
    };
    name.to_string()
}

/// iproute2's route type names.
pub(super) fn type_name(t: RouteType) -> String {
    t.name().map_or_else(|| t.0.to_string(), |n| n.to_string())
}

/// Route next-hop flags as `ip` names them (`RTNH_F_*`).
fn route_flag_names(flags: u32) -> Vec<&'static str> {
    const NAMES: [(u32, &str); 7] = [
        (1, "dead"),
        (2, "pervasive"),
        (4, "onlink"),
        (8, "offload"),
        (16, "linkdown"),
        (32, "unresolved"),
        (64, "trap"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, n)| n)
        .collect()
}

/// `default`, `a.b.c.d` for a host route, else `a.b.c.d/len`, like `ip`.
pub(super) fn prefix_text(row: &Route4) -> String {
    match row.dst_len {
        0 => "default".to_string(),
        32 => row.dst.to_string(),
        len => format!("{}/{len}", row.dst),
    }
}

/// One route line as `ip route` prints it (type omitted for unicast, proto omitted for boot,
/// scope omitted for global, like `ip` without `-d`).
pub(super) fn route_text(r: &ViewRoute, names: &Names) -> String {
    let row = &r.row;
    let mut s = String::new();
    if row.route_type != RouteType::UNICAST {
        let _ = write!(s, "{} ", type_name(row.route_type));
    }
    s.push_str(&prefix_text(row));
    if !row.gateway.is_unspecified() {
        let _ = write!(s, " via {}", row.gateway);
    }
    if row.oif != 0 {
        let _ = write!(s, " dev {}", names.dev(row.oif));
    }
    if row.protocol != 3 {
        let _ = write!(s, " proto {}", protocol_name(row.protocol));
    }
    if row.scope != 0 {
        let _ = write!(s, " scope {}", scope_name(row.scope));
    }
    if !row.prefsrc.is_unspecified() {
        let _ = write!(s, " src {}", row.prefsrc);
    }
    if row.priority != 0 {
        let _ = write!(s, " metric {}", row.priority);
    }
    for f in route_flag_names(row.flags) {
        let _ = write!(s, " {f}");
    }
    if row.multipath != 0 {
        s.push_str(" multipath");
    }
    if !r.active {
        s.push_str(" (shadowed)");
    }
    s
}

/// One route as `ip -j route` has it (plus `type` and `table` always).
pub(super) fn route_json(r: &ViewRoute, names: &Names) -> Value {
    let row = &r.row;
    let mut m = Map::new();
    m.insert("type".into(), json!(type_name(row.route_type)));
    m.insert("dst".into(), json!(prefix_text(row)));
    if !row.gateway.is_unspecified() {
        m.insert("gateway".into(), json!(row.gateway.to_string()));
    }
    if row.oif != 0 {
        m.insert("dev".into(), json!(names.dev(row.oif)));
    }
    m.insert("table".into(), json!(table_name(row.table)));
    m.insert("protocol".into(), json!(protocol_name(row.protocol)));
    m.insert("scope".into(), json!(scope_name(row.scope)));
    if !row.prefsrc.is_unspecified() {
        m.insert("prefsrc".into(), json!(row.prefsrc.to_string()));
    }
    if row.priority != 0 {
        m.insert("metric".into(), json!(row.priority));
    }
    m.insert("flags".into(), json!(route_flag_names(row.flags)));
    if !r.active {
        m.insert("active".into(), json!(false));
    }
    Value::Object(m)
}

/// `local`, `main`, or the table id.
pub(super) fn table_name(id: u32) -> String {
    match id {
        255 => "local".into(),
        254 => "main".into(),
        253 => "default".into(),
        _ => id.to_string(),
    }
}

/// Neighbour states as `ip neigh` prints them (`REACHABLE`, `STALE`, ...).
pub(super) fn nud_names(state: NudState) -> Vec<String> {
    if state.0 == 0 {
        return vec!["NONE".into()];
    }
    NudState::VALUES
        .iter()
        .filter(|(_, v)| v.0 != 0 && state.0 & v.0 != 0)
        .map(|(n, _)| n.to_uppercase())
        .collect()
}

fn has_lladdr(n: &Neigh4) -> bool {
    n.mac.0 != [0; 6] || (n.state.0 & (NudState::INCOMPLETE.0 | NudState::FAILED.0)) == 0
}

/// One neighbour line as `ip neigh` prints it.
pub(super) fn neigh_text(n: &Neigh4, names: &Names) -> String {
    let mut s = format!("{} dev {}", n.ip, names.dev(n.ifindex));
    if has_lladdr(n) {
        let _ = write!(s, " lladdr {}", n.mac);
    }
    if n.flags & 0x80 != 0 {
        s.push_str(" router");
    }
    for st in nud_names(n.state) {
        let _ = write!(s, " {st}");
    }
    s
}

/// One neighbour as `ip -j neigh` has it.
pub(super) fn neigh_json(n: &Neigh4, names: &Names) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("dst".into(), json!(n.ip.to_string()));
    m.insert("dev".into(), json!(names.dev(n.ifindex)));
    if has_lladdr(n) {
        m.insert("lladdr".into(), json!(n.mac.to_string()));
    }
    if n.flags & 0x80 != 0 {
        m.insert("router".into(), Value::Null);
    }
    m.insert("state".into(), json!(nud_names(n.state)));
    m
}

/// `IFF_*` flags in the order `ip link` prints them.
fn link_flag_names(flags: u32) -> Vec<&'static str> {
    const NAMES: [(u32, &str); 15] = [
        (0x8, "LOOPBACK"),
        (0x2, "BROADCAST"),
        (0x10, "POINTOPOINT"),
        (0x1000, "MULTICAST"),
        (0x80, "NOARP"),
        (0x200, "ALLMULTI"),
        (0x100, "PROMISC"),
        (0x20, "NOTRAILERS"),
        (0x4, "DEBUG"),
        (0x8000, "DYNAMIC"),
        (0x400, "MASTER"),
        (0x800, "SLAVE"),
        (0x1, "UP"),
        (0x10000, "LOWER_UP"),
        (0x20000, "DORMANT"),
    ];
    let mut out = Vec::new();
    if flags & 0x1 != 0 && flags & 0x40 == 0 {
        out.push("NO-CARRIER");
    }
    out.extend(
        NAMES
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|&(_, n)| n),
    );
    out
}

/// The `link/<type>` name of an ARPHRD type, like `ip link`.
fn arp_type_name(t: u16) -> String {
    let name = match t {
        1 => "ether",
        512 => "ppp",
        768 => "ipip",
        769 => "tunnel6",
        772 => "loopback",
        776 => "sit",
        778 => "gre",
        823 => "ip6gre",
        65534 => "none",
        _ => return format!("[{t}]"),
    };
    name.to_string()
}

fn oper_name(s: OperState) -> String {
    s.name()
        .map_or_else(|| s.0.to_string(), |n| n.to_uppercase())
}

/// `name`, or `name@peer` for a device with a lower device, like `ip link`.
fn link_label(l: &Interface, names: &Names) -> String {
    let name = l.name.to_string_lossy();
    if l.link != 0 && l.link != l.ifindex {
        format!("{name}@{}", names.dev(l.link))
    } else {
        name
    }
}

fn link_head(l: &Interface, names: &Names) -> String {
    let mut s = format!(
        "{}: {}: <{}> mtu {}",
        l.ifindex,
        link_label(l, names),
        link_flag_names(l.flags).join(","),
        l.mtu
    );
    if l.master != 0 {
        let _ = write!(s, " master {}", names.dev(l.master));
    }
    let _ = write!(s, " state {}", oper_name(l.oper_state));
    s
}

fn link_text(l: &Interface, names: &Names) -> String {
    format!(
        "{}\n    link/{} {}\n",
        link_head(l, names),
        arp_type_name(l.arp_type),
        l.mac
    )
}

fn link_json(l: &Interface, names: &Names) -> Value {
    let mut m = Map::new();
    m.insert("ifindex".into(), json!(l.ifindex));
    if l.link != 0 && l.link != l.ifindex {
        m.insert("link".into(), json!(names.dev(l.link)));
    }
    m.insert("ifname".into(), json!(l.name.to_string_lossy()));
    m.insert("flags".into(), json!(link_flag_names(l.flags)));
    m.insert("mtu".into(), json!(l.mtu));
    if l.master != 0 {
        m.insert("master".into(), json!(names.dev(l.master)));
    }
    m.insert("operstate".into(), json!(oper_name(l.oper_state)));
    m.insert("link_type".into(), json!(arp_type_name(l.arp_type)));
    m.insert("address".into(), json!(l.mac.to_string()));
    if let Some(kind) = l.link_type.name() {
        m.insert("linkinfo".into(), json!({ "info_kind": kind }));
    }
    Value::Object(m)
}

/// `ip -4 addr`: interfaces that have IPv4 addresses, each with its addresses.
fn addrs_output(links: &[Interface], addrs: &[Addr4], names: &Names) -> (String, Vec<Value>) {
    let mut by_if: BTreeMap<u32, Vec<&Addr4>> = BTreeMap::new();
    for a in addrs {
        by_if.entry(a.ifindex).or_default().push(a);
    }
    let mut text = String::new();
    let mut json = Vec::new();
    for (ifindex, list) in by_if {
        let link = links.iter().find(|l| l.ifindex == ifindex);
        let name = names.dev(ifindex);
        match link {
            Some(l) => {
                let _ = writeln!(text, "{}", link_head(l, names));
            }
            None => {
                let _ = writeln!(text, "{ifindex}: {name}:");
            }
        }
        let mut infos = Vec::new();
        for a in list {
            let _ = write!(text, "    inet {}/{}", a.local, a.prefix_len);
            if !a.broadcast.is_unspecified() {
                let _ = write!(text, " brd {}", a.broadcast);
            }
            let _ = write!(text, " scope {}", scope_name(a.scope));
            if a.flags & 0x01 != 0 {
                text.push_str(" secondary");
            }
            let _ = writeln!(text, " {name}");
            let mut info = Map::new();
            info.insert("family".into(), json!("inet"));
            info.insert("local".into(), json!(a.local.to_string()));
            info.insert("prefixlen".into(), json!(a.prefix_len));
            if !a.broadcast.is_unspecified() {
                info.insert("broadcast".into(), json!(a.broadcast.to_string()));
            }
            info.insert("scope".into(), json!(scope_name(a.scope)));
            if a.flags & 0x01 != 0 {
                info.insert("secondary".into(), json!(true));
            }
            info.insert("label".into(), json!(name));
            infos.push(Value::Object(info));
        }
        let mut m = Map::new();
        m.insert("ifindex".into(), json!(ifindex));
        m.insert("ifname".into(), json!(name));
        if let Some(l) = link {
            m.insert("flags".into(), json!(link_flag_names(l.flags)));
            m.insert("mtu".into(), json!(l.mtu));
            m.insert("operstate".into(), json!(oper_name(l.oper_state)));
        }
        m.insert("addr_info".into(), Value::Array(infos));
        json.push(Value::Object(m));
    }
    (text, json)
}
