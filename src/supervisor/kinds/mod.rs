//! The tile kinds this build can run, with their metric schemas.

mod echo;
mod net;
mod netlink;

use core::sync::atomic::AtomicU64;

use netbase_codegen::plan::{ObjectKind, Plan, TilePlan, WorkspacePlan};
use netbase_codegen::topology::TileKind;
use netbase_runtime::region::Region;
use netbase_runtime::tile::{GuestSlots, MetricDef, Tile, TileStatus};
use netbase_runtime::workspace::{Access, Workspace};

pub use netlink::netlink_metric;

/// Whether this binary can run `tile` (an app tile needs its application registered);
/// `netbase run` refuses topologies with any other tile before creating anything.
pub fn check_available(tile: &TilePlan) -> Result<(), String> {
    match tile.kind {
        TileKind::Netlink | TileKind::Net | TileKind::UdpEcho => Ok(()),
        TileKind::App => crate::app::find(tile).map(|_| ()),
    }
}

/// The metric schema of `tile` (what `netbase metrics` labels the counters with).
pub fn metric_defs(tile: &TilePlan) -> Result<&'static [MetricDef], String> {
    Ok(match tile.kind {
        TileKind::Netlink => netlink::METRICS,
        TileKind::Net => net::metrics(),
        TileKind::UdpEcho => echo::METRICS,
        TileKind::App => crate::app::find(tile)?.metrics,
    })
}

/// One workspace a tile process joined, with its plan entry.
pub struct Joined {
    pub plan: WorkspacePlan,
    pub workspace: Workspace,
}

/// What a tile kind's constructor gets: the whole plan, its own entry, and the workspaces it
/// joined (exactly those of its entry's `joins`).
pub struct BuildContext<'a> {
    pub plan: &'a Plan,
    pub me: &'a TilePlan,
    pub joined: &'a [Joined],
}

impl<'a> BuildContext<'a> {
    /// The tables workspace this tile maps with `access`.
    pub fn tables(&self, access: Access) -> Result<&'a Workspace, String> {
        self.joined
            .iter()
            .find(|j| j.plan.holds_tables && j.workspace.access() == access)
            .map(|j| &j.workspace)
            .ok_or_else(|| {
                format!(
                    "tile {} maps no tables workspace {}",
                    self.me.instance,
                    match access {
                        Access::ReadWrite => "read-write",
                        Access::ReadOnly => "read-only",
                    }
                )
            })
    }

    /// The status object of another tile instance whose status workspace this tile joined.
    pub fn status_of(&self, workspace: &str) -> Result<TileStatus<'a>, String> {
        let j = self
            .joined
            .iter()
            .find(|j| j.plan.name == workspace)
            .ok_or_else(|| format!("{workspace} is not mapped by {}", self.me.instance))?;
        let o = j
            .plan
            .objects
            .iter()
            .find(|o| o.kind == ObjectKind::Status)
            .ok_or_else(|| format!("{workspace} has no status object"))?;
        let region = Region::from_workspace(&j.workspace, o.offset, o.size)
            .map_err(|e| format!("{workspace} status: {e}"))?;
        TileStatus::new(region).map_err(|e| format!("{workspace} status: {e}"))
    }

    /// The quiescent words in QSBR slot `slot` of the tiles that read the tables this tile
    /// writes (their status workspaces are in this tile's joins for that purpose: see the
    /// plan), and those of the instance's guest reader slots (`netbase show` and friends).
    pub fn reader_words(&self, slot: usize) -> Result<Vec<&'a AtomicU64>, String> {
        let tables: Vec<&str> = self
            .plan
            .workspaces
            .iter()
            .filter(|w| w.holds_tables)
            .map(|w| w.name.as_str())
            .collect();
        let mut words = Vec::new();
        for t in &self.plan.tiles {
            let reads = t.joins.iter().any(|j| {
                tables.contains(&j.workspace.as_str())
                    && j.access == netbase_codegen::topology::Access::ReadOnly
            });
            if reads {
                let ws = super::tile_workspace(&t.instance);
                let word = self.status_of(&ws)?.quiescent_word(slot);
                words.push(word.ok_or_else(|| format!("no QSBR slot {slot} in {ws}"))?);
            }
        }
        for j in self.joined {
            if let Some(o) = j
                .plan
                .objects
                .iter()
                .find(|o| o.kind == ObjectKind::GuestReaders)
            {
                let region = Region::from_workspace(&j.workspace, o.offset, o.size)
                    .map_err(|e| format!("{}: {e}", j.plan.name))?;
                let slots = GuestSlots::new(region).map_err(|e| format!("{}: {e}", j.plan.name))?;
                words.extend(slots.quiescent_words(slot));
            }
        }
        Ok(words)
    }
}

/// Builds the `Tile` of `ctx.me`'s kind over the workspaces it joined. Everything that needs
/// a file descriptor or a mapping is opened here, before the loop runs.
pub fn build<'a>(ctx: &BuildContext<'a>) -> Result<Box<dyn Tile + 'a>, String> {
    match ctx.me.kind {
        TileKind::Netlink => netlink::build(ctx),
        TileKind::Net => net::build(ctx),
        TileKind::UdpEcho => echo::build(ctx),
        TileKind::App => (crate::app::find(ctx.me)?.build)(ctx),
    }
}

/// Declares a metric of a tile kind's schema.
macro_rules! metric {
    ($name:literal, $help:literal, $kind:ident) => {
        netbase_runtime::tile::MetricDef {
            name: $name,
            help: $help,
            kind: netbase_runtime::tile::MetricKind::$kind,
        }
    };
}
pub(crate) use metric;
