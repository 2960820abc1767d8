//! Open-addressed hash tables in shared memory: one writer process, lock-free readers that
//! map the table read-only.
//!
//! # Layout (storage format)
//!
//! A table object is the 4096-byte [header page](super::header) followed by `capacity`
//! (a power of two) sequence-locked slots of [`slot_bytes(row_size)`](super::geometry::slot_bytes)
//! bytes each: exactly what [`table_bytes(Kind::Hash, …)`](super::geometry::table_bytes)
//! reserves. A slot's sequence word carries its [`state`] (empty, full, tombstone) next to the
//! version, so a reader always sees a state and a row that belong together. A key's home slot
//! is [`SeededHash`](super::hashfn::SeededHash) of its bytes under the header's seed, masked
//! by `capacity - 1`; collisions probe linearly (home, home + 1, … wrapping).
//!
//! # Who does what
//!
//! * [`HashWriter`] (the netlink tile) keeps every key in at most one slot — except for the
//!   instant of a compaction move, see below — and is the only process that stores.
//! * [`HashReader`] (net tiles) probe from the home slot, skip tombstones and stop at the first
//!   empty slot; a miss then walks its path once more, backwards (see below). A lookup never
//!   blocks the writer and never returns a torn row or a row of another key (rows are copied
//!   under the slot's seqlock and their key compared).
//!
//! ```
//! use netbase_runtime::region::HeapRegion;
//! use netbase_runtime::tables::geometry::{table_bytes, Kind};
//! use netbase_runtime::tables::hash::{HashError, HashReader, HashWriter, Upsert};
//! use netbase_runtime::SharedRow;
//!
//! #[derive(Clone, Copy, PartialEq, Eq, Debug, SharedRow)]
//! #[repr(C)]
//! struct Neigh {
//!     ifindex: u32,
//!     ip: [u8; 4],
//!     mac: [u8; 6],
//!     _pad: [u8; 2],
//! }
//!
//! /// The key as bytes: fields in key order, integers little-endian.
//! fn neigh_key(n: &Neigh) -> [u8; 8] {
//!     let mut k = [0u8; 8];
//!     k[..4].copy_from_slice(&n.ifindex.to_le_bytes());
//!     k[4..].copy_from_slice(&n.ip);
//!     k
//! }
//!
//! let bytes = table_bytes(Kind::Hash, 1024, size_of::<Neigh>() as u64, 0).unwrap();
//! let heap = HeapRegion::zeroed(bytes as usize);
//! let mut w = HashWriter::create(heap.region(), 1024, neigh_key, 0x5eed)?;
//! let n = Neigh { ifindex: 2, ip: [10, 0, 0, 1], mac: [2, 0, 0, 0, 0, 1], _pad: [0; 2] };
//! assert_eq!(w.upsert(&n)?, Upsert::Inserted);
//!
//! // A net tile maps the same object read-only (`Region::from_workspace`).
//! let r = HashReader::attach(heap.read_only(), 1024, neigh_key)?;
//! assert_eq!(r.get(&neigh_key(&n)), Ok(Some(n)));
//!
//! // To name the type (a struct field), use the default key type, a function pointer:
//! let r2: HashReader<'_, Neigh, [u8; 8]> =
//!     HashReader::<Neigh, [u8; 8]>::attach(heap.read_only(), 1024, neigh_key)?;
//! # let _ = r2;
//! # Ok::<(), HashError>(())
//! ```
//!
//! # Why a reader never misses a key that stays present
//!
//! The writer keeps one invariant, **P**: *for every live key stored in slot `s`, no slot on its
//! probe path `[home, s]` is empty*. Each single slot transition the writer makes preserves P:
//!
//! * insert into the first tombstone or empty slot of the new key's path (P holds for it: the
//!   slots before are occupied), or rewrite an existing key's slot in place: nothing becomes
//!   empty;
//! * delete marks a tombstone (not empty). If the next slot is empty, the tombstone and the run
//!   of tombstones before it become empty, one at a time from the back: a live key whose path
//!   crossed such a slot would also cross the empty slot after the run, which P forbids;
//! * compaction (when tombstones pile up, or before the last free slots are used) walks the
//!   slots in probe order starting after an empty slot and moves each entry into the earliest
//!   tombstone of its path: *copy first* (the key is then in two slots, with the same row),
//!   *then* tombstone the old slot. Afterwards no live path crosses a tombstone, so all
//!   tombstones can become empty.
//!
//! P is a statement about instants, and a reader visits slots one after another. Without moves
//! that is enough: a key that stays in slot `s` keeps every slot of `[home, s]` non-empty at
//! every instant, so whatever the reader observes on the way, it reaches `s`. A move breaks
//! this: the reader may pass the target tombstone just before the copy lands and reach the old
//! slot just after it became a tombstone, then run into the empty slot behind. "Copy first,
//! then tombstone" keeps the key findable at every instant, but not by a reader scanning past
//! it (loom finds this interleaving at once). So **a miss scans back**: when the forward pass
//! hits an empty slot at `end`, the key, if stored, was in `[home, end)` then (by P), and moves
//! only ever bring it closer to `home`. Walking from `end` back to `home`, the reader moves in
//! the same direction as the key can: a copy lands before the old slot is tombstoned, so a
//! reader that sees the tombstone finds the copy further on; the key cannot jump behind the
//! reader, and cannot move before `home`. A second miss therefore means the key was not stored
//! at some instant during the lookup. (In memory-model terms: there is one writer, every slot
//! transition ends with a `Release` store of the sequence word and readers read it with an
//! `Acquire` fence, so a reader that sees a slot's state also sees every earlier transition of
//! the writer, which is all the argument uses.) Unlike re-validating slot versions (the first design
//! here, which the in-process stress test starved), this pass cannot be made to fail by the
//! writer changing other rows on the path; a lookup retries only while a slot it reads is
//! mid-write. Hits need no second pass: a consistent copy of a full slot holding the key was
//! that key's row at that moment (during a move both copies are identical, so seeing either,
//! or both during an iteration, is harmless).
//!
//! Lookups are bounded: a probe visits at most `capacity` slots (a corrupt region cannot make a
//! reader loop), and the writer keeps at most [`Policy::max_used`] slots in use (rows at most
//! 90% of the capacity, rows and tombstones at most 95%, by default), so every probe ends at an
//! empty slot after a few steps.
//!
//! # Loom
//!
//! The probe and the writer's slot operations ([`Slots`], [`SlotWriter`]) are generic over the
//! [`Word`](crate::sync::Word) they run on, so `tests/hash_loom.rs` models exactly this code.

mod compact;
mod error;
mod mutate;
mod probe;
mod reader;
mod repair;
mod slots;
#[cfg(test)]
mod tests;
mod writer;

pub use error::HashError;
pub use mutate::{Policy, SlotWriter, Upsert};
pub use probe::Lookup;
pub use reader::HashReader;
pub use repair::Repairs;
pub use slots::Slots;
pub use writer::HashWriter;

/// Slot states, stored in the state bits of each slot's sequence word.
pub mod state {
    /// Never used, or cleaned up: ends every probe. Zeroed memory is an empty table.
    pub const EMPTY: u8 = 0;
    pub const FULL: u8 = 1;
    /// Deleted: probes continue past it; inserts may reuse it.
    pub const TOMBSTONE: u8 = 2;
}
