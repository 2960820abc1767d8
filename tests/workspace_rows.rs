//! Two processes built from one schema agree on the netbase byte for byte: rows of the generated
//! types written by one process are read identically by another, and a process built from a
//! different schema is refused with both fingerprints named.

use std::path::Path;
use std::process::Command;

use netbase::plans::default::workspaces::netbase as plan;
use netbase::schema::{Interface, LinkType, Neigh4, NudState, OperState, Route4, RouteType};
use netbase_codegen::{fingerprint::schema_fingerprint, Schema, SourceFile};
use netbase_runtime::types::{Ipv4, Mac, Name};
use netbase_runtime::workspace::{Access, Backing, CreateOptions, RemoveGuard, Workspace};

const CHILD_ENV: &str = "NETBASE_TEST_WORKSPACE_CHILD";

fn rows() -> (Vec<Route4>, Interface, Neigh4) {
    let routes = (0..5u8)
        .map(|i| Route4 {
            dst: Ipv4([10, i, 0, 0]),
            gateway: Ipv4([10, 0, 0, i + 1]),
            oif: 3 + u32::from(i),
            priority: 100 * u32::from(i),
            table: 254,
            dst_len: 16 + i,
            route_type: if i == 4 {
                RouteType::BLACKHOLE
            } else {
                RouteType::UNICAST
            },
            ..Route4::ZERO
        })
        .collect();
    let iface = Interface {
        ifindex: 40_000,
        mtu: 1500,
        name: Name::new(b"veth-test").expect("fits"),
        mac: Mac([2, 0, 0, 0, 0, 7]),
        oper_state: OperState::UP,
        link_type: LinkType::VETH,
        ..Interface::ZERO
    };
    let neigh = Neigh4 {
        ifindex: 40_000,
        ip: Ipv4([10, 0, 0, 1]),
        mac: Mac([2, 0, 0, 0, 0, 1]),
        state: NudState::REACHABLE,
        updated_ns: 123_456_789,
        ..Neigh4::ZERO
    };
    (routes, iface, neigh)
}

/// Rows go after each table's header page, at offsets taken from the generated plan.
fn offsets() -> (u64, u64, u64) {
    (
        plan::TABLE_MAIN4 + 4096,
        plan::TABLE_INTERFACES + 4096,
        plan::TABLE_NEIGH4 + 4096,
    )
}

fn render(ws: &Workspace) -> String {
    let (r, i, n) = offsets();
    let mut out = String::new();
    for k in 0..5u64 {
        let row: Route4 = ws
            .read_volatile_copy(r + k * Route4::SIZE as u64)
            .expect("route");
        out.push_str(&format!("{row:?}\n"));
    }
    let iface: Interface = ws.read_volatile_copy(i).expect("iface");
    let neigh: Neigh4 = ws.read_volatile_copy(n).expect("neigh");
    out.push_str(&format!("{iface:?}\n{neigh:?}\n"));
    out
}

/// Runs in the child process only (the parent re-executes this test binary).
#[test]
fn child_reads_workspace() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ws = Workspace::join(&name, netbase::schema::LAYOUT_FINGERPRINT, Access::ReadOnly)
        .expect("child joins read-only");
    print!("BEGIN\n{}END\n", render(&ws));
}

fn unique(tag: &str) -> String {
    format!("nbt-{tag}-{}", std::process::id())
}

#[test]
fn rows_written_by_one_process_are_read_identically_by_another() {
    let name = unique("rows");
    let _guard = RemoveGuard::new(&name, &Backing::Shm);
    let mut ws = Workspace::create(&CreateOptions::new(&name, plan::SIZE, plan::FINGERPRINT))
        .expect("create netbase workspace");
    let (routes, iface, neigh) = rows();
    let (r, i, n) = offsets();
    for (k, row) in routes.iter().enumerate() {
        ws.write_copy(r + (k * Route4::SIZE) as u64, row)
            .expect("write route");
    }
    ws.write_copy(i, &iface).expect("write iface");
    ws.write_copy(n, &neigh).expect("write neigh");
    ws.bump_generation().expect("bump");
    let expected = render(&ws);

    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_reads_workspace",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &name)
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = stdout
        .split_once("BEGIN\n")
        .and_then(|(_, rest)| rest.split_once("END\n"))
        .map(|(b, _)| b)
        .unwrap_or_else(|| panic!("child printed no rows: {stdout}"));
    assert_eq!(body, expected);
    assert!(
        expected.contains("ifindex: 40000") && expected.contains("veth-test"),
        "{expected}"
    );
}

#[test]
fn a_process_built_from_another_schema_is_refused_with_both_fingerprints() {
    let name = unique("fp");
    let _guard = RemoveGuard::new(&name, &Backing::Shm);
    let _ws = Workspace::create(&CreateOptions::new(&name, plan::SIZE, plan::FINGERPRINT))
        .expect("create");
    // A schema that differs in one capacity has another fingerprint.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/netbase.toml");
    let text = std::fs::read_to_string(&path).expect("schema");
    let changed = text.replacen("capacity = 65536", "capacity = 32768", 1);
    assert_ne!(text, changed);
    let other = Schema::parse(&SourceFile::new(&path, changed)).expect("valid variant");
    let theirs = schema_fingerprint(&other);
    assert_ne!(theirs, netbase::schema::LAYOUT_FINGERPRINT);
    let err = Workspace::join(&name, theirs, Access::ReadOnly).expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{:#018x}", plan::FINGERPRINT))
            || msg.contains(&format!("{:#x}", plan::FINGERPRINT)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{theirs:#018x}")) || msg.contains(&format!("{theirs:#x}")),
        "{msg}"
    );
}
