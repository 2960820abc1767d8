//! netbase tiles: the processes of an instance (netlink tile, net tile, application tiles),
//! built on the code generated from `schema/netbase.toml`.

/// Rows, enums, tables and netlink parsers generated from `schema/netbase.toml`.
pub mod schema {
    include!(concat!(env!("OUT_DIR"), "/netbase_schema.rs"));
}

// Each module documents itself (an outer doc comment here would make rustdoc resolve the
// module's own intra-doc links in this scope).
pub mod netlink_tile;

pub mod net_tile;

pub mod solicit;

/// A read-only view of an instance's netbase tables (for `netbase show`, `route get`, `diff`).
pub mod netbase_view;
