//! Emits a topology plan as constants (sizes, offsets, ring geometry, fingerprints) and as the
//! plan's JSON, which the supervisor deserializes at start.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::plan::{ObjectKind, Plan};
use crate::topology::{LinkMode, Topology};

/// `name` with every character that cannot be in an identifier (`.` of instance names) as `_`.
fn identifier_text(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A module name (keywords made usable: a link may be called `type`).
fn ident_of(name: &str) -> proc_macro2::Ident {
    super::name_ident(&identifier_text(name).to_ascii_lowercase())
}

/// A constant name (no upper-case keyword can come out of a topology name).
fn const_of(name: &str) -> proc_macro2::Ident {
    format_ident!("{}", identifier_text(name).to_ascii_uppercase())
}

pub fn emit(topo: &Topology, plan: &Plan) -> TokenStream {
    let name = &plan.topology;
    let fp = Literal::u64_suffixed(plan.layout_fingerprint);
    let json = serde_json::to_string(plan).unwrap_or_default();
    let workspaces = plan.workspaces.iter().map(|w| {
        let m = ident_of(&w.name);
        let wname = &w.name;
        let size = w.size;
        let wfp = Literal::u64_suffixed(w.fingerprint);
        let objs = w.objects.iter().map(|o| {
            let c = const_of(&o.name);
            let off = o.offset;
            let kind = match o.kind {
                ObjectKind::Table => "table",
                ObjectKind::Ring => "ring",
                ObjectKind::Status => "status",
                ObjectKind::Metrics => "metrics",
                ObjectKind::Fseq => "fseq",
                ObjectKind::GuestReaders => "guest readers",
            };
            let d = format!(" Offset of {kind} `{}` ({} bytes).", o.name, o.size);
            quote! { #[doc = #d] pub const #c: u64 = #off; }
        });
        let d = format!(" Workspace `{wname}`.");
        quote! {
            #[doc = #d]
            pub mod #m {
                pub const NAME: &str = #wname;
                /// Bytes after the header.
                pub const SIZE: u64 = #size;
                pub const FINGERPRINT: u64 = #wfp;
                #(#objs)*
            }
        }
    });
    let links = plan.links.iter().map(|l| {
        let m = ident_of(&l.name);
        let (depth, frame, slot, ring) = (l.depth, l.frame_size, l.slot_size, l.ring_size);
        let lossy = l.mode == LinkMode::Lossy;
        let rings = l.rings.len();
        let d = format!(" Link `{}`: {} -> {}.", l.name, l.producer, l.consumer);
        quote! {
            #[doc = #d]
            pub mod #m {
                pub const DEPTH: u32 = #depth;
                pub const FRAME_SIZE: u32 = #frame;
                pub const SLOT_SIZE: u64 = #slot;
                pub const RING_SIZE: u64 = #ring;
                pub const LOSSY: bool = #lossy;
                pub const RINGS: usize = #rings;
            }
        }
    });
    let stems = super::stem_code::emit(topo);
    quote! {
        /// Name of the topology this plan was generated from.
        pub const TOPOLOGY: &str = #name;
        /// Fingerprint of the schema layouts the plan was computed with.
        pub const LAYOUT_FINGERPRINT: u64 = #fp;
        /// The whole plan as JSON (`netbase_codegen::plan::Plan`).
        pub const PLAN_JSON: &str = #json;
        /// Workspace instances, their sizes and object offsets.
        pub mod workspaces { #(#workspaces)* }
        /// Links and their ring geometry.
        pub mod links { #(#links)* }
        #stems
    }
}
