//! How the inspection commands (`show`, `route get`, `diff`) read a running instance's netbase:
//! the tables workspace mapped read-only, and a guest reader slot that makes the tables writer
//! wait for this process before it reuses memory (QSBR; see `netbase_runtime::tile::guests`).

use std::time::{Duration, Instant};

use netbase_codegen::plan::{ObjectKind, Plan, GUEST_READERS_WORKSPACE};
use netbase_runtime::region::Region;
use netbase_runtime::tile::GuestSlots;
use netbase_runtime::workspace::{Access, JoinOptions, Workspace};
use netbase_tiles::netbase_view::NetbaseView;
use netbase_tiles::netlink_tile::readers::epochs_by_slot;

use crate::supervisor;

/// How long a reader waits for a free guest slot when every one is taken.
const CLAIM_PATIENCE: Duration = Duration::from_secs(2);

/// Runs `read` over instance `name`'s netbase while holding a guest reader slot.
pub(super) fn with_netbase<T>(
    name: &str,
    read: impl FnOnce(&NetbaseView<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let plan = instance_plan(name)?;
    let tables = join_tables(name, &plan)?;
    let guests = join_guests(name, &plan)?;
    let (ws, object) = &guests;
    let region = Region::from_workspace(ws, object.0, object.1)
        .map_err(|e| format!("guest reader slots: {e}"))?;
    let slots = GuestSlots::new(region).map_err(|e| format!("guest reader slots: {e}"))?;
    let view = NetbaseView::attach(&tables).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + CLAIM_PATIENCE;
    let slot = loop {
        if let Some(slot) = slots.claim(std::process::id()) {
            break slot;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "all {} guest reader slots of instance {name:?} stayed taken for {:?} (pids {:?})",
                slots.len(),
                CLAIM_PATIENCE,
                slots.owners()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for (table, epoch) in epochs_by_slot(&view).into_iter().enumerate() {
        let reader = slot
            .reader(table, epoch)
            .ok_or_else(|| format!("no guest QSBR word for table {table}"))?;
        reader.online();
    }
    let result = read(&view);
    // Offline and free again before the mappings go: the writer may reclaim at once.
    drop(slot);
    result
}

fn instance_plan(name: &str) -> Result<Plan, String> {
    let dir = supervisor::instance_dir(name);
    let plan = supervisor::load_plan(&dir).map_err(|e| {
        format!("no instance {name:?} ({e}); start one with `netbase run TOPOLOGY --name {name}` or pass --name")
    })?;
    if plan.layout_fingerprint != crate::schema::LAYOUT_FINGERPRINT {
        return Err(format!(
            "instance {name:?} runs another schema layout (fingerprint {:#x}, this binary has {:#x})",
            plan.layout_fingerprint,
            crate::schema::LAYOUT_FINGERPRINT
        ));
    }
    Ok(plan)
}

/// The tables workspace of instance `name`, read-only (the join checks its fingerprint).
fn join_tables(name: &str, plan: &Plan) -> Result<Workspace, String> {
    let wp = plan
        .workspaces
        .iter()
        .find(|w| w.holds_tables)
        .ok_or_else(|| format!("the topology of instance {name:?} has no netbase tables"))?;
    let ws_name = supervisor::workspace_name(name, &wp.name);
    let options = JoinOptions::new(&ws_name, wp.fingerprint, Access::ReadOnly)
        .with_backing(supervisor::backing_of(wp));
    Workspace::join_with(&options).map_err(|e| format!("tables workspace {ws_name}: {e}"))
}

/// The guest slots workspace, writable without the writer lock, and its object's
/// `(offset, size)`.
fn join_guests(name: &str, plan: &Plan) -> Result<(Workspace, (u64, u64)), String> {
    let wp = plan
        .workspaces
        .iter()
        .find(|w| w.name == GUEST_READERS_WORKSPACE)
        .ok_or_else(|| format!("instance {name:?} has no {GUEST_READERS_WORKSPACE} workspace"))?;
    let object = wp
        .objects
        .iter()
        .find(|o| o.kind == ObjectKind::GuestReaders)
        .map(|o| (o.offset, o.size))
        .ok_or_else(|| format!("{GUEST_READERS_WORKSPACE} holds no guest reader slots"))?;
    let ws_name = supervisor::workspace_name(name, &wp.name);
    let options = JoinOptions::new(&ws_name, wp.fingerprint, Access::ReadWrite)
        .with_backing(supervisor::backing_of(wp))
        .shared_writable();
    let ws = Workspace::join_with(&options).map_err(|e| {
        format!("guest reader slots {ws_name}: {e} (reading a running netbase needs write access to this file, like its owner, root, has)")
    })?;
    Ok((ws, object))
}
