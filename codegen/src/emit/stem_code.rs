//! Emits the stems of a topology's application tiles (`kind = "app"`): per tile, the hooks
//! its code implements (one handler per input link, named after the link), its output links
//! by name, and the poll step that reads the inputs in the topology's order and dispatches
//! every frame to its handler. The generic parts (ring attachment, back-pressure, counters)
//! are `netbase::app::StemCore`; what is emitted here is what only the topology knows.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::name_ident;
use crate::topology::{TileKind, TileParams, Topology};

/// `pub mod stems { … }` for the app tiles of `topo`, or nothing when it has none.
pub fn emit(topo: &Topology) -> TokenStream {
    let tiles: Vec<TokenStream> = topo
        .tiles
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TileKind::App)
        .map(|(ti, t)| {
            let TileParams::App { app, .. } = &t.params else {
                return TokenStream::new();
            };
            let inputs: Vec<&crate::topology::LinkDef> =
                topo.links.iter().filter(|l| l.consumer == ti).collect();
            let outputs: Vec<&crate::topology::LinkDef> =
                topo.links.iter().filter(|l| l.producer == ti).collect();
            stem(topo, &t.name, app, &inputs, &outputs)
        })
        .collect();
    if tiles.is_empty() {
        return TokenStream::new();
    }
    quote! {
        /// The stems of the topology's application tiles (see `netbase::app`).
        pub mod stems {
            #(#tiles)*
        }
    }
}

fn stem(
    topo: &Topology,
    tile: &str,
    app: &str,
    inputs: &[&crate::topology::LinkDef],
    outputs: &[&crate::topology::LinkDef],
) -> TokenStream {
    let module = name_ident(tile);
    let in_names: Vec<&str> = inputs.iter().map(|l| l.name.as_str()).collect();
    let out_names: Vec<&str> = outputs.iter().map(|l| l.name.as_str()).collect();
    let handlers: Vec<Ident> = in_names.iter().map(|n| format_ident!("on_{}", n)).collect();
    let handler_decls = inputs.iter().zip(&handlers).map(|(l, h)| {
        let producer = &topo.tiles[l.producer].name;
        let doc = format!(
            " A frame from link `{}` (written by tile `{producer}`, instance `from`), at most \
             {} bytes. Publish at most one frame per output per call: the stem reads only as \
             many frames as every output can take.",
            l.name, l.frame_size
        );
        quote! {
            #[doc = #doc]
            fn #h(
                &mut self,
                outs: &mut Outs<'_>,
                from: u32,
                ctl: u32,
                frame: &[u8],
            ) -> Result<(), TileError>;
        }
    });
    let arms = handlers.iter().enumerate().map(|(i, h)| {
        let i = Literal::usize_unsuffixed(i);
        quote! { #i => hooks.#h(outs, from, ctl, frame), }
    });
    // The dispatch closure: a match over the inputs, or (none) a refusal of any frame.
    let dispatch = if handlers.is_empty() {
        quote! {
            |link: usize, _: u32, _: u32, _: &[u8]| -> Result<(), TileError> {
                Err(TileError::new(2, format!("no input link {link}")))
            }
        }
    } else {
        quote! {
            |link: usize, from: u32, ctl: u32, frame: &[u8]| match link {
                #(#arms)*
                other => Err(TileError::new(2, format!("no input link {other}"))),
            }
        }
    };
    let out_fields: Vec<Ident> = out_names.iter().map(|n| name_ident(n)).collect();
    let credit = match out_fields.split_first() {
        None => quote! { u64::MAX },
        Some((first, rest)) => quote! { self.#first.credit() #(.min(self.#rest.credit()))* },
    };
    let out_docs = outputs.iter().map(|l| {
        format!(
            " Link `{}` to tile `{}` ({:?}, {} frames of at most {} bytes).",
            l.name, topo.tiles[l.consumer].name, l.mode, l.depth, l.frame_size
        )
        .to_lowercase()
    });
    let doc = format!(
        " Stem of app tile `{tile}` (app `{app}`) of topology `{}`: inputs {in_names:?}, \
         outputs {out_names:?}.",
        topo.name
    );
    quote! {
        #[doc = #doc]
        pub mod #module {
            use ::netbase::app::{
                App, BuildContext, BuildFn, MetricDef, StemCore, Tile, TileContext, TileError,
            };

            /// The application this tile runs (the topology's `app`).
            pub const APP: &str = #app;
            /// Input links, in poll order.
            pub const INPUTS: &[&str] = &[#(#in_names),*];
            /// Output links.
            pub const OUTPUTS: &[&str] = &[#(#out_names),*];

            /// What the application implements; the stem calls it.
            pub trait Hooks {
                /// The application's own metrics (the stem's link counters follow them).
                const METRICS: &'static [MetricDef] = &[];

                #(#handler_decls)*

                /// After the inputs, on every poll: the application's own sources (generators,
                /// timers). Returns the work done (0 lets the loop back off).
                fn after_inputs(&mut self, outs: &mut Outs<'_>) -> Result<usize, TileError> {
                    let _ = outs;
                    Ok(0)
                }

                /// Every housekeeping interval; `metrics[i]` is the value of `METRICS[i]`.
                fn housekeeping(&mut self, metrics: &mut [u64]) -> Result<(), TileError> {
                    let _ = metrics;
                    Ok(())
                }
            }

            /// The tile's output links, by name.
            pub struct Outs<'a> {
                #(#[doc = #out_docs] pub #out_fields: ::netbase::app::Output<'a>,)*
                _links: core::marker::PhantomData<&'a ()>,
            }

            impl Outs<'_> {
                /// Frames every output can take now (the least of them); unbounded without
                /// outputs.
                pub fn credit(&mut self) -> u64 {
                    #credit
                }
            }

            /// The registry entry of an application implemented by `H`, built by `build`.
            pub fn app<H: Hooks>(build: BuildFn) -> App {
                App {
                    name: APP,
                    metrics: ::netbase::app::stem_metrics(H::METRICS, INPUTS, OUTPUTS),
                    build,
                }
            }

            /// The tile: attaches the links the plan gives it (refusing a plan that does not
            /// match this stem) and drives `hooks`.
            pub fn build<'a, H: Hooks + 'a>(
                ctx: &BuildContext<'a>,
                hooks: H,
            ) -> Result<Box<dyn Tile + 'a>, String> {
                let core = StemCore::attach(ctx, APP, INPUTS, OUTPUTS, H::METRICS.len())?;
                let outs = Outs {
                    #(#out_fields: ::netbase::app::output(ctx, #out_names)?,)*
                    _links: core::marker::PhantomData,
                };
                Ok(Box::new(Stem { hooks, core, outs }))
            }

            struct Stem<'a, H> {
                hooks: H,
                core: StemCore<'a>,
                outs: Outs<'a>,
            }

            impl<H: Hooks> Tile for Stem<'_, H> {
                fn name(&self) -> &str {
                    APP
                }

                fn metrics(&self) -> &'static [MetricDef] {
                    self.core.metric_defs()
                }

                fn poll(&mut self, _ctx: &TileContext<'_>) -> Result<usize, TileError> {
                    let credit = self.outs.credit();
                    let (hooks, outs) = (&mut self.hooks, &mut self.outs);
                    let read = self.core.poll(credit, #dispatch)?;
                    Ok(read + hooks.after_inputs(outs)?)
                }

                fn housekeeping(&mut self, ctx: &TileContext<'_>) -> Result<(), TileError> {
                    self.hooks.housekeeping(self.core.app_counts())?;
                    self.core.publish_metrics(ctx, &[#(&self.outs.#out_fields),*]);
                    Ok(())
                }
            }
        }
    }
}
