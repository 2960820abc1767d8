//! netbase: kernel-bypass networking that stays in sync with Linux.
//!
//! This crate owns the `netbase` command and the plans of the shipped topologies; the pieces
//! live in their own crates (see the README): `netbase-codegen` (schema → code),
//! `netbase-macros` (derive checks), `netbase-runtime` (shared memory, tables, I/O),
//! `netbase-uapi` (kernel bindings) and `netbase-tiles` (the tiles).

pub mod app;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod sandbox;
pub mod supervisor;
pub mod traffic;

pub use netbase_tiles::schema;

/// Plans of the topologies shipped in `schema/topologies/`, generated at build time.
pub mod plans {
    /// `schema/topologies/default.toml`.
    pub mod default {
        include!(concat!(env!("OUT_DIR"), "/default_plan.rs"));
    }
    /// `schema/topologies/netlink.toml`.
    pub mod netlink {
        include!(concat!(env!("OUT_DIR"), "/netlink_plan.rs"));
    }
    /// `schema/topologies/multiqueue.toml`.
    pub mod multiqueue {
        include!(concat!(env!("OUT_DIR"), "/multiqueue_plan.rs"));
    }
}

// The binary's plans and the tiles' generated schema come from the same schema file: if they
// ever disagreed, workspaces created by one could not be joined by the other.
const _: () = assert!(plans::default::LAYOUT_FINGERPRINT == schema::LAYOUT_FINGERPRINT);

// The tables workspace of the plans holds exactly the schema's tables where the generated
// schema code expects them, so tiles can open tables without knowing the topology.
const _: () = {
    use plans::default::workspaces::netbase as ws;
    use schema::tables as t;
    assert!(ws::TABLE_INTERFACES == t::INTERFACES_OFFSET);
    assert!(ws::TABLE_ADDRS4 == t::ADDRS4_OFFSET);
    assert!(ws::TABLE_LOCAL4 == t::LOCAL4_OFFSET);
    assert!(ws::TABLE_MAIN4 == t::MAIN4_OFFSET);
    assert!(ws::TABLE_NEIGH4 == t::NEIGH4_OFFSET);
    assert!(ws::SIZE == t::WORKSPACE_BYTES);
};
