//! `netbase compile` and the help texts, run as the real binary from the workspace root.

use std::path::Path;
use std::process::{Command, Output};

use netbase_codegen::plan::ObjectKind;
use netbase_codegen::{Plan, Schema};

const SHIPPED: [&str; 3] = ["default", "netlink", "multiqueue"];

/// Runs `netbase ARGS` in the workspace root (so that relative paths are the documented ones).
fn netbase(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netbase"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run netbase")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

#[track_caller]
fn assert_status(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn topology(name: &str) -> String {
    format!("schema/topologies/{name}.toml")
}

fn compile_json(name: &str) -> (String, Plan) {
    let o = netbase(&["compile", &topology(name), "--json"]);
    assert_status(&o, 0);
    let text = stdout(&o);
    let plan: Plan = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: --json is not a Plan: {e}\n{text}"));
    (text, plan)
}

fn shipped_schema() -> Schema {
    Schema::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/netbase.toml"))
        .expect("the shipped schema is valid")
}

#[test]
fn compile_default_prints_the_plan() {
    let o = netbase(&["compile", &topology("default")]);
    assert_status(&o, 0);
    let out = stdout(&o);
    assert!(stderr(&o).is_empty(), "stderr: {}", stderr(&o));
    for section in ["workspaces:", "links:", "tiles:"] {
        assert!(
            out.lines().any(|l| l == section),
            "no `{section}` section:\n{out}"
        );
    }
    assert!(out.starts_with("topology default "), "{out}");

    // Every workspace, link and tile instance of the plan is listed, with the fingerprints.
    let (_, plan) = compile_json("default");
    assert!(
        out.contains(&format!(
            "layout fingerprint {:#018x}",
            plan.layout_fingerprint
        )),
        "{out}"
    );
    for w in &plan.workspaces {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(w.name.as_str()))
            .unwrap_or_else(|| panic!("workspace {} not listed:\n{out}", w.name));
        assert!(
            line.contains(&format!("fingerprint {:#018x}", w.fingerprint)),
            "{line}"
        );
        for obj in &w.objects {
            assert!(
                out.contains(&format!("@{:#x}", obj.offset)) && out.contains(&obj.name),
                "object {} of {} not listed:\n{out}",
                obj.name,
                w.name
            );
        }
    }
    for l in &plan.links {
        assert!(
            out.contains(&format!("{} -> {}", l.producer, l.consumer)),
            "link {} not listed:\n{out}",
            l.name
        );
    }
    for t in &plan.tiles {
        assert!(out.contains(&t.instance), "tile {} not listed", t.instance);
    }
    for name in [
        "netbase", "net_out", "echo_out", "solicit", "net_echo", "echo_net",
    ] {
        assert!(out.contains(name), "{name} missing:\n{out}");
    }
}

#[test]
fn json_plan_round_trips() {
    for name in SHIPPED {
        let (text, plan) = compile_json(name);
        let as_written: serde_json::Value = serde_json::from_str(&text).unwrap();
        let again = serde_json::to_value(&plan).unwrap();
        assert_eq!(as_written, again, "{name}: the plan does not round-trip");
        let back: Plan = serde_json::from_value(again).unwrap();
        assert_eq!(back, plan, "{name}");
        assert_eq!(plan.topology, name);
        assert_eq!(plan.schema, "netbase");
    }
}

#[test]
fn json_netbase_workspace_holds_every_table() {
    let schema = shipped_schema();
    let (text, plan) = compile_json("default");

    let netbase: Vec<_> = plan.workspaces.iter().filter(|w| w.holds_tables).collect();
    assert_eq!(netbase.len(), 1, "exactly one workspace holds the tables");
    let ws = netbase[0];
    assert_eq!(ws.name, "netbase");
    assert_eq!(ws.writer.as_deref(), Some("netlink.0"));

    // One table object per schema table, in schema order, page-aligned and disjoint.
    let tables: Vec<_> = ws
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Table)
        .collect();
    let names: Vec<String> = tables.iter().map(|o| o.name.clone()).collect();
    let want: Vec<String> = schema
        .tables
        .iter()
        .map(|t| format!("table.{}", t.name))
        .collect();
    assert_eq!(names, want);
    let mut end = 0;
    for o in &ws.objects {
        assert!(o.size > 0, "{} is empty", o.name);
        assert_eq!(
            o.offset % 4096,
            0,
            "{} at {:#x} is not page-aligned",
            o.name,
            o.offset
        );
        assert!(o.offset >= end, "{} overlaps the object before it", o.name);
        end = o.offset + o.size;
    }
    assert!(tables[0].offset >= 4096, "the first page is the header");
    assert!(end <= 4096 + ws.size, "objects end past the workspace");

    // The same, as the JSON that other tools read.
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ws_json = json["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "netbase")
        .expect("netbase workspace in the JSON");
    assert_eq!(ws_json["holds_tables"], true);
    let interfaces = ws_json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "table.interfaces")
        .expect("table.interfaces in the JSON");
    assert_eq!(interfaces["kind"], "table");
    assert_eq!(interfaces["offset"], tables[0].offset);
    assert!(interfaces["size"].as_u64().unwrap() > 0);
}

#[test]
fn all_shipped_topologies_compile() {
    for name in SHIPPED {
        let o = netbase(&["compile", &topology(name)]);
        assert_status(&o, 0);
        assert!(
            stdout(&o).starts_with(&format!("topology {name} ")),
            "{name}:\n{}",
            stdout(&o)
        );
        assert!(stderr(&o).is_empty(), "{name}: {}", stderr(&o));
    }
    // Instances: multiqueue's 4 net tiles each write their own `net_out`.
    let (_, plan) = compile_json("multiqueue");
    for i in 0..4 {
        let name = format!("net_out.{i}");
        let w = plan.workspaces.iter().find(|w| w.name == name);
        assert_eq!(
            w.and_then(|w| w.writer.as_deref()),
            Some(format!("net.{i}").as_str()),
            "{name}"
        );
    }
}

#[test]
fn invalid_topology_exits_2_with_located_diagnostics() {
    let path = "tests/fixtures/invalid/topology_unknown_consumer.toml";
    let o = netbase(&["compile", path]);
    assert_status(&o, 2);
    assert!(stdout(&o).is_empty(), "no plan on stdout: {}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{path}:46:12: link `net_echo` has unknown consumer `echo0`"
        )),
        "{err}"
    );
    assert!(
        err.contains("46 | consumer = \"echo0\""),
        "source line: {err}"
    );
    assert!(err.contains("^^^^^^^"), "caret line: {err}");
    assert!(
        err.contains("= expected: a tile of this topology: netlink, net, echo"),
        "{err}"
    );
    assert!(err.contains(&format!("1 error(s) in {path}")), "{err}");

    // --json changes nothing for invalid input.
    let o = netbase(&["compile", path, "--json"]);
    assert_status(&o, 2);
    assert!(stdout(&o).is_empty());
}

#[test]
fn invalid_schema_is_reported_in_its_own_file() {
    let o = netbase(&[
        "compile",
        "tests/fixtures/invalid/topology_invalid_schema.toml",
    ]);
    assert_status(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("tests/fixtures/invalid/topology_invalid_schema.toml:4:10: schema"),
        "{err}"
    );
    assert!(
        err.contains(
            "tests/fixtures/invalid/schema_version.toml:3:18: unsupported schema_version 2"
        ),
        "{err}"
    );
}

#[test]
fn missing_file_exits_2_with_a_clear_message() {
    let path = "schema/topologies/no-such-topology.toml";
    let o = netbase(&["compile", path]);
    assert_status(&o, 2);
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains(path), "names the file: {err}");
    assert!(err.contains("cannot read file"), "{err}");
    assert!(err.contains("No such file"), "says why: {err}");
}

#[test]
fn help_has_examples() {
    for args in [
        &["--help"][..],
        &["compile", "--help"],
        &["help", "compile"],
    ] {
        let o = netbase(args);
        assert_status(&o, 0);
        let out = stdout(&o);
        assert!(out.contains("Examples:"), "netbase {args:?}:\n{out}");
        assert!(
            out.contains("netbase compile schema/topologies/default.toml"),
            "netbase {args:?}:\n{out}"
        );
    }
    let o = netbase(&["compile", "--help"]);
    assert!(stdout(&o).contains("--json"));
}

#[test]
fn bad_arguments_exit_2() {
    let o = netbase(&["compile", "--frobnicate", &topology("default")]);
    assert_status(&o, 2);
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("--frobnicate"), "{}", stderr(&o));

    let o = netbase(&["frobnicate"]);
    assert_status(&o, 2);

    // A missing TOPOLOGY argument is a usage error too.
    let o = netbase(&["compile"]);
    assert_status(&o, 2);
    assert!(stderr(&o).contains("TOPOLOGY"), "{}", stderr(&o));
}

#[test]
fn xdp_flag_lists_the_program_of_each_served_interface() {
    let o = netbase(&["compile", &topology("default"), "--xdp"]);
    assert_status(&o, 0);
    let out = stdout(&o);
    let xdp = &out[out.find("\nxdp:\n").expect("an xdp section")..];
    assert!(xdp.contains("interface veth0: UDP ports [7000]"), "{xdp}");
    assert!(
        xdp.contains("call bpf_redirect_map") || xdp.contains("call 51"),
        "{xdp}"
    );
    assert!(xdp.contains("exit"), "{xdp}");
    // The netlink-only topology has no XDP program.
    let o = netbase(&["compile", &topology("netlink"), "--xdp"]);
    assert_status(&o, 0);
    assert!(stdout(&o).contains("(no net tile)"));
    // --xdp is a text-only addition.
    let o = netbase(&["compile", &topology("default"), "--xdp", "--json"]);
    assert_status(&o, 2);
}

#[test]
fn stems_flag_prints_the_rust_an_app_implements() {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/apps/topologies/shout.toml");
    let o = netbase(&["compile", apps.to_str().unwrap(), "--stems"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    let stems = &out[out.find("\nstems:\n").expect("a stems section")..];
    for expected in [
        "pub mod shout {",
        "pub trait Hooks {",
        "fn on_requests(",
        "pub replies: ::netbase::app::Output<'a>,",
        "pub fn app<H: Hooks>(build: BuildFn) -> App {",
    ] {
        assert!(stems.contains(expected), "no `{expected}` in:\n{stems}");
    }
    let o = netbase(&["compile", &topology("default"), "--stems"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.ends_with("\nstems:\n  (no app tile)\n"), "{out}");
}
