//! Fixed-size value types used in netbase rows: addresses and names exactly as they travel in
//! netlink (addresses in network byte order), so that rows can be filled without conversion and
//! every bit pattern is a valid value.

use core::fmt;

use crate::SharedRow;

/// An IPv4 address in network byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, SharedRow)]
#[repr(transparent)]
pub struct Ipv4(pub [u8; 4]);

impl Ipv4 {
    pub const UNSPECIFIED: Ipv4 = Ipv4([0; 4]);

    /// The address as a host-order integer (what prefix arithmetic wants).
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
    pub const fn from_u32(v: u32) -> Self {
        Ipv4(v.to_be_bytes())
    }
    pub const fn is_unspecified(self) -> bool {
        u32::from_be_bytes(self.0) == 0
    }
}

impl From<std::net::Ipv4Addr> for Ipv4 {
    fn from(a: std::net::Ipv4Addr) -> Self {
        Ipv4(a.octets())
    }
}

impl From<Ipv4> for std::net::Ipv4Addr {
    fn from(a: Ipv4) -> Self {
        std::net::Ipv4Addr::from(a.0)
    }
}

impl fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&std::net::Ipv4Addr::from(self.0), f)
    }
}

impl fmt::Debug for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An IPv6 address in network byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, SharedRow)]
#[repr(transparent)]
pub struct Ipv6(pub [u8; 16]);

impl Ipv6 {
    pub const UNSPECIFIED: Ipv6 = Ipv6([0; 16]);
}

impl fmt::Display for Ipv6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&std::net::Ipv6Addr::from(self.0), f)
    }
}

impl fmt::Debug for Ipv6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An Ethernet (EUI-48) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, SharedRow)]
#[repr(transparent)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const ZERO: Mac = Mac([0; 6]);
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A NUL-padded name of `N` bytes; the last byte is always NUL, so at most `N - 1` bytes of text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Name<const N: usize>(pub [u8; N]);

// SAFETY: `Name<N>` is `repr(transparent)` over `[u8; N]`: every bit pattern is valid, it holds
// no pointer, has no padding and the same layout everywhere. The derive cannot check a const
// generic type, so the impl is written out.
unsafe impl<const N: usize> SharedRow for Name<N> {}

/// A name that does not fit its fixed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTooLong {
    pub len: usize,
    pub max: usize,
}

impl<const N: usize> Name<N> {
    pub const EMPTY: Self = Name([0; N]);

    /// Copies `bytes` (without NUL) into a name; never truncates silently.
    pub fn new(bytes: &[u8]) -> Result<Self, NameTooLong> {
        if bytes.len() >= N {
            return Err(NameTooLong {
                len: bytes.len(),
                max: N.saturating_sub(1),
            });
        }
        let mut out = [0u8; N];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Name(out))
    }

    /// The bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// The name as text; bytes that are not UTF-8 are replaced.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl<const N: usize> Default for Name<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Display for Name<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl<const N: usize> fmt::Debug for Name<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_never_truncates() {
        assert_eq!(Name::<4>::new(b"abc").unwrap().as_bytes(), b"abc");
        assert_eq!(Name::<4>::new(b"abcd"), Err(NameTooLong { len: 4, max: 3 }));
    }

    #[test]
    fn ipv4_order() {
        let a = Ipv4([10, 0, 0, 1]);
        assert_eq!(a.to_u32(), 0x0a00_0001);
        assert_eq!(Ipv4::from_u32(0x0a00_0001), a);
        assert_eq!(a.to_string(), "10.0.0.1");
    }
}
