//! `netbase compile`: validate a topology and its schema, print the plan.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use netbase_codegen::{Plan, Topology};

use super::EXIT_INVALID;

#[derive(Debug, Args)]
#[command(
    about = "Validate a topology (and the schema it names) and print its plan",
    long_about = "Validates a topology file and the schema file it names, then prints the plan: \
every shared-memory workspace with its size, writer, fingerprint and the offset of each object \
in it (tables, rings, tile status), every link with its ring geometry, and every tile instance \
with the workspaces it maps and with which access. Then each tile's seccomp policy: the system \
calls it may make once set up, with their argument conditions (`a0 ∈ {xsk}`: argument 0 is one \
of the descriptors the tile binds to that role) and why; any other call kills the tile with \
SIGSYS. Tiles of one kind share a policy, printed once. With --json the policies are in each \
tile's `seccomp` field.\n\n\
Invalid input is reported as `file:line:column: message`, with the offending text underlined \
and what was expected; every error is reported, not just the first. Exit status: 0 valid, 2 \
invalid input, 1 other failures (e.g. the output could not be written).",
    after_help = "Examples:\n  \
netbase compile schema/topologies/default.toml\n  \
netbase compile schema/topologies/multiqueue.toml --json | jq '.workspaces[].name'\n  \
netbase compile my-topology.toml && echo valid\n  \
netbase compile schema/topologies/default.toml --xdp   (with the emitted XDP program)\n  \
netbase compile examples/apps/topologies/shout.toml --stems   (the Rust to implement for app tiles)"
)]
pub struct CompileArgs {
    /// Topology file (TOML), e.g. schema/topologies/default.toml.
    pub topology: PathBuf,
    /// Print the plan as one JSON object (the serde form of the plan) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also print the XDP program emitted for each interface that net tiles serve, as an
    /// eBPF listing (what `netbase run` loads with bpf(2); the map descriptor shows as 0).
    #[arg(long, conflicts_with = "json")]
    pub xdp: bool,
    /// Also print the stems emitted for the topology's `kind = "app"` tiles: the Rust module
    /// (`Hooks` trait, `Outs`, `build`, `app`) that a build script generates and the
    /// application implements, formatted as it lands in OUT_DIR.
    #[arg(long, conflicts_with = "json")]
    pub stems: bool,
}

pub fn run(args: &CompileArgs) -> i32 {
    let topo = match Topology::load(&args.topology) {
        Ok(t) => t,
        Err(diags) => {
            // Not eprintln!: a closed stderr (`2>&1 | head`) must not turn into a panic.
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(
                stderr,
                "{diags}\n\n{} error(s) in {}",
                diags.len(),
                args.topology.display()
            );
            return EXIT_INVALID;
        }
    };
    let plan = Plan::build(&topo);
    let out = if args.json {
        match serde_json::to_string_pretty(&plan) {
            Ok(s) => s + "\n",
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "netbase: cannot serialize the plan: {e}");
                return 1;
            }
        }
    } else {
        let mut text = plan.render() + &render_seccomp(&plan);
        if args.xdp {
            match render_xdp(&plan) {
                Ok(x) => text += &x,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "netbase: {e}");
                    return EXIT_INVALID;
                }
            }
        }
        if args.stems {
            match render_stems(&topo) {
                Ok(x) => text += &x,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "netbase: {e}");
                    return 1;
                }
            }
        }
        text
    };
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "netbase: cannot write the plan: {e}");
            1
        }
    }
}

/// The `stems:` section: the emitted Rust of the app tiles' stems.
fn render_stems(topo: &Topology) -> Result<String, String> {
    let tokens = netbase_codegen::emit::stem_code::emit(topo);
    if tokens.is_empty() {
        return Ok("\nstems:\n  (no app tile)\n".into());
    }
    let code = netbase_codegen::emit::format("stems of the topology's app tiles", tokens)?;
    Ok(format!("\nstems:\n{code}"))
}

/// The `xdp:` section: per interface served by net tiles, the emitted program's listing.
fn render_xdp(plan: &Plan) -> Result<String, String> {
    use netbase_codegen::topology::TileParams;
    let mut out = String::from("\nxdp:\n");
    let mut seen: Vec<&str> = Vec::new();
    for t in &plan.tiles {
        let TileParams::Net { interface, .. } = &t.params else {
            continue;
        };
        if seen.contains(&interface.as_str()) {
            continue;
        }
        seen.push(interface);
        let spec = netbase_codegen::xdp::XdpSpec::from_plan(plan, &t.instance)?;
        let code = netbase_codegen::xdp::emit(&spec);
        out += &format!(
            "  interface {interface}: UDP ports {:?}{}, {} instructions\n",
            spec.udp_ports,
            spec.dst_addr
                .map(|a| format!(", destination {a}"))
                .unwrap_or_default(),
            code.insns.len()
        );
        for line in code.disassemble().lines() {
            out += &format!("    {line}\n");
        }
    }
    if seen.is_empty() {
        out += "  (no net tile)\n";
    }
    Ok(out)
}

/// The `seccomp:` section: each kind's policy once, under the instances that install it.
fn render_seccomp(plan: &Plan) -> String {
    let mut s = String::from(
        "\nseccomp (after setup; any other system call kills the tile with SIGSYS):\n",
    );
    let mut printed: Vec<&netbase_runtime::seccomp::Policy> = Vec::new();
    for t in &plan.tiles {
        if printed.contains(&&t.seccomp) {
            continue;
        }
        printed.push(&t.seccomp);
        let instances: Vec<&str> = plan
            .tiles
            .iter()
            .filter(|o| o.seccomp == t.seccomp)
            .map(|o| o.instance.as_str())
            .collect();
        let roles: Vec<&str> = t.seccomp.roles().iter().map(|r| r.name()).collect();
        s.push_str(&format!(
            "  {} ({}), descriptor roles: {}\n",
            instances.join(", "),
            t.kind.name(),
            roles.join(", ")
        ));
        for line in t.seccomp.to_string().lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    s
}
