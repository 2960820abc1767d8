//! The topology plan: every workspace instance with its size and objects, every link with its
//! ring geometry, every tile instance with what it maps and how.
//!
//! Placement rules:
//! - a declared workspace is instantiated once per instance of the tile that writes it
//!   (`net_out.0`, `net_out.1`, …), so every workspace has exactly one writer process;
//! - every tile instance also gets a private workspace `tile.<name>.<i>` for its status,
//!   metrics and consumer credits, which other tiles map read-only;
//! - an instance with tables also gets `guest.readers`, owned by the supervisor, whose slots
//!   give short-lived readers (`netbase show`, `route get`, `diff`) QSBR words the tables
//!   writer honours;
//! - objects are page-aligned, in a fixed order (tables in schema order, then rings in link
//!   order), so two builds of the same files agree on every offset.

use netbase_runtime::seccomp::Policy;
use serde::{Deserialize, Serialize};

use crate::fingerprint::{hash_text, schema_fingerprint};
use crate::geometry::{self, OBJECT_ALIGN};
use crate::topology::{Access, Backing, LinkMode, TileKind, TileParams, Topology};

/// The supervisor-owned workspace of guest reader slots (present when the topology has tables).
/// The dot keeps it apart from declared workspace names, which cannot contain one.
pub const GUEST_READERS_WORKSPACE: &str = "guest.readers";

/// Largest workspace the runtime maps (1 TiB): anything bigger is a capacity mistake.
pub const MAX_WORKSPACE_BYTES: u64 = 1 << 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub topology: String,
    pub schema: String,
    pub schema_version: u32,
    /// Fingerprint of the schema's layouts (tables, rows, enums).
    pub layout_fingerprint: u64,
    pub workspaces: Vec<WorkspacePlan>,
    pub links: Vec<LinkPlan>,
    pub tiles: Vec<TilePlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    Ring,
    Status,
    Metrics,
    Fseq,
    /// Quiescent words of short-lived readers (`netbase show`, …): see
    /// `netbase_runtime::tile::guests`.
    GuestReaders,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPlan {
    pub name: String,
    pub kind: ObjectKind,
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspacePlan {
    /// Instance name: the declared name, `name.i` per writer instance, or `tile.<tile>.<i>`.
    pub name: String,
    /// The tile instance (`tile.i`) that maps it read-write, if any.
    pub writer: Option<String>,
    pub backing: Backing,
    pub holds_tables: bool,
    /// Bytes after the 4096-byte header.
    pub size: u64,
    /// Hash of the schema layout and of this workspace's object list; written in its header.
    pub fingerprint: u64,
    pub objects: Vec<ObjectPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingPlan {
    pub producer: String,
    pub consumer: String,
    pub workspace: String,
    pub offset: u64,
    /// For reliable links: where the consumer publishes its progress.
    pub fseq: Option<FseqPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FseqPlan {
    pub workspace: String,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    pub name: String,
    pub producer: String,
    pub consumer: String,
    pub mode: LinkMode,
    pub depth: u32,
    pub frame_size: u32,
    pub slot_size: u64,
    pub ring_size: u64,
    pub rings: Vec<RingPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPlan {
    pub workspace: String,
    pub access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TilePlan {
    /// `name.i`.
    pub instance: String,
    pub name: String,
    pub index: u32,
    pub kind: TileKind,
    pub params: TileParams,
    pub user: Option<String>,
    /// Restarted by the supervisor when it dies (else its death stops the instance).
    #[serde(default)]
    pub restart: bool,
    pub joins: Vec<JoinPlan>,
    /// The system calls the tile may make once set up (`crate::seccomp::policy_for` its kind).
    /// No serde default on purpose: an empty policy would kill the tile at its first call.
    pub seccomp: Policy,
}

fn instance(name: &str, i: u32) -> String {
    format!("{name}.{i}")
}

fn align_up(n: u64) -> u64 {
    n.div_ceil(OBJECT_ALIGN) * OBJECT_ALIGN
}

struct Builder {
    workspaces: Vec<WorkspacePlan>,
}

impl Builder {
    fn ws_mut(&mut self, name: &str) -> &mut WorkspacePlan {
        let i = self
            .workspaces
            .iter()
            .position(|w| w.name == name)
            .expect("workspace planned before use");
        &mut self.workspaces[i]
    }

    fn place(&mut self, ws: &str, name: String, kind: ObjectKind, size: u64) -> u64 {
        let w = self.ws_mut(ws);
        let offset = netbase_runtime::workspace::HEADER_SIZE + w.size;
        let size = if kind == ObjectKind::Fseq {
            size
        } else {
            align_up(size)
        };
        w.objects.push(ObjectPlan {
            name,
            kind,
            offset,
            size,
        });
        w.size = align_up(w.size + size);
        offset
    }
}

impl Plan {
    /// Plans a validated topology. Sizes saturate instead of overflowing; validation rejects
    /// plans whose workspaces exceed their limits.
    pub fn build(topo: &Topology) -> Plan {
        let schema = &topo.schema;
        let layout_fp = schema_fingerprint(schema);
        let mut b = Builder {
            workspaces: Vec::new(),
        };

        // Which tile writes each declared workspace decides how many instances it has.
        let writer_of = |wi: usize| {
            topo.tiles
                .iter()
                .find(|t| t.maps.contains(&(wi, Access::ReadWrite)))
        };
        let ws_instances = |wi: usize| -> Vec<(String, Option<String>)> {
            let name = &topo.workspaces[wi].name;
            match writer_of(wi) {
                Some(t) if t.count > 1 => (0..t.count)
                    .map(|i| (instance(name, i), Some(instance(&t.name, i))))
                    .collect(),
                Some(t) => vec![(name.clone(), Some(instance(&t.name, 0)))],
                None => vec![(name.clone(), None)],
            }
        };
        for (wi, w) in topo.workspaces.iter().enumerate() {
            for (name, writer) in ws_instances(wi) {
                b.workspaces.push(WorkspacePlan {
                    name,
                    writer,
                    backing: w.backing,
                    holds_tables: w.holds_tables,
                    size: 0,
                    fingerprint: 0,
                    objects: Vec::new(),
                });
            }
        }
        for t in &topo.tiles {
            for i in 0..t.count {
                b.workspaces.push(WorkspacePlan {
                    name: format!("tile.{}", instance(&t.name, i)),
                    writer: Some(instance(&t.name, i)),
                    backing: Backing::Shm,
                    holds_tables: false,
                    size: 0,
                    fingerprint: 0,
                    objects: Vec::new(),
                });
            }
        }

        let has_tables = topo.workspaces.iter().any(|w| w.holds_tables);
        if has_tables {
            b.workspaces.push(WorkspacePlan {
                name: GUEST_READERS_WORKSPACE.into(),
                writer: None,
                backing: Backing::Shm,
                holds_tables: false,
                size: 0,
                fingerprint: 0,
                objects: Vec::new(),
            });
            b.place(
                GUEST_READERS_WORKSPACE,
                "guest_readers".into(),
                ObjectKind::GuestReaders,
                netbase_runtime::tile::GUEST_READERS_BYTES,
            );
        }

        // Tables.
        for (wi, w) in topo.workspaces.iter().enumerate() {
            if !w.holds_tables {
                continue;
            }
            for (name, _) in ws_instances(wi) {
                for t in crate::layout::table_objects(schema) {
                    b.place(
                        &name,
                        format!("table.{}", t.name),
                        ObjectKind::Table,
                        t.size,
                    );
                }
            }
        }

        // Tile status and metrics.
        for t in &topo.tiles {
            for i in 0..t.count {
                let ws = format!("tile.{}", instance(&t.name, i));
                b.place(
                    &ws,
                    "status".into(),
                    ObjectKind::Status,
                    geometry::TILE_STATUS_BYTES,
                );
                b.place(
                    &ws,
                    "metrics".into(),
                    ObjectKind::Metrics,
                    geometry::TILE_METRICS_BYTES,
                );
            }
        }

        // Links: one ring per producer instance, in the producer's instance of the workspace.
        let mut links = Vec::new();
        for l in &topo.links {
            let p = &topo.tiles[l.producer];
            let c = &topo.tiles[l.consumer];
            let ring_size = geometry::ring_bytes(l.depth, l.frame_size);
            let instances = ws_instances(l.workspace);
            let mut rings = Vec::new();
            for pi in 0..p.count {
                let ws = instances
                    .iter()
                    .find(|(_, wr)| wr.as_deref() == Some(instance(&p.name, pi).as_str()))
                    .map_or_else(|| instances[0].0.clone(), |(n, _)| n.clone());
                let offset = b.place(
                    &ws,
                    format!("ring.{}.{}", l.name, pi),
                    ObjectKind::Ring,
                    ring_size,
                );
                let ci = if c.count > 1 { pi } else { 0 };
                let fseq = (l.mode == LinkMode::Reliable).then(|| {
                    let fws = format!("tile.{}", instance(&c.name, ci));
                    let offset = b.place(
                        &fws,
                        format!("fseq.{}.{}", l.name, pi),
                        ObjectKind::Fseq,
                        geometry::FSEQ_BYTES,
                    );
                    FseqPlan {
                        workspace: fws,
                        offset,
                    }
                });
                rings.push(RingPlan {
                    producer: instance(&p.name, pi),
                    consumer: instance(&c.name, ci),
                    workspace: ws,
                    offset,
                    fseq,
                });
            }
            links.push(LinkPlan {
                name: l.name.clone(),
                producer: p.name.clone(),
                consumer: c.name.clone(),
                mode: l.mode,
                depth: l.depth,
                frame_size: l.frame_size,
                slot_size: geometry::ring_slot_bytes(l.frame_size),
                ring_size,
                rings,
            });
        }
        // Fseq objects are small: round the workspaces that hold them to a page.
        for w in &mut b.workspaces {
            w.size = align_up(w.size);
        }

        // Joins: declared maps (every instance of a per-writer workspace that the tile needs),
        // its own status workspace read-write, the consumers' fseq objects of its reliable links
        // and, for a tables writer, its readers' status workspaces (QSBR). Every other status is
        // left to the supervisor (it maps them all).
        let mut tiles = Vec::new();
        for t in &topo.tiles {
            for i in 0..t.count {
                let me = instance(&t.name, i);
                let mut joins = vec![JoinPlan {
                    workspace: format!("tile.{me}"),
                    access: Access::ReadWrite,
                }];
                for &(wi, access) in &t.maps {
                    for (name, writer) in ws_instances(wi) {
                        let mine = writer.as_deref() == Some(me.as_str());
                        let a = if access == Access::ReadWrite && !mine {
                            Access::ReadOnly
                        } else {
                            access
                        };
                        if access == Access::ReadWrite && !mine && writer.is_some() {
                            continue; // another instance's copy of a workspace this tile writes
                        }
                        joins.push(JoinPlan {
                            workspace: name,
                            access: a,
                        });
                    }
                }
                // Consumers of reliable links read nothing extra; producers read the consumer's
                // fseq to know how far they may write.
                for l in links
                    .iter()
                    .filter(|l| l.producer == t.name && l.mode == LinkMode::Reliable)
                {
                    for r in l.rings.iter().filter(|r| r.producer == me) {
                        if let Some(f) = &r.fseq {
                            if !joins.iter().any(|j| j.workspace == f.workspace) {
                                joins.push(JoinPlan {
                                    workspace: f.workspace.clone(),
                                    access: Access::ReadOnly,
                                });
                            }
                        }
                    }
                }
                // The writer of a tables workspace reclaims memory only once every reader
                // has passed a quiescent point (QSBR): it reads each reader tile's quiescent
                // word, which lives in that reader's status workspace.
                let writes_tables = t
                    .maps
                    .iter()
                    .any(|&(wi, a)| a == Access::ReadWrite && topo.workspaces[wi].holds_tables);
                if writes_tables {
                    for r in &topo.tiles {
                        let reads_tables = r.maps.iter().any(|&(wi, a)| {
                            a == Access::ReadOnly && topo.workspaces[wi].holds_tables
                        });
                        if !reads_tables {
                            continue;
                        }
                        for ri in 0..r.count {
                            let ws = format!("tile.{}", instance(&r.name, ri));
                            if !joins.iter().any(|j| j.workspace == ws) {
                                joins.push(JoinPlan {
                                    workspace: ws,
                                    access: Access::ReadOnly,
                                });
                            }
                        }
                    }
                    joins.push(JoinPlan {
                        workspace: GUEST_READERS_WORKSPACE.into(),
                        access: Access::ReadOnly,
                    });
                }
                tiles.push(TilePlan {
                    instance: me,
                    name: t.name.clone(),
                    index: i,
                    kind: t.kind,
                    params: t.params.clone(),
                    user: t.user.clone(),
                    restart: t.restart,
                    joins,
                    seccomp: crate::seccomp::policy_for(t.kind),
                });
            }
        }

        for w in &mut b.workspaces {
            let mut text = format!("workspace-layout schema={layout_fp:016x} size={}\n", w.size);
            for o in &w.objects {
                text.push_str(&format!(
                    "{} {:?} @{} +{}\n",
                    o.name, o.kind, o.offset, o.size
                ));
            }
            w.fingerprint = hash_text(&text);
        }
        // Workspaces that hold tables carry the schema fingerprint itself, so that any process
        // built from the same schema can check them without knowing the topology.
        for w in &mut b.workspaces {
            if w.holds_tables {
                w.fingerprint = layout_fp;
            }
        }

        Plan {
            topology: topo.name.clone(),
            schema: schema.name.clone(),
            schema_version: schema.version,
            layout_fingerprint: layout_fp,
            workspaces: b.workspaces,
            links,
            tiles,
        }
    }

    /// Human-readable plan, as `netbase compile` prints it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "topology {}  (schema {} v{}, layout fingerprint {:#018x})\n",
            self.topology, self.schema, self.schema_version, self.layout_fingerprint
        ));
        s.push_str("\nworkspaces:\n");
        for w in &self.workspaces {
            s.push_str(&format!(
                "  {:<24} {:>12} bytes  {:<7}  writer {:<14} fingerprint {:#018x}\n",
                w.name,
                w.size + 4096,
                format!("{:?}", w.backing).to_lowercase(),
                w.writer
                    .as_deref()
                    .unwrap_or(if w.name == GUEST_READERS_WORKSPACE {
                        "supervisor" // and the guests, through their slots
                    } else {
                        "-"
                    }),
                w.fingerprint
            ));
            for o in &w.objects {
                s.push_str(&format!(
                    "      {:>12}  {:<28} {:>12} bytes\n",
                    format!("@{:#x}", o.offset),
                    o.name,
                    o.size
                ));
            }
        }
        s.push_str("\nlinks:\n");
        for l in &self.links {
            s.push_str(
                &format!(
                    "  {:<16} {} -> {}  {:?}  depth {}  frame {} B  slot {} B  ring {} B\n",
                    l.name,
                    l.producer,
                    l.consumer,
                    l.mode,
                    l.depth,
                    l.frame_size,
                    l.slot_size,
                    l.ring_size
                )
                .replace("Lossy", "lossy")
                .replace("Reliable", "reliable"),
            );
            for r in &l.rings {
                let fseq = r
                    .fseq
                    .as_ref()
                    .map(|f| format!("  fseq {}@{:#x}", f.workspace, f.offset))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "      {} -> {}  in {}@{:#x}{fseq}\n",
                    r.producer, r.consumer, r.workspace, r.offset
                ));
            }
        }
        s.push_str("\ntiles:\n");
        for t in &self.tiles {
            let params = match &t.params {
                TileParams::Netlink { probe } => format!("probe {probe:?}").to_lowercase(),
                TileParams::Net {
                    interface,
                    xdp_mode,
                    dst_addr,
                } => format!(
                    "interface {interface}, xdp {}{}",
                    format!("{xdp_mode:?}").to_lowercase(),
                    dst_addr.map(|a| format!(", dst {a}")).unwrap_or_default()
                ),
                TileParams::UdpEcho { udp_port } => format!("udp port {udp_port}"),
                TileParams::App { app, udp_port } => match udp_port {
                    Some(p) => format!("app {app}, udp port {p}"),
                    None => format!("app {app}"),
                },
            };
            s.push_str(&format!(
                "  {:<14} {:<9} {params}\n",
                t.instance,
                t.kind.name()
            ));
            for j in &t.joins {
                s.push_str(&format!("      {:<10} {}\n", j.access.name(), j.workspace));
            }
        }
        s
    }
}
