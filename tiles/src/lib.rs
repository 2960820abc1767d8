//! netbase tiles: the processes of an instance (netlink tile, net tile, application tiles),
//! built on the code generated from `schema/netbase.toml`.

/// Rows, enums, tables and netlink parsers generated from `schema/netbase.toml`.
pub mod schema {
    include!(concat!(env!("OUT_DIR"), "/netbase_schema.rs"));
}
