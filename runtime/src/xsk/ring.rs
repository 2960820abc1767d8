//! The four AF_XDP rings: single-producer single-consumer queues shared with the kernel.
//!
//! Each ring is a mapping with a `u32` producer index, a `u32` consumer index, a `u32` flags
//! word and `size` descriptor slots (`size` a power of two). Indices run freely and wrap at
//! `u32::MAX`; the slot of index `i` is `i & (size - 1)`, and `producer - consumer` (wrapping)
//! is the number of filled slots. We produce into the fill and TX rings and consume from the
//! RX and completion rings.
//!
//! Memory ordering (the kernel uses `smp_load_acquire` / `smp_store_release` on its side):
//! - a producer writes the slots, then publishes the producer index with `Release`;
//! - a consumer loads the producer index with `Acquire`, reads the slots, then publishes the
//!   consumer index with `Release`, so its reads complete before the producer may reuse them;
//! - a producer loads the consumer index with `Acquire` before reusing slots, which orders the
//!   peer's reads of those slots before our new writes.
//!
//! The peer's index is cached and reloaded only when the cached value says there is not
//! enough room or data, so the shared cache line is touched once per batch, not per slot.
//! The index arithmetic lives in [`ProdIndex`] and [`ConsIndex`] (pure, unit-tested with
//! wrap-around); [`ProdRing`] and [`ConsRing`] add the shared memory.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use std::io;

use netbase_uapi::linux::{xdp_ring_offset, XDP_RING_NEED_WAKEUP};

use super::mmap::Mapping;

/// Index state of the producing side. `cons` is the last consumer index we loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProdIndex {
    size: u32,
    prod: u32,
    cons: u32,
}

impl ProdIndex {
    /// The state of a ring whose shared indices read `prod` and `cons` right now.
    pub(super) fn new(size: u32, prod: u32, cons: u32) -> Self {
        ProdIndex { size, prod, cons }
    }

    /// Our next index (including entries written but not yet published).
    pub(super) fn prod(&self) -> u32 {
        self.prod
    }

    /// Free slots according to the cached consumer index. A consumer index that claims more
    /// than was produced, or that lags by more than the ring size, cannot come from a correct
    /// peer; it yields 0 free slots, so a bogus index can stall the ring but never make us
    /// overwrite slots the peer has not released.
    fn known_free(&self) -> u32 {
        self.size.saturating_sub(self.prod.wrapping_sub(self.cons))
    }

    /// Free slots: the cached count when it is at least `want`, else after reloading the
    /// consumer index with `load_cons`.
    pub(super) fn free(&mut self, want: u32, load_cons: impl FnOnce() -> u32) -> u32 {
        let known = self.known_free();
        if known >= want {
            return known;
        }
        self.cons = load_cons();
        self.known_free()
    }

    /// The last consumer index loaded.
    pub(super) fn cons(&self) -> u32 {
        self.cons
    }

    /// Records `n` more written slots; `n` must not exceed the last [`ProdIndex::free`].
    pub(super) fn advance(&mut self, n: u32) {
        debug_assert!(n <= self.known_free());
        self.prod = self.prod.wrapping_add(n);
    }

    /// Reloads the consumer index.
    pub(super) fn refresh(&mut self, cons: u32) {
        self.cons = cons;
    }
}

/// Index state of the consuming side. `prod` is the last producer index we loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConsIndex {
    size: u32,
    prod: u32,
    cons: u32,
}

impl ConsIndex {
    /// The state of a ring whose shared indices read `prod` and `cons` right now.
    pub(super) fn new(size: u32, prod: u32, cons: u32) -> Self {
        ConsIndex { size, prod, cons }
    }

    /// Our next index to read.
    pub(super) fn cons(&self) -> u32 {
        self.cons
    }

    /// Filled slots according to the cached producer index; a producer index more than the
    /// ring size ahead (or behind us) cannot come from a correct peer and yields 0, so we never
    /// read slots the peer has not published.
    fn known_available(&self) -> u32 {
        let n = self.prod.wrapping_sub(self.cons);
        if n > self.size {
            0
        } else {
            n
        }
    }

    /// Entries ready to read, at most `max`: the cached count when it reaches `max`, else after
    /// reloading the producer index with `load_prod`.
    pub(super) fn available(&mut self, max: u32, load_prod: impl FnOnce() -> u32) -> u32 {
        let known = self.known_available();
        if known >= max {
            return max;
        }
        self.prod = load_prod();
        self.known_available().min(max)
    }

    /// Records `n` slots read; `n` must not exceed the last [`ConsIndex::available`].
    pub(super) fn advance(&mut self, n: u32) {
        debug_assert!(n <= self.known_available());
        self.cons = self.cons.wrapping_add(n);
    }
}

/// A mapped ring's shared words and descriptor array, validated against the mapping.
struct RingMem<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    desc: NonNull<T>,
    mask: u32,
    size: u32,
    /// Owns the memory the pointers above point into; unmapped when the ring drops.
    _map: Mapping,
    _desc: PhantomData<T>,
}

// SAFETY: the pointers point into `map`, which the RingMem owns exclusively (and which is Send);
// moving the owner to another thread moves the whole ring. The kernel side does not care which
// thread accesses the ring.
unsafe impl<T: Send> Send for RingMem<T> {}

fn layout_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("AF_XDP ring layout from the kernel is unusable: {what}"),
    )
}

/// Byte offset `off` of a `len`-byte field inside a mapping of `map_len` bytes at `base`,
/// aligned to `align`; `None` if it does not fit or is misaligned.
fn field(base: usize, map_len: usize, off: u64, len: usize, align: usize) -> Option<usize> {
    let off = usize::try_from(off).ok()?;
    let end = off.checked_add(len)?;
    (end <= map_len && (base.wrapping_add(off)) % align == 0).then_some(off)
}

impl<T: Copy> RingMem<T> {
    /// Checks every offset the kernel gave (`XDP_MMAP_OFFSETS`) against the mapping: in bounds,
    /// aligned, and the three index words outside the descriptor array.
    fn new(map: Mapping, off: &xdp_ring_offset, size: u32) -> io::Result<Self> {
        if !size.is_power_of_two() {
            return Err(layout_error("ring size is not a power of two"));
        }
        let base = map.as_ptr() as usize;
        let len = map.len();
        let word = |o: u64, name: &str| {
            field(
                base,
                len,
                o,
                size_of::<AtomicU32>(),
                align_of::<AtomicU32>(),
            )
            .ok_or_else(|| layout_error(&format!("{name} offset {o} outside the mapping")))
        };
        let producer = word(off.producer, "producer")?;
        let consumer = word(off.consumer, "consumer")?;
        let flags = word(off.flags, "flags")?;
        let desc_len = (size as usize)
            .checked_mul(size_of::<T>())
            .ok_or_else(|| layout_error("descriptor array size overflows"))?;
        let desc = field(base, len, off.desc, desc_len, align_of::<T>())
            .ok_or_else(|| layout_error("descriptor array outside the mapping"))?;
        let overlaps = |w: usize| w + size_of::<AtomicU32>() > desc && w < desc + desc_len;
        if overlaps(producer) || overlaps(consumer) || overlaps(flags) {
            return Err(layout_error("an index word overlaps the descriptors"));
        }
        let at = |o: usize| {
            // SAFETY: `o` was checked above to lie inside the mapping (o + field size <= len),
            // so the pointer stays within the same allocation; it is non-null because the base
            // is.
            unsafe { NonNull::new_unchecked(map.as_ptr().add(o)) }
        };
        Ok(RingMem {
            producer: at(producer).cast(),
            consumer: at(consumer).cast(),
            flags: at(flags).cast(),
            desc: at(desc).cast(),
            mask: size - 1,
            size,
            _map: map,
            _desc: PhantomData,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: in bounds and 4-byte aligned (checked in `new`), valid for as long as `self`
        // owns the mapping. The kernel writes this word concurrently, which is why it is only
        // ever accessed as an atomic (never through a plain reference to u32).
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    /// The slot of index `idx`.
    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: `idx & mask` < size, and `new` checked that `size` descriptors fit in the
        // mapping at `desc`, so the offset stays inside the allocation.
        unsafe { self.desc.as_ptr().add((idx & self.mask) as usize) }
    }

    /// Reads slot `idx`. The caller (the ring types below) only reads slots published to it.
    fn read(&self, idx: u32) -> T {
        // SAFETY: the slot is in bounds and aligned (`slot`), and T is plain data for which
        // every bit pattern is valid (u64 or xdp_desc). The caller read it only after an
        // Acquire load of the producer index showed it published, and the kernel does not
        // rewrite it before we release it. The read is volatile so that it happens exactly
        // once: values are validated after this copy, never re-read from shared memory.
        unsafe { self.slot(idx).read_volatile() }
    }

    /// Writes slot `idx`. The caller only writes slots the consumer has released.
    fn write(&self, idx: u32, v: T) {
        // SAFETY: in bounds and aligned (`slot`); the caller saw (Acquire load of the consumer
        // index) that the kernel finished with this slot, and the kernel reads it only after
        // our Release store of the producer index.
        unsafe { self.slot(idx).write_volatile(v) }
    }
}

/// A ring we produce into (fill: frame addresses; TX: descriptors).
pub(super) struct ProdRing<T> {
    mem: RingMem<T>,
    idx: ProdIndex,
    /// The producer index the kernel has seen.
    published: u32,
    /// A producer store happened since the last fence in `needs_wakeup`.
    unfenced: bool,
}

impl<T: Copy> ProdRing<T> {
    /// Takes over a ring mapping whose layout the kernel described in `off`.
    pub(super) fn new(map: Mapping, off: &xdp_ring_offset, size: u32) -> io::Result<Self> {
        let mem = RingMem::new(map, off, size)?;
        // Relaxed: nobody has produced yet (the socket is not bound); we only pick up the
        // starting values, normally 0.
        let prod = mem.producer().load(Ordering::Relaxed);
        let cons = mem.consumer().load(Ordering::Relaxed);
        Ok(ProdRing {
            idx: ProdIndex::new(size, prod, cons),
            published: prod,
            unfenced: false,
            mem,
        })
    }

    /// Free slots (reloads the consumer index only if fewer than `want` are known).
    pub(super) fn free(&mut self, want: u32) -> u32 {
        let mem = &self.mem;
        // Acquire: the kernel's reads of the slots it released happen before our rewrites.
        self.idx
            .free(want, || mem.consumer().load(Ordering::Acquire))
    }

    /// Writes `v` into the next slot without publishing it; false when the ring is full.
    pub(super) fn push(&mut self, v: T) -> bool {
        if self.free(1) == 0 {
            return false;
        }
        self.mem.write(self.idx.prod(), v);
        self.idx.advance(1);
        true
    }

    /// Entries written but not yet published.
    pub(super) fn unpublished(&self) -> u32 {
        self.idx.prod().wrapping_sub(self.published)
    }

    /// Makes every written entry visible to the kernel; returns how many were new.
    pub(super) fn publish(&mut self) -> u32 {
        let n = self.unpublished();
        if n > 0 {
            // Release: the slot writes happen before the kernel's Acquire load sees the index.
            self.mem
                .producer()
                .store(self.idx.prod(), Ordering::Release);
            self.published = self.idx.prod();
            self.unfenced = true;
        }
        n
    }

    /// Published entries the kernel has not consumed yet (reloads the consumer index).
    pub(super) fn in_flight(&mut self) -> u32 {
        self.idx
            .refresh(self.mem.consumer().load(Ordering::Acquire));
        let n = self.published.wrapping_sub(self.idx.cons());
        // An impossible consumer index (see `ProdIndex::known_free`) counts as nothing.
        if n > self.mem.size {
            0
        } else {
            n
        }
    }

    /// Whether the kernel asked to be woken (`XDP_RING_NEED_WAKEUP`) to process this ring.
    ///
    /// After a publish, a SeqCst fence orders that producer store before this flag load.
    /// Without it the load could be satisfied before the store is visible, while the kernel
    /// sets the flag and then re-checks the producer index without seeing our entries: both
    /// sides would wait. A spurious wakeup costs one syscall; a missed one stalls the ring.
    /// Without a new publish there is no store to order, so idle polling skips the fence.
    pub(super) fn needs_wakeup(&mut self) -> bool {
        if self.unfenced {
            fence(Ordering::SeqCst);
            self.unfenced = false;
        }
        self.mem.flags().load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring we consume from (RX: descriptors; completion: frame addresses).
pub(super) struct ConsRing<T> {
    mem: RingMem<T>,
    idx: ConsIndex,
}

impl<T: Copy> ConsRing<T> {
    /// Takes over a ring mapping whose layout the kernel described in `off`.
    pub(super) fn new(map: Mapping, off: &xdp_ring_offset, size: u32) -> io::Result<Self> {
        let mem = RingMem::new(map, off, size)?;
        // Relaxed: the socket is not bound yet, nothing has been produced.
        let prod = mem.producer().load(Ordering::Relaxed);
        let cons = mem.consumer().load(Ordering::Relaxed);
        Ok(ConsRing {
            idx: ConsIndex::new(size, prod, cons),
            mem,
        })
    }

    /// Hands up to `max` published entries to `f` in order, then releases their slots to the
    /// kernel; returns how many were handed over.
    pub(super) fn consume(&mut self, max: u32, mut f: impl FnMut(T)) -> u32 {
        let mem = &self.mem;
        // Acquire: the kernel's slot writes happen before our reads below.
        let n = self
            .idx
            .available(max, || mem.producer().load(Ordering::Acquire));
        if n == 0 {
            return 0;
        }
        let start = self.idx.cons();
        for i in 0..n {
            f(self.mem.read(start.wrapping_add(i)));
        }
        self.idx.advance(n);
        // Release: our slot reads complete before the kernel may overwrite the slots.
        self.mem
            .consumer()
            .store(self.idx.cons(), Ordering::Release);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbase_uapi::linux::xdp_desc;

    #[test]
    fn prod_index_wraps_at_u32_max() {
        let start = u32::MAX - 2;
        let mut p = ProdIndex::new(8, start, start);
        assert_eq!(p.free(1, || unreachable!()), 8);
        p.advance(8); // prod wrapped to 5, cons still at MAX-2
        assert_eq!(p.prod(), 5);
        assert_eq!(p.cons(), u32::MAX - 2);
        // Cached view says full; the reload shows 3 consumed (cons wraps to 0).
        assert_eq!(p.free(1, || 0), 3);
        p.advance(3); // prod 8: full again, cons at 0
        assert_eq!(p.free(1, || 0), 0);
        assert_eq!(p.free(1, || 4), 4);
        assert_eq!(p.free(4, || unreachable!()), 4);
        assert_eq!(p.free(8, || 8), 8);
    }

    #[test]
    fn prod_index_does_not_reload_when_cache_suffices() {
        let mut p = ProdIndex::new(16, 0, 0);
        p.advance(4);
        assert_eq!(p.free(12, || panic!("reloaded")), 12);
        assert_eq!(p.free(13, || 4), 16);
    }

    #[test]
    fn prod_index_rejects_impossible_consumer() {
        let mut p = ProdIndex::new(8, 100, 100);
        p.advance(4);
        // Consumer ahead of the producer: would claim 12 free; must report none.
        assert_eq!(p.free(8, || 108), 0);
        // Consumer more than a ring behind.
        assert_eq!(p.free(8, || 90), 0);
        // A sane value again.
        assert_eq!(p.free(8, || 104), 8);
    }

    #[test]
    fn cons_index_wraps_at_u32_max() {
        let start = u32::MAX - 1;
        let mut c = ConsIndex::new(4, start, start);
        assert_eq!(c.available(4, || start), 0);
        assert_eq!(c.available(4, || start.wrapping_add(3)), 3);
        c.advance(2);
        assert_eq!(c.cons(), 0);
        // One cached entry left; asking for 4 reloads.
        assert_eq!(c.available(4, || 4), 4);
        c.advance(4);
        assert_eq!(c.cons(), 4);
        assert_eq!(c.available(1, || 4), 0);
    }

    #[test]
    fn cons_index_rejects_impossible_producer() {
        let mut c = ConsIndex::new(4, 10, 10);
        assert_eq!(c.available(8, || 15), 0, "more than a ring ahead");
        assert_eq!(c.available(8, || 9), 0, "behind the consumer");
        assert_eq!(c.available(8, || 14), 4);
        assert_eq!(c.available(2, || unreachable!()), 2);
    }

    /// A heap "mapping" with the layout the kernel uses: producer, consumer, flags, then the
    /// descriptors (each word on its own 64-byte line, like the kernel's).
    fn heap_ring<T>(size: u32) -> (Mapping, xdp_ring_offset) {
        let off = xdp_ring_offset {
            producer: 0,
            consumer: 64,
            flags: 128,
            desc: 192,
        };
        let len = 192 + size as usize * size_of::<T>();
        (Mapping::heap(len), off)
    }

    /// Sets the shared indices of a fresh heap ring (as if the ring had been in use).
    fn set_indices(map: &Mapping, prod: u32, cons: u32) {
        let p = map.as_ptr();
        // SAFETY: test-only heap buffer of at least 192 bytes, 8-aligned; no other access yet.
        unsafe {
            p.cast::<u32>().write(prod);
            p.add(64).cast::<u32>().write(cons);
        }
    }

    #[test]
    fn produce_and_consume_across_the_wrap() {
        // A producer ring and a consumer view of the same memory stand in for us and the
        // kernel; indices start 5 below the wrap.
        let start = u32::MAX - 4;
        let (map, off) = heap_ring::<u64>(8);
        set_indices(&map, start, start);
        let base = map.as_ptr();
        let mut prod = ProdRing::<u64>::new(map, &off, 8).unwrap();
        // The "kernel": a second RingMem over the same bytes, without ownership.
        let peer = RingMem::<u64> {
            producer: NonNull::new(base).unwrap().cast(),
            consumer: NonNull::new(base.wrapping_add(64)).unwrap().cast(),
            flags: NonNull::new(base.wrapping_add(128)).unwrap().cast(),
            desc: NonNull::new(base.wrapping_add(192)).unwrap().cast(),
            mask: 7,
            size: 8,
            _map: Mapping::heap(8),
            _desc: PhantomData,
        };
        let mut next_expected = 0u64;
        let mut next_value = 0u64;
        let mut peer_cons = start;
        for round in 0..10 {
            while prod.push(next_value) {
                next_value += 1;
            }
            assert_eq!(prod.unpublished(), 8 - prod.in_flight());
            prod.publish();
            // Kernel side: consume some of it.
            let p = peer.producer().load(Ordering::Acquire);
            let take = (p.wrapping_sub(peer_cons)).min(3 + round % 4);
            for i in 0..take {
                assert_eq!(peer.read(peer_cons.wrapping_add(i)), next_expected);
                next_expected += 1;
            }
            peer_cons = peer_cons.wrapping_add(take);
            peer.consumer().store(peer_cons, Ordering::Release);
        }
        assert!(next_expected > 30, "wrapped several times: {next_expected}");
        drop(peer);
    }

    #[test]
    fn consumer_reads_in_order_across_the_wrap() {
        let start = u32::MAX - 2;
        let (map, off) = heap_ring::<xdp_desc>(4);
        set_indices(&map, start, start);
        let base = map.as_ptr();
        let mut cons = ConsRing::<xdp_desc>::new(map, &off, 4).unwrap();
        let desc = base.wrapping_add(192).cast::<xdp_desc>();
        let mut kprod = start;
        let mut seen = Vec::new();
        for batch in 0..6u64 {
            for j in 0..3u64 {
                let v = batch * 3 + j;
                // SAFETY: test-only; slot index masked to the 4 slots of the heap buffer, and
                // the consumer is not reading concurrently (single thread).
                unsafe {
                    desc.add((kprod & 3) as usize).write(xdp_desc {
                        addr: v,
                        len: v as u32,
                        options: 0,
                    })
                };
                kprod = kprod.wrapping_add(1);
            }
            // SAFETY: test-only write of the producer word of the heap buffer.
            unsafe { (*base.cast::<AtomicU32>()).store(kprod, Ordering::Release) };
            let n = cons.consume(2, |d| seen.push(d.addr));
            assert_eq!(n, 2);
            let n = cons.consume(8, |d| seen.push(d.addr));
            assert_eq!(n, 1);
        }
        assert_eq!(seen, (0..18).collect::<Vec<_>>());
    }

    #[test]
    fn bad_layouts_are_rejected() {
        let good = xdp_ring_offset {
            producer: 0,
            consumer: 64,
            flags: 128,
            desc: 192,
        };
        let cases = [
            xdp_ring_offset {
                producer: 1 << 40,
                ..good
            },
            xdp_ring_offset {
                consumer: 62,
                ..good
            },
            xdp_ring_offset { desc: 200, ..good },
            xdp_ring_offset { desc: 196, ..good },
            xdp_ring_offset { flags: 200, ..good },
        ];
        for off in cases {
            let map = Mapping::heap(192 + 8 * 16);
            assert!(RingMem::<u64>::new(map, &off, 16).is_err(), "{off:?}");
        }
        assert!(RingMem::<u64>::new(Mapping::heap(192 + 8 * 16), &good, 16).is_ok());
        assert!(RingMem::<u64>::new(Mapping::heap(192 + 8 * 16), &good, 12).is_err());
    }
}
