//! The ends of a tile's links, found in the plan and opened over the workspaces the tile
//! joined: producers over rings in its own workspaces (read-write), consumers over rings in
//! the producers' workspaces (read-only) with their progress word in the tile's own status
//! workspace.

use core::sync::atomic::AtomicU64;

use netbase_codegen::plan::{LinkPlan, Plan, RingPlan, TilePlan};
use netbase_codegen::topology::LinkMode;
use netbase_runtime::link::{Consumer, ConsumerOptions, Geometry, Mode, Producer, Ring};
use netbase_runtime::region::Region;
use netbase_runtime::workspace::Workspace;

use super::kinds::Joined;

/// The runtime geometry of a planned link.
pub fn geometry(link: &LinkPlan) -> Result<Geometry, String> {
    let mode = match link.mode {
        LinkMode::Lossy => Mode::Lossy,
        LinkMode::Reliable => Mode::Reliable,
    };
    Geometry::new(link.depth, link.frame_size, mode).map_err(|e| format!("link {}: {e}", link.name))
}

fn link<'p>(plan: &'p Plan, name: &str) -> Result<&'p LinkPlan, String> {
    plan.links
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| format!("the plan has no link {name}"))
}

fn region<'a>(
    joined: &'a [Joined],
    workspace: &str,
    offset: u64,
    bytes: u64,
) -> Result<Region<'a>, String> {
    let j = joined
        .iter()
        .find(|j| j.plan.name == workspace)
        .ok_or_else(|| format!("workspace {workspace} is not mapped by this tile"))?;
    Region::from_workspace(&j.workspace, offset, bytes)
        .map_err(|e| format!("{workspace}@{offset:#x}: {e}"))
}

/// The consumer's progress word of ring `r` (reliable links), if it has one.
fn fseq_region<'a>(joined: &'a [Joined], r: &RingPlan) -> Result<Option<Region<'a>>, String> {
    r.fseq
        .as_ref()
        .map(|f| {
            region(
                joined,
                &f.workspace,
                f.offset,
                netbase_runtime::tables::geometry::FSEQ_BYTES,
            )
        })
        .transpose()
}

/// Initializes every ring of the plan that lives in `ws` (plan workspace `name`), so that a
/// consumer that starts before its producer finds a valid, empty ring instead of an error.
/// The supervisor does this once, right after creating the workspace.
pub fn init_rings(plan: &Plan, name: &str, ws: &Workspace) -> Result<(), String> {
    for l in &plan.links {
        let g = geometry(l)?;
        for r in l.rings.iter().filter(|r| r.workspace == name) {
            let region = Region::from_workspace(ws, r.offset, l.ring_size)
                .map_err(|e| format!("ring of link {} in {name}: {e}", l.name))?;
            Ring::init_region(region, g)
                .map_err(|e| format!("ring of link {} in {name}: {e}", l.name))?;
        }
    }
    Ok(())
}

/// The producer end of link `name` for tile instance `me` (which must produce it).
pub fn producer<'a>(
    plan: &Plan,
    me: &TilePlan,
    joined: &'a [Joined],
    name: &str,
) -> Result<Producer<'a, AtomicU64>, String> {
    let l = link(plan, name)?;
    let r: &RingPlan = l
        .rings
        .iter()
        .find(|r| r.producer == me.instance)
        .ok_or_else(|| format!("{} does not produce link {name}", me.instance))?;
    let ring = region(joined, &r.workspace, r.offset, l.ring_size)?;
    let fseq = fseq_region(joined, r)?;
    Producer::create(ring, fseq, geometry(l)?).map_err(|e| format!("link {name}: {e}"))
}

/// The consumer ends of link `name` for tile instance `me`: one per producer instance that
/// sends to it (a netlink tile consumes the solicit rings of every net tile).
pub fn consumers<'a>(
    plan: &Plan,
    me: &TilePlan,
    joined: &'a [Joined],
    name: &str,
    options: ConsumerOptions,
) -> Result<Vec<Consumer<'a, AtomicU64>>, String> {
    let l = link(plan, name)?;
    let g = geometry(l)?;
    l.rings
        .iter()
        .filter(|r| r.consumer == me.instance)
        .map(|r| {
            let ring = region(joined, &r.workspace, r.offset, l.ring_size)?;
            let fseq = fseq_region(joined, r)?;
            Consumer::attach(ring, fseq, g, options).map_err(|e| format!("link {name}: {e}"))
        })
        .collect()
}

/// The consumer ends of every link `me` consumes, with progress published every
/// `publish_every` frames (application links: fewer stores to the shared line).
pub fn all_consumers<'a>(
    plan: &Plan,
    me: &TilePlan,
    joined: &'a [Joined],
    publish_every: u64,
) -> Result<Vec<Consumer<'a, AtomicU64>>, String> {
    let options = ConsumerOptions {
        publish_every,
        ..ConsumerOptions::default()
    };
    let mut all = Vec::new();
    for l in consumed_links(plan, me) {
        all.extend(consumers(plan, me, joined, &l.name, options)?);
    }
    Ok(all)
}

/// The links `me` consumes (has a ring of, as consumer).
pub fn consumed_links<'p>(plan: &'p Plan, me: &TilePlan) -> Vec<&'p LinkPlan> {
    plan.links
        .iter()
        .filter(|l| l.rings.iter().any(|r| r.consumer == me.instance))
        .collect()
}

/// The links `me` produces (has a ring of, as producer).
pub fn produced_links<'p>(plan: &'p Plan, me: &TilePlan) -> Vec<&'p LinkPlan> {
    plan.links
        .iter()
        .filter(|l| l.rings.iter().any(|r| r.producer == me.instance))
        .collect()
}
