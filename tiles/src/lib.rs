//! netbase tiles: the processes of an instance (netlink tile, net tile, application tiles),
//! built on the code generated from `schema/netbase.toml`.

/// Rows, enums, tables and netlink parsers generated from `schema/netbase.toml`.
pub mod schema {
    include!(concat!(env!("OUT_DIR"), "/netbase_schema.rs"));
}

/// The netlink tile: mirrors the kernel's interfaces, IPv4 addresses, routes and neighbours.
pub mod netlink_tile;

/// Neighbour solicitation: request wire format, dedup, rate limiting, keepalives.
pub mod solicit;
