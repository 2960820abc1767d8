//! The seeded hash of table keys: part of the storage format.
//!
//! A hash table's writer and its readers live in different processes, possibly built by
//! different compilers, and a restarted writer re-attaches to slots placed by its predecessor.
//! All of them must compute the same home slot for a key, forever. `std`'s `DefaultHasher`
//! (SipHash today) explicitly promises nothing across Rust releases, and `RandomState` differs
//! per process by design, so neither can place rows in shared memory. This function is written
//! out here instead, and its outputs are pinned by tests: changing it means bumping
//! [`STORAGE_FORMAT`](super::geometry::STORAGE_FORMAT).
//!
//! Construction (in the style of wyhash / foldhash): the key is read as little-endian 64-bit
//! words, zero-padded, two words per round; each round is one "folded multiply" (the 128-bit
//! product of two words, high half XOR low half), which mixes every input bit into every
//! output bit. The seed is expanded once into three secrets that are XORed into both operands
//! of every multiply, so an attacker who does not know the seed cannot aim for the zero
//! product that would make the state forget its input. The length enters the initial state, so
//! a key and the same key with trailing zero bytes differ. Keys are meant to be short (table
//! keys are at most 32 bytes); longer ones work, just without any claim of speed.

/// Hex digits of π (nothing up the sleeve): the secrets derived from them depend on the seed
/// alone.
const PI: [u64; 7] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
];

/// The high and low halves of the full product, XORed: every bit of both inputs reaches the
/// middle bits, and the fold brings them down to the low bits that pick a slot.
#[inline(always)]
const fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Up to 8 bytes of `block` from `at`, little-endian, zero-padded.
#[inline(always)]
fn le_word(block: &[u8], at: usize) -> u64 {
    let src = block.get(at..).unwrap_or(&[]);
    let n = src.len().min(8);
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(&src[..n]);
    u64::from_le_bytes(w)
}

/// A hash function with its seed expanded (compute once per table, not per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeededHash {
    seed: u64,
    s0: u64,
    s1: u64,
    s2: u64,
}

impl SeededHash {
    pub const fn new(seed: u64) -> Self {
        SeededHash {
            seed,
            s0: fold_mul(seed ^ PI[0], PI[1]),
            s1: fold_mul(seed ^ PI[2], PI[3]),
            s2: fold_mul(seed ^ PI[4], PI[5]),
        }
    }

    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// The 64-bit hash of `key`.
    #[inline(always)]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let mut acc = self.s0 ^ key.len() as u64;
        let mut rest = key;
        loop {
            let (block, tail) = rest.split_at(rest.len().min(16));
            let (a, b) = (le_word(block, 0), le_word(block, 8));
            acc = fold_mul(a ^ self.s1, b ^ self.s2 ^ acc);
            rest = tail;
            if rest.is_empty() {
                break;
            }
        }
        // One more multiply by a fixed odd constant: a single round leaves the low bits (the
        // slot index) depending mostly on the low bits of the key words.
        fold_mul(acc, PI[6])
    }
}

/// The hash of `key` under `seed` (expands the seed on every call; tables keep a
/// [`SeededHash`]).
pub fn hash64(key: &[u8], seed: u64) -> u64 {
    SeededHash::new(seed).hash(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_values_never_change() {
        // These are the storage format: if this test fails, the table layout changed. The
        // values were also computed by an independent script following the module
        // documentation, so they pin the documented function, not just this code.
        let cases: [(&[u8], u64, u64); 6] = [
            (b"", 0, 0xefdf_317b_8af3_914f),
            (b"", 1, 0x7d09_4ceb_7916_6d9b),
            (&[1, 0, 0, 0, 10, 0, 0, 1], 0, 0xb9d2_3f2d_27fc_74cd),
            (&[1, 0, 0, 0, 10, 0, 0, 1], 0x5eed, 0xc395_8ef8_2ed1_d563),
            (
                b"0123456789abcdef0123456789abcdef",
                7,
                0x073e_27eb_f309_32fc,
            ),
            (b"eth0\0", 42, 0xfad8_a2e7_24c4_3485),
        ];
        for (key, seed, want) in cases {
            assert_eq!(hash64(key, seed), want, "key {key:?} seed {seed}");
        }
    }

    #[test]
    fn length_seed_and_every_byte_matter() {
        assert_ne!(hash64(b"ab", 0), hash64(b"ab\0", 0));
        assert_ne!(hash64(b"ab", 0), hash64(b"ab", 1));
        let base = [7u8; 20];
        for i in 0..base.len() {
            let mut k = base;
            k[i] ^= 1;
            assert_ne!(hash64(&k, 3), hash64(&base, 3), "byte {i}");
        }
    }

    /// Flipping one input bit flips about half the output bits.
    #[test]
    fn avalanche() {
        let h = SeededHash::new(0x1234);
        let mut flips = 0u64;
        let mut trials = 0u64;
        for n in 0u32..64 {
            let mut key = [0u8; 8];
            key[..4].copy_from_slice(&n.to_le_bytes());
            key[4..].copy_from_slice(&[10, 0, 0, n as u8]);
            let base = h.hash(&key);
            for bit in 0..64 {
                let mut k = key;
                k[bit / 8] ^= 1 << (bit % 8);
                flips += u64::from((h.hash(&k) ^ base).count_ones());
                trials += 1;
            }
        }
        let mean = flips as f64 / trials as f64;
        assert!((30.0..34.0).contains(&mean), "mean flipped bits {mean}");
    }

    /// Sequential neighbour keys (the realistic worst case: one interface, one subnet) spread
    /// evenly over slots chosen by the low bits.
    #[test]
    fn low_bits_spread_sequential_keys() {
        const BUCKETS: usize = 1024;
        const KEYS: u32 = 64 * 1024;
        let h = SeededHash::new(0xfeed);
        let mut counts = [0u32; BUCKETS];
        for ip in 0..KEYS {
            let mut key = [0u8; 8];
            key[..4].copy_from_slice(&2u32.to_le_bytes());
            key[4..].copy_from_slice(&(0x0a00_0000 + ip).to_be_bytes());
            counts[(h.hash(&key) as usize) & (BUCKETS - 1)] += 1;
        }
        let expected = f64::from(KEYS) / BUCKETS as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum();
        // 1023 degrees of freedom: mean 1023, standard deviation ~45; 1250 is 5 sigma.
        assert!(chi2 < 1250.0, "chi-square {chi2}");
        assert!(counts.iter().all(|&c| c > 0));
    }
}
