//! The topology model: tiles (processes), the shared-memory workspaces they map and with which
//! access, and the links (rings) between them.

mod raw;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostics, SourceFile};
use crate::schema::Schema;

pub use validate::{MAX_DEPTH, MAX_FRAME, MAX_TILE_COUNT};

/// A validated topology with its schema.
#[derive(Debug, Clone)]
pub struct Topology {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub schema: Schema,
    pub workspaces: Vec<WorkspaceDef>,
    pub tiles: Vec<TileDef>,
    pub links: Vec<LinkDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backing {
    /// A file in /dev/shm.
    Shm,
    /// A file on a hugetlbfs mount (2 MiB pages).
    Hugetlb,
}

#[derive(Debug, Clone)]
pub struct WorkspaceDef {
    pub name: String,
    pub holds_tables: bool,
    pub backing: Backing,
    pub size_limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TileKind {
    /// Mirrors the kernel's tables into the netbase (its only writer).
    Netlink,
    /// AF_XDP packet loop on one interface queue; reads the netbase.
    Net,
    /// Application tile that echoes UDP datagrams.
    UdpEcho,
    /// A user's application tile: its code is the `app` registered in the binary that runs the
    /// topology, driven by the stem `netbase-codegen` emits for it from this topology.
    App,
}

impl TileKind {
    pub const ALL: [TileKind; 4] = [
        TileKind::Netlink,
        TileKind::Net,
        TileKind::UdpEcho,
        TileKind::App,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TileKind::Netlink => "netlink",
            TileKind::Net => "net",
            TileKind::UdpEcho => "udp_echo",
            TileKind::App => "app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode.
    Drv,
    /// Generic (skb) mode, slower but works on any device.
    Skb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeMethod {
    /// `RTM_NEWNEIGH` with `NTF_USE` when privileged, else UDP.
    Auto,
    Netlink,
    Udp,
}

/// Kind-specific tile parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TileParams {
    Netlink {
        probe: ProbeMethod,
    },
    Net {
        interface: String,
        xdp_mode: XdpMode,
        dst_addr: Option<std::net::Ipv4Addr>,
    },
    UdpEcho {
        udp_port: u16,
    },
    App {
        /// The registered application (see `netbase::app`).
        app: String,
        /// Net tiles deliver the datagrams for this UDP port on their links to the tile.
        #[serde(default)]
        udp_port: Option<u16>,
    },
}

impl TileParams {
    /// The UDP port whose datagrams net tiles hand to this tile (application tiles).
    pub fn udp_port(&self) -> Option<u16> {
        match self {
            TileParams::UdpEcho { udp_port } => Some(*udp_port),
            TileParams::App { udp_port, .. } => *udp_port,
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TileDef {
    pub name: String,
    pub kind: TileKind,
    pub count: u32,
    /// (workspace index, access), in file order.
    pub maps: Vec<(usize, Access)>,
    pub user: Option<String>,
    /// Restart the tile when it dies (`restart = true`) instead of stopping the instance.
    pub restart: bool,
    pub params: TileParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// The producer never waits; a slow consumer detects overruns and counts them.
    Lossy,
    /// The producer waits for consumer credits (back-pressure).
    Reliable,
}

#[derive(Debug, Clone)]
pub struct LinkDef {
    pub name: String,
    pub producer: usize,
    pub consumer: usize,
    pub workspace: usize,
    pub depth: u32,
    pub frame_size: u32,
    pub mode: LinkMode,
}

impl Topology {
    /// Reads and validates a topology and the schema it names (relative to the topology file).
    pub fn load(path: &Path) -> Result<Topology, Diagnostics> {
        let file = SourceFile::read(path)?;
        Self::parse(&file, None)
    }

    /// Validates a topology held in memory. `schema` overrides the schema the file names (used
    /// by fuzzing and tests that have no schema file next to the topology).
    pub fn parse(file: &SourceFile, schema: Option<&Schema>) -> Result<Topology, Diagnostics> {
        let raw: raw::RawTopology = crate::toml_input::from_file(file)?;
        validate::validate(file, raw, schema)
    }

    pub fn tile(&self, name: &str) -> Option<&TileDef> {
        self.tiles.iter().find(|t| t.name == name)
    }
}
