//! A fast hasher for the writer's private maps (prefixes, next-hop rows).
//!
//! The keys come from the kernel's routing table, not from an attacker who can choose many
//! colliding keys cheaply, and the writer's update rate is a stated goal, so SipHash's
//! flooding resistance is traded for speed: one multiply per 8 bytes, and a final rotation that
//! moves the well-mixed high product bits into the low bits the map indexes with (prefixes
//! have zero low bits).

use core::hash::{BuildHasherDefault, Hasher};
use std::collections::HashMap;

const K: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline(always)]
    fn mix(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(K).rotate_left(29);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    #[test]
    fn prefixes_spread_over_low_bits() {
        let b = BuildHasherDefault::<FastHasher>::default();
        let mut low: std::collections::HashSet<u64> = Default::default();
        for i in 0..1024u32 {
            low.insert(b.hash_one(i << 16) & 1023);
        }
        assert!(low.len() > 600, "{}", low.len());
    }
}
