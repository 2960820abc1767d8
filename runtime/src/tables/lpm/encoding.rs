//! Bit encodings shared by the writer and the readers: index entries, prefix words, masks.

/// Index entry: no route covers these addresses.
pub const NO_ROUTE: u16 = 0;
/// Index entry flag: the low 15 bits are a second-level group index.
pub const GROUP_BIT: u16 = 0x8000;
/// Index entry (and small-array next hop): a route covering these addresses could not be
/// stored (table, next hops or groups full), so the answer here would be wrong:
/// lookups return [`Lookup::Incomplete`](super::Lookup::Incomplete).
pub const MARKER: u16 = 0x7fff;
/// Largest next-hop id a route can get (`MARKER` is not an id).
pub const MAX_NEXTHOP_ID: u16 = MARKER - 1;

/// The network mask of a prefix length (lengths above 32 are treated as 32).
#[inline(always)]
pub fn mask(len: u8) -> u32 {
    // A 64-bit shift keeps /0 (shift by 32) defined.
    (u64::from(u32::MAX) << (32 - u32::from(len.min(32)))) as u32
}

/// Whether `addr` is inside `prefix/len` (`len <= 32`; a longer length, found only in a
/// corrupt region, gives some answer without panicking).
#[inline(always)]
pub fn covers(prefix: u32, len: u8, addr: u32) -> bool {
    // The differing bits shifted down past the host part, in 64 bits so that /0 (a shift by
    // 32) stays defined, and without clamping the length: the small-array scan tests every
    // entry with this, and the clamp of `mask` cost the host benchmark 7%.
    u64::from(prefix ^ addr).wrapping_shr(32u32.wrapping_sub(u32::from(len))) == 0
}

/// Flag in a prefix word: this route is the one in use for its prefix (lowest metric).
pub const FLAG_ACTIVE: u8 = 1;

/// One prefix as stored in the shared route list and in the small arrays: a single 64-bit
/// word (`lpm_prefix_bytes(4)` = 8), so that a small-array entry is one atomic load.
/// Bits 0..32 address (host order), 32..40 length, 40..48 flags, 48..64 next-hop id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixWord {
    pub addr: u32,
    pub len: u8,
    pub flags: u8,
    pub nexthop: u16,
}

impl PrefixWord {
    #[inline(always)]
    pub fn encode(self) -> u64 {
        u64::from(self.addr)
            | u64::from(self.len) << 32
            | u64::from(self.flags) << 40
            | u64::from(self.nexthop) << 48
    }

    #[inline(always)]
    pub fn decode(w: u64) -> Self {
        PrefixWord {
            addr: w as u32,
            len: (w >> 32) as u8,
            flags: (w >> 40) as u8,
            nexthop: (w >> 48) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_words() {
        assert_eq!(mask(0), 0);
        assert_eq!(mask(8), 0xff00_0000);
        assert_eq!(mask(32), u32::MAX);
        assert_eq!(mask(200), u32::MAX);
        assert!(covers(0x0a00_0000, 8, 0x0aff_ffff));
        assert!(!covers(0x0a00_0000, 8, 0x0b00_0000));
        assert!(covers(0, 0, 0xdead_beef));
        assert!(covers(0xc0a8_0142, 32, 0xc0a8_0142));
        assert!(!covers(0xc0a8_0142, 32, 0xc0a8_0143));
        assert!(covers(0xc0a8_0142, 31, 0xc0a8_0143));
        assert!(!covers(0xc0a8_0142, 31, 0xc0a8_0141));
        // A corrupt length: some answer, and no overflow panic in debug builds.
        let _ = covers(1, 200, 2);
        let p = PrefixWord {
            addr: 0xc0a8_0100,
            len: 24,
            flags: FLAG_ACTIVE,
            nexthop: 0x1234,
        };
        assert_eq!(PrefixWord::decode(p.encode()), p);
    }
}
