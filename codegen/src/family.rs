//! The fixed family headers that follow `nlmsghdr` in rtnetlink messages.
//!
//! Field offsets are the kernel ABI; a test checks each of them against the bindgen structs of
//! `netbase-uapi` so that a mistake here cannot survive.

/// One integer field of a family header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    pub name: &'static str,
    pub offset: usize,
    /// Width in bytes (1, 2 or 4). All are host byte order.
    pub size: usize,
    pub signed: bool,
}

/// A family header: its C name, size and fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyHeader {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [HeaderField],
    /// The field that carries the address family.
    pub family_field: &'static str,
}

const fn f(name: &'static str, offset: usize, size: usize) -> HeaderField {
    HeaderField {
        name,
        offset,
        size,
        signed: false,
    }
}

const fn s(name: &'static str, offset: usize, size: usize) -> HeaderField {
    HeaderField {
        name,
        offset,
        size,
        signed: true,
    }
}

pub const HEADERS: &[FamilyHeader] = &[
    FamilyHeader {
        name: "ifinfomsg",
        size: 16,
        family_field: "ifi_family",
        fields: &[
            f("ifi_family", 0, 1),
            f("ifi_type", 2, 2),
            s("ifi_index", 4, 4),
            f("ifi_flags", 8, 4),
            f("ifi_change", 12, 4),
        ],
    },
    FamilyHeader {
        name: "ifaddrmsg",
        size: 8,
        family_field: "ifa_family",
        fields: &[
            f("ifa_family", 0, 1),
            f("ifa_prefixlen", 1, 1),
            f("ifa_flags", 2, 1),
            f("ifa_scope", 3, 1),
            f("ifa_index", 4, 4),
        ],
    },
    FamilyHeader {
        name: "rtmsg",
        size: 12,
        family_field: "rtm_family",
        fields: &[
            f("rtm_family", 0, 1),
            f("rtm_dst_len", 1, 1),
            f("rtm_src_len", 2, 1),
            f("rtm_tos", 3, 1),
            f("rtm_table", 4, 1),
            f("rtm_protocol", 5, 1),
            f("rtm_scope", 6, 1),
            f("rtm_type", 7, 1),
            f("rtm_flags", 8, 4),
        ],
    },
    FamilyHeader {
        name: "ndmsg",
        size: 12,
        family_field: "ndm_family",
        fields: &[
            f("ndm_family", 0, 1),
            s("ndm_ifindex", 4, 4),
            f("ndm_state", 8, 2),
            f("ndm_flags", 10, 1),
            f("ndm_type", 11, 1),
        ],
    },
    // Not used by the shipped schema yet; here so that nexthop objects and policy rules are
    // schema additions, not code changes.
    FamilyHeader {
        name: "nhmsg",
        size: 8,
        family_field: "nh_family",
        fields: &[
            f("nh_family", 0, 1),
            f("nh_scope", 1, 1),
            f("nh_protocol", 2, 1),
            f("nh_flags", 4, 4),
        ],
    },
    FamilyHeader {
        name: "fib_rule_hdr",
        size: 12,
        family_field: "family",
        fields: &[
            f("family", 0, 1),
            f("dst_len", 1, 1),
            f("src_len", 2, 1),
            f("tos", 3, 1),
            f("table", 4, 1),
            f("action", 7, 1),
            f("flags", 8, 4),
        ],
    },
];

pub fn header(name: &str) -> Option<&'static FamilyHeader> {
    HEADERS.iter().find(|h| h.name == name)
}

impl FamilyHeader {
    pub fn field(&self, name: &str) -> Option<&'static HeaderField> {
        self.fields.iter().find(|f| f.name == name)
    }
}
