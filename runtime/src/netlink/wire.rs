//! Zero-allocation, bounds-checked walking of rtnetlink messages.
//!
//! Generated parsers are built on these few functions; every length is checked before a byte
//! is read, so a hostile or truncated message yields an error value, never a panic.

use core::fmt;

/// `nlmsghdr` is 16 bytes.
pub const NLMSG_HDRLEN: usize = 16;
/// `struct nlattr` / `rtattr` header is 4 bytes.
pub const NLA_HDRLEN: usize = 4;
/// Attribute type bits that are flags, not part of the type.
pub const NLA_TYPE_MASK: u16 = !(0x8000 | 0x4000);

/// Netlink rounds every header and attribute to 4 bytes.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the netlink header needs, or `nlmsg_len` beyond the buffer.
    Truncated { need: usize, have: usize },
    /// `nlmsg_len` smaller than the header itself.
    BadMessageLength { len: u32 },
    /// A message type this parser does not handle.
    UnexpectedType { ty: u16 },
    /// The family header is shorter than it must be.
    ShortHeader { need: usize, have: usize },
    /// An attribute whose length field is below 4 or runs past its container.
    BadAttrHeader { offset: usize },
    /// An attribute whose payload length does not fit the field it fills.
    BadAttrLength {
        attr: u16,
        len: usize,
        expected: usize,
    },
    /// A string attribute longer than its fixed field.
    NameTooLong { attr: u16, len: usize, max: usize },
    /// A string attribute without its terminating NUL.
    MissingNul { attr: u16 },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Truncated { need, have } => {
                write!(f, "truncated message: need {need} bytes, have {have}")
            }
            ParseError::BadMessageLength { len } => write!(f, "bad nlmsg_len {len}"),
            ParseError::UnexpectedType { ty } => write!(f, "unexpected message type {ty}"),
            ParseError::ShortHeader { need, have } => {
                write!(f, "family header needs {need} bytes, have {have}")
            }
            ParseError::BadAttrHeader { offset } => {
                write!(f, "malformed attribute header at offset {offset}")
            }
            ParseError::BadAttrLength {
                attr,
                len,
                expected,
            } => write!(
                f,
                "attribute {attr} has a {len}-byte payload, expected {expected}"
            ),
            ParseError::NameTooLong { attr, len, max } => write!(
                f,
                "attribute {attr} holds a {len}-byte name, at most {max} fit"
            ),
            ParseError::MissingNul { attr } => {
                write!(f, "string attribute {attr} is not NUL-terminated")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// The fixed part of one netlink message, and its payload (family header + attributes).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Splits the first message off `buf`; returns it and the rest (for multi-message datagrams).
pub fn message(buf: &[u8]) -> Result<(Message<'_>, &[u8]), ParseError> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(ParseError::Truncated {
            need: NLMSG_HDRLEN,
            have: buf.len(),
        });
    }
    let len = u32_at(buf, 0);
    let ulen = len as usize;
    if ulen < NLMSG_HDRLEN {
        return Err(ParseError::BadMessageLength { len });
    }
    if ulen > buf.len() {
        return Err(ParseError::Truncated {
            need: ulen,
            have: buf.len(),
        });
    }
    let msg = Message {
        ty: u16_at(buf, 4),
        flags: u16_at(buf, 6),
        seq: u32_at(buf, 8),
        pid: u32_at(buf, 12),
        payload: &buf[NLMSG_HDRLEN..ulen],
    };
    let rest = &buf[align4(ulen).min(buf.len())..];
    Ok((msg, rest))
}

/// The family header of `N` bytes at the start of a payload, and the attributes after it.
pub fn family_header<const N: usize>(payload: &[u8]) -> Result<(&[u8; N], &[u8]), ParseError> {
    let Some(hdr) = payload.first_chunk::<N>() else {
        return Err(ParseError::ShortHeader {
            need: N,
            have: payload.len(),
        });
    };
    let attrs = payload.get(align4(N)..).unwrap_or(&[]);
    Ok((hdr, attrs))
}

/// One attribute: its type (flag bits removed) and payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    pub kind: u16,
    pub payload: &'a [u8],
}

/// Iterates the attributes of a buffer; a malformed header ends the walk with an error.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs {
        buf,
        offset: 0,
        failed: false,
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.offset..];
        if rest.len() < NLA_HDRLEN {
            self.failed = true;
            return Some(Err(ParseError::BadAttrHeader {
                offset: self.offset,
            }));
        }
        let len = u16_at(rest, 0) as usize;
        let kind = u16_at(rest, 2) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            self.failed = true;
            return Some(Err(ParseError::BadAttrHeader {
                offset: self.offset,
            }));
        }
        self.offset += align4(len);
        Some(Ok(Attr {
            kind,
            payload: &rest[NLA_HDRLEN..len],
        }))
    }
}

impl Attr<'_> {
    /// The payload as exactly `N` bytes.
    pub fn array<const N: usize>(&self) -> Result<[u8; N], ParseError> {
        match self.payload.first_chunk::<N>() {
            Some(a) if self.payload.len() == N => Ok(*a),
            _ => Err(ParseError::BadAttrLength {
                attr: self.kind,
                len: self.payload.len(),
                expected: N,
            }),
        }
    }

    /// The payload as exactly `N` bytes, or `None` when its length differs (for fields whose
    /// schema says other lengths are ignored).
    pub fn array_if<const N: usize>(&self) -> Option<[u8; N]> {
        self.array::<N>().ok()
    }

    pub fn u8(&self) -> Result<u8, ParseError> {
        self.array::<1>().map(|b| b[0])
    }
    pub fn u16(&self) -> Result<u16, ParseError> {
        self.array::<2>().map(u16::from_ne_bytes)
    }
    pub fn u32(&self) -> Result<u32, ParseError> {
        self.array::<4>().map(u32::from_ne_bytes)
    }
    pub fn u64(&self) -> Result<u64, ParseError> {
        self.array::<8>().map(u64::from_ne_bytes)
    }

    /// A NUL-terminated string's bytes, without the NUL (trailing padding NULs allowed).
    pub fn c_str(&self) -> Result<&[u8], ParseError> {
        match self.payload.iter().position(|&b| b == 0) {
            Some(end) => Ok(&self.payload[..end]),
            None => Err(ParseError::MissingNul { attr: self.kind }),
        }
    }

    /// A string into a fixed name of `N` bytes; a longer one is an error, not a truncation.
    pub fn name<const N: usize>(&self) -> Result<crate::types::Name<N>, ParseError> {
        let s = self.c_str()?;
        crate::types::Name::new(s).map_err(|e| ParseError::NameTooLong {
            attr: self.kind,
            len: e.len,
            max: e.max,
        })
    }
}

/// What a message means for its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Insert or replace (RTM_NEW*).
    New,
    /// Remove (RTM_DEL*); fields other than the key may be missing.
    Del,
}

/// Why a well-formed message produced no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Another address family than the row's.
    Family(u8),
    /// A `skip_if` rule of the schema matched (e.g. cloned routes).
    Filtered,
}

/// A parsed row with the message's meaning and which fields were present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<R> {
    pub op: Op,
    pub row: R,
    /// Bit `i` is set when field `i` (schema order) came from the message.
    pub present: u64,
    pub nl_flags: u16,
}

impl<R> Parsed<R> {
    pub fn has(&self, field: usize) -> bool {
        field < 64 && self.present & (1 << field) != 0
    }
}

/// The result of a generated parser on a well-formed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<R> {
    Row(Parsed<R>),
    Skipped(Skip),
}

/// Counters that parsers bump instead of failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Attributes (at any nesting level) that the schema does not map.
    pub unknown_attrs: u64,
    /// Attributes whose length did not fit and that the schema says to ignore.
    pub ignored_lengths: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn splits_messages_and_checks_lengths() {
        let m = msg(24, &[1, 2, 3, 4]);
        let (h, rest) = message(&m).unwrap();
        assert_eq!((h.ty, h.seq, h.payload), (24, 7, &[1u8, 2, 3, 4][..]));
        assert!(rest.is_empty());
        assert_eq!(
            message(&m[..10]).unwrap_err(),
            ParseError::Truncated { need: 16, have: 10 }
        );
        let mut bad = m.clone();
        bad[0] = 200;
        assert!(matches!(message(&bad), Err(ParseError::Truncated { .. })));
        bad[0] = 3;
        assert_eq!(
            message(&bad).unwrap_err(),
            ParseError::BadMessageLength { len: 3 }
        );
    }

    #[test]
    fn walks_attributes_and_rejects_bad_headers() {
        // RTA_OIF (4) = 7, then a 3-byte attribute header stub.
        let buf = [8, 0, 4, 0, 7, 0, 0, 0, 3, 0, 1, 0];
        let mut it = attrs(&buf);
        let a = it.next().unwrap().unwrap();
        assert_eq!((a.kind, a.u32().unwrap()), (4, 7));
        assert!(matches!(
            it.next(),
            Some(Err(ParseError::BadAttrHeader { offset: 8 }))
        ));
        assert!(it.next().is_none());
        assert!(matches!(
            a.u16(),
            Err(ParseError::BadAttrLength {
                attr: 4,
                len: 4,
                expected: 2
            })
        ));
    }

    #[test]
    fn strings_need_nul_and_fit() {
        let a = Attr {
            kind: 3,
            payload: b"eth0\0\0\0\0",
        };
        assert_eq!(a.name::<16>().unwrap().as_bytes(), b"eth0");
        assert!(matches!(
            a.name::<4>(),
            Err(ParseError::NameTooLong { len: 4, max: 3, .. })
        ));
        let b = Attr {
            kind: 3,
            payload: b"eth0",
        };
        assert_eq!(b.c_str(), Err(ParseError::MissingNul { attr: 3 }));
    }
}
