//! The topology file as written: serde structs that keep the span of every value.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::toml_input::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub name: Spanned<String>,
    pub schema: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "workspace")]
    pub workspaces: Vec<RawWorkspace>,
    #[serde(default, rename = "tile")]
    pub tiles: Vec<RawTile>,
    #[serde(default, rename = "link")]
    pub links: Vec<RawLink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkspace {
    pub name: Spanned<String>,
    /// `true` when this workspace holds the schema's tables (the netbase itself).
    #[serde(default)]
    pub tables: Option<Spanned<bool>>,
    #[serde(default)]
    pub backing: Option<Spanned<String>>,
    /// Refuse a plan whose workspace would be larger (bytes, or a string like "64MiB").
    #[serde(default)]
    pub size_limit: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTile {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    #[serde(default)]
    pub maps: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Run as this user after setup (issue: sandbox); absent keeps the supervisor's user.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Restart the tile when it dies instead of stopping the instance.
    #[serde(default)]
    pub restart: Option<Spanned<bool>>,
    // Kind-specific parameters; `validate` rejects those that do not belong to the kind.
    #[serde(default)]
    pub interface: Option<Spanned<String>>,
    #[serde(default)]
    pub xdp_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub dst_addr: Option<Spanned<String>>,
    #[serde(default)]
    pub udp_port: Option<Spanned<i64>>,
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
    #[serde(default)]
    pub app: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub name: Spanned<String>,
    pub producer: Spanned<String>,
    pub consumer: Spanned<String>,
    pub workspace: Spanned<String>,
    pub depth: Spanned<i64>,
    pub frame_size: Spanned<i64>,
    pub mode: Spanned<String>,
}
